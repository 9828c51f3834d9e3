"""Issue 21, state files that cannot orphan the daemon and a stop that never signals a stranger:
real daemons in a temporary MTTD_HOME, their state files corrupted or forged the way a crash, a
full disk or another user's process would leave them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers_daemon import FAST, kill_leftovers, make_home, mttd, serve_processes, status_record, wait_for


def _bystander() -> subprocess.Popen:
    """A live process of this user that is not the daemon (what a reused pid would point at)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def _start(home: Path) -> dict:
    started = mttd(home, "start")
    assert started.returncode == 0, started.stderr
    record = status_record(home)
    assert record is not None
    return record


def test_a_corrupted_status_file_does_not_orphan_the_running_daemon(tmp_path: Path) -> None:
    home = make_home(tmp_path, **FAST)
    try:
        record = _start(home)
        (home / "state" / "mttd.json").write_bytes(b"\x00garbage{{{ not json")
        status = mttd(home, "status")
        assert status.returncode == 0 and str(record["pid"]) in status.stdout, status.stdout + status.stderr
        assert wait_for(lambda: (status_record(home) or {}).get("pid") == record["pid"], timeout=5)  # rewritten
        started = time.monotonic()
        again = mttd(home, "start")
        assert again.returncode == 0 and time.monotonic() - started < 10 and serve_processes(home) == [record["pid"]]
        (home / "state" / "mttd.json").write_text("[]")
        stop = mttd(home, "stop")
        assert stop.returncode == 0 and "not running" not in stop.stdout, stop.stdout
        assert serve_processes(home) == []
    finally:
        mttd(home, "stop")
        assert kill_leftovers(home) == []


def test_stop_never_signals_a_process_it_cannot_prove_is_the_daemon(tmp_path: Path) -> None:
    home = make_home(tmp_path, **FAST)
    bystander = _bystander()
    try:
        record = _start(home)
        forged = {**record, "pid": bystander.pid}
        # 1. The status file names a live stranger and lacks its start time; the real daemon holds the lock.
        (home / "state" / "mttd.json").write_text(json.dumps({k: v for k, v in forged.items() if k != "start_time"}))
        mttd(home, "stop")
        assert bystander.poll() is None, "stop signalled a process without a recorded start time"
        # 2. The stranger's own start time copied in: it still does not hold the daemon's lock, and
        #    it is not `daemon serve`.
        _start(home)
        from daemon.process import process_start_time

        forged = {**status_record(home), "pid": bystander.pid, "start_time": process_start_time(bystander.pid)}
        (home / "state" / "mttd.json").write_text(json.dumps(forged))
        mttd(home, "stop")
        assert bystander.poll() is None, "stop signalled a process that does not hold the daemon's lock"
        mttd(home, "stop")
        assert serve_processes(home) == []
        # 3. No daemon at all; the lock file is held by the stranger, the status file names it.
        lock_holder = subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
             "f.seek(0); f.truncate(); f.write(sys.argv[2]); f.flush(); print('ok', flush=True); time.sleep(120)",
             str(home / "state" / "mttd.lock"), f"{bystander.pid}\n"], stdout=subprocess.PIPE, text=True)
        try:
            assert lock_holder.stdout.readline().strip() == "ok"
            (home / "state" / "mttd.json").write_text(json.dumps(forged))
            stop = mttd(home, "stop")
            assert "not running" in stop.stdout, stop.stdout
            assert bystander.poll() is None and lock_holder.poll() is None, "stop signalled a process it could not prove"
        finally:
            lock_holder.kill()
            lock_holder.wait()
    finally:
        bystander.kill()
        bystander.wait()
        mttd(home, "stop")
        assert kill_leftovers(home) == []
