"""Issue 21, bounded work per request: real daemons in a temporary MTTD_HOME, called over gRPC with
the size-like options a hostile or careless client may send (huge horizons, nan, a two-hour
clip in a tiny message, a 1e-9 s step, a NUL in a path) and with callers that give up."""

from __future__ import annotations

import os
import threading
import time

import pytest
from google.protobuf import json_format

from daemon.client import DaemonClient
from daemon.errors import DaemonError
from protos.mtt.v1 import suggester_pb2 as pb
from protos.mtt.v1 import timeline_pb2
from tests.helpers_daemon import SAMPLE, client_for, make_home, running_daemon

FPS = 25


def _one_clip(minutes: float) -> timeline_pb2.Timeline:
    """A tiny message naming a long sequence: one clip of `minutes` on one track."""
    end = int(minutes * 60 * FPS)
    data = {"name": "long", "fps": [FPS, 1], "tracks": [{"items": [{"start": 0, "end": end, "source": {"key": "a", "name": "a"}}]}]}
    return json_format.ParseDict(data, timeline_pb2.Timeline())


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    home = make_home(tmp_path_factory.mktemp("limits"), model="persistence")
    with running_daemon(home):
        with client_for(home) as c:
            yield c


def _refused(call, *needles: str) -> float:
    started = time.monotonic()
    with pytest.raises(DaemonError) as err:
        call()
    assert err.value.code == "INVALID_ARGUMENT", (err.value.code, err.value.message)
    for needle in needles:
        assert needle in err.value.message, err.value.message
    return time.monotonic() - started


def test_horizons_beyond_the_limit_or_not_finite_are_refused(client: DaemonClient) -> None:
    for horizon, needle in ((3600.0, "limit of 300 s"), (float("nan"), "positive number"), (float("inf"), "positive number"),
                            (-1.0, "positive number")):
        options = pb.SuggestOptions(kinds=["next"], horizon_s=horizon)
        _refused(lambda o=options: client.suggest(pb.SuggestRequest(path=str(SAMPLE), options=o)), "horizon_s", needle)
    ok = pb.SuggestOptions(kinds=["next"], horizon_s=300.0)  # the limit itself is allowed
    assert client.suggest(pb.SuggestRequest(path=str(SAMPLE), options=ok)).sequences


def test_a_tiny_message_naming_a_two_hour_sequence_is_refused_at_once(client: DaemonClient) -> None:
    long = _one_clip(120)
    assert long.ByteSize() < 64
    for call in (lambda: client.suggest(pb.SuggestRequest(timeline=long)),
                 lambda: client.predict(pb.PredictRequest(timeline=long)),
                 lambda: client.features(pb.FeaturesRequest(timeline=long))):
        assert _refused(call, "72000 steps", "max_steps = 36000") < 5.0
    assert client.features(pb.FeaturesRequest(timeline=_one_clip(1))).document_json  # a short one still works


def test_a_features_step_outside_its_bounds_is_refused(client: DaemonClient) -> None:
    short = _one_clip(1)
    for step in ("1e-9", "0", "-1", "3600"):
        _refused(lambda s=step: client.features(pb.FeaturesRequest(timeline=short, step=s)), f"step {step!r}", "between 0.001 and 60 s")
    # A step inside the bounds but over a long sequence is the max_steps limit, not 1e12 cells.
    _refused(lambda: client.features(pb.FeaturesRequest(timeline=_one_clip(10), step="0.001")), "max_steps")


def test_a_nul_in_a_path_is_invalid_argument_not_internal(client: DaemonClient) -> None:
    _refused(lambda: client.suggest(pb.SuggestRequest(path=str(SAMPLE) + "\0.xml")), "NUL")
    _refused(lambda: list(client.suggest_batch([str(SAMPLE.parent) + "\0"])), "NUL")


