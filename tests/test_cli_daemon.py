"""`mttd suggest` and `mttd features` through a real running daemon (MTTD_MODEL=persistence in a
temporary MTTD_HOME) give exactly what they give in-process with `--no-daemon`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers_daemon import CORPUS, REPO, SAMPLE, client_for, env_for, make_home, running_daemon, serve_processes

VOLATILE = ("created", "elapsed_ms")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    home = make_home(tmp_path_factory.mktemp("cli-daemon"))
    with _model_env():
        with running_daemon(home) as record:
            yield home, record


class _model_env:
    """MTTD_MODEL=persistence for the daemon `running_daemon` starts (it inherits os.environ)."""

    def __enter__(self) -> None:
        self.mp = pytest.MonkeyPatch()
        self.mp.setenv("MTTD_MODEL", "persistence")

    def __exit__(self, *exc: object) -> None:
        self.mp.undo()


def mttd(home: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**env_for(home), "MTTD_MODEL": "persistence"}
    return subprocess.run([sys.executable, "-m", "daemon", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def served(home: Path) -> int:
    """Suggest and features calls the daemon answered so far (its result cache sees each one)."""
    with client_for(home) as client:
        cache = client.status().cache
    return cache.hits + cache.misses


def stable(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in VOLATILE}


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLE, folder / "a.xml")
    shutil.copy(SAMPLE, folder / "sub" / "b.xml")
    (folder / "broken.xml").write_text("<xmeml><sequence>")
    return folder


def test_suggest_json_is_the_same_document_through_the_daemon_and_in_process(daemon, files) -> None:
    home, _record = daemon
    before = served(home)
    via_daemon = mttd(home, "suggest", str(files / "a.xml"), "--json")
    assert via_daemon.returncode == 0, via_daemon.stderr
    assert served(home) == before + 1
    local = mttd(home, "suggest", str(files / "a.xml"), "--json", "--no-daemon")
    assert local.returncode == 0, local.stderr
    assert served(home) == before + 1  # --no-daemon never called it
    daemon_doc, local_doc = json.loads(via_daemon.stdout), json.loads(local.stdout)
    assert daemon_doc["model"]["name"] == "persistence" and daemon_doc["sequences"]
    assert stable(daemon_doc) == stable(local_doc)
    assert list(daemon_doc) == list(local_doc)  # same keys in the same order


def test_human_output_and_relative_paths_match(daemon, files) -> None:
    home, _record = daemon
    # a programme whose last shot has media left, so the lines hold a `next` (the sample's has none)
    shutil.copy(CORPUS / "OpenTimelineIO__otio-fcp-adapter" / "premiere_generators.xml", files / "g.xml")
    before = served(home)
    via_daemon = mttd(home, "suggest", "g.xml", cwd=files)
    local = mttd(home, "suggest", "g.xml", "--no-daemon", cwd=files)
    assert via_daemon.returncode == local.returncode == 0
    assert served(home) == before + 1
    first_d, *rest_d = via_daemon.stdout.splitlines()
    first_l, *rest_l = local.stdout.splitlines()
    assert first_d.startswith("g.xml  (model persistence") and first_l.startswith("g.xml  (model persistence")
    assert rest_d == rest_l and any("next (" in line for line in rest_d)


def test_an_unreadable_file_fails_the_same_way_with_and_without_the_daemon(daemon, files) -> None:
    home, _record = daemon
    for args in (("suggest", str(files / "broken.xml")), ("suggest", str(files / "missing.xml")),
                 ("features", str(files / "broken.xml"), "--json")):
        via_daemon, local = mttd(home, *args), mttd(home, *args, "--no-daemon")
        assert via_daemon.returncode == local.returncode == 1
        assert via_daemon.stderr == local.stderr and via_daemon.stderr.startswith("mttd: ") and "Traceback" not in via_daemon.stderr
    error_doc = json.loads(mttd(home, "suggest", str(files / "broken.xml"), "--json").stdout)
    assert error_doc["error"]["line"] == 1 and error_doc["source"]["path"] == str(files / "broken.xml")


def test_features_json_is_the_same_document_through_the_daemon(daemon, files) -> None:
    home, _record = daemon
    before = served(home)
    via_daemon = mttd(home, "features", str(files / "a.xml"), "--json")
    assert via_daemon.returncode == 0, via_daemon.stderr
    assert served(home) == before + 1
    local = mttd(home, "features", str(files / "a.xml"), "--json", "--no-daemon")
    assert json.loads(via_daemon.stdout) == json.loads(local.stdout)
    assert json.loads(local.stdout)["file"] == str(files / "a.xml")


def test_a_batch_streams_through_the_daemon_and_matches_the_in_process_batch(daemon, files) -> None:
    home, _record = daemon
    before = served(home)
    via_daemon = mttd(home, "suggest", str(files), "--recursive", "--json")
    assert served(home) == before + 3  # every file was asked of the daemon (broken.xml redone here)
    local = mttd(home, "suggest", str(files), "--recursive", "--json", "--no-daemon")
    assert via_daemon.returncode == local.returncode == 1  # broken.xml failed, the others went on
    daemon_docs = [json.loads(line) for line in via_daemon.stdout.splitlines()]
    local_docs = [json.loads(line) for line in local.stdout.splitlines()]
    assert [d["source"]["path"] for d in daemon_docs] == [str(files / n) for n in ("a.xml", "broken.xml", "sub/b.xml")]
    assert [stable(d) for d in daemon_docs] == [stable(d) for d in local_docs]
    assert "error" in daemon_docs[1] and "3 files" in via_daemon.stderr and "1 failed" in via_daemon.stderr


def test_without_a_daemon_suggest_works_in_process_and_starts_none(tmp_path) -> None:
    home = make_home(tmp_path)
    done = mttd(home, "suggest", str(SAMPLE), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"]["name"] == "persistence"
    assert serve_processes(home) == [] and not (home / "state" / "mttd.json").exists()


def test_client_suggest_batch_streams_in_order_and_a_stopped_stream_frees_the_daemon(daemon, files) -> None:
    home, _record = daemon
    paths = [str(files / "a.xml"), str(files / "missing.xml"), str(files / "sub" / "b.xml")]
    with client_for(home) as client:
        replies = list(client.suggest_batch(paths, client.pb.SuggestOptions(kinds=["next"])))
        assert [(r.index, r.total, r.path) for r in replies] == [(i, 3, p) for i, p in enumerate(paths)]
        assert [r.WhichOneof("result") for r in replies] == ["reply", "error", "reply"]
        assert replies[1].error.code == "NOT_FOUND"
        stream = client.suggest_batch(paths * 20)
        assert next(stream).index == 0
        stream.close()  # the caller stops early: the call is cancelled
        deadline = time.monotonic() + 10
        while client.status().queue.depth and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.status().queue.depth == 0
