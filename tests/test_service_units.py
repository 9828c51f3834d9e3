"""The autostart definitions (systemd unit, XDG autostart entry, LaunchAgent plist, logon task),
validated by the tools that read them, and install/uninstall/start/stop against recording
stand-ins for systemctl and launchctl (real executables at the process edge).
"""

from __future__ import annotations

import configparser
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path, PureWindowsPath
from xml.etree import ElementTree

import pytest

from daemon import service
from tests.conftest import REPO

TASK_NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


def fake_scripts_dir(root: Path) -> Path:
    """A bin/ holding an executable `mttd`, so verifiers that check ExecStart find it."""
    scripts = root / "bin"
    scripts.mkdir(parents=True)
    mttd = scripts / "mttd"
    mttd.write_text("#!/bin/sh\nexit 0\n")
    mttd.chmod(0o755)
    return scripts


def systemd_verify(unit: Path, runtime: Path) -> subprocess.CompletedProcess:
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(unit.parent)}
    return subprocess.run(["systemd-analyze", "verify", "--user", str(unit)], capture_output=True, text=True, env=env, timeout=60)


# --- systemd -----------------------------------------------------------------------------------


def test_systemd_unit_runs_serve_in_the_foreground_and_restarts_only_on_failure(tmp_path):
    spec = service.spec_for(tmp_path / "venv" / "bin", tmp_path / "log", {"MTTD_HOME": "/h"}, platform="linux")
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read_string(service.systemd_unit(spec))
    assert unit["Service"]["ExecStart"] == f'"{tmp_path}/venv/bin/mttd" "serve" "--foreground"'
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Service"]["Type"] == "simple"
    assert unit["Service"]["Environment"] == '"MTTD_HOME=/h"'
    assert unit["Install"]["WantedBy"] == "default.target"
    assert "linger" not in service.systemd_unit(spec).lower()  # a desktop tool runs while the user is logged in


@pytest.mark.parametrize("folder", ["plain", "with space 100%i $HOME"])
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path, folder):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here (only this check needs it)")
    scripts = fake_scripts_dir(tmp_path / folder)
    spec = service.spec_for(scripts, tmp_path / "log", {"MTTD_HOME": str(tmp_path / 'h 100% "q" $x b\\s'), "XDG_DATA_HOME": "/d"}, platform="linux")
    unit = tmp_path / "units" / service.UNIT_NAME
    unit.parent.mkdir()
    unit.write_text(service.systemd_unit(spec))
    done = systemd_verify(unit, tmp_path / "run")
    # verify exits 0 even on some warnings (an unknown Restart= value): any output is a failure.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # A misquoted ExecStart would name a missing program: make sure the check can fail.
    (scripts / "mttd").unlink()
    assert systemd_verify(unit, tmp_path / "run").returncode != 0


# --- XDG autostart -------------------------------------------------------------------------------


def desktop_exec_args(value: str) -> list[str]:
    """Undo the Desktop Entry Spec's escaping of an Exec value (string escapes, then quoting)."""
    value = value.replace("%%", "\0")
    value = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(m.group(1), m.group(0)), value)
    args = []
    for quoted, bare in re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', value):
        args.append(re.sub(r'\\([\"`$\\])', r"\1", quoted) if quoted or not bare else bare)
    return [a.replace("\0", "%") for a in args]


def test_xdg_autostart_entry_runs_mttd_start_with_the_baked_variables(tmp_path):
    scripts = tmp_path / 'odd "dir" $x 50%' / "bin"
    spec = service.spec_for(scripts, tmp_path / "log", {"XDG_CONFIG_HOME": "/c", "MTTD_HOME": "/m"}, platform="linux")
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read_string(service.xdg_autostart_entry(spec))
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["NoDisplay"] == "true"
    assert desktop_exec_args(desktop["Exec"]) == ["/usr/bin/env", "MTTD_HOME=/m", "XDG_CONFIG_HOME=/c", str(scripts / "mttd"), "start"]
    if shutil.which("desktop-file-validate"):
        path = tmp_path / "mttd.desktop"
        path.write_text(service.xdg_autostart_entry(spec))
        done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


# --- launchd ---------------------------------------------------------------------------------


