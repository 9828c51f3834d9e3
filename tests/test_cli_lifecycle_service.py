"""`mttd start/stop/restart` go through the service manager when this mttd's unit is installed, and
`mttd serve` exits 0 when another daemon already holds the lock.

systemd itself is not available here: a stand-in `systemctl` on PATH (a real executable at the
process edge) records its calls and, like a user manager running the unit, starts
`mttd serve --foreground` in its own session on `start` and stops it with SIGTERM on `stop`.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from daemon import service
from tests.helpers_daemon import REPO, kill_leftovers, running_daemon, serve_processes, status_record

FAKE_SYSTEMCTL = '''#!{python}
"""A user systemd that knows one unit, mttd.service, running `mttd serve --foreground`."""
import os, signal, subprocess, sys, time
LOG, PIDFILE = {log!r}, {pidfile!r}
args = sys.argv[1:]
with open(LOG, "a") as f:
    f.write("systemctl " + " ".join(args) + "\\n")

def stop():
    try:
        pid = int(open(PIDFILE).read())
    except OSError:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for _ in range(200):  # like systemctl, return once the unit's process is gone
        try:
            if open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    os.unlink(PIDFILE)

if args[-2:] == ["start", "mttd.service"] and not os.path.exists(PIDFILE):
    # The unit's process stays this "manager's" child only until we exit; a real manager keeps it.
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "serve", "--foreground"], cwd={repo!r},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    open(PIDFILE, "w").write(str(proc.pid))
elif args[-2:] == ["stop", "mttd.service"]:
    stop()
'''


@pytest.fixture()
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user with HOME, MTTD_HOME and PATH in tmp_path; `calls()` lists what systemctl was asked."""
    home = tmp_path / "home"
    home.mkdir()
    mttd_home = tmp_path / "mttd-home"
    mttd_home.mkdir(mode=0o700)
    (mttd_home / "config").mkdir(mode=0o700)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "MTTD_BIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MTTD_HOME", str(mttd_home))
    monkeypatch.setenv("MTTD_MODEL", "persistence")
    log, pidfile = tmp_path / "systemctl.log", tmp_path / "unit.pid"
    log.touch()
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    tool = bin_dir / "systemctl"
    tool.write_text(FAKE_SYSTEMCTL.format(python=sys.executable, log=str(log), pidfile=str(pidfile), repo=str(REPO)))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def calls() -> list[str]:
        return [c for c in log.read_text().splitlines() if "show-environment" not in c]

    try:
        yield mttd_home, pidfile, calls
    finally:
        subprocess.run([sys.executable, str(tool), "--user", "stop", "mttd.service"], timeout=30)
        assert not kill_leftovers(mttd_home), "daemon processes left behind"


def mttd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon", *args], capture_output=True, text=True, timeout=90, cwd=REPO)


def test_start_stop_restart_go_through_the_installed_unit(user) -> None:
    mttd_home, pidfile, calls = user
    service.install(service.current_spec(), "systemd", start=False)
    assert service.owned_backend() == "systemd"
    del calls()[:]

    started = mttd("start")
    assert started.returncode == 0, started.stderr
    assert "through the service manager" in started.stdout
    assert calls()[-1] == "systemctl --user start mttd.service"
    unit_pid = int(pidfile.read_text())
    assert status_record(mttd_home)["pid"] == unit_pid  # the manager's process serves, not one of ours

    again = mttd("start")
    assert again.returncode == 0 and "running" in again.stdout
    assert calls().count("systemctl --user start mttd.service") == 1  # idempotent: nothing asked

    restarted = mttd("restart")
    assert restarted.returncode == 0, restarted.stderr
    assert calls()[-2:] == ["systemctl --user stop mttd.service", "systemctl --user start mttd.service"]
    assert status_record(mttd_home)["pid"] == int(pidfile.read_text()) != unit_pid

    stopped = mttd("stop")
    assert stopped.returncode == 0 and "stopped through the service manager" in stopped.stdout
    assert calls()[-1] == "systemctl --user stop mttd.service"
    assert mttd("status").returncode == 3 and serve_processes(mttd_home) == []


def test_stop_also_stops_a_daemon_the_manager_did_not_start(user) -> None:
    mttd_home, pidfile, calls = user
    started = mttd("start")  # no unit yet: spawned by mttd itself
    assert started.returncode == 0 and "service manager" not in started.stdout
    service.install(service.current_spec(), "systemd", start=False)
    stopped = mttd("stop")
    assert stopped.returncode == 0 and stopped.stdout.startswith("mttd: stopped (pid ")
    assert "systemctl --user stop mttd.service" in calls()  # the unit is stopped too, so it stays stopped
    assert serve_processes(mttd_home) == [] and not pidfile.exists()


def test_serve_exits_0_when_a_daemon_already_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers_daemon import make_home

    home = make_home(tmp_path, model="persistence")
    monkeypatch.setenv("MTTD_HOME", str(home))
    with running_daemon(home) as record:
        second = mttd("serve", "--foreground")
        assert second.returncode == 0
        assert "already running" in second.stderr and "Traceback" not in second.stderr
        assert serve_processes(home) == [record["pid"]]  # the first one still serves, alone
        assert status_record(home)["pid"] == record["pid"]
