"""The one atomic write: bytes, text or a library's save-to-path; modes; a failed write leaves the old file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from model.atomic import write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bytes_text_and_a_writer_function(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert write_atomic(target, b"one") == target and target.read_bytes() == b"one"
    write_atomic(target, "twö")
    assert target.read_text(encoding="utf-8") == "twö"
    write_atomic(target, lambda tmp: Path(tmp).write_bytes(b"three"))
    assert target.read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temp file left


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_mode_is_a_plain_open_s_unless_private(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    write_atomic(tmp_path / "shared", b"x")
    write_atomic(tmp_path / "private", b"x", mode=0o600)
    assert _mode(tmp_path / "shared") == 0o666 & ~mask
    assert _mode(tmp_path / "private") == 0o600


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")

    def broken(tmp: Path) -> None:
        Path(tmp).write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, broken)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
