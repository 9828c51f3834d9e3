"""Autostart at login without administrator rights, and start/stop through the service manager.

One backend per platform, each per user:
- `systemd`: a user unit `$XDG_CONFIG_HOME/systemd/user/mttd.service` running
  `mttd serve --foreground` with `Restart=on-failure` (no linger: a desktop tool runs while the
  user is logged in);
- `xdg-autostart`: where there is no systemd user instance, `$XDG_CONFIG_HOME/autostart/mttd.desktop`
  runs `mttd start` when the desktop session starts (nothing restarts a crashed daemon there);
- `launchd`: a LaunchAgent `~/Library/LaunchAgents/org.mttd.daemon.plist` with
  `KeepAlive {SuccessfulExit: false}` and its output in the user log directory;
- `schtasks`: a Task Scheduler task `mttd` triggered at this user's logon, least privilege.

Supervisors run the daemon in the foreground: launchd and systemd `Type=simple` must not see it
fork and exit (daemon-notes pitfall 7). `managed_start()` / `managed_stop()` let `mttd start/stop`
go through the manager when this mttd's service is installed, so the supervisor never fights the
user (pitfall 9). Every definition is rewritten from the running interpreter on each install, so
an upgrade never leaves a unit pointing at an old path (pitfall 10).

Standard library only at import time: the stdlib installer imports this module from a checkout.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from daemon.errors import MttdError
from daemon.paths import resolve
from model.atomic import write_atomic

UNIT_NAME = "mttd.service"
DESKTOP_NAME = "mttd.desktop"
LAUNCHD_LABEL = "org.mttd.daemon"
TASK_NAME = "mttd"
BACKENDS = ("systemd", "xdg-autostart", "launchd", "schtasks")
# The service manager does not see the shell's environment: bake in the variables that choose
# mttd's directories, so the service's daemon uses the same ones as the CLI that installed it.
POSIX_BAKED_ENV = ("MTTD_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR")
WINDOWS_BAKED_ENV = ("MTTD_HOME",)
COMMAND_TIMEOUT = 30


class ServiceError(MttdError):
    """The service manager refused a command; the message names the command and its output."""


@dataclass(frozen=True)
class ServiceSpec:
    """What the service runs: the mttd of one environment, with its log dir and baked variables."""

    scripts_dir: Path  # the environment's bin/ (Scripts\\ on Windows)
    log_dir: Path
    env: tuple[tuple[str, str], ...] = ()

    @property
    def mttd(self) -> Path:
        return self.scripts_dir / ("mttd.exe" if _is_windows_dir(self.scripts_dir) else "mttd")

    @property
    def pythonw(self) -> Path:
        return self.scripts_dir / "pythonw.exe"


@dataclass
class InstallReport:
    backend: str
    files: list[Path] = field(default_factory=list)  # service definitions written
    created_dirs: list[Path] = field(default_factory=list)  # directories that did not exist before
    started: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "backend": self.backend,
            "files": [str(p) for p in self.files],
            "created_dirs": [str(p) for p in self.created_dirs],
            "started": self.started,
            "notes": self.notes,
        }


def _is_windows_dir(path: Path) -> bool:
    return path.name.lower() == "scripts"


def spec_for(scripts_dir: Path, log_dir: Path, environ: dict[str, str] | None = None, platform: str = sys.platform) -> ServiceSpec:
    env = os.environ if environ is None else environ
    names = WINDOWS_BAKED_ENV if platform == "win32" else POSIX_BAKED_ENV
    baked = tuple((name, env[name]) for name in names if env.get(name))
    return ServiceSpec(scripts_dir=scripts_dir, log_dir=log_dir, env=baked)


def current_spec() -> ServiceSpec:
    """The service that would run the mttd of this interpreter, with today's directories."""
    return spec_for(Path(sysconfig.get_path("scripts")), resolve().log_dir)


# --- the definitions ---------------------------------------------------------------------------


