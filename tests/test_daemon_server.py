"""The gRPC service of one real daemon process (shared by this module): token, socket modes,
reflection, Suggest by path / bytes / Timeline, Predict, features, hostile input, overload,
deadlines, message limits and the streaming batch."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from daemon.client import DaemonClient
from daemon.errors import DaemonError
from protos.mtt.v1 import suggester_pb2 as pb
from protos.mtt.v1 import suggester_pb2_grpc as pb_grpc
from tests.helpers_daemon import SAMPLE, client_for, make_home, running_daemon

QUEUE_SIZE = 4
VOLATILE = ("created", "elapsed_ms")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    home = make_home(tmp_path_factory.mktemp("server"), model="persistence", queue_size=QUEUE_SIZE,
                     debug_job_delay=0.02, max_message_mb=1)
    with running_daemon(home) as record:
        yield home, record


@pytest.fixture()
def client(daemon) -> DaemonClient:
    home, _record = daemon
    with client_for(home) as c:
        yield c


def _channel(record: dict) -> grpc.Channel:
    return grpc.insecure_channel(record["endpoint"])


def _stable(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def _item(start: int, end: int, key: str, **kw) -> dict:
    return {"start": start, "end": end, "source": {"key": key, "name": key}, **kw}


def _timeline(name: str = "plugin cut") -> dict:
    item = _item
    return {"name": name, "fps": [25, 1], "width": 1920, "height": 1080,
            # the last shot has more of a.mov after it (the first use shows frames 200-250): a next may hold it
            "tracks": [{"items": [item(0, 50, "a.mov", **{"in": 200}), item(50, 125, "b.mov", scale=120.0), item(125, 200, "a.mov")]},
                       {"items": [item(60, 100, "logo.png", pos_x=0.3, crop_l=10.0)]}]}


def test_health_needs_no_token_but_every_other_call_does(daemon) -> None:
    home, record = daemon
    token = (home / "state" / "token").read_text().strip()
    with _channel(record) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="mtt.v1.Suggester"), timeout=5)
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        stub = pb_grpc.SuggesterStub(channel)
        for metadata, why in ((None, "missing token"), ((("authorization", "Bearer nope"),), "wrong token"),
                              ((("authorization", token),), "wrong token")):
            with pytest.raises(grpc.RpcError) as err:
                stub.GetInfo(pb.GetInfoRequest(), timeout=5, metadata=metadata)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED and why in err.value.details()
        with pytest.raises(grpc.RpcError) as err:  # a streaming call is refused the same way
            list(stub.SuggestBatch(pb.SuggestBatchRequest(paths=[str(SAMPLE)]), timeout=5))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert stub.GetInfo(pb.GetInfoRequest(), timeout=5, metadata=(("authorization", f"Bearer {token}"),)).protocol >= 1


def test_socket_token_and_directories_are_private(daemon) -> None:
    home, record = daemon
    sock = Path(record["endpoint"].removeprefix("unix:"))
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    for directory in (sock.parent, home / "state"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700 and directory.stat().st_uid == os.geteuid()
    for private in (home / "state" / "token", home / "state" / "mttd.json"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_reflection_lists_and_describes_the_service(daemon) -> None:
    home, record = daemon
    token = (home / "state" / "token").read_text().strip()
    with _channel(record) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(file_containing_symbol="mtt.v1.Suggester")]
        replies = list(stub.ServerReflectionInfo(iter(requests), timeout=5, metadata=(("authorization", f"Bearer {token}"),)))
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"mtt.v1.Suggester", "grpc.health.v1.Health"} <= names
    assert replies[1].file_descriptor_response.file_descriptor_proto  # grpcurl can describe it


def test_suggest_by_path_equals_the_in_process_document(client: DaemonClient) -> None:
    from model.inference.predictor import PersistencePredictor
    from model.suggest.document import document_for_file

    reply = client.suggest(pb.SuggestRequest(path=str(SAMPLE)))
    doc = json.loads(reply.document_json)
    assert _stable(doc) == _stable(document_for_file(SAMPLE, PersistencePredictor()))
    assert reply.schema == "mtt.suggestions/1" and reply.source_sha256 == doc["source"]["sha256"]
    assert [s.name for s in reply.sequences] == [s["name"] for s in doc["sequences"]]
    assert reply.sequences[0].next == len(doc["sequences"][0]["next"])
    again = client.suggest(pb.SuggestRequest(path=str(SAMPLE)))
    assert again.cached and not reply.cached and again.document_json == reply.document_json


def test_suggest_by_bytes_and_by_timeline_message(client: DaemonClient) -> None:
    from google.protobuf import json_format

    from protos.mtt.v1 import timeline_pb2

    by_path = json.loads(client.suggest(pb.SuggestRequest(path=str(SAMPLE))).document_json)
    by_bytes = json.loads(client.suggest(pb.SuggestRequest(xml=SAMPLE.read_bytes(), source_name="sent.xml")).document_json)
    assert by_bytes["source"]["path"] == "sent.xml"
    assert by_bytes["sequences"] == by_path["sequences"] and by_bytes["source"]["sha256"] == by_path["source"]["sha256"]
    message = json_format.ParseDict(_timeline(), timeline_pb2.Timeline())
    options = pb.SuggestOptions(kinds=["next"], horizon_s=4.0)
    doc = json.loads(client.suggest(pb.SuggestRequest(timeline=message, options=options)).document_json)
    seq = doc["sequences"][0]
    assert seq["name"] == "plugin cut" and seq["steps"] == 80 and seq["review"] == [] and seq["fill"] == []
    assert seq["next"] and all(n["start_s"] >= 8.0 and n["end_s"] <= 12.0 + 1e-6 for n in seq["next"])
    assert {n["source"]["name"] for n in seq["next"]} <= {"a.mov", "b.mov", "logo.png"}


def test_bad_options_and_unknown_sequences_are_invalid_argument(client: DaemonClient) -> None:
    for request, message in (
        (pb.SuggestRequest(path=str(SAMPLE), options=pb.SuggestOptions(kinds=["guess"])), "unknown suggestion kind"),
        (pb.SuggestRequest(path=str(SAMPLE), options=pb.SuggestOptions(sequence="nope")), "no sequence named 'nope'"),
        (pb.SuggestRequest(), "no timeline given"),
    ):
        with pytest.raises(DaemonError) as err:
            client.suggest(request)
        assert err.value.code == "INVALID_ARGUMENT" and message in err.value.message


def test_predict_returns_the_window_of_raw_outputs(client: DaemonClient) -> None:
    from model.features.grid import featurize
    from model.inference.predictor import PersistencePredictor
    from model.timeline.xmeml import read_xmeml

    reply = client.predict(pb.PredictRequest(path=str(SAMPLE), start=10, steps=5))
    feats = featurize(read_xmeml(SAMPLE).sequences[0])
    expected = PersistencePredictor().predict(feats)
    assert (reply.start, reply.steps, reply.total_steps, reply.tracks, reply.slots) == (10, 5, feats.steps, 20, 10)
    assert list(reply.value_fields) == ["scale", "pos_x", "pos_y", "crop_l", "crop_r", "crop_t", "crop_b"]
    assert list(reply.p_active) == pytest.approx(expected.p_active[10:15].ravel().tolist())
    assert len(reply.asset_probs) == 5 * 20 * 10 and len(reply.values) == 5 * 20 * 7
    assert reply.model.name == "persistence" and len(reply.assets) == len(feats.sources)
    with pytest.raises(DaemonError) as err:
        client.predict(pb.PredictRequest(path=str(SAMPLE), start=feats.steps + 1))
    assert err.value.code == "INVALID_ARGUMENT"


def test_features_equal_the_in_process_document(client: DaemonClient) -> None:
    from model.features.grid import features_document
    from model.timeline.xmeml import read_xmeml

    reply = client.features(pb.FeaturesRequest(path=str(SAMPLE), step="1/5"))
    from fractions import Fraction

    assert json.loads(reply.document_json) == json.loads(json.dumps(features_document(read_xmeml(SAMPLE), Fraction(1, 5))))


HOSTILE = {
    "external-entity": b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY s SYSTEM "file:///etc/hostname">]>\n<xmeml><sequence><name>&s;</name></sequence></xmeml>',
    "billion-laughs": b'<?xml version="1.0"?>\n<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
    b'<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>\n<xmeml>&f;&f;&f;&f;</xmeml>',
    "deep-nesting": b"<xmeml>" + b"<a>" * 10000 + b"</a>" * 10000 + b"</xmeml>",
    "not-xmeml": b"<html><body>hello</body></html>",
    "truncated": SAMPLE.read_bytes()[:5000],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_by_path_and_by_bytes_is_refused_and_the_daemon_keeps_serving(client: DaemonClient, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(HOSTILE[name])
    secret = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "\0"
    for request in (pb.SuggestRequest(path=str(path)), pb.SuggestRequest(xml=HOSTILE[name], source_name=path.name)):
        started = time.monotonic()
        with pytest.raises(DaemonError) as err:
            client.suggest(request)
        assert err.value.code == "INVALID_ARGUMENT", err.value.message
        assert err.value.message.startswith(f"cannot read {path.name if request.xml else path}")
        assert secret not in err.value.message
        assert time.monotonic() - started < 10
    assert client.health() == "SERVING"
    assert json.loads(client.suggest(pb.SuggestRequest(path=str(SAMPLE))).document_json)["sequences"]


def test_32_concurrent_clients_get_answers_or_busy_and_health_never_waits(daemon) -> None:
    from google.protobuf import json_format

    from protos.mtt.v1 import timeline_pb2

    home, _record = daemon
    outcomes: list[str] = []
    health_times: list[float] = []
    lock = threading.Lock()
    storm = threading.Event()

    def client_calls(i: int) -> None:
        with client_for(home) as c:
            for j in range(10):
                message = json_format.ParseDict(_timeline(f"client {i} call {j}"), timeline_pb2.Timeline())
                try:
                    c.suggest(pb.SuggestRequest(timeline=message), timeout=60)
                    outcome = "OK"
                except DaemonError as err:
                    outcome = err.code
                with lock:
                    outcomes.append(outcome)

    def watch_health() -> None:
        with client_for(home) as c:
            while not storm.is_set():
                started = time.monotonic()
                assert c.health(timeout=5) == "SERVING"
                health_times.append(time.monotonic() - started)
                time.sleep(0.02)

    with client_for(home) as c:
        rejected_before = c.status().queue.rejected
    watcher = threading.Thread(target=watch_health)
    watcher.start()
    threads = [threading.Thread(target=client_calls, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    storm.set()
    watcher.join(10)
    assert len(outcomes) == 320
    assert set(outcomes) <= {"OK", "RESOURCE_EXHAUSTED"}, set(outcomes)
    assert "OK" in outcomes
    assert health_times and max(health_times) < 5
    with client_for(home) as c:
        status = c.status()
        assert status.queue.rejected - rejected_before == outcomes.count("RESOURCE_EXHAUSTED")
        assert status.queue.depth == 0 and status.serving
        assert json.loads(c.suggest(pb.SuggestRequest(path=str(SAMPLE))).document_json)["sequences"]


def test_a_call_past_its_deadline_fails_cleanly(client: DaemonClient) -> None:
    with pytest.raises(DaemonError) as err:
        client.suggest(pb.SuggestRequest(xml=SAMPLE.read_bytes(), source_name="deadline.xml",
                                         options=pb.SuggestOptions(horizon_s=7.5)), timeout=0.005)
    assert err.value.code == "DEADLINE_EXCEEDED"
    assert client.health() == "SERVING"


def test_messages_over_the_limit_are_refused_and_paths_still_work(client: DaemonClient) -> None:
    big = b"<xmeml>" + b" " * (2 * 1024 * 1024) + b"</xmeml>"  # the daemon here allows 1 MB
    with pytest.raises(DaemonError) as err:
        client.suggest(pb.SuggestRequest(xml=big))
    assert err.value.code == "RESOURCE_EXHAUSTED"
    assert client.suggest(pb.SuggestRequest(path=str(SAMPLE))).sequences


def test_suggest_batch_streams_one_reply_per_file(daemon, client: DaemonClient, tmp_path: Path) -> None:
    home, record = daemon
    folder = tmp_path / "exports"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.xml").write_bytes(SAMPLE.read_bytes())
    (folder / "broken.xml").write_bytes(b"<xmeml><sequence>")
    (folder / "sub" / "b.xml").write_bytes(SAMPLE.read_bytes())
    (folder / "a.mtt.xml").write_bytes(SAMPLE.read_bytes())  # mttd's own output is skipped
    (folder / "notes.txt").write_text("not a timeline")
    token = (home / "state" / "token").read_text().strip()
    with _channel(record) as channel:
        stream = pb_grpc.SuggesterStub(channel).SuggestBatch(
            pb.SuggestBatchRequest(paths=[str(folder)], recursive=True, options=pb.SuggestOptions(kinds=["next"])),
            timeout=60, metadata=(("authorization", f"Bearer {token}"),),
        )
        replies = list(stream)
    assert [Path(r.path).relative_to(folder).as_posix() for r in replies] == ["a.xml", "broken.xml", "sub/b.xml"]
    assert [(r.index, r.total) for r in replies] == [(0, 3), (1, 3), (2, 3)]
    assert replies[1].WhichOneof("result") == "error" and replies[1].error.code == "INVALID_ARGUMENT"
    good = [json.loads(r.reply.document_json) for r in (replies[0], replies[2])]
    assert good[0]["sequences"] == good[1]["sequences"]


def test_info_and_status_report_the_daemon(client: DaemonClient, daemon) -> None:
    home, record = daemon
    info = client.info()
    assert info.pid == record["pid"] and info.protocol == record["protocol"] and info.version == record["version"]
    assert {"suggest", "suggest-batch", "predict", "features"} <= set(info.capabilities)
    assert info.model.name == "persistence" and info.keep_alive_s == 900
    status = client.status()
    assert status.serving and status.model.loaded and status.queue.capacity == QUEUE_SIZE
    assert status.log == str(home / "log" / "mttd.log") and status.rss_mb > 10
    if "watch" not in info.capabilities:
        with pytest.raises(DaemonError) as err:
            client._call("ListWatches", pb.ListWatchesRequest(), 5)
        assert err.value.code == "UNIMPLEMENTED"


def test_helpers_for_suggest_and_features_commands(daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fractions import Fraction

    from daemon.client import try_daemon_features, try_daemon_suggest
    from model.features.grid import features_document
    from model.inference.predictor import PersistencePredictor
    from model.suggest.document import document_for_file
    from model.suggest.items import SuggestOptions
    from model.timeline.errors import TimelineParseError
    from model.timeline.xmeml import read_xmeml

    home, _record = daemon
    monkeypatch.setenv("MTTD_HOME", str(home))
    options = SuggestOptions(kinds=("next", "fill"), horizon_s=5.0)
    doc = try_daemon_suggest(SAMPLE, options)
    assert _stable(doc) == _stable(document_for_file(SAMPLE, PersistencePredictor(), options))
    assert try_daemon_suggest(SAMPLE, SuggestOptions(max_review=3)) is None  # not a daemon option: work in-process
    assert try_daemon_features(SAMPLE, step="0.5") == json.loads(json.dumps(features_document(read_xmeml(SAMPLE), Fraction(1, 2))))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<xmeml>\n<sequence>\n")
    with pytest.raises(TimelineParseError) as err:
        try_daemon_suggest(broken)
    assert err.value.path == str(broken) and err.value.line >= 1 and str(broken) not in err.value.reason
    with pytest.raises(TimelineParseError, match="no such file"):
        try_daemon_features(tmp_path / "missing.xml")
    monkeypatch.setenv("MTTD_HOME", str(tmp_path / "no-daemon-here"))
    assert try_daemon_suggest(SAMPLE) is None and try_daemon_features(SAMPLE) is None
