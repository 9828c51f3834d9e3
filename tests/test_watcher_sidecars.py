"""The watcher with the real `process`: model.suggest.document documents and suggested XML beside the file.

PersistencePredictor stands in for the network (fast, no torch); all three suggestion kinds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from daemon.watch.process import make_engine_processor, make_processor
from daemon.watch.watcher import TwoPhaseProcessor, Watcher
from model.inference.predictor import PersistencePredictor
from model.suggest.document import SCHEMA_FILE
from model.suggest.items import SuggestOptions
from model.timeline.xmeml import read_xmeml
from tests.helpers_watcher import save_atomically, sidecars, synthetic_xmeml, user_files_digest, wait_for, wait_idle

OPTIONS = SuggestOptions()
HOSTILE = ('<?xml version="1.0"?><!DOCTYPE xmeml [<!ENTITY a "aaaaaaaaaa">'
           '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xmeml version="4">&b;</xmeml>\n')


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {leaked}")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


@pytest.fixture()
def watched(tmp_path: Path):
    folder = tmp_path / "project"
    folder.mkdir()
    watcher = Watcher(make_processor(PersistencePredictor, OPTIONS), settle_s=0.3,
                      retry_delays_s=(0.2, 0.4), supervise_interval_s=0.2)
    watcher.add(folder)
    watcher.start()
    yield folder, watcher
    watcher.stop()


def doc_of(timeline: Path) -> dict:
    return json.loads(timeline.with_name(timeline.stem + ".mtt.json").read_text())


def test_a_saved_timeline_gets_a_valid_document_and_an_importable_suggested_xml(watched, validator):
    folder, watcher = watched
    cut = folder / "cut.xml"
    save_atomically(cut, synthetic_xmeml(1, seconds=60, tracks=3, name="Main cut"))
    suggested = folder / "cut.mtt.xml"
    assert wait_for(lambda: suggested.exists(), timeout=20)
    doc = doc_of(cut)
    validator.validate(doc)
    assert doc["source"] == {"path": str(cut), "sha256": hashlib.sha256(cut.read_bytes()).hexdigest(),
                             "size": cut.stat().st_size}
    names = [s.name for s in read_xmeml(suggested).sequences]
    assert names == ["Main cut", "Main cut (mtt suggestions)"]
    assert watcher.list()[0].processed == 1


def test_a_hostile_file_gets_an_error_document_and_the_next_good_file_is_processed(watched, validator):
    folder, watcher = watched
    hostile = folder / "laughs.xml"
    hostile.write_text(HOSTILE)
    assert wait_for(lambda: (folder / "laughs.mtt.json").exists(), timeout=20)
    error = doc_of(hostile)["error"]
    validator.validate(doc_of(hostile))
    assert "laughs.xml" in error["message"] and "entit" in error["message"]
    assert not (folder / "laughs.mtt.xml").exists()
    good = folder / "good.xml"
    save_atomically(good, synthetic_xmeml(2))
    assert wait_for(lambda: (folder / "good.mtt.xml").exists(), timeout=20)
    assert "error" not in doc_of(good)
    info = watcher.list()[0]
    assert (info.processed, info.failed) == (1, 1)
    assert "laughs.xml" in info.last_error


def test_a_file_that_never_completes_gets_an_error_document_naming_the_line(watched):
    folder, watcher = watched
    broken = folder / "broken.xml"
    broken.write_text(synthetic_xmeml(3)[:900])
    assert wait_for(lambda: (folder / "broken.mtt.json").exists(), timeout=20)
    error = doc_of(broken)["error"]
    assert error["line"] and "broken.xml" in error["message"]
    # the error sidecar: the file, the line and the reason, apart and as the one line
    assert error["file"] == str(broken) and error["reason"]
    assert error["message"] == f"{broken}:{error['line']}: {error['reason']}"
    assert watcher.list()[0].failed == 1


def test_corpus_files_get_sidecars_and_stay_byte_identical(corpus_dir, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    picked = sorted(corpus_dir.rglob("*.xml"), key=lambda p: p.stat().st_size)[:12]
    for i, src in enumerate(picked):
        shutil.copy(src, folder / f"{i:02d}-{src.name}")
    before = user_files_digest(folder)
    watcher = Watcher(make_processor(PersistencePredictor, OPTIONS), settle_s=0.2, retry_delays_s=(0.1,))
    watcher.add(folder)
    watcher.start()
    try:
        # Reconcile at start finds them all: each gets a document, suggestions or an error.
        assert wait_for(lambda: len(list(folder.glob("*.mtt.json"))) == len(picked), timeout=60)
        assert wait_idle(watcher)
    finally:
        watcher.stop()
    assert user_files_digest(folder) == before
    info = watcher.list()[0]
    assert info.processed + info.failed == len(picked) and info.processed > 0
    assert all(p.name.endswith((".mtt.json", ".mtt.xml")) for p in sidecars(folder))


def test_the_engine_processor_runs_on_the_engine_and_waits_when_it_is_full(tmp_path):
    from daemon import config, paths
    from daemon.engine import Engine

    cfg = config.load(paths.resolve({"MTTD_HOME": str(tmp_path / "home")}),
                      {"MTTD_MODEL": "persistence", "MTTD_QUEUE_SIZE": "1"})
    ready = threading.Event()
    engine = Engine(cfg, on_ready=lambda error: ready.set())
    engine.start()
    try:
        assert ready.wait(10)
        process = make_engine_processor(engine, OPTIONS, timeout_s=20)
        cut = tmp_path / "cut.xml"
        cut.write_text(synthetic_xmeml(4))
        busy = engine.admit()  # an interactive call holds the only place
        threading.Timer(0.5, busy.release).start()
        started = time.monotonic()
        result = process(cut)
        assert result.ok and time.monotonic() - started >= 0.4
        assert (tmp_path / "cut.mtt.xml").exists()
        assert engine.queue_state()["completed"] >= 1
    finally:
        engine.stop()


def recording(inner: TwoPhaseProcessor, log: list) -> TwoPhaseProcessor:
    """The real two-phase processor, with the time of every prepare and commit recorded."""

    def prepare(path: Path):
        log.append(("prepare", time.monotonic(), path.read_bytes()))
        return inner.prepare(path)

    def commit(path: Path, run):
        log.append(("commit", time.monotonic(), run.document["source"]["sha256"]))
        return inner.commit(path, run)

    return TwoPhaseProcessor(prepare, commit)


def recording_watcher(tmp_path: Path, settle_s: float) -> tuple[Path, list, Watcher]:
    """A watched `project` folder, the log of prepare and commit calls, and the started watcher."""
    folder = tmp_path / "project"
    folder.mkdir()
    log: list = []
    watcher = Watcher(recording(make_processor(PersistencePredictor, OPTIONS), log), settle_s=settle_s,
                      supervise_interval_s=0.2)
    watcher.add(folder)
    watcher.start()
    time.sleep(0.3)  # the start's reconcile scan of the empty folder
    return folder, log, watcher


def test_a_save_is_prepared_while_its_settle_time_runs_and_committed_only_after_it(tmp_path):
    folder, log, watcher = recording_watcher(tmp_path, settle_s=1.5)
    try:
        cut = folder / "cut.xml"
        text = synthetic_xmeml(11, seconds=30, tracks=3)
        saved = time.monotonic()
        save_atomically(cut, text)
        assert wait_for(lambda: (folder / "cut.mtt.xml").exists(), timeout=20)
        assert wait_idle(watcher)
    finally:
        watcher.stop()
    (_, prepared_at, read), (_, committed_at, sha) = log
    assert [entry[0] for entry in log] == ["prepare", "commit"]
    assert prepared_at - saved < 1.0  # the work began inside the settle time...
    assert committed_at - saved >= 1.5  # ...and the sidecars waited for its end
    assert read == text.encode() and sha == hashlib.sha256(text.encode()).hexdigest()
    assert (watcher.stats.early, watcher.stats.early_dropped) == (1, 0)
    assert watcher.list()[0].processed == 1


def test_a_save_that_changes_again_inside_the_settle_time_drops_the_early_work(tmp_path):
    folder, log, watcher = recording_watcher(tmp_path, settle_s=1.0)
    try:
        cut = folder / "cut.xml"
        first, second = synthetic_xmeml(12, tracks=3), synthetic_xmeml(13, tracks=3)
        save_atomically(cut, first)
        assert wait_for(lambda: log, timeout=10)  # the first version is being prepared
        save_atomically(cut, second)
        assert wait_for(lambda: any(e[0] == "commit" for e in log), timeout=20)
        assert wait_idle(watcher)
        time.sleep(0.5)
    finally:
        watcher.stop()
    commits = [e for e in log if e[0] == "commit"]
    assert [c[2] for c in commits] == [hashlib.sha256(second.encode()).hexdigest()]
    assert doc_of(cut)["source"]["sha256"] == commits[0][2]
    assert watcher.stats.early_dropped >= 1
    assert watcher.list()[0].processed == 1