def _systemd_quote(text: str) -> str:
    # % starts a specifier everywhere. ($ would expand a variable in an ExecStart argument, but the
    # arguments here are fixed words and systemd takes the program path literally.)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def systemd_unit(spec: ServiceSpec) -> str:
    exec_start = " ".join(_systemd_quote(a) for a in (str(spec.mttd), "serve", "--foreground"))
    env_lines = "".join(f"Environment={_systemd_quote(f'{k}={v}')}\n" for k, v in spec.env)
    return (
        "# Written by `mttd install-service`; rewritten on every install. Remove with `mttd uninstall-service`.\n"
        "[Unit]\n"
        "Description=mttd: edit suggestions for video timelines\n"
        # A daemon that keeps failing (say another one holds the lock) stops being restarted.
        "StartLimitIntervalSec=60\n"
        "StartLimitBurst=5\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        f"{env_lines}"
        # A clean exit (mttd stop, SIGTERM) is final; only a crash is restarted.
        "Restart=on-failure\n"
        "RestartSec=3\n"
        "TimeoutStopSec=20\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _desktop_exec_arg(text: str) -> str:
    # Desktop Entry Spec: quote the argument, backslash-escape " ` $ \ inside the quotes, then
    # escape the backslashes once more (the value is a string) and double % (field codes).
    quoted = '"' + re.sub(r'(["`$\\])', r"\\\1", text) + '"'
    return quoted.replace("\\", "\\\\").replace("%", "%%")


def xdg_autostart_entry(spec: ServiceSpec) -> str:
    args = [str(spec.mttd), "start"]
    if spec.env:
        args = ["/usr/bin/env", *(f"{k}={v}" for k, v in spec.env), *args]
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=mttd\n"
        "Comment=Edit suggestions for video timelines (written by mttd install-service)\n"
        f"Exec={' '.join(_desktop_exec_arg(a) for a in args)}\n"
        "Terminal=false\n"
        "NoDisplay=true\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def launchd_plist(spec: ServiceSpec) -> bytes:
    plist: dict = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [str(spec.mttd), "serve", "--foreground"],
        "RunAtLoad": True,
        # Restart after a crash only: `mttd stop` exits 0 and stays stopped.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "ProcessType": "Interactive",
        "StandardOutPath": str(spec.log_dir / "launchd.stdout.log"),
        "StandardErrorPath": str(spec.log_dir / "launchd.stderr.log"),
    }
    if spec.env:
        plist["EnvironmentVariables"] = dict(spec.env)
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=False)


def windows_task_xml(spec: ServiceSpec, user: str) -> str:
    """A logon task for `user` (DOMAIN\\name) at least privilege; registering it needs no admin rights."""
    args = ["-m", "daemon.service", "serve", *(f"{k}={v}" for k, v in spec.env)]
    x = xml_escape
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
        "  <RegistrationInfo>\n"
        "    <Description>mttd: edit suggestions for video timelines (written by mttd install-service)</Description>\n"
        f"    <URI>\\{TASK_NAME}</URI>\n"
        "  </RegistrationInfo>\n"
        "  <Triggers>\n"
        f"    <LogonTrigger><Enabled>true</Enabled><UserId>{x(user)}</UserId></LogonTrigger>\n"
        "  </Triggers>\n"
        "  <Principals>\n"
        '    <Principal id="Author">\n'
        f"      <UserId>{x(user)}</UserId>\n"
        "      <LogonType>InteractiveToken</LogonType>\n"
        "      <RunLevel>LeastPrivilege</RunLevel>\n"
        "    </Principal>\n"
        "  </Principals>\n"
        "  <Settings>\n"
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
        "    <AllowHardTerminate>true</AllowHardTerminate>\n"
        "    <StartWhenAvailable>false</StartWhenAvailable>\n"
        "    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>\n"
        "    <IdleSettings><StopOnIdleEnd>false</StopOnIdleEnd><RestartOnIdle>false</RestartOnIdle></IdleSettings>\n"
        "    <AllowStartOnDemand>true</AllowStartOnDemand>\n"
        "    <Enabled>true</Enabled>\n"
        "    <Hidden>false</Hidden>\n"
        "    <RunOnlyIfIdle>false</RunOnlyIfIdle>\n"
        "    <WakeToRun>false</WakeToRun>\n"
        "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n"
        "    <Priority>7</Priority>\n"
        "    <RestartOnFailure><Interval>PT1M</Interval><Count>3</Count></RestartOnFailure>\n"
        "  </Settings>\n"
        '  <Actions Context="Author">\n'
        "    <Exec>\n"
        # pythonw: no console window; the interpreter itself, so ending the task ends the daemon.
        f"      <Command>{x(str(spec.pythonw))}</Command>\n"
        f"      <Arguments>{x(subprocess.list2cmdline(args))}</Arguments>\n"
        "    </Exec>\n"
        "  </Actions>\n"
        "</Task>\n"
    )


# --- where they live -------------------------------------------------------------------------


def _home(environ: dict[str, str]) -> Path:
    home = environ.get("HOME") or environ.get("USERPROFILE")
    return Path(home) if home and os.path.isabs(home) else Path.home()