def test_work_whose_caller_has_gone_stops_and_frees_the_engine(tmp_path) -> None:
    """The network on a long sequence: the caller's deadline passes and the engine is free again
    within seconds (before: it kept computing for minutes while every other call waited)."""
    home = make_home(tmp_path, backend="torch", threads=1)
    with running_daemon(home), client_for(home) as client:
        long = _one_clip(50)  # within max_steps; minutes of work for the network on this machine
        with pytest.raises(DaemonError) as err:
            client.suggest(pb.SuggestRequest(timeline=long), timeout=2.0)
        assert err.value.code == "DEADLINE_EXCEEDED"
        gave_up = time.monotonic()
        while client.status().queue.busy and time.monotonic() - gave_up < 30:
            time.sleep(0.1)
        freed_after = time.monotonic() - gave_up
        assert not client.status().queue.busy and freed_after < 10, f"the engine was still busy {freed_after:.1f} s later"
        reply = client.suggest(pb.SuggestRequest(path=str(SAMPLE), options=pb.SuggestOptions(kinds=["review"])), timeout=60)
        assert reply.sequences


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def test_the_result_cache_is_bounded_by_bytes_and_emptied_on_idle_unload(tmp_path) -> None:
    home = make_home(tmp_path, model="persistence", cache_mb=4, keep_alive=4.0)
    with running_daemon(home) as record, client_for(home) as client:
        timeline = _one_clip(4)
        sizes = []
        rss_before = _rss_mb(record["pid"])
        for i in range(20):  # 20 tiny calls, 20 distinct documents of several MB each
            sizes.append(len(client.features(pb.FeaturesRequest(timeline=timeline, step=f"0.1{i:02d}")).document_json))
        cache = client.status().cache
        assert min(sizes) > 500_000, min(sizes)
        assert cache.max_bytes == 4 * 1024 * 1024 and 0 < cache.bytes <= cache.max_bytes
        assert cache.entries <= cache.max_bytes // min(sizes) < 20
        grown = _rss_mb(record["pid"]) - rss_before
        assert grown < 150, f"resident memory grew {grown:.0f} MB over 20 features calls"
        deadline = time.monotonic() + 20
        while client.status().model.loaded and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not client.status().model.loaded
        cache = client.status().cache
        assert (cache.entries, cache.bytes) == (0, 0), "the idle unload kept the cached results"


def test_a_cache_hit_is_answered_while_the_queue_is_full(tmp_path) -> None:
    home = make_home(tmp_path, model="persistence", queue_size=1, debug_job_delay=3.0)
    with running_daemon(home), client_for(home) as client:
        request = pb.SuggestRequest(path=str(SAMPLE))
        first = client.suggest(request, timeout=30)
        slow = threading.Thread(target=lambda: client.suggest(pb.SuggestRequest(timeline=_one_clip(1)), timeout=30))
        slow.start()
        try:
            deadline = time.monotonic() + 10
            while client.status().queue.depth < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.status().queue.depth == 1  # the one place is taken
            again = client.suggest(request, timeout=5)
            assert again.cached and again.document_json == first.document_json
            with pytest.raises(DaemonError) as err:  # a miss is still turned away
                client.features(pb.FeaturesRequest(timeline=_one_clip(2)), timeout=5)
            assert err.value.code == "RESOURCE_EXHAUSTED"
        finally:
            slow.join()


def test_stop_cancels_a_long_running_call_and_the_daemon_exits_by_itself(tmp_path) -> None:
    """Before: the log said "stopped" at 10 s, the process lived on until its call finished
    (117 s) and `mttd stop` needed SIGKILL."""
    from tests.helpers_daemon import mttd, serve_processes

    home = make_home(tmp_path, backend="torch", threads=1)
    outcome: list[str] = []
    with running_daemon(home), client_for(home) as client:

        def long_call() -> None:
            try:
                client.suggest(pb.SuggestRequest(timeline=_one_clip(50)), timeout=120)
                outcome.append("answered")
            except DaemonError as err:
                outcome.append(err.code)

        caller = threading.Thread(target=long_call)
        caller.start()
        deadline = time.monotonic() + 30
        while not client.status().queue.busy and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.status().queue.busy
        started = time.monotonic()
        stop = mttd(home, "stop")
        took = time.monotonic() - started
        caller.join(timeout=30)
        assert stop.returncode == 0 and "mttd: stopped" in stop.stdout, stop.stdout  # not terminated, not killed
        assert took < 15, f"stop took {took:.1f} s"
        assert serve_processes(home) == []
        assert outcome and outcome[0] != "answered"


