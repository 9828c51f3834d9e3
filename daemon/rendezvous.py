"""Where a client meets the daemon: its state folder, the instance lock, the status file, the
proof that a pid is the daemon, and the version key. Standard library only, no module of this
project: the daemon, `mttd`, the plugins' bridge (which imports nothing else of the daemon) and the
installer share this one copy.

A daemon is "running" only when all of these hold: the lock file is locked (the kernel drops the
lock when the process dies, even after kill -9), the status file names a live pid, and that
pid's start time matches the one recorded (so a reused pid is never mistaken for the daemon and
never signalled).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

APP = "mttd"
STATUS_NAME = "mttd.json"
LOCK_NAME = "mttd.lock"
TOKEN_NAME = "token"


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """Where the daemon keeps its status file, lock and token: MTTD_HOME/state, else the user
    state folder (platformdirs' rules, spelled out where an editor's Python lacks platformdirs)."""
    env = os.environ if environ is None else environ
    home = env.get("MTTD_HOME")
    if home:
        return Path(home).expanduser().absolute() / "state"
    try:
        import platformdirs
    except ImportError:
        if sys.platform == "win32":
            return Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / APP
        if sys.platform == "darwin":
            return Path.home() / "Library" / "Application Support" / APP
        xdg = env.get("XDG_STATE_HOME", "").strip()
        return Path(xdg if xdg.startswith("/") else Path.home() / ".local" / "state") / APP
    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def version_key(version: str) -> tuple[int, ...]:
    """`0.10.2` -> (0, 10, 2), for comparing the daemon's version with a client's."""
    return tuple(int("".join(ch for ch in piece if ch.isdigit()) or 0) for piece in version.split("."))


# -- is this pid the daemon? ------------------------------------------------------------------


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


_SERVE_WORD = re.compile(r"(?<![\w-])serve(?![\w-])")


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
    # `serve` as a word of its own (`daemon serve`, `main(['serve'])`), not inside another name
    # (a test runner given tests/test_daemon_server.py is no daemon).
    return any(_SERVE_WORD.search(word) for word in words)


def is_the_daemon(pid: int, start_time: str | None, lock_file: Path) -> bool:
    """Proven, not guessed: `pid` holds the instance lock, has the recorded start time and runs
    `serve`. Nothing that fails this is ever signalled (a reused pid, a forged status file)."""
    if start_time is None and sys.platform != "win32":
        return False  # unknown start time: the pid may be anybody's by now
    if not same_process(pid, start_time) or not is_serve_process(pid):
        return False
    owner = lock_owner(lock_file)
    return owner is not None and owner[0] == pid


# -- the instance lock ------------------------------------------------------------------------


class AlreadyRunning(Exception):
    """Another process holds the instance lock."""


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


# -- the status file --------------------------------------------------------------------------


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


def find_daemon(state: Path, endpoint: str = "", token_file: str = "", log: str = "") -> DaemonRecord | None:
    """The running daemon's record, or None when none runs (a stale file is ignored, not trusted).

    A status file that is damaged, gone or names another process while a proven daemon holds
    the lock gives a `recovered` record from the lock (the daemon rewrites its file within a
    second): a broken file must not orphan a running daemon.
    `endpoint`, `token_file` and `log`: what a recovered record says (the daemon's own defaults).
    """
    lock_file = state / LOCK_NAME
    token_file = token_file or str(state / TOKEN_NAME)
    record = _record_from_status(state / STATUS_NAME, token_file, log)
    if record is not None and is_the_daemon(record.pid, record.start_time, lock_file):
        return record
    return _record_from_lock(lock_file, endpoint, token_file, log)


def _record_from_lock(lock_file: Path, endpoint: str, token_file: str, log: str) -> DaemonRecord | None:
    owner = lock_owner(lock_file)
    if owner is None or not is_the_daemon(owner[0], owner[1], lock_file):
        return None
    return DaemonRecord(pid=owner[0], start_time=owner[1], endpoint=endpoint, version="", protocol=0,
                        token_file=token_file, log=log, started_at=0.0, raw={}, recovered=True)


def _record_from_status(status_file: Path, token_file: str, log: str) -> DaemonRecord | None:
    data = read_status(status_file)
    if data is None:
        return None
    try:
        record = DaemonRecord(
            pid=int(data["pid"]),
            start_time=data.get("start_time"),
            endpoint=str(data["endpoint"]),
            version=str(data.get("version", "")),
            protocol=int(data.get("protocol", 0)),
            token_file=str(data.get("token_file", token_file)),
            log=str(data.get("log", log)),
            started_at=float(data.get("started_at", 0.0)),
            raw=data,
        )
    except (KeyError, TypeError, ValueError):
        return None
    return record