def _xdg_config_home(environ: dict[str, str]) -> Path:
    value = environ.get("XDG_CONFIG_HOME", "")
    return Path(value) if os.path.isabs(value) else _home(environ) / ".config"


def definition_path(backend: str, environ: dict[str, str] | None = None) -> Path | None:
    """The file the backend reads; None for the Task Scheduler, which keeps its tasks itself."""
    env = os.environ if environ is None else environ
    if backend == "systemd":
        return _xdg_config_home(env) / "systemd" / "user" / UNIT_NAME
    if backend == "xdg-autostart":
        return _xdg_config_home(env) / "autostart" / DESKTOP_NAME
    if backend == "launchd":
        return _home(env) / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    if backend == "schtasks":
        return None
    raise ValueError(f"unknown service backend {backend!r} (known: {', '.join(BACKENDS)})")


def systemd_user_available() -> bool:
    """True when a systemd user instance answers (`systemctl --user` works in this session)."""
    if not shutil.which("systemctl"):
        return False
    try:
        done = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def detect_backend(platform: str = sys.platform) -> str:
    if platform == "darwin":
        return "launchd"
    if platform == "win32":
        return "schtasks"
    return "systemd" if systemd_user_available() else "xdg-autostart"


def render(backend: str, spec: ServiceSpec) -> bytes:
    if backend == "systemd":
        return systemd_unit(spec).encode()
    if backend == "xdg-autostart":
        return xdg_autostart_entry(spec).encode()
    if backend == "launchd":
        return launchd_plist(spec)
    if backend == "schtasks":
        return windows_task_xml(spec, _windows_user()).encode("utf-16")
    raise ValueError(f"unknown service backend {backend!r}")


def _windows_user() -> str:
    user = os.environ.get("USERNAME", "")
    domain = os.environ.get("USERDOMAIN", "")
    return f"{domain}\\{user}" if domain else user


# --- install, uninstall ----------------------------------------------------------------------


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ServiceError(f"`{' '.join(args)}` failed: {err}") from None
    if check and done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        raise ServiceError(f"`{' '.join(args)}` exited {done.returncode}: {output[-1] if output else 'no output'}")
    return done


def _make_dirs(path: Path) -> list[Path]:
    """mkdir -p, returning the directories it created (outermost first), for the install manifest."""
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    path.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def install(spec: ServiceSpec, backend: str | None = None, start: bool = True) -> InstallReport:
    """Write (or rewrite) the service definition, register it, and start it unless `start` is False."""
    backend = backend or detect_backend()
    report = InstallReport(backend)
    data = render(backend, spec)
    path = definition_path(backend)
    if path is not None:
        report.created_dirs += _make_dirs(path.parent)
        write_atomic(path, data, mode=0o600)
        report.files.append(path)
    if backend == "systemd":
        _run(["systemctl", "--user", "daemon-reload"])
        _run(["systemctl", "--user", "enable", UNIT_NAME])
        if start:
            _run(["systemctl", "--user", "start", UNIT_NAME])
            report.started = True
        report.notes.append("runs while you are logged in; `loginctl enable-linger` keeps it running after logout (optional)")
    elif backend == "xdg-autostart":
        report.notes.append("no systemd user instance: the desktop session runs `mttd start` at login; nothing restarts a crashed daemon")
    elif backend == "launchd":
        report.created_dirs += _make_dirs(spec.log_dir)  # launchd does not create the log folder
        domain = f"gui/{os.getuid()}"
        _run(["launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"], check=False)  # an older definition
        if start:
            _run(["launchctl", "bootstrap", domain, str(path)])
            report.started = True
        report.notes.append(
            "macOS may block the daemon from ~/Documents, ~/Desktop and external drives: allow "
            f"{Path(os.path.realpath(spec.scripts_dir / 'python'))} in System Settings > Privacy & Security > Files and Folders"
        )
    elif backend == "schtasks":
        _register_task(data)
        if start:
            _run(["schtasks", "/Run", "/TN", TASK_NAME])
            report.started = True
    return report


def _register_task(xml_utf16: bytes) -> None:
    fd, tmp = tempfile.mkstemp(suffix=".xml")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(xml_utf16)
        _run(["schtasks", "/Create", "/TN", TASK_NAME, "/XML", tmp, "/F"])
    finally:
        os.unlink(tmp)


