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
        from daemon.rendezvous import process_start_time

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


def test_a_broken_config_or_token_never_blocks_status_and_stop(tmp_path: Path) -> None:
    home = make_home(tmp_path, **FAST)
    config = home / "config" / "config.toml"
    good = config.read_bytes()
    try:
        for broken, why in ((b"model = [unclosed\n", "config.toml"), (good + b"queue_size = 0\n", "queue_size"),
                            (good + b"# caf\xe9 \xff\xfe\n", "UTF-8")):
            record = _start(home)
            config.write_bytes(broken)
            status = mttd(home, "status")
            assert status.returncode == 0 and str(record["pid"]) in status.stdout, status.stderr
            warning = [line for line in status.stderr.splitlines() if line.strip()]
            assert len(warning) == 1 and why in warning[0] and "using the defaults" in warning[0], status.stderr
            stop = mttd(home, "stop")
            assert stop.returncode == 0 and "Traceback" not in stop.stderr and serve_processes(home) == [], stop.stderr
            config.write_bytes(good)
        # A token file that is not text: status and stop still work (stop signals the proven daemon).
        record = _start(home)
        (home / "state" / "token").write_bytes(b"\xff\xfe\x00garbage")
        status = mttd(home, "status")
        assert status.returncode == 0 and "Traceback" not in status.stderr and str(record["pid"]) in status.stdout
        stop = mttd(home, "stop")
        assert stop.returncode == 0 and "Traceback" not in stop.stderr and serve_processes(home) == [], stop.stderr
    finally:
        mttd(home, "stop")
        assert kill_leftovers(home) == []


def test_an_empty_or_short_token_is_never_accepted(tmp_path: Path) -> None:
    import grpc

    from protos.mtt.v1 import suggester_pb2 as pb
    from protos.mtt.v1 import suggester_pb2_grpc as pb_grpc

    home = make_home(tmp_path, **FAST)
    (home / "state").mkdir(mode=0o700)
    token_file = home / "state" / "token"
    for planted in (b"", b"\n", b"short\n"):
        token_file.write_bytes(planted)
        token_file.chmod(0o600)
        try:
            record = _start(home)
            token = token_file.read_text().strip()
            assert len(token) >= 32, f"the daemon kept a {len(token)}-character token"
            with grpc.insecure_channel(record["endpoint"]) as channel:
                stub = pb_grpc.SuggesterStub(channel)
                for given in ("Bearer ", f"Bearer {planted.decode().strip()}"):
                    try:
                        stub.GetInfo(pb.GetInfoRequest(), timeout=5, metadata=(("authorization", given),))
                        raise AssertionError(f"{given!r} was accepted")
                    except grpc.RpcError as err:
                        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
                assert stub.GetInfo(pb.GetInfoRequest(), timeout=5, metadata=(("authorization", f"Bearer {token}"),)).pid
        finally:
            mttd(home, "stop")
            assert kill_leftovers(home) == []


def test_log_and_config_folders_are_checked_and_log_files_never_followed(tmp_path: Path) -> None:
    home = make_home(tmp_path, **FAST)
    log_dir = home / "log"
    log_dir.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"  # a file of the user's that a planted symlink points at
    victim.write_text("precious\n")
    try:
        for folder in (log_dir, home / "config"):
            folder.chmod(0o777)  # anyone may plant files in it
            refused = mttd(home, "start")
            assert refused.returncode != 0 and str(folder) in refused.stderr and "other users" in refused.stderr, refused.stderr
            assert serve_processes(home) == []
            folder.chmod(0o700)
        # Planted symlinks in a private log folder: neither file is opened through them.
        (log_dir / "serve.stderr").symlink_to(victim)
        (log_dir / "mttd.log").symlink_to(victim)
        refused = mttd(home, "start")
        assert refused.returncode != 0 and "mttd.log" in refused.stderr and "symlink" in refused.stderr, refused.stderr
        assert victim.read_text() == "precious\n", "a log was written through a symlink"
        (log_dir / "mttd.log").unlink()
        _start(home)
        assert victim.read_text() == "precious\n"
        assert not (log_dir / "serve.stderr").is_symlink()
        # serve.stderr is rotated at each start, not truncated: the last start's words are kept.
        (log_dir / "serve.stderr").write_text("words of the last start\n")
        mttd(home, "restart")
        assert (log_dir / "serve.stderr.1").read_text() == "words of the last start\n"
    finally:
        mttd(home, "stop")
        assert kill_leftovers(home) == []


def test_only_a_serve_command_line_counts_as_the_daemons() -> None:
    from daemon.rendezvous import is_serve_process

    sleeper = "import time; time.sleep(30)"
    named = [subprocess.Popen([sys.executable, "-c", sleeper, *argv]) for argv in
             (["tests/test_daemon_server.py"], ["--observer"], ["serve", "--foreground"])]
    try:
        time.sleep(0.3)
        assert [is_serve_process(p.pid) for p in named] == [False, False, True]
    finally:
        for p in named:
            p.kill()
            p.wait()
