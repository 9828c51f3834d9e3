"""Per-user directories and files of mttd, and the checks that keep them private.

platformdirs gives the config, data, state, log, cache and runtime directories; `MTTD_HOME=DIR`
puts all of them under DIR (tests and side-by-side instances rely on it). The runtime directory
(the socket's) is per home: `$XDG_RUNTIME_DIR/mttd` when that is a private folder of ours, else
`run/` in the state directory, never platformdirs' `runtime-UID` in the system temp folder, which
two homes of one uid would share and `uninstall --purge` could not know about. The socket's directory and
the state directory (token, lock, status) must be owned by the user and closed to others: the
daemon creates them 0700, verifies them every start, and refuses to run otherwise (a directory
writable by others lets another user swap the socket; see daemon-notes pitfall 4). It never
chmods a directory it did not create.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from daemon import rendezvous
from daemon.errors import MttdError

APP = rendezvous.APP
# sun_path holds 104 bytes on macOS and 108 on Linux; stay clear of both.
MAX_SOCKET_PATH = 100
USE_TCP = sys.platform == "win32"  # grpc Python has no unix-socket client on Windows


class UnsafeDirectory(MttdError):
    """A private directory or file that another user could read or replace."""


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    state_dir: Path
    log_dir: Path
    runtime_dir: Path
    cache_dir: Path  # what can be rebuilt: matplotlib's font cache and config (MPLCONFIGDIR)

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / rendezvous.LOCK_NAME

    @property
    def status_file(self) -> Path:
        return self.state_dir / rendezvous.STATUS_NAME

    @property
    def token_file(self) -> Path:
        return self.state_dir / rendezvous.TOKEN_NAME

    @property
    def log_file(self) -> Path:
        return self.log_dir / "mttd.log"

    @property
    def stderr_file(self) -> Path:
        """What the spawned daemon prints before its log is set up (import errors, crashes)."""
        return self.log_dir / "serve.stderr"

    @property
    def socket_file(self) -> Path:
        """runtime_dir/mttd.sock, or /tmp/mttd-UID/HASH.sock when that path is too long to bind."""
        preferred = self.runtime_dir / "mttd.sock"
        if len(os.fsencode(str(preferred))) <= MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(os.fsencode(str(self.runtime_dir))).hexdigest()[:16]
        return short_socket_dir() / f"{digest}.sock"

    def as_dict(self) -> dict[str, str]:
        return {
            "config_file": str(self.config_file),
            "data_dir": str(self.data_dir),
            "state_dir": str(self.state_dir),
            "log_file": str(self.log_file),
            "runtime_dir": str(self.runtime_dir),
            "socket": "127.0.0.1 (TCP)" if USE_TCP else str(self.socket_file),
            "token_file": str(self.token_file),
            "status_file": str(self.status_file),
        }


def keep_matplotlib_in_our_cache(environ: dict[str, str] | os._Environ = os.environ) -> None:
    """Point matplotlib's config and font cache (~/.config/matplotlib, ~/.cache/matplotlib by
    default) into mttd's cache folder, so `uninstall --purge` removes them; a user's own
    MPLCONFIGDIR stands. Set before matplotlib is imported, inherited by the spawned daemon."""
    if not environ.get("MPLCONFIGDIR"):
        environ["MPLCONFIGDIR"] = str(resolve(environ).cache_dir / "matplotlib")


def short_socket_dir() -> Path:
    return Path("/tmp") / f"{APP}-{os.getuid()}"


def resolve(environ: dict[str, str] | None = None) -> Paths:
    env = os.environ if environ is None else environ
    home = env.get("MTTD_HOME")
    if home:
        root = Path(home).expanduser().absolute()
        return Paths(root / "config", root / "data", rendezvous.state_dir(env), root / "log", root / "run", root / "cache")
    import platformdirs

    state_dir = rendezvous.state_dir(env)  # one rule for the daemon, the bridge and `mttd`
    runtime_dir = xdg_runtime_dir(env)
    if runtime_dir is None:
        if sys.platform in ("darwin", "win32"):
            runtime_dir = Path(platformdirs.user_runtime_dir(APP, appauthor=False))  # under the home already
        else:
            runtime_dir = state_dir / "run"
    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP, appauthor=False)),
        state_dir=state_dir,
        log_dir=Path(platformdirs.user_log_dir(APP, appauthor=False)),
        runtime_dir=runtime_dir,
        cache_dir=Path(platformdirs.user_cache_dir(APP, appauthor=False)),
    )


def xdg_runtime_dir(env: Mapping[str, str]) -> Path | None:
    """`$XDG_RUNTIME_DIR/mttd` on Linux and the BSDs when XDG_RUNTIME_DIR is an absolute, real
    folder of ours closed to others (what the XDG spec promises); None otherwise. Stdlib only: the
    installer uses it before platformdirs exists."""
    value = env.get("XDG_RUNTIME_DIR", "")
    if sys.platform in ("darwin", "win32") or not os.path.isabs(value):
        return None
    try:
        st = os.lstat(value)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    return Path(value) / APP


def ensure_private_dir(path: Path) -> Path:
    """Create `path` 0700 if missing; otherwise verify it is ours and closed to others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    verify_private(path, directory=True)
    return path