def test_errors_name_the_problem_never_the_files_text(client: DaemonClient) -> None:
    from tests.helpers_watcher import synthetic_xmeml

    secret = "x-SECRET-7f3a"
    good = synthetic_xmeml(1)
    documents = {
        "a timebase": (good.replace("<timebase>25</timebase>", f"<timebase>{secret}</timebase>", 1), "<timebase> is not a number"),
        "a flag": (good.replace("<enabled>TRUE</enabled>", f"<enabled>{secret}</enabled>", 1), "is neither TRUE nor FALSE"),
        "a scale": (good.replace("<value>100</value>", f"<value>{secret}</value>", 1).replace(
            "<value>120</value>", f"<value>{secret}</value>", 1), "is not a number"),
        "the root element": (f"<{secret}><sequence/></{secret}>", "not"),
        "a tag mismatch": (f"<xmeml><{secret}a></{secret}b></xmeml>", "Opening and ending tag mismatch"),
        "an unclosed tag": (f"<xmeml><{secret}>", "Premature end of data"),
        "an entity": (f"<xmeml>&{secret};</xmeml>", "entit"),
    }
    for what, (document, needle) in documents.items():
        with pytest.raises(DaemonError) as err:
            client.suggest(pb.SuggestRequest(xml=document.encode(), source_name="sent.xml"))
        assert err.value.code == "INVALID_ARGUMENT", what
        text = f"{err.value.message} {err.value.reason}"
        assert "sent.xml" in err.value.message and needle in text, (what, text)
        assert "SECRET" not in text, f"{what}: the error echoes the file's text: {text}"
    # OpenTimelineIO's own messages quote the file too (and span lines): only their kind is kept.
    otio = b'{"OTIO_SCHEMA": "Timeline.1", "name": "x-SECRET-7f3a", "tracks": "x-SECRET-7f3a"}'
    with pytest.raises(DaemonError) as err:
        client.suggest(pb.SuggestRequest(xml=otio, source_name="sent.otio"))
    assert err.value.code == "INVALID_ARGUMENT" and "sent.otio" in err.value.message
    assert "SECRET" not in err.value.message and "\n" not in err.value.message, err.value.message


def test_a_bad_model_name_is_refused_without_loading_anything(client: DaemonClient, tmp_path) -> None:
    """Before: each tried to load, which imported torch (+170 MB the idle unload never gave back)."""
    not_weights = tmp_path / "notes.txt"
    not_weights.write_text("not a model")
    rss_before = client.status().rss_mb
    for spec, code, needle in ((str(tmp_path / "missing.safetensors"), "FAILED_PRECONDITION", "no such"),
                               (str(not_weights), "FAILED_PRECONDITION", "not a .safetensors file"),
                               ("relative/m.safetensors", "INVALID_ARGUMENT", "absolute path"),
                               ("/m\0.safetensors", "INVALID_ARGUMENT", "NUL")):
        options = pb.SuggestOptions(model=spec)
        with pytest.raises(DaemonError) as err:
            client.suggest(pb.SuggestRequest(path=str(SAMPLE), options=options))
        assert err.value.code == code and needle in err.value.message, (spec, err.value.code, err.value.message)
        with pytest.raises(DaemonError) as err:
            client.predict(pb.PredictRequest(path=str(SAMPLE), model=spec))
        assert err.value.code == code, spec
    grown = client.status().rss_mb - rss_before
    assert grown < 60, f"resident memory grew {grown:.0f} MB: a bad model name loaded something"


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_batch_over_the_whole_disk_holds_a_queue_place_and_stops_at_its_deadline(client: DaemonClient) -> None:
    """Before: SuggestBatch(["/"], recursive) walked 20 s past a 5 s deadline, outside any queue place."""
    pid = client.status().pid
    outcome: list[str] = []

    def walk() -> None:
        try:
            list(client.suggest_batch(["/"], recursive=True, timeout=3.0))
            outcome.append("finished")
        except DaemonError as err:
            outcome.append(err.code)

    caller = threading.Thread(target=walk)
    caller.start()
    depth_while_walking = 0
    while caller.is_alive():
        depth_while_walking = max(depth_while_walking, client.status().queue.depth)
        time.sleep(0.05)
    caller.join(timeout=30)
    time.sleep(1.0)  # the deadline has passed: the daemon must be idle now
    cpu_before = _cpu_s(pid)
    time.sleep(2.0)
    spent = _cpu_s(pid) - cpu_before
    assert outcome and outcome[0] in ("DEADLINE_EXCEEDED", "finished"), outcome
    assert depth_while_walking == 1, "the walk ran outside the queue"
    assert client.status().queue.depth == 0
    assert spent < 0.5, f"the daemon spent {spent:.1f} s of CPU walking after the call's deadline"


def test_many_clients_asking_for_one_file_at_once_share_one_computation(tmp_path) -> None:
    """Before: 64 clients x 10 calls on one file got 560 RESOURCE_EXHAUSTED (the identical misses
    each took a queue place, and the ones turned away never saw the result arrive)."""
    home = make_home(tmp_path, model="persistence", queue_size=2, debug_job_delay=1.0)
    with running_daemon(home):
        outcomes: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(16)

        def one_client() -> None:
            with client_for(home) as client:
                start.wait()
                for _ in range(3):
                    try:
                        reply = client.suggest(pb.SuggestRequest(path=str(SAMPLE)), timeout=30)
                        what = "cached" if reply.cached else "computed"
                    except DaemonError as err:
                        what = err.code
                    with lock:
                        outcomes.append(what)

        threads = [threading.Thread(target=one_client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("computed") == 1 and outcomes.count("cached") == 47, {k: outcomes.count(k) for k in set(outcomes)}
