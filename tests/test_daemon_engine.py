"""The engine in this process: one thread, bounded admission, deadlines, idle unload, the cache,
and what it agrees to read from a path."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from daemon import config as config_mod
from daemon import paths as paths_mod
from daemon.engine import Engine, QueueFull, ResultCache, input_from_path
from daemon.errors import DaemonError
from tests.helpers_daemon import SAMPLE, wait_for


def _config(tmp_path: Path, **env: object) -> config_mod.Config:
    environ = {"MTTD_MODEL": "persistence", **{f"MTTD_{k.upper()}": str(v) for k, v in env.items()}}
    return config_mod.load(paths_mod.resolve({"MTTD_HOME": str(tmp_path)}), environ)


def _started(config: config_mod.Config) -> Engine:
    ready = threading.Event()
    errors: list = []
    engine = Engine(config, on_ready=lambda error: (errors.append(error), ready.set()))
    engine.start()
    assert ready.wait(10) and errors == [None]
    return engine


def test_calls_run_on_the_one_engine_thread(tmp_path: Path) -> None:
    engine = _started(_config(tmp_path))
    try:
        with engine.admit() as ticket:
            name, thread = engine.run(ticket, lambda p: (p.name, threading.current_thread().name), timeout=5)
        assert (name, thread) == ("persistence", "mttd-engine")
        assert engine.queue_state()["depth"] == 0 and engine.queue_state()["completed"] == 1
    finally:
        engine.stop()


def test_admission_is_bounded_and_refusals_are_counted(tmp_path: Path) -> None:
    engine = _started(_config(tmp_path, queue_size=2))
    try:
        first, second = engine.admit(), engine.admit()
        with pytest.raises(QueueFull, match="busy"):
            engine.admit()
        assert engine.queue_state()["rejected"] == 1
        first.release()
        first.release()  # releasing twice frees one place only
        with engine.admit():
            assert engine.queue_state()["depth"] == 2
        second.release()
        assert engine.queue_state()["depth"] == 0
    finally:
        engine.stop()


def test_a_call_past_its_deadline_keeps_its_place_until_the_job_ends(tmp_path: Path) -> None:
    engine = _started(_config(tmp_path, debug_job_delay=0.4))
    try:
        with pytest.raises(DaemonError) as err:
            with engine.admit() as ticket:
                engine.run(ticket, lambda p: "late", timeout=0.05)
        assert err.value.code == "DEADLINE_EXCEEDED"
        assert engine.queue_state()["depth"] == 1  # the job still runs
        assert wait_for(lambda: engine.queue_state()["depth"] == 0, timeout=5)
    finally:
        engine.stop()


def test_the_model_unloads_when_idle_and_reloads_on_the_next_call(tmp_path: Path) -> None:
    engine = _started(_config(tmp_path, keep_alive=0.3))
    try:
        assert engine.model_state().loaded
        assert wait_for(lambda: not engine.model_state().loaded, timeout=5)
        with engine.admit() as ticket:
            assert engine.run(ticket, lambda p: p.name, timeout=5) == "persistence"
        state = engine.model_state()
        assert state.loaded and state.loads == 2 and state.name == "persistence"
    finally:
        engine.stop()


def test_keep_alive_minus_one_never_unloads(tmp_path: Path) -> None:
    engine = _started(_config(tmp_path, keep_alive=-1))
    try:
        time.sleep(0.3)
        assert engine.model_state().loaded and engine._idle_wait() is None
    finally:
        engine.stop()


def test_a_model_that_cannot_load_is_a_clear_error(tmp_path: Path) -> None:
    engine = _started(_config(tmp_path))
    try:
        with engine.admit() as ticket, pytest.raises(DaemonError) as err:
            engine.run(ticket, lambda p: None, spec=str(tmp_path / "missing.safetensors"), timeout=30)
        assert err.value.code == "FAILED_PRECONDITION" and "missing.safetensors" in err.value.message
        assert engine.model_state().name == "persistence"  # the configured model is untouched
    finally:
        engine.stop()


def test_the_cache_is_a_bounded_lru() -> None:
    cache = ResultCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("c") == 3
    state = cache.state()
    assert {k: state[k] for k in ("entries", "capacity", "hits", "misses")} == {"entries": 2, "capacity": 2, "hits": 2, "misses": 1}


def test_a_timeline_file_is_read(tmp_path: Path) -> None:
    source = input_from_path(str(SAMPLE))
    assert source.kind == "path" and source.data == SAMPLE.read_bytes()
    assert source.parse().sequences[0].name


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (lambda d: "relative/cut.xml", "INVALID_ARGUMENT", "must be absolute"),
        (lambda d: str(d / "missing.xml"), "NOT_FOUND", "no such file"),
        (lambda d: _write(d / "notes.txt", b"<xmeml/>"), "INVALID_ARGUMENT", "not a timeline file"),
        (lambda d: _write(d / "binary.xml", b"\x7fELF\x00"), "INVALID_ARGUMENT", "does not look like a .xml timeline"),
        (lambda d: str(d), "INVALID_ARGUMENT", "not a timeline file"),
        (lambda d: _fifo(d / "pipe.xml"), "INVALID_ARGUMENT", "not a regular file"),
    ],
)
def test_the_daemon_reads_only_timeline_files(tmp_path: Path, make, code: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(DaemonError) as err:
        input_from_path(make(tmp_path))
    assert err.value.code == code and message in err.value.message
    assert time.monotonic() - started < 2  # a FIFO must not block the call


def test_an_unreadable_timeline_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.xml", b"<xmeml>\n<sequence>\n</xmeml>")
    with pytest.raises(DaemonError) as err:
        input_from_path(path).parse()
    assert err.value.code == "INVALID_ARGUMENT"
    assert err.value.message.startswith(f"cannot read {path}:") and err.value.line >= 1


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def test_an_in_process_producer_can_wait_for_a_place(tmp_path: Path) -> None:
    engine = _started(_config(tmp_path, queue_size=1))
    try:
        held = engine.admit()
        threading.Timer(0.2, held.release).start()
        started = time.monotonic()
        with engine.admit(wait=5):
            assert time.monotonic() - started >= 0.15
        assert engine.queue_state()["rejected"] == 0
        held2 = engine.admit()
        with pytest.raises(QueueFull):
            engine.admit(wait=0.05)
        held2.release()
        assert engine.queue_state()["rejected"] == 1
    finally:
        engine.stop()
