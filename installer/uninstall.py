"""Remove what the installer created, as its manifest lists it: `installer/uninstall.sh` and
`mttd uninstall [--purge]` run this.

Order: stop the daemon, remove the autostart, then the launchers, the lines that put them on
PATH, the plugins and the virtual environment, then the folders the installer made for them if
they are empty. The config file, mttd's config, data, state and log folders (watched folders,
token, logs) stay unless --purge is given; the manifest is then rewritten to list only them, so a
later --purge still finds them. --purge also removes mttd's cache folder (matplotlib's config
and font cache); its runtime folder (the socket's) goes either way. Nothing else is
touched: the sidecars next to the user's timelines stay where they are. The closing hint names a
command that exists once mttd is gone (this checkout's uninstall.sh, else a plain `rm -r`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from daemon import service
from installer import dirs as dirs_mod
from installer import shell_path
from installer.manifest import Entry, Manifest, load

VENV_NAME = "venv"


def find_manifest(dirs: dirs_mod.InstallDirs) -> Path:
    """Next to the virtual environment this runs from (`mttd uninstall`), else the data folder."""
    prefix = Path(sys.prefix)
    beside = prefix.parent / dirs.manifest.name
    if prefix.name == VENV_NAME and beside.exists():
        return beside
    return dirs.manifest


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def stop_daemon(venv: Path) -> str:
    mttd = venv / ("Scripts/mttd.exe" if os.name == "nt" else "bin/mttd")
    if not mttd.exists():
        return "daemon: nothing to stop (mttd is not installed)"
    try:
        done = subprocess.run([str(mttd), "stop"], capture_output=True, text=True, timeout=120, env=_child_env())
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"mttd stop failed: {err}"
    said = (done.stdout + done.stderr).strip().splitlines()
    return "daemon: " + (said[-1].removeprefix("mttd: ") if said else "stopped")


def remove_service(manifest: Manifest, venv: Path) -> list[str]:
    """The recorded backend, and any definition that runs this venv's mttd (a later `install-service`)."""
    backends = [manifest.backend] if manifest.backend else []
    for backend in service.installed_backends():
        path = service.definition_path(backend)
        if backend not in backends and path is not None and str(venv) in path.read_text(errors="replace"):
            backends.append(backend)
    return service.uninstall(backends) if backends else []


def _is_ours(entry: Entry, venv: Path) -> bool:
    """False for a launcher the user replaced since the install (POSIX launchers are symlinks)."""
    path = Path(entry.path)
    if entry.role == "launcher" and os.name != "nt":
        return path.is_symlink() and Path(os.readlink(path)).parent.parent == venv
    return True


def _exists(entry: Entry) -> bool:
    return Path(entry.path).exists() or Path(entry.path).is_symlink()