def installed_backends(environ: dict[str, str] | None = None) -> list[str]:
    """The backends whose definition exists for this user (the Task Scheduler is asked)."""
    found = [b for b in ("systemd", "xdg-autostart", "launchd") if (p := definition_path(b, environ)) and p.exists()]
    if sys.platform == "win32" and _run(["schtasks", "/Query", "/TN", TASK_NAME], check=False).returncode == 0:
        found.append("schtasks")
    return found


def uninstall(backends: list[str] | None = None) -> list[str]:
    """Stop and unregister the service; returns what was removed (paths, or `task mttd`)."""
    removed = []
    for backend in installed_backends() if backends is None else backends:
        path = definition_path(backend)
        systemd_live = backend == "systemd" and systemd_user_available()
        if systemd_live:
            _run(["systemctl", "--user", "disable", "--now", UNIT_NAME], check=False)
        elif backend == "launchd":
            _run(["launchctl", "bootout", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"], check=False)
        elif backend == "schtasks":
            if _run(["schtasks", "/Delete", "/TN", TASK_NAME, "/F"], check=False).returncode == 0:
                removed.append(f"task {TASK_NAME}")
        if path is not None and path.exists():
            path.unlink()
            removed.append(str(path))
        if systemd_live:
            _run(["systemctl", "--user", "daemon-reload"], check=False)
    return removed


# --- start and stop through the manager --------------------------------------------------------


def owned_backend() -> str | None:
    """The backend whose installed definition runs this very mttd with these directories, if any.

    Only then may `mttd start/stop` go through the manager: a development checkout or a test with
    its own MTTD_HOME must never start or stop the user's installed daemon.
    """
    for backend in installed_backends():
        if backend == "systemd" and _definition_matches(backend) and systemd_user_available():
            return backend
        if backend == "launchd" and _definition_matches(backend):
            return backend
        if backend == "schtasks" and _task_matches():
            return backend
    return None


def _definition_matches(backend: str) -> bool:
    path = definition_path(backend)
    try:
        return path is not None and path.read_bytes() == render(backend, current_spec())
    except OSError:
        return False


def _task_matches() -> bool:
    done = _run(["schtasks", "/Query", "/TN", TASK_NAME, "/XML"], check=False)
    return done.returncode == 0 and str(current_spec().pythonw) in done.stdout


def managed_start() -> bool:
    """Start the daemon through its service manager. False when no manager owns this mttd:
    the caller then spawns `serve` itself (and the xdg-autostart entry is no manager)."""
    backend = owned_backend()
    if backend == "systemd":
        _run(["systemctl", "--user", "start", UNIT_NAME])
    elif backend == "launchd":
        target = f"gui/{os.getuid()}/{LAUNCHD_LABEL}"
        if _run(["launchctl", "kickstart", target], check=False).returncode != 0:
            _run(["launchctl", "bootstrap", f"gui/{os.getuid()}", str(definition_path("launchd"))])
    elif backend == "schtasks":
        _run(["schtasks", "/Run", "/TN", TASK_NAME])
    return backend is not None


def managed_stop() -> bool:
    """Stop the daemon through its service manager so it stays stopped. False when no manager
    owns this mttd, and on Windows, where the logon task does not respawn a daemon that exited:
    the caller then stops it itself (Shutdown call, then signals)."""
    backend = owned_backend()
    if backend == "systemd":
        _run(["systemctl", "--user", "stop", UNIT_NAME])
        return True
    if backend == "launchd":
        # bootout unloads the agent until the next login (or `mttd start`); KeepAlive cannot revive it.
        _run(["launchctl", "bootout", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"], check=False)
        return True
    return False


def managed_restart() -> bool:
    """Restart through the service manager; False when the caller must restart it itself."""
    if owned_backend() == "systemd":
        _run(["systemctl", "--user", "restart", UNIT_NAME])
        return True
    if managed_stop():
        return managed_start()
    return False


def _serve_with_env(argv: list[str]) -> int:
    """`python -m daemon.service serve KEY=VALUE...`: the Windows task's entry (a task cannot set
    environment variables), which sets them and runs `mttd serve --foreground`."""
    if not argv or argv[0] != "serve":
        print("usage: python -m daemon.service serve [KEY=VALUE ...]", file=sys.stderr)
        return 2
    for pair in argv[1:]:
        key, _, value = pair.partition("=")
        os.environ[key] = value
    # daemon.cli imports the model: this module stays stdlib-only for the installer
    from daemon.cli import main

    return main(["serve", "--foreground"])


if __name__ == "__main__":
    sys.exit(_serve_with_env(sys.argv[1:]))

