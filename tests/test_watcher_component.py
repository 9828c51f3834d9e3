"""The watcher as a component: a real watchdog observer on real files in tmp_path.

`process` is the recording `StubProcessor` here (the watcher's contract is what it calls, when,
and how often); tests/test_watcher_sidecars.py runs the real sidecar processor.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from daemon.watch.watcher import ProcessResult, Watcher
from tests.helpers_watcher import (
    StubProcessor,
    save_atomically,
    save_slowly,
    sidecars,
    synthetic_xmeml,
    user_files_digest,
    wait_for,
    wait_idle,
)

SETTLE = 0.3


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


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture()
def run_watcher(folder: Path):
    """Start a watcher on `folder` with short timings; always stopped and joined."""
    started: list[Watcher] = []

    def start(process=None, poll: bool = False, **kwargs) -> Watcher:
        options = {"settle_s": SETTLE, "retry_delays_s": (0.2, 0.4), "supervise_interval_s": 0.2,
                   "poll_interval_s": 0.2} | kwargs
        watcher = Watcher(process or StubProcessor(), **options)
        watcher.add(folder, poll=poll)
        watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecar_doc(timeline: Path) -> dict:
    return json.loads(timeline.with_name(timeline.stem + ".mtt.json").read_text())


def settled(watcher: Watcher) -> None:
    """Wait until nothing is queued and no late event could still arrive."""
    time.sleep(SETTLE * 2)
    assert wait_idle(watcher), "the watcher never went idle"


def test_temp_file_and_rename_gives_one_sidecar_pair_from_the_final_content(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    target = folder / "cut.xml"
    save_atomically(target, synthetic_xmeml(1), temp_name=".goutputstream-AB12")
    save_atomically(target, synthetic_xmeml(2), temp_name="cut.xml.tmp")  # a second save inside the settle time
    settled(watcher)
    assert stub.calls == [target]
    assert sidecar_doc(target)["source"]["sha256"] == sha(target)
    assert [p.name for p in sidecars(folder)] == ["cut.mtt.json", "cut.mtt.xml"]
    assert watcher.list()[0].processed == 1


def test_a_slow_write_gives_one_pair_from_the_complete_file_and_no_error(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    target = folder / "slow.xml"
    save_slowly(target, synthetic_xmeml(3, seconds=120, tracks=4), chunks=10, seconds=2.0)
    settled(watcher)
    assert stub.calls == [target]
    doc = sidecar_doc(target)
    assert "error" not in doc
    assert doc["source"]["sha256"] == sha(target)


def test_same_content_is_skipped_and_changed_content_rewrites(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    target = folder / "cut.xml"
    save_atomically(target, synthetic_xmeml(4))
    settled(watcher)
    json_sidecar = folder / "cut.mtt.json"
    first = os.stat(json_sidecar)

    save_atomically(target, synthetic_xmeml(4))  # the same bytes, saved again
    settled(watcher)
    again = os.stat(json_sidecar)
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert len(stub.calls) == 1
    assert watcher.list()[0].skipped_unchanged == 1

    save_atomically(target, synthetic_xmeml(5))
    settled(watcher)
    assert len(stub.calls) == 2
    assert sidecar_doc(target)["source"]["sha256"] == sha(target)


@pytest.mark.slow
def test_a_drop_of_500_timelines_is_all_processed_with_bounded_queue_and_memory(tmp_path, folder, run_watcher):
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(500):
        (staging / f"t{i:03d}.xml").write_text(synthetic_xmeml(i, seconds=10, tracks=1))
    stub = StubProcessor()
    watcher = run_watcher(stub, queue_max=64)
    tracemalloc.start()
    try:
        for path in staging.iterdir():
            os.replace(path, folder / path.name)
        assert wait_for(lambda: len(stub.calls) >= 500, timeout=120), f"only {len(stub.calls)} processed"
        settled(watcher)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(p.name for p in stub.calls) == sorted(f"t{i:03d}.xml" for i in range(500))
    assert len(list(folder.glob("*.mtt.json"))) == 500
    assert watcher.stats.peak_queue <= 64
    assert watcher.stats.overflows > 0  # the bound was hit, and the reconcile scan caught up
    assert peak < 40 * 2**20, f"peak traced memory {peak / 2**20:.1f} MB"


def test_a_malformed_or_hostile_file_gets_an_error_and_the_next_good_file_is_processed(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    hostile = folder / "laughs.xml"
    hostile.write_text('<?xml version="1.0"?><!DOCTYPE xmeml [<!ENTITY a "aaaaaaaaaa">'
                       '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xmeml>&b;</xmeml>')
    truncated = folder / "truncated.xml"
    truncated.write_text(synthetic_xmeml(6)[:700])  # never completed: retried, then given up on
    assert wait_for(lambda: len(stub.calls) == 2, timeout=15)
    good = folder / "good.xml"
    save_atomically(good, synthetic_xmeml(7))
    settled(watcher)
    assert sorted(stub.calls) == sorted([hostile, truncated, good])
    assert "error" in sidecar_doc(hostile) and "error" in sidecar_doc(truncated)
    assert "error" not in sidecar_doc(good)
    info = watcher.list()[0]
    assert (info.seen, info.processed, info.failed) == (3, 1, 2)
    assert "truncated.xml" in info.last_error


def test_an_exception_in_process_is_counted_and_the_watcher_goes_on(folder, run_watcher):
    good = StubProcessor()

    def process(path: Path) -> ProcessResult:
        if path.name == "boom.xml":
            raise RuntimeError("engine exploded")
        return good(path)

    watcher = run_watcher(process)
    save_atomically(folder / "boom.xml", synthetic_xmeml(8))
    save_atomically(folder / "fine.xml", synthetic_xmeml(9))
    settled(watcher)
    assert good.calls == [folder / "fine.xml"]
    info = watcher.list()[0]
    assert info.failed == 1 and "engine exploded" in info.last_error
    assert all(t.is_alive() for t in watcher._threads)


def test_sidecars_and_temp_names_never_trigger_processing(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    save_atomically(folder / "cut.xml", synthetic_xmeml(10))
    settled(watcher)
    jobs = watcher.stats.jobs
    # Things that look like timelines but are ours, hidden, temporary or backups.
    for name in ("other.mtt.xml", ".hidden.xml", "~$cut.xml", ".~lock.cut.xml", "cut.xml.part", "x.xml.swp"):
        (folder / name).write_text(synthetic_xmeml(11))
    (folder / ".cache").mkdir()
    (folder / ".cache" / "inside.xml").write_text(synthetic_xmeml(12))
    (folder / "cut.mtt.json").touch()
    settled(watcher)
    assert stub.calls == [folder / "cut.xml"]
    assert watcher.stats.jobs == jobs


def test_a_thousand_unrelated_files_cost_nothing_beyond_the_scan(folder, run_watcher):
    for i in range(900):
        sub = folder / f"media{i % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"clip{i}.{['mov', 'wav', 'txt', 'jpg', 'prproj'][i % 5]}").write_bytes(b"\0" * 64)
    for i in range(100):  # .xml, but not xmeml: read once (4 KB), then remembered
        (folder / f"notes{i}.xml").write_text(f"<?xml version='1.0'?><plist><n>{i}</n></plist>")
    stub = StubProcessor()
    watcher = run_watcher(stub)
    assert wait_for(lambda: watcher.stats.reconciles >= 1, timeout=10)
    settled(watcher)
    assert stub.calls == []
    assert (watcher.stats.jobs, watcher.stats.sniffed_out) == (100, 100)
    assert watcher.reconcile() == 0  # the next scan queues nothing
    assert watcher.list()[0].seen == 0
    assert sidecars(folder) == []


def test_the_folders_own_files_are_byte_identical_after_watching(corpus_dir, folder, run_watcher):
    for src in sorted(corpus_dir.rglob("*.xml"))[:15]:
        shutil.copy(src, folder / src.name)
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("keep me")
    before = user_files_digest(folder)
    watcher = run_watcher(StubProcessor())
    save_atomically(folder / "sub" / "new.xml", synthetic_xmeml(13))
    before["sub/new.xml"] = sha(folder / "sub" / "new.xml")
    settled(watcher)
    assert len(sidecars(folder)) >= 2
    assert user_files_digest(folder) == before


def test_reconcile_at_start_processes_missing_and_stale_sidecars_only(folder, run_watcher):
    stub = StubProcessor()
    fresh, stale, missing = (folder / f"{n}.xml" for n in ("fresh", "stale", "missing"))
    for i, path in enumerate((fresh, stale, missing)):
        path.write_text(synthetic_xmeml(20 + i))
    stub(fresh)
    stub(stale)
    stale.write_text(synthetic_xmeml(99))  # edited while the daemon was not running
    old = time.time() - 60
    os.utime(folder / "stale.mtt.json", (old, old))
    touched = folder / "touched.xml"  # newer than its sidecar, but the same content
    touched.write_text(synthetic_xmeml(24))
    stub(touched)
    os.utime(folder / "touched.mtt.json", (old, old))
    stub.calls.clear()
    watcher = run_watcher(stub)
    assert wait_for(lambda: len(stub.calls) >= 2, timeout=10)
    settled(watcher)
    assert sorted(stub.calls) == [missing, stale]
    assert watcher.list()[0].skipped_unchanged == 1
    assert sidecar_doc(stale)["source"]["sha256"] == sha(stale)


def test_a_removed_watched_folder_is_reported_and_watching_resumes(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    shutil.rmtree(folder)
    assert wait_for(lambda: watcher.list()[0].missing, timeout=5)
    info = watcher.list()[0]
    assert "missing" in info.last_error and str(folder) in info.last_error
    assert watcher.running
    folder.mkdir()
    assert wait_for(lambda: not watcher.list()[0].missing, timeout=5)
    save_atomically(folder / "back.xml", synthetic_xmeml(30))
    assert wait_for(lambda: stub.calls == [folder / "back.xml"], timeout=10)


def test_a_polled_folder_sees_saves(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub, poll=True)
    time.sleep(0.3)  # the first snapshot
    save_atomically(folder / "net.xml", synthetic_xmeml(31))
    assert wait_for(lambda: stub.calls == [folder / "net.xml"], timeout=10)
    assert watcher.list()[0].poll


def test_a_dead_observer_is_restarted(folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    watcher._observer.stop()  # as if its thread had died
    assert wait_for(lambda: watcher.stats.observer_restarts >= 1, timeout=5)
    save_atomically(folder / "after.xml", synthetic_xmeml(32))
    assert wait_for(lambda: stub.calls == [folder / "after.xml"], timeout=10)


def test_adding_a_watch_while_running_processes_what_is_there(tmp_path, folder, run_watcher):
    stub = StubProcessor()
    watcher = run_watcher(stub)
    other = tmp_path / "other"
    other.mkdir()
    (other / "waiting.xml").write_text(synthetic_xmeml(33))
    watcher.add(other)
    assert wait_for(lambda: stub.calls == [other / "waiting.xml"], timeout=10)
    assert watcher.remove(other)
    save_atomically(other / "ignored.xml", synthetic_xmeml(34))
    settled(watcher)
    assert stub.calls == [other / "waiting.xml"]
    assert [w.path for w in watcher.list()] == [str(folder)]
