"""Processes without guesswork: the instance lock, the status file, spawning and stopping.

A daemon is "running" only when all of these hold: the lock file is locked (the kernel drops the
lock when the process dies, even after kill -9), the status file names a live pid, and that
pid's start time matches the one recorded (so a reused pid is never mistaken for the daemon and
never signalled). Stdlib only: `mttd start` uses this before grpc or torch are imported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from daemon.paths import USE_TCP, Paths, ensure_user_dir, open_private_append, rotate
from model.atomic import write_atomic

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl


STDERR_KEEP = 3  # serve.stderr files kept: this start's and the last ones'


class AlreadyRunning(Exception):
    """Another process holds the instance lock."""


def process_start_time(pid: int) -> str | None:
    """An opaque token that changes when `pid` is reused; None when unknown or gone."""
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # Fields counted after the ")" closing the name: 3 is the state, 22 the start time in
        # clock ticks since boot. A zombie has exited: it no longer counts as that process.
        fields = stat.rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else fields[19]
    if sys.platform == "win32":
        return None
    try:
        out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: never ours
    return True


def _windows_pid_alive(pid: int) -> bool:
    out = subprocess.run(["tasklist", "/FI", f"PID eq {pid}", "/NH"], capture_output=True, text=True)
    return str(pid) in out.stdout


def same_process(pid: int, start_time: str | None) -> bool:
    """True when `pid` is alive and is the process that had `start_time`."""
    if not pid_alive(pid):
        return False
    return start_time is None or process_start_time(pid) == start_time


def is_serve_process(pid: int) -> bool:
    """True when `pid`'s command line asks for `serve` (python -m daemon serve, the mttd script)."""
    if sys.platform == "win32":
        return True  # no cheap command line there; the start time and the lock still have to match
    if sys.platform.startswith("linux"):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        words = [a.decode("utf-8", "replace") for a in args[1:]]
    else:
        try:
            out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return False
        words = out.stdout.split()[1:]
    return any("serve" in word for word in words)


def is_the_daemon(pid: int, start_time: str | None, lock_file: Path) -> bool:
    """Proven, not guessed: `pid` holds the instance lock, has the recorded start time and runs
    `serve`. Nothing that fails this is ever signalled (a reused pid, a forged status file)."""
    if start_time is None and sys.platform != "win32":
        return False  # unknown start time: the pid may be anybody's by now
    if not same_process(pid, start_time) or not is_serve_process(pid):
        return False
    owner = lock_owner(lock_file)
    return owner is not None and owner[0] == pid


