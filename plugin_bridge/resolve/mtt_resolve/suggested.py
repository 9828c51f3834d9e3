"""NAME.mtt.xml for an exported timeline, written by `mttd suggest FILE --out DIR`.

The bridge's Suggest call returns the suggestions document only; the importable timeline is
built by the `mttd` command (installed beside `mtt-bridge`), and only when the editor asks for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .bridge_client import BridgeError, find_bridge

ENV_MTTD = "MTTD_BIN"  # the same override mtt-bridge honours
TIMEOUT_S = 300.0  # without a running daemon it loads the model itself


def find_mttd() -> str:
    """$MTTD_BIN, the mttd beside the mtt-bridge in use, or mttd on PATH."""
    if os.environ.get(ENV_MTTD):
        return os.environ[ENV_MTTD]
    name = "mttd.exe" if sys.platform == "win32" else "mttd"
    try:
        beside = Path(find_bridge()).with_name(name)
    except BridgeError:
        beside = None
    if beside is not None and beside.is_file():
        return str(beside)
    found = shutil.which("mttd")
    if found:
        return found
    raise BridgeError("the mttd command was not found beside mtt-bridge or on PATH")


def daemon_model(status: dict) -> str:
    """The `--model` that gives the daemon's own model: its file, the baseline by name, or "" (the default)."""
    model = status.get("model") or {}
    if model.get("path"):
        return str(model["path"])
    return "persistence" if model.get("name") == "persistence" else ""


def write_suggested_timeline(export: str, folder: str, model: str = "") -> str:
    """Run `mttd suggest EXPORT --out FOLDER [--model M]`; return the NAME.mtt.xml it wrote."""
    command = [find_mttd(), "suggest", export, "--out", folder] + (["--model", model] if model else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BridgeError(f"cannot run {command[0]}: {err}") from None
    target = Path(folder) / f"{Path(export).name.rsplit('.', 1)[0]}.mtt.xml"
    if done.returncode != 0 or not target.is_file():
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise BridgeError(f"mttd could not write the suggested timeline: {last}")
    return str(target)
