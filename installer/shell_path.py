"""Put the launcher folder on PATH for new shells, the way rustup and pipx's ensurepath do.

POSIX: one guarded line in each shell startup file that a login or interactive shell reads and
that does not mention the folder yet: `~/.profile` (created when missing: sh, dash, and bash
without its own login file), `~/.bash_profile` / `~/.bash_login` when present (bash reads those
instead of ~/.profile), `~/.bashrc` when present (terminals that start non-login shells),
`~/.zshenv` when zsh is the login shell or has a config, and a `conf.d/mttd.fish` file when fish has a
config folder. Windows: the user's `Path` in the registry (HKCU\\Environment).

Every change is recorded in the install manifest so uninstall takes out exactly the block it
added, between its marker lines (and a file it created, when nothing else was written to it
since), leaving the file as it was byte for byte. `--no-modify-path` changes nothing. Standard library only.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

BEGIN = "# >>> mttd: its launcher folder on PATH (added by installer/install.sh; `mttd uninstall` removes it) >>>"
END = "# <<< mttd <<<"
# manifest roles of a startup file: we added lines to one that existed, we did so after adding a
# newline its last line lacked, or we created it
ROLE_EDITED, ROLE_EDITED_NEWLINE, ROLE_CREATED = "shell-path", "shell-path+newline", "shell-path-new"
ROLES = (ROLE_EDITED, ROLE_EDITED_NEWLINE, ROLE_CREATED)


@dataclass(frozen=True)
class Change:
    path: Path
    role: str  # one of ROLES
    text: str  # what the file gets (the whole of it for a file of its own)


def posix_block(bin_dir: Path) -> str:
    folder = shlex.quote(str(bin_dir))
    line = f'case ":$PATH:" in *:{folder}:*) ;; *) export PATH={folder}:"$PATH" ;; esac'
    return f"{BEGIN}\n{line}\n{END}\n"


def fish_block(bin_dir: Path) -> str:
    return f"{BEGIN}\nfish_add_path --global --path {shlex.quote(str(bin_dir))}\n{END}\n"


def _mentions(path: Path, bin_dir: Path, home: Path) -> bool:
    """True when the file already names the folder (literally, or as $HOME/... or ~/...)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    names = {str(bin_dir)}
    if bin_dir.is_relative_to(home):
        rel = bin_dir.relative_to(home).as_posix()
        names |= {f"$HOME/{rel}", f"${{HOME}}/{rel}", f"~/{rel}"}
    return any(name in text for name in names)


def plan(bin_dir: Path, home: Path, login_shell: str = "") -> list[Change]:
    """The startup files to change for new shells to find `bin_dir` (empty on Windows)."""
    if os.name == "nt":
        return []
    shell = Path(login_shell or os.environ.get("SHELL", "")).name
    candidates = [home / ".profile"]
    candidates += [home / name for name in (".bash_profile", ".bash_login", ".bashrc") if (home / name).is_file()]
    if shell == "zsh" or (home / ".zshrc").is_file() or (home / ".zshenv").is_file():
        candidates.append(home / ".zshenv")
    changes = []
    for path in candidates:
        if not path.exists():
            changes.append(Change(path, ROLE_CREATED, posix_block(bin_dir)))
        elif path.is_file() and not _mentions(path, bin_dir, home):
            ends_open = path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
            changes.append(Change(path, ROLE_EDITED_NEWLINE if ends_open else ROLE_EDITED, posix_block(bin_dir)))
    fish = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "fish"
    if fish.is_dir() and not (fish / "conf.d" / "mttd.fish").exists():
        changes.append(Change(fish / "conf.d" / "mttd.fish", ROLE_CREATED, fish_block(bin_dir)))
    return changes


def apply(change: Change) -> None:
    if change.role == ROLE_CREATED:
        change.path.parent.mkdir(parents=True, exist_ok=True)
        with open(change.path, "x", encoding="utf-8") as f:
            f.write(change.text)
        return
    with open(change.path, "a", encoding="utf-8") as f:
        f.write(("\n" if change.role == ROLE_EDITED_NEWLINE else "") + change.text)


def undo(path: Path, role: str) -> bool:
    """Take our block out of `path` (and the file, when we created it and it holds nothing else);
    returns whether anything was removed. A file without our block is left alone."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    start = text.find(BEGIN + "\n")
    end = text.find(END + "\n", start)
    if start < 0 or end < 0:
        return False
    if role == ROLE_EDITED_NEWLINE and text[start - 1:start] == "\n":
        start -= 1  # the newline we put after the user's last line
    rest = text[:start] + text[end + len(END) + 1:]
    if role == ROLE_CREATED and not rest:
        path.unlink()
    else:
        path.write_text(rest, encoding="utf-8")
    return True


def current_shell_command(bin_dir: Path) -> str:
    """The one command that makes `mttd` work in the shell the installer runs in."""
    if os.name == "nt":
        return f'$env:Path = "{bin_dir};$env:Path"'
    if Path(os.environ.get("SHELL", "")).name == "fish":
        return f"fish_add_path --global --path {shlex.quote(str(bin_dir))}"
    return f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"'


# --- Windows: the user's Path in the registry ------------------------------------------------------


def windows_add(bin_dir: Path) -> bool:
    """Append `bin_dir` to HKCU\\Environment\\Path (not setx: it truncates at 1024 characters and
    folds the system Path in); returns whether it changed anything."""
    import winreg  # type: ignore[import-not-found]

    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, "Environment", 0, winreg.KEY_READ | winreg.KEY_WRITE) as key:
        try:
            value, kind = winreg.QueryValueEx(key, "Path")
        except FileNotFoundError:
            value, kind = "", winreg.REG_EXPAND_SZ
        parts = [p for p in value.split(";") if p]
        if any(os.path.normcase(p.rstrip("\\")) == os.path.normcase(str(bin_dir)) for p in parts):
            return False
        winreg.SetValueEx(key, "Path", 0, kind, ";".join([*parts, str(bin_dir)]))
    _broadcast_environment_change()
    return True


def windows_remove(bin_dir: Path) -> bool:
    import winreg  # type: ignore[import-not-found]

    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, "Environment", 0, winreg.KEY_READ | winreg.KEY_WRITE) as key:
        try:
            value, kind = winreg.QueryValueEx(key, "Path")
        except FileNotFoundError:
            return False
        parts = [p for p in value.split(";") if p]
        kept = [p for p in parts if os.path.normcase(p.rstrip("\\")) != os.path.normcase(str(bin_dir))]
        if kept == parts:
            return False
        winreg.SetValueEx(key, "Path", 0, kind, ";".join(kept))
    _broadcast_environment_change()
    return True


def _broadcast_environment_change() -> None:
    """Tell Explorer (and so new terminals) that the environment changed, as rustup does."""
    if sys.platform != "win32":
        return
    import ctypes

    hwnd_broadcast, wm_settingchange, smto_abortifhung = 0xFFFF, 0x001A, 0x0002
    result = ctypes.c_ulong()
    ctypes.windll.user32.SendMessageTimeoutW(hwnd_broadcast, wm_settingchange, 0, "Environment", smto_abortifhung, 5000,
                                             ctypes.byref(result))