class InstanceLock:
    """An exclusive lock on the lock file, held for the daemon's lifetime (one daemon per user)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")
        try:
            _lock(f, exclusive=True)
        except OSError:
            f.close()
            raise AlreadyRunning(f"another mttd daemon holds {self.path}") from None
        f.seek(0)
        f.truncate()
        # Who holds it, with its start time: what `find_daemon` recovers from when the status
        # file is damaged or gone while the daemon runs.
        f.write(f"{os.getpid()} {process_start_time(os.getpid()) or ''}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock; the file stays (deleting it races)
            self._file = None


def lock_held(path: Path) -> bool:
    """True when some process holds the instance lock (probing never disturbs the holder)."""
    try:
        f = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        return False
    with f:
        try:
            _lock(f, exclusive=False)
        except OSError:
            return True
        if sys.platform == "win32":
            msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)  # Windows wants locks undone before close
        return False


def lock_owner(path: Path) -> tuple[int, str | None] | None:
    """(pid, start time) of the process holding the instance lock, as far as it can be proven:
    on Linux the kernel's /proc/locks must list that pid as the lock's holder; None when the lock
    is free or its holder is not the one the lock file names."""
    if not lock_held(path):
        return None
    try:
        words = path.read_text(encoding="utf-8", errors="replace").split()
        pid, start_time = int(words[0]), (words[1] if len(words) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None
    if sys.platform.startswith("linux") and pid not in _kernel_lock_holders(path):
        return None
    return pid, start_time


def _kernel_lock_holders(path: Path) -> set[int]:
    """Pids /proc/locks lists for the file's flock locks (FLOCK ADVISORY WRITE pid maj:min:inode)."""
    try:
        st = os.stat(path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return set()
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = set()
    for line in lines:
        fields = line.split()
        if "->" in fields:
            continue  # a waiter, not a holder
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            holders.add(int(fields[4]))
    return holders


def _lock(f: IO[str], exclusive: bool) -> None:
    if sys.platform == "win32":
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)  # byte locks are always exclusive there
    else:
        fcntl.flock(f.fileno(), (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)


@dataclass(frozen=True)
class DaemonRecord:
    """The status file of a daemon that is verifiably alive."""

    pid: int
    start_time: str | None
    endpoint: str
    version: str
    protocol: int
    token_file: str
    log: str
    started_at: float
    raw: dict[str, Any]
    recovered: bool = False  # rebuilt from the lock (the status file was damaged): pid and start time only


def write_status(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a temp file in the same directory, fsync, then rename over the old one."""
    write_atomic(path, json.dumps(data, indent=2), mode=0o600)


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_status(path: Path, pid: int) -> None:
    """Remove the status file if it is this process's (never a successor's)."""
    data = read_status(path)
    if data is not None and data.get("pid") == pid:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def find_daemon(paths: Paths) -> DaemonRecord | None:
    """The running daemon's record, or None when none runs (a stale file is ignored, not trusted).

    A status file that is damaged, gone or names another process while a proven daemon holds
    the lock gives a `recovered` record from the lock (the daemon rewrites its file within a
    second): a broken file must not orphan a running daemon."""
    record = _record_from_status(paths)
    if record is not None and is_the_daemon(record.pid, record.start_time, paths.lock_file):
        return record
    return _record_from_lock(paths)


def _record_from_lock(paths: Paths) -> DaemonRecord | None:
    owner = lock_owner(paths.lock_file)
    if owner is None or not is_the_daemon(owner[0], owner[1], paths.lock_file):
        return None
    endpoint = "" if USE_TCP else f"unix:{paths.socket_file}"
    return DaemonRecord(pid=owner[0], start_time=owner[1], endpoint=endpoint, version="", protocol=0,
                        token_file=str(paths.token_file), log=str(paths.log_file), started_at=0.0, raw={},
                        recovered=True)


def _record_from_status(paths: Paths) -> DaemonRecord | None:
    data = read_status(paths.status_file)
    if data is None:
        return None
    try:
        record = DaemonRecord(
            pid=int(data["pid"]),
            start_time=data.get("start_time"),
            endpoint=str(data["endpoint"]),
            version=str(data.get("version", "")),
            protocol=int(data.get("protocol", 0)),
            token_file=str(data.get("token_file", paths.token_file)),
            log=str(data.get("log", paths.log_file)),
            started_at=float(data.get("started_at", 0.0)),
            raw=data,
        )
    except (KeyError, TypeError, ValueError):
        return None
    return record


def spawn_serve(paths: Paths) -> subprocess.Popen:
    """Start `python -m daemon serve --foreground` as a fresh process in its own session.

    A new interpreter (not a fork of this one), so nothing grpc or torch set up here leaks into
    it; its stdout and stderr go to a file beside the log for crashes before logging starts.
    """

    ensure_user_dir(paths.log_dir)
    rotate(paths.stderr_file, STDERR_KEEP)  # the last start's crash words are kept, not truncated
    err = os.fdopen(open_private_append(paths.stderr_file), "wb")
    try:
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
        else:
            kwargs["start_new_session"] = True
        return subprocess.Popen(
            [sys.executable, "-m", "daemon", "serve", "--foreground"],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            close_fds=True,
            cwd=str(Path.home()),
            **kwargs,
        )
    finally:
        err.close()


def wait_gone(pid: int, start_time: str | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while same_process(pid, start_time):
        if time.monotonic() >= deadline:
            return False
        _reap(pid)
        time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie that looks alive."""
    if sys.platform == "win32":
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def terminate(pid: int, start_time: str | None, timeout: float, lock_file: Path | None = None) -> str:
    """SIGTERM, then SIGKILL, only to the verified process (with `lock_file`: only to the proven
    daemon, see `is_the_daemon`; a start time must be known). Returns how it ended."""
    if start_time is None and sys.platform != "win32":
        return "not signalled (its start time is unknown)"
    if lock_file is not None and not is_the_daemon(pid, start_time, lock_file):
        return "not signalled (not proven to be the daemon)"
    for sig, how in ((signal.SIGTERM, "terminated"), (getattr(signal, "SIGKILL", signal.SIGTERM), "killed")):
        if not same_process(pid, start_time):
            return "gone"
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return "gone"
        if wait_gone(pid, start_time, timeout):
            return how
    return "still running"
