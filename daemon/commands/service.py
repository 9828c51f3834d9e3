"""`mttd install-service`, `mttd uninstall-service` and `mttd uninstall [--purge]`.

install-service writes the autostart definition for this environment's mttd (see
daemon/service.py) and starts the daemon through the service manager, unless a daemon already
runs outside it: that one is left alone (`mttd restart` then hands it over).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from daemon import service

STATUS_RUNNING = 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("install-service", help="start mttd at login and restart it after a crash (no admin rights)")
    p.add_argument("--backend", choices=("systemd", "xdg-autostart", "launchd", "schtasks"),
                   help="the service manager (default: this system's)")
    p.add_argument("--no-start", action="store_true", help="register it only; start at the next login")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(run=run_install_service)

    p = sub.add_parser("uninstall-service", help="stop mttd's autostart and remove it")
    p.add_argument("--json", action="store_true", help="print what was removed as JSON")
    p.set_defaults(run=run_uninstall_service)

    p = sub.add_parser("uninstall", help="remove this per-user install of mttd (see installer/)")
    p.add_argument("--purge", action="store_true", help="also remove the config, data, state and logs")
    p.add_argument("--dry-run", action="store_true", help="print what it would remove; remove nothing")
    p.set_defaults(run=run_uninstall)


def _daemon_running() -> bool:
    """Asked in a fresh process: `mttd status` imports grpc, which this one must not (it may spawn)."""
    try:
        done = subprocess.run([sys.executable, "-I", "-m", "daemon", "status"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == STATUS_RUNNING


def run_install_service(args: argparse.Namespace) -> int:
    backend = args.backend or service.detect_backend()
    start = not args.no_start and backend != "xdg-autostart"
    running = start and _daemon_running()
    report = service.install(service.current_spec(), backend, start=start and not running)
    if running:
        report.notes.append("a daemon is already running outside the service manager: `mttd restart` hands it over")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    where = ", ".join(map(str, report.files)) or f"task {service.TASK_NAME}"
    print(f"autostart installed ({backend}): {where}" + ("; daemon started" if report.started else ""))
    for note in report.notes:
        print(f"note: {note}")
    return 0


def run_uninstall_service(args: argparse.Namespace) -> int:
    removed = service.uninstall()
    if args.json:
        print(json.dumps({"removed": removed}, indent=2))
    elif removed:
        print("removed " + ", ".join(removed))
    else:
        print("mttd: no autostart was installed")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    """Hand over to the installer (`python -m installer uninstall`), the layer above the daemon:
    it removes this very environment, so the daemon's modules never import it."""
    command = [sys.executable, "-m", "installer", "uninstall"]
    command += ["--purge"] * args.purge + ["--dry-run"] * args.dry_run
    sys.stdout.flush()
    if sys.platform != "win32":
        os.execv(sys.executable, command)  # this process becomes the uninstaller
    return subprocess.call(command)
