"""Put the editor plugins where each editor looks for them, only for the editors that are there.

- Blender: the add-on zip (`plugin_bridge/blender/build.py`) unpacked, as Blender's own
  "Install from Disk" does, into `scripts/addons/` of every Blender version folder found in the
  user's Blender folder (`$XDG_CONFIG_HOME|~/.config/blender/<ver>`, `~/Library/Application
  Support/Blender/<ver>`, `%APPDATA%\\Blender Foundation\\Blender\\<ver>`), skipping versions
  older than the add-on's `bl_info["blender"]`; or where `$BLENDER_USER_SCRIPTS` or
  `$BLENDER_USER_RESOURCES` tell Blender to look.
- DaVinci Resolve: `MTT Suggest.py` and `mtt_resolve/` (as `plugin_bridge/resolve/build.py`
  builds it) into the user's `Fusion/Scripts/Edit` folder, when Resolve's user folder exists.
- Premiere Pro (macOS, Windows): the CEP panel folder into the user's `Adobe/CEP/extensions`,
  when Premiere's user folders exist; unsigned panels load only with PlayerDebugMode set.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from installer.manifest import Manifest, make_dirs

BLENDER_ADDON = "mtt_blender"
RESOLVE_SCRIPT = "MTT Suggest.py"
RESOLVE_LIBRARY = "mtt_resolve"
PREMIERE_NOTE = (
    "the panel is not signed, so Premiere loads it only with PlayerDebugMode set for its CEP version "
    "(CSXS.11 for Premiere 2021-2023, CSXS.12 for 2024 and later): macOS `defaults write com.adobe.CSXS.12 "
    "PlayerDebugMode 1`, Windows `reg add HKCU\\Software\\Adobe\\CSXS.12 /v PlayerDebugMode /t REG_SZ /d 1 /f`; "
    "then restart Premiere: Window > Extensions > mttd suggestions"
)


@dataclass(frozen=True)
class Placement:
    """One plugin copy: each (source, name) of `items` becomes `folder/name` for `editor`."""

    editor: str
    folder: Path
    items: tuple[tuple[Path, str], ...]
    note: str = ""

    def targets(self) -> list[Path]:
        return [self.folder / name for _source, name in self.items]


@dataclass(frozen=True)
class Survey:
    placements: list[Placement]
    absent: list[str]  # "Premiere Pro: no ... folder" lines for the report


def _home(env: dict[str, str], platform: str) -> Path:
    home = env.get("USERPROFILE") if platform == "win32" else env.get("HOME")
    return Path(home) if home else Path.home()


def _appdata(env: dict[str, str]) -> Path:
    return Path(env["APPDATA"]) if env.get("APPDATA") else _home(env, "win32") / "AppData" / "Roaming"


def blender_root(env: dict[str, str], platform: str) -> Path:
    if platform == "darwin":
        return _home(env, platform) / "Library" / "Application Support" / "Blender"
    if platform == "win32":
        return _appdata(env) / "Blender Foundation" / "Blender"
    xdg = env.get("XDG_CONFIG_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else _home(env, platform) / ".config") / "blender"


def resolve_user_folder(env: dict[str, str], platform: str) -> Path:
    if platform == "darwin":
        return _home(env, platform) / "Library" / "Application Support" / "Blackmagic Design" / "DaVinci Resolve"
    if platform == "win32":
        return _appdata(env) / "Blackmagic Design" / "DaVinci Resolve"
    return _home(env, platform) / ".local" / "share" / "DaVinciResolve"


def resolve_edit_scripts(env: dict[str, str], platform: str) -> Path:
    support = resolve_user_folder(env, platform)
    if platform == "win32":
        support = support / "Support"
    return support / "Fusion" / "Scripts" / "Edit"


def premiere_folders(env: dict[str, str], platform: str) -> tuple[list[Path], Path]:
    """(folders whose presence means Premiere is installed for this user, the CEP extensions folder)."""
    adobe = _home(env, platform) / "Library" / "Application Support" / "Adobe" if platform == "darwin" else _appdata(env) / "Adobe"
    documents = _home(env, platform) / "Documents" / "Adobe" / "Premiere Pro"
    return [documents, adobe / "Premiere Pro", adobe / "CEP" / "extensions"], adobe / "CEP" / "extensions"


def _version_key(name: str) -> tuple[int, ...] | None:
    return tuple(int(p) for p in name.split(".")) if re.fullmatch(r"\d+\.\d+", name) else None


def blender_min_version(plugin_root: Path) -> tuple[int, ...]:
    tree = ast.parse((plugin_root / "blender" / BLENDER_ADDON / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "bl_info" for t in node.targets):
            return tuple(ast.literal_eval(node.value)["blender"][:2])
    return (0, 0)


def premiere_panel(plugin_root: Path) -> tuple[Path, str] | None:
    """The CEP panel folder (the one holding CSXS/manifest.xml) and its bundle id, which CEP
    extensions are conventionally named after."""
    for manifest in sorted((plugin_root / "premiere").glob("**/CSXS/manifest.xml")):
        bundle = ElementTree.parse(manifest).getroot().get("ExtensionBundleId")
        if bundle:
            return manifest.parent.parent, bundle
    return None


def survey(plugin_root: Path, environ: dict[str, str] | None = None, platform: str = sys.platform) -> Survey:
    env = os.environ if environ is None else environ
    placements: list[Placement] = []
    absent: list[str] = []
    _survey_blender(plugin_root, env, platform, placements, absent)
    user = resolve_user_folder(env, platform)
    if user.is_dir():
        items = tuple((plugin_root / "resolve" / name, name) for name in (RESOLVE_SCRIPT, RESOLVE_LIBRARY))
        placements.append(Placement("DaVinci Resolve", resolve_edit_scripts(env, platform), items,
                                    "in Resolve: Workspace > Scripts > MTT Suggest"))
    else:
        absent.append(f"DaVinci Resolve: no user folder {user}")
    _survey_premiere(plugin_root, env, platform, placements, absent)
    return Survey(placements, absent)


def _survey_blender(plugin_root: Path, env: dict[str, str], platform: str, placements: list[Placement], absent: list[str]) -> None:
    note = "in Blender: Edit > Preferences > Add-ons, enable \"mttd edit suggestions\""
    items = ((plugin_root / "blender", BLENDER_ADDON),)  # built into a zip, then unpacked
    # Blender's own overrides of its user folder, most specific first
    if env.get("BLENDER_USER_SCRIPTS"):
        placements.append(Placement("Blender", Path(env["BLENDER_USER_SCRIPTS"]) / "addons", items, note))
        return
    if env.get("BLENDER_USER_RESOURCES"):
        placements.append(Placement("Blender", Path(env["BLENDER_USER_RESOURCES"]) / "scripts" / "addons", items, note))
        return
    root = blender_root(env, platform)
    versions = sorted((_version_key(p.name), p) for p in root.iterdir() if p.is_dir() and _version_key(p.name)) if root.is_dir() else []
    if not versions:
        absent.append(f"Blender: no version folder in {root}")
        return
    minimum = blender_min_version(plugin_root)
    for key, folder in versions:
        if key < minimum:
            absent.append(f"Blender {folder.name}: older than the add-on needs ({'.'.join(map(str, minimum))}); skipped")
            continue
        placements.append(Placement(f"Blender {folder.name}", folder / "scripts" / "addons", items, note))


def _survey_premiere(plugin_root: Path, env: dict[str, str], platform: str, placements: list[Placement], absent: list[str]) -> None:
    if platform not in ("darwin", "win32"):
        return  # Premiere Pro runs on macOS and Windows only
    markers, extensions = premiere_folders(env, platform)
    panel = premiere_panel(plugin_root)
    if not any(m.is_dir() for m in markers):
        absent.append(f"Premiere Pro: none of {', '.join(map(str, markers))}")
    elif panel is None:
        absent.append("Premiere Pro: this mttd has no CEP panel to install")
    else:
        placements.append(Placement("Premiere Pro", extensions, (panel,), PREMIERE_NOTE))


def build_blender_addon(plugin_root: Path, python: str, out_dir: Path) -> Path:
    """The add-on zip, built by the plugin's own build script (standard library only)."""
    done = subprocess.run([python, str(plugin_root / "blender" / "build.py"), str(out_dir)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the Blender add-on failed: {done.stderr.strip().splitlines()[-1:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def build_resolve_folder(plugin_root: Path, python: str, out_dir: Path) -> Path:
    """The Resolve script and its library, built by the plugin's own build script."""
    done = subprocess.run([python, str(plugin_root / "resolve" / "build.py"), str(out_dir)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the Resolve scripts failed: {done.stderr.strip().splitlines()[-1:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def place(placement: Placement, plugin_root: Path, python: str, manifest: Manifest, previous: Manifest | None) -> list[str]:
    """Copy one plugin, recording what it created; returns notes (such as a folder left alone)."""
    notes = []
    manifest.add_created_dirs(make_dirs(placement.folder))
    for source, name in placement.items:
        target = placement.folder / name
        if (target.exists() or target.is_symlink()) and not (previous and previous.has(target)):
            notes.append(f"{target} already exists and was not installed by this installer: left as it is")
            continue
        _remove(target)
        _copy_item(source, name, target, python)
        manifest.add(target, "tree" if target.is_dir() else "file", "plugin")
    return notes


def _copy_item(source: Path, name: str, target: Path, python: str) -> None:
    if name == BLENDER_ADDON:
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(build_blender_addon(source.parent, python, Path(tmp))) as archive:
                strays = [n for n in archive.namelist() if not n.startswith(f"{BLENDER_ADDON}/") or ".." in n]
                if strays:
                    raise RuntimeError(f"the Blender add-on zip holds files outside {BLENDER_ADDON}/: {strays[:3]}")
                archive.extractall(target.parent)
    elif name == RESOLVE_LIBRARY:  # built, so it carries its copy of plugin_bridge/bridge_client.py
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(build_resolve_folder(source.parents[1], python, Path(tmp)) / RESOLVE_LIBRARY, target)
    elif source.is_dir():
        # __init__.py only makes the panel folder part of the Python package that ships it
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py"))
    else:
        shutil.copy2(source, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
