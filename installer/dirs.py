"""mttd's per-user directories, computed with the standard library before platformdirs exists.

Mirrors what `daemon.paths.resolve()` gets from platformdirs (appname "mttd", appauthor=False):
- `MTTD_HOME=DIR`: DIR/config, DIR/data, DIR/state, DIR/log (and the launchers in DIR/bin, so a
  side-by-side install never replaces the user's own `mttd`);
- Linux: `$XDG_CONFIG_HOME|~/.config/mttd`, `$XDG_DATA_HOME|~/.local/share/mttd`,
  `$XDG_STATE_HOME|~/.local/state/mttd`, its `log/`; XDG values count only when absolute;
- macOS: `~/Library/Application Support/mttd` for config, data and state (XDG values take
  precedence there too), `~/Library/Logs/mttd`;
- Windows: `%LOCALAPPDATA%\\mttd`, its `Logs\\`.
The launchers go to `~/.local/bin` (`$XDG_BIN_HOME` when set), where pipx and uv put theirs, on
every platform. The cache folder (matplotlib's config and font cache) and the runtime folder (the
socket's; `daemon.paths.xdg_runtime_dir`, else `run/` in the state folder on Linux) are mttd's
too: `uninstall --purge` removes them with the others, a plain uninstall the runtime folder. A test compares this module with
`daemon.paths` and with platformdirs itself.
"""

from __future__ import annotations

import os
import posixpath
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from daemon.paths import xdg_runtime_dir  # stdlib only, like this module

APP = "mttd"


@dataclass(frozen=True)
class InstallDirs:
    config_dir: Path
    data_dir: Path
    state_dir: Path
    log_dir: Path
    bin_dir: Path
    cache_dir: Path
    runtime_dir: Path

    @property
    def venv(self) -> Path:
        return self.data_dir / "venv"

    @property
    def manifest(self) -> Path:
        return self.data_dir / "install-manifest.json"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    def app_dirs(self) -> tuple[Path, ...]:
        """The directories the installer makes, mttd's alone (removed whole by `uninstall --purge`;
        the cache folder is made here too, so the parents made for it are known and removed)."""
        return tuple(dict.fromkeys((self.config_dir, self.data_dir, self.state_dir, self.log_dir, self.cache_dir)))

    def made_by_mttd(self) -> tuple[Path, ...]:
        """What the daemon makes as it runs, also mttd's alone (removed by any uninstall)."""
        return tuple(d for d in (self.runtime_dir,) if d not in self.app_dirs())


def resolve(environ: dict[str, str] | None = None, platform: str = sys.platform) -> InstallDirs:
    """The directories for `platform` (tests compute another platform's, as pure paths)."""
    env = os.environ if environ is None else environ
    native = (platform == "win32") == (os.name == "nt")
    pure = PureWindowsPath if platform == "win32" else PurePosixPath
    parts = _resolve(env, platform, pure, native)
    return InstallDirs(*(Path(p) if native else p for p in parts))  # type: ignore[arg-type]


def _resolve(env: dict[str, str], platform: str, pure: type[PurePath], native: bool) -> tuple[PurePath, ...]:
    home = _home(env, platform, pure)
    bin_dir = _xdg(env, "XDG_BIN_HOME", pure) or home / ".local" / "bin"
    if env.get("MTTD_HOME"):
        # as daemon.paths does: Path(MTTD_HOME).expanduser().absolute()
        root = Path(env["MTTD_HOME"]).expanduser().absolute() if native else pure(env["MTTD_HOME"])
        return root / "config", root / "data", root / "state", root / "log", root / "bin", root / "cache", root / "run"
    if platform == "win32":
        local_appdata = _windows_local_appdata(env, home, pure)
        local = local_appdata / APP
        return local, local, local, local / "Logs", bin_dir, local / "Cache", local_appdata / "Temp" / APP
    if platform == "darwin":
        support = home / "Library" / "Application Support"
        config = _xdg(env, "XDG_CONFIG_HOME", pure) or support
        data = _xdg(env, "XDG_DATA_HOME", pure) or support
        state = _xdg(env, "XDG_STATE_HOME", pure) or support
        caches = home / "Library" / "Caches"
        cache = _xdg(env, "XDG_CACHE_HOME", pure) or caches
        return (config / APP, data / APP, state / APP, home / "Library" / "Logs" / APP, bin_dir, cache / APP,
                caches / "TemporaryItems" / APP)
    config = _xdg(env, "XDG_CONFIG_HOME", pure) or home / ".config"
    data = _xdg(env, "XDG_DATA_HOME", pure) or home / ".local" / "share"
    state = _xdg(env, "XDG_STATE_HOME", pure) or home / ".local" / "state"
    cache = _xdg(env, "XDG_CACHE_HOME", pure) or home / ".cache"
    runtime = (xdg_runtime_dir(env) if native else None) or state / APP / "run"
    return config / APP, data / APP, state / APP, state / APP / "log", bin_dir, cache / APP, runtime


def _xdg(env: dict[str, str], name: str, pure: type[PurePath]) -> PurePath | None:
    # platformdirs ignores a relative XDG value (the spec says to), and reads it as a POSIX path.
    value = env.get(name, "")
    return pure(value) if posixpath.isabs(value) else None


def _home(env: dict[str, str], platform: str, pure: type[PurePath]) -> PurePath:
    if platform == "win32":
        profile = env.get("USERPROFILE") or env.get("HOME")
        return pure(profile) if profile else pure(Path.home())
    home = env.get("HOME", "")
    if posixpath.isabs(home):
        return pure(home)
    import pwd  # like platformdirs: a relative or missing HOME falls back to the password database

    return pure(pwd.getpwuid(os.getuid()).pw_dir)


def _windows_local_appdata(env: dict[str, str], home: PurePath, pure: type[PurePath]) -> PurePath:
    for name in ("WIN_PD_OVERRIDE_LOCAL_APPDATA", "LOCALAPPDATA"):
        if env.get(name, "").strip():
            return pure(env[name].strip())
    return home / "AppData" / "Local"


def home(environ: dict[str, str] | None = None) -> Path:
    """The user's home folder as the directories above see it (HOME, else the password database)."""
    env = os.environ if environ is None else environ
    return Path(_home(env, sys.platform, PurePosixPath if os.name != "nt" else PureWindowsPath))


def on_path(directory: Path, environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    wanted = os.path.normcase(os.path.abspath(directory))
    return any(os.path.normcase(os.path.abspath(p)) == wanted for p in env.get("PATH", "").split(os.pathsep) if p)