def verify_private(path: Path, directory: bool) -> None:
    """Raise UnsafeDirectory unless `path` is a real (not symlinked) entry we own, mode ?rwx------."""
    if USE_TCP:
        return  # per-user profile directories; POSIX modes do not apply
    st = os.lstat(path)
    what = "directory" if directory else "file"
    if directory and not stat.S_ISDIR(st.st_mode) or not directory and not stat.S_ISREG(st.st_mode):
        raise UnsafeDirectory(f"{path} is not a regular {what} (a symlink or something else); remove it")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}); remove it or set MTTD_HOME")
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        fix = "700" if directory else "600"
        raise UnsafeDirectory(f"{path} is open to other users (mode {mode:04o}); run: chmod {fix} {path}")


def ensure_user_dir(path: Path) -> Path:
    """Create `path` 0700 if missing; otherwise it must be a real directory we own that nobody
    else may write to (else a planted symlink redirects what we write there)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if USE_TCP:
        return path
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory (a symlink or something else); remove it")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}); remove it or set MTTD_HOME")
    if st.st_mode & 0o022:
        raise UnsafeDirectory(f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 700 {path}")
    return path  # readable by others is the user's choice: a folder mttd did not create is never chmodded


def open_private_append(path: Path) -> int:
    """A file descriptor appending to `path` (created 0600), never through a symlink (O_NOFOLLOW)
    and only if it is a regular file of ours: log files live where others may once have planted one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as err:
        if path.is_symlink():
            raise UnsafeDirectory(f"{path} is a symlink; remove it") from None
        raise UnsafeDirectory(f"cannot open {path}: {err.strerror or err}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (not USE_TCP and st.st_uid != os.geteuid()):
        os.close(fd)
        raise UnsafeDirectory(f"{path} is not a regular file of yours; remove it")
    return fd


def rotate(path: Path, keep: int) -> None:
    """path -> path.1 -> ... -> path.KEEP (the oldest dropped); renames never follow a symlink."""
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists() or older.is_symlink():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    if path.exists() or path.is_symlink():
        os.replace(path, path.with_name(f"{path.name}.1"))


def ensure_dirs(paths: Paths) -> None:
    """The daemon's directories: state and socket strictly private, the others ours, closed to others."""
    for public in (paths.config_dir, paths.data_dir, paths.log_dir):
        ensure_user_dir(public)
    ensure_private_dir(paths.state_dir)
    if not USE_TCP:
        ensure_private_dir(paths.socket_file.parent)


MIN_TOKEN_CHARS = 32  # secrets.token_urlsafe(32) gives 43; an empty or short file is no secret


class BadToken(MttdError):
    """A token file that is not a usable secret: not ASCII, empty or too short."""


def read_token(paths: Paths) -> str:
    """The per-install token; FileNotFoundError when no daemon has created it yet, BadToken when
    the file is damaged (an empty token would let `authorization: Bearer ` through)."""
    verify_private(paths.token_file, directory=False)
    raw = paths.token_file.read_bytes()
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise BadToken(f"{paths.token_file}: not a token (not ASCII text); `mttd restart` writes a new one") from None
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or any(c.isspace() for c in token):
        raise BadToken(f"{paths.token_file}: a token of {len(token)} characters, not a {MIN_TOKEN_CHARS}+ character "
                       "secret; `mttd restart` writes a new one")
    return token


def ensure_token(paths: Paths) -> str:
    """Create the token once (0600, written completely before it appears), then reuse it."""
    damaged = False
    try:
        return read_token(paths)
    except FileNotFoundError:
        pass
    except BadToken as err:
        warnings.warn(f"{err}: writing a new one", stacklevel=2)
        damaged = True
    tmp = paths.token_file.with_name(f".token.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    try:
        if damaged:
            os.replace(tmp, paths.token_file)  # only the daemon, holding the instance lock, gets here
        else:
            os.link(tmp, paths.token_file)  # atomic and never replaces a token another process wrote
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_token(paths)
