"""Shared by the installer tests: a user's environment inside a temporary folder, and snapshots
of a folder tree to prove what an install or uninstall changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Where this machine's tools keep their own state: kept pointing at the real places, so pip still
# finds its configuration and cache and rustup (which pip asks for its version) writes nothing
# into the temporary home. Only HOME, the XDG folders and mttd's are moved.
TOOL_HOMES = {
    "RUSTUP_HOME": ".rustup",
    "CARGO_HOME": ".cargo",
}
MOVED = ("MTTD_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR",
         "XDG_BIN_HOME", "DBUS_SESSION_BUS_ADDRESS", "BLENDER_USER_SCRIPTS", "BLENDER_USER_RESOURCES")


def _real_pip_config(real_home: Path) -> str | None:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or real_home / ".config")
    for candidate in (config_home / "pip" / "pip.conf", real_home / ".pip" / "pip.conf"):
        if candidate.is_file():
            return str(candidate)
    return None


def user_home_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment, home): HOME and every XDG folder inside tmp_path, no systemd user bus."""
    real_home = Path.home()
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in MOVED and not k.startswith("PYTEST_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_STATE_HOME=str(home / ".local" / "state"), XDG_CACHE_HOME=str(home / ".cache"), XDG_RUNTIME_DIR=str(runtime))
    for name, folder in TOOL_HOMES.items():
        if name not in env and (real_home / folder).is_dir():
            env[name] = str(real_home / folder)
    if "PIP_CONFIG_FILE" not in env and (config := _real_pip_config(real_home)):
        env["PIP_CONFIG_FILE"] = config
    env.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME") or real_home / ".cache") / "pip"))
    return env, home


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root: 'dir', 'link -> target', or 'file <mode> <sha256>'."""
    found = {}
    for folder, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                found[str(path)] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                found[str(path)] = "dir"
            else:
                found[str(path)] = f"file {path.stat().st_mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found