def _remove(path: Path, running_from: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        if os.name == "nt" and (running_from == path or path in running_from.parents):
            _remove_tree_later(path)  # Windows cannot delete the interpreter that runs this
        else:
            shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _remove_tree_later(path: Path) -> None:
    flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(subprocess, "CREATE_NO_WINDOW", 0)
    subprocess.Popen(f'cmd /c ping -n 4 127.0.0.1 >nul & rmdir /s /q "{path}"', creationflags=flags, close_fds=True)


def _remove_empty_dirs(entries: list[Entry]) -> list[str]:
    removed = []
    for entry in sorted(entries, key=lambda e: len(Path(e.path).parts), reverse=True):
        path = Path(entry.path)
        try:
            path.rmdir()
            removed.append(entry.path)
        except OSError:
            pass  # not empty (the user's files, or what a plain uninstall keeps), or gone
    return removed


def plan_removal(manifest: Manifest, purge: bool) -> tuple[list[Entry], list[Entry]]:
    """(entries removed, entries kept)."""
    removed = [e for e in manifest.entries if purge or not e.keep]
    kept = [e for e in manifest.entries if not purge and e.keep]
    return removed, kept


def uninstall(purge: bool = False, dry_run: bool = False) -> int:
    dirs = dirs_mod.resolve()
    path = find_manifest(dirs)
    manifest = load(path)
    if manifest is None:
        print(f"mttd: no install manifest at {path}: nothing recorded to remove")
        return _purge_app_dirs(dirs, dry_run) if purge else 0
    venv = next((Path(e.path) for e in manifest.entries if e.role == "venv"), dirs.venv)
    removed, kept = plan_removal(manifest, purge)
    if dry_run:
        print("mttd uninstall --dry-run: nothing is removed.")
        for entry in removed:
            print(f"  remove  {entry.path}  ({_what(entry)})")
        for entry in kept:
            print(f"  keep    {entry.path}  ({entry.role})")
        return 0
    print(stop_daemon(venv))
    for item in remove_service(manifest, venv):
        print(f"removed autostart {item}")
    running_from = Path(sys.prefix)
    for entry in reversed([e for e in removed if e.kind != "dir"]):
        if entry.kind in ("lines", "user-path"):
            if _take_off_path(entry):
                print(f"removed mttd's PATH line from {entry.path}" if entry.kind == "lines" else f"removed {entry.path} from your user Path")
        elif _is_ours(entry, venv) and _exists(entry):
            _remove(Path(entry.path), running_from)
            print(f"removed {entry.path}")
    for item in _remove_empty_dirs([e for e in removed if e.kind == "dir"]):
        print(f"removed {item}")
    if purge:
        path.unlink(missing_ok=True)
        _purge_app_dirs(dirs, dry_run=False)
        _remove_empty_dirs([e for e in manifest.entries if e.kind == "dir"])
        print("mttd is uninstalled, with its settings, data, logs and caches.")
        return 0
    for made in dirs.made_by_mttd():  # the socket's folder: nothing of the user's in it
        if made.exists():
            shutil.rmtree(made)
            print(f"removed {made}")
    # Folders still holding something stay recorded, so a later --purge removes them once empty.
    leftover = [e for e in removed if e.kind == "dir" and _exists(e)]
    Manifest(path, manifest.version, manifest.source, "", kept + leftover, []).save()
    kept_dirs = [e.path for e in kept if e.role == "appdir"]
    print("mttd is uninstalled. Kept: " + ", ".join(kept_dirs) + ". To remove them too: " + purge_hint(manifest.source, dirs))
    return 0


def purge_hint(source: str, dirs: dirs_mod.InstallDirs) -> str:
    """A command that exists now that mttd is gone: the checkout's uninstall.sh --purge when the
    checkout it was installed from is still there, else removing the folders by hand."""
    script = Path(source) / "installer" / ("uninstall.ps1" if os.name == "nt" else "uninstall.sh") if source else None
    if script is not None and script.is_file():
        if os.name == "nt":
            return f'powershell -ExecutionPolicy Bypass -File "{script}" --purge'
        return f"{shlex.quote(str(script))} --purge"
    folders = [d for d in (*dirs.app_dirs(), *dirs.made_by_mttd()) if d.exists()]
    if os.name == "nt":
        return "Remove-Item -Recurse -Force " + ", ".join(f'"{d}"' for d in folders)
    return "rm -r " + " ".join(shlex.quote(str(d)) for d in folders)


def _what(entry: Entry) -> str:
    if entry.kind == "lines":
        whole = ", and the file if nothing else is in it" if entry.role == shell_path.ROLE_CREATED else ""
        return f"the block that puts mttd on PATH{whole}"
    if entry.kind == "user-path":
        return "from your user Path"
    return entry.role + (", if empty" if entry.kind == "dir" else "")


def _take_off_path(entry: Entry) -> bool:
    if entry.kind == "user-path":
        return os.name == "nt" and shell_path.windows_remove(Path(entry.path))
    return shell_path.undo(Path(entry.path), entry.role)


def _purge_app_dirs(dirs: dirs_mod.InstallDirs, dry_run: bool) -> int:
    for app_dir in (*dirs.app_dirs(), *dirs.made_by_mttd()):
        if app_dir.exists():
            print(f"{'would remove' if dry_run else 'removed'} {app_dir}")
            if not dry_run:
                shutil.rmtree(app_dir)
    return 0
