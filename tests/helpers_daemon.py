"""Real daemons in a private MTTD_HOME for the daemon and bridge tests, and their clean-up.

Every daemon a test starts is stopped in a `finally`, and `serve_processes(home)` finds any
daemon process of that home by its environment, so tests can assert that none is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
# A two-sequence-free Premiere export with clips on several tracks; read by the reader as is.
SAMPLE = CORPUS / "OpenTimelineIO__otio-fcp-adapter" / "premiere_example.xml"
FAST = {"model": "persistence"}  # the baseline loads in milliseconds, without torch


def make_home(root: Path, **settings: object) -> Path:
    """A fresh MTTD_HOME (0700) with a config.toml holding `settings`."""
    home = root / "mttd-home"
    home.mkdir(mode=0o700, exist_ok=True)
    (home / "config").mkdir(mode=0o700, exist_ok=True)
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    (home / "config" / "config.toml").write_text("\n".join(lines) + "\n")
    return home


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MTTD_HOME"] = str(home)
    env.pop("MTTD_BIN", None)
    return env


def mttd(home: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args], env=env_for(home), capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def bridge(home: Path, *args: str, stdin: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "plugin_bridge.bridge", *args],
        env=env_for(home), input=stdin, capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


def status_record(home: Path) -> dict | None:
    try:
        return json.loads((home / "state" / "mttd.json").read_text())
    except (OSError, ValueError):
        return None


def serve_processes(home: Path) -> list[int]:
    """Pids of `daemon serve` processes whose MTTD_HOME is `home` (zombies excluded)."""
    wanted = f"MTTD_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"serve" in cmdline and wanted in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def kill_leftovers(home: Path) -> list[int]:
    pids = serve_processes(home)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@contextmanager
def running_daemon(home: Path) -> Iterator[dict]:
    """`mttd start` in `home`, yield its status record, then `mttd stop` and make sure it is gone."""
    try:
        started = mttd(home, "start")
        assert started.returncode == 0, started.stderr
        record = status_record(home)
        assert record is not None
        yield record
    finally:
        mttd(home, "stop")
        left = kill_leftovers(home)
        assert not left, f"daemon processes left behind: {left}"


def client_for(home: Path):
    """A daemon.client.DaemonClient for the daemon of `home`."""
    from daemon import paths as paths_mod
    from daemon.client import DaemonClient
    from daemon.process import find_daemon

    paths = paths_mod.resolve({"MTTD_HOME": str(home)})
    record = find_daemon(paths)
    assert record is not None, "no daemon running"
    return DaemonClient.for_record(record, paths)
