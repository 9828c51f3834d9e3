"""The daemon's process from the outside: writing its status file, spawning `serve`, and
stopping it (only once daemon.rendezvous has proven the pid is the daemon). Light: `mttd start`
uses this before grpc or torch are imported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from daemon import rendezvous
from daemon.paths import USE_TCP, Paths, ensure_user_dir, open_private_append, rotate
from daemon.rendezvous import DaemonRecord, is_the_daemon, same_process
from model.atomic import write_atomic

STDERR_KEEP = 3  # serve.stderr files kept: this start's and the last ones'


def write_status(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a temp file in the same directory, fsync, then rename over the old one."""
    write_atomic(path, json.dumps(data, indent=2), mode=0o600)


def find_daemon(paths: Paths) -> DaemonRecord | None:
    """The running daemon's record (daemon.rendezvous.find_daemon with this install's paths)."""
    endpoint = "" if USE_TCP else f"unix:{paths.socket_file}"
    return rendezvous.find_daemon(paths.state_dir, endpoint, str(paths.token_file), str(paths.log_file))


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