def test_launchagent_plist_keeps_alive_on_crash_only_and_logs_to_the_log_dir(tmp_path):
    spec = service.spec_for(tmp_path / "venv" / "bin", tmp_path / "Logs" / "mttd", {"MTTD_HOME": "/m", "XDG_DATA_HOME": "/d"}, platform="darwin")
    plist = plistlib.loads(service.launchd_plist(spec))
    assert plist["Label"] == service.LAUNCHD_LABEL
    assert plist["ProgramArguments"] == [str(tmp_path / "venv" / "bin" / "mttd"), "serve", "--foreground"]
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["RunAtLoad"] is True
    assert Path(plist["StandardOutPath"]).parent == tmp_path / "Logs" / "mttd"
    assert Path(plist["StandardErrorPath"]).parent == tmp_path / "Logs" / "mttd"
    assert plist["EnvironmentVariables"] == {"MTTD_HOME": "/m", "XDG_DATA_HOME": "/d"}
    if shutil.which("plutil"):
        path = tmp_path / "agent.plist"
        path.write_bytes(service.launchd_plist(spec))
        assert subprocess.run(["plutil", "-lint", str(path)], capture_output=True).returncode == 0


# --- Windows -------------------------------------------------------------------------------------


def test_windows_logon_task_runs_pythonw_for_this_user_at_least_privilege():
    scripts = PureWindowsPath(r"C:\Users\Ed Itor\AppData\Local\mttd\venv\Scripts")
    spec = service.spec_for(scripts, scripts.parent / "Logs", {"MTTD_HOME": r"D:\m & n", "XDG_DATA_HOME": "/ignored"}, platform="win32")
    xml = service.windows_task_xml(spec, r"HOST\Ed Itor").encode("utf-16")
    assert xml[:2] in (b"\xff\xfe", b"\xfe\xff")  # schtasks /XML wants UTF-16 with a byte-order mark
    root = ElementTree.fromstring(xml.decode("utf-16"))
    assert root.find(f"{TASK_NS}Triggers/{TASK_NS}LogonTrigger/{TASK_NS}UserId").text == r"HOST\Ed Itor"
    principal = root.find(f"{TASK_NS}Principals/{TASK_NS}Principal")
    assert principal.find(f"{TASK_NS}RunLevel").text == "LeastPrivilege"
    assert principal.find(f"{TASK_NS}LogonType").text == "InteractiveToken"
    action = root.find(f"{TASK_NS}Actions/{TASK_NS}Exec")
    assert action.find(f"{TASK_NS}Command").text == str(scripts / "pythonw.exe")
    assert action.find(f"{TASK_NS}Arguments").text == '-m daemon.service serve "MTTD_HOME=D:\\m & n"'
    assert root.find(f"{TASK_NS}Settings/{TASK_NS}ExecutionTimeLimit").text == "PT0S"  # never stopped for running long


def test_the_windows_task_entry_accepts_only_serve():
    done = subprocess.run([sys.executable, "-m", "daemon.service", "bogus"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and "usage: python -m daemon.service serve" in done.stderr


# --- install, start, stop with recording service managers --------------------------------------


def recording_tool(bin_dir: Path, name: str, log: Path, fail_on: str = "") -> None:
    """An executable `name` that appends its arguments to `log` and exits 0 (1 when they contain fail_on)."""
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    check = f'case "$*" in *"{fail_on}"*) exit 1;; esac\n' if fail_on else ""
    tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{check}exit 0\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


@pytest.fixture()
def user_env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "MTTD_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MTTD_HOME", str(tmp_path / "mttd-home"))
    log = tmp_path / "calls.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{tmp_path / 'fakebin'}{os.pathsep}{os.environ['PATH']}")
    return home, log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_systemd_install_writes_the_unit_enables_and_starts_it(user_env, tmp_path):
    home, log = user_env
    recording_tool(tmp_path / "fakebin", "systemctl", log)
    report = service.install(service.current_spec(), "systemd")
    unit = home / ".config" / "systemd" / "user" / service.UNIT_NAME
    assert report.files == [unit] and report.started
    assert report.created_dirs == [home / ".config", home / ".config" / "systemd", home / ".config" / "systemd" / "user"]
    assert f"Environment=\"MTTD_HOME={tmp_path / 'mttd-home'}\"" in unit.read_text()
    assert calls(log) == ["systemctl --user daemon-reload", "systemctl --user enable mttd.service", "systemctl --user start mttd.service"]


