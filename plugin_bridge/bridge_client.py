"""Talk to the mttd daemon by running `mtt-bridge` (standard library only).

Editors' embedded Pythons (Blender's, Resolve's) have no pip and a Python version of their own,
so they cannot load grpcio's compiled wheel; `mtt-bridge` runs in mttd's own environment, speaks
gRPC to the daemon (starting it when needed) and prints one JSON document. This is the one source
of the Blender add-on's and the Resolve script's copy: their builds (plugin_bridge/blender/build.py,
plugin_bridge/resolve/build.py, which the installer runs) put it into each plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ENV_BRIDGE = "MTT_BRIDGE"  # an explicit mtt-bridge executable (tests, unusual installs)
SUGGEST_TIMEOUT_S = 200.0  # mtt-bridge itself allows 60 s to start the daemon and 120 s per call
STATUS_TIMEOUT_S = 15.0
EXIT_OK = 0
EXIT_NOT_RUNNING = 3  # mtt-bridge's exit code when the daemon is not running (and was not started)


class BridgeError(RuntimeError):
    """A one-line message for the editor: no bridge, no daemon, or an error reply."""


def candidate_paths() -> list[Path]:
    """Where installs put `mtt-bridge` when it is not on the editor's PATH (GUI apps get a short one)."""
    home = Path.home()
    names = ["mtt-bridge.exe", "mtt-bridge.cmd"] if sys.platform == "win32" else ["mtt-bridge"]
    folders = [home / ".local" / "bin"]
    if sys.platform == "win32":
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        folders += [local / "mttd" / "bin", local / "Programs" / "mttd" / "bin"]
    elif sys.platform == "darwin":
        folders += [Path("/opt/homebrew/bin"), Path("/usr/local/bin")]
    return [folder / name for folder in folders for name in names]


def find_bridge(explicit: str = "") -> str:
    """The mtt-bridge to run: the setting, then $MTT_BRIDGE, then PATH, then the usual install places."""
    for chosen in (explicit, os.environ.get(ENV_BRIDGE, "")):
        if chosen:
            if not Path(chosen).is_file():
                raise BridgeError(f"mtt-bridge not found at {chosen}")
            return chosen
    found = shutil.which("mtt-bridge")
    if found:
        return found
    for path in candidate_paths():
        if path.is_file():
            return str(path)
    raise BridgeError("mtt-bridge not found: install mttd (see plugin_bridge/PLUGINS.md) or set its path")


def run_bridge(args: list[str], stdin: str | None = None, timeout: float = SUGGEST_TIMEOUT_S,
               bridge: str = "", ok_codes: tuple[int, ...] = (EXIT_OK,)) -> dict:
    """Run `mtt-bridge ARGS`, return its JSON document; BridgeError with its message otherwise."""
    command = [find_bridge(bridge), *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout,
                              encoding="utf-8", creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except subprocess.TimeoutExpired:
        raise BridgeError(f"mtt-bridge did not answer within {timeout:.0f} s (see `mttd logs`)") from None
    except OSError as err:
        raise BridgeError(f"cannot run mtt-bridge: {err}") from None
    document = _parse(done.stdout)
    if done.returncode not in ok_codes:
        raise BridgeError(_failure_message(done, document))
    if document is None:
        raise BridgeError("mtt-bridge printed no JSON document")
    return document


def _parse(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _failure_message(done: subprocess.CompletedProcess, document: dict | None) -> str:
    error = (document or {}).get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    lines = [line.strip() for line in (done.stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"mtt-bridge failed with exit code {done.returncode}"


def _start_flag(start_daemon: bool) -> list[str]:
    return [] if start_daemon else ["--no-start"]  # a global option: before the command


def suggest_timeline(timeline: dict, name: str = "", start_daemon: bool = True, bridge: str = "") -> dict:
    """The suggestions document for a timeline held in memory (the bridge timeline JSON)."""
    args = [*_start_flag(start_daemon), "suggest", "-", "--json"] + (["--name", name] if name else [])
    return run_bridge(args, stdin=json.dumps(timeline), bridge=bridge)


def suggest_file(path: str, start_daemon: bool = True, bridge: str = "") -> dict:
    """The suggestions document for a timeline file (xmeml exported by the editor)."""
    return run_bridge([*_start_flag(start_daemon), "suggest", str(path), "--json"], bridge=bridge)


def status(bridge: str = "") -> dict:
    """The daemon's status document (`running` false, exit 3, when it is not running); never starts it."""
    return run_bridge(["status"], timeout=STATUS_TIMEOUT_S, bridge=bridge, ok_codes=(EXIT_OK, EXIT_NOT_RUNNING))
