"""The one atomic write: a reader of the folder sees the old file or the new one, never half of one.

Stdlib only, so the daemon and the installer use it too (the plugin bridge has no file it rewrites).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    # Read once at import: os.umask is process-wide, so toggling it later would race other threads.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
# Temp files are .mtt-XXXXXXXX.tmp: a write killed before its rename leaves one (the watcher clears old ones).
TEMP_PREFIX, TEMP_SUFFIX = ".mtt-", ".tmp"
_local = threading.local()


@contextmanager
def no_wider_than(source: str | Path) -> Iterator[None]:
    """Within the block, files this thread writes with `write_atomic` get at most `source`'s
    permission bits: what is derived from a private file stays as private as it is."""
    cap = os.stat(source).st_mode & 0o777
    previous = getattr(_local, "cap", None)
    _local.cap = cap if previous is None else cap & previous
    try:
        yield
    finally:
        _local.cap = previous


def write_atomic(path: str | Path, data: bytes | str | Callable[[Path], object], *, mode: int | None = None) -> Path:
    """Write `path`: a unique temp file beside it (threads may write at once), fsync, then rename.

    `data` is bytes, text (UTF-8), or a function that writes the temp path it is given (for
    libraries that only save to a path). `mode` defaults to what a plain open() would give;
    pass 0o600 for files only the user may read.
    """
    return write_atomic_all([(Path(path), data)], mode=mode)[0]


def write_atomic_all(files: list[tuple[Path, bytes | str | Callable[[Path], object]]], *, mode: int | None = None) -> list[Path]:
    """Write several files all or none as far as the disk decides: every temp file is written and
    fsynced before the first rename, so a full disk (or any write error) leaves the old files as
    they were. Renamed in the order given: put the file readers check first (a marker) last."""
    temps: list[Path] = []
    try:
        for path, data in files:
            temps.append(_write_temp(Path(path), data, mode))
        for tmp, (path, _data) in zip(temps, files):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return [Path(path) for path, _data in files]


def _write_temp(path: Path, data: bytes | str | Callable[[Path], object], mode: int | None) -> Path:
    # A short hidden name: one built on `path.name` overflows the 255-byte name limit for a
    # name that itself fits (a 244-character timeline name got ENAMETOOLONG).
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            if not callable(data):
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        if callable(data):
            data(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        final = 0o666 & ~_UMASK if mode is None else mode
        cap = getattr(_local, "cap", None)
        os.chmod(tmp, final if cap is None else final & cap)  # mkstemp makes 0600
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