def test_managed_start_and_stop_go_through_systemd_only_for_this_mttd(user_env, tmp_path, monkeypatch):
    home, log = user_env
    recording_tool(tmp_path / "fakebin", "systemctl", log)
    assert (service.managed_start(), service.managed_stop()) == (False, False)  # nothing installed
    service.install(service.current_spec(), "systemd", start=False)
    log.write_text("")
    assert service.owned_backend() == "systemd"
    assert service.managed_start() is True
    assert service.managed_stop() is True
    assert service.managed_restart() is True
    assert [c for c in calls(log) if "show-environment" not in c] == [
        "systemctl --user start mttd.service", "systemctl --user stop mttd.service", "systemctl --user restart mttd.service"]
    # Another MTTD_HOME (a test, a side-by-side instance) must never drive the installed daemon.
    monkeypatch.setenv("MTTD_HOME", str(tmp_path / "other"))
    assert (service.owned_backend(), service.managed_start(), service.managed_stop()) == (None, False, False)


def test_managed_start_reports_a_refusal_from_systemd(user_env, tmp_path):
    home, log = user_env
    recording_tool(tmp_path / "fakebin", "systemctl", log, fail_on="start")
    service.install(service.current_spec(), "systemd", start=False)
    with pytest.raises(service.ServiceError, match="systemctl --user start mttd.service. exited 1"):
        service.managed_start()


def test_uninstall_disables_and_removes_the_unit(user_env, tmp_path):
    home, log = user_env
    recording_tool(tmp_path / "fakebin", "systemctl", log)
    service.install(service.current_spec(), "systemd")
    log.write_text("")
    unit = home / ".config" / "systemd" / "user" / service.UNIT_NAME
    assert service.uninstall() == [str(unit)]
    assert not unit.exists()
    assert "systemctl --user disable --now mttd.service" in calls(log)
    assert service.installed_backends() == []


def test_xdg_autostart_is_no_manager_for_start_and_stop(user_env, tmp_path):
    home, log = user_env
    report = service.install(service.current_spec(), "xdg-autostart")
    assert report.files == [home / ".config" / "autostart" / service.DESKTOP_NAME] and not report.started
    assert (service.managed_start(), service.managed_stop()) == (False, False)
    assert service.uninstall() == [str(report.files[0])]


def test_launchd_install_bootstraps_the_agent_and_stop_boots_it_out(user_env, tmp_path):
    home, log = user_env
    recording_tool(tmp_path / "fakebin", "launchctl", log, fail_on="kickstart")
    spec = service.current_spec()
    report = service.install(spec, "launchd")
    plist = home / "Library" / "LaunchAgents" / f"{service.LAUNCHD_LABEL}.plist"
    assert report.files == [plist] and spec.log_dir.is_dir()
    assert plistlib.loads(plist.read_bytes())["ProgramArguments"][0] == str(spec.mttd)
    domain = f"gui/{os.getuid()}"
    assert calls(log) == [f"launchctl bootout {domain}/{service.LAUNCHD_LABEL}", f"launchctl bootstrap {domain} {plist}"]
    log.write_text("")
    assert service.managed_stop() is True
    assert service.managed_start() is True  # kickstart fails when booted out: bootstrap again
    assert calls(log) == [f"launchctl bootout {domain}/{service.LAUNCHD_LABEL}",
                          f"launchctl kickstart {domain}/{service.LAUNCHD_LABEL}", f"launchctl bootstrap {domain} {plist}"]


def test_install_service_command_prints_what_it_wrote_as_json(user_env, tmp_path):
    home, log = user_env
    recording_tool(tmp_path / "fakebin", "systemctl", log)
    mttd = [sys.executable, "-m", "daemon"]
    done = subprocess.run([*mttd, "install-service", "--backend", "systemd", "--json"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads(done.stdout)
    unit = home / ".config" / "systemd" / "user" / service.UNIT_NAME
    assert report["backend"] == "systemd" and report["files"] == [str(unit)] and report["started"] is True
    assert f'"{Path(sysconfig.get_path("scripts")) / "mttd"}" "serve" "--foreground"' in unit.read_text()
    done = subprocess.run([*mttd, "uninstall-service", "--json"], capture_output=True, text=True, cwd=REPO)
    assert json.loads(done.stdout) == {"removed": [str(unit)]}
    assert not unit.exists()


def test_service_module_imports_with_the_standard_library_only():
    # The stdlib installer imports it from a checkout, before any dependency is installed.
    done = subprocess.run([sys.executable, "-S", "-c", "import daemon.service, sys; "
                           "assert not {'platformdirs', 'grpc', 'torch'} & set(sys.modules)"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
