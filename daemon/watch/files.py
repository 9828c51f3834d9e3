"""One watched file: is it a timeline, is it complete, what are its sidecars.

Functions over names and bytes, so the watcher's threads stay small. A timeline is known by its
suffix and a sniff of its first 4 KB (an `.xml` must hold xmeml); it is complete when its closing
root element (or the closing brace of an OTIO JSON file) ends it. What is done with a settled
timeline is daemon.watch.process. `mttd suggest` picks a folder's timelines by these rules too.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from model.atomic import TEMP_PREFIX, TEMP_SUFFIX
from model.timeline.kinds import JSON_SIDECAR, XML_SIDECAR, TimelineKind, is_sidecar_name, sidecar_stem
from model.timeline.safe_xml import open_regular  # FIFO- and symlink-safe: one home

# Editors' and downloaders' temp and backup names (daemon-notes 3.6), matched case-insensitively.
TEMP_PATTERNS = ("*.tmp", ".~*", "~$*", ".goutputstream-*", "*.swp", "*.part", "*.crdownload", "*~")
HEAD_BYTES = 4096
TAIL_BYTES = 1024
CHUNK_BYTES = 1 << 20


def is_ignored_name(name: str) -> bool:
    """Hidden, temporary, backup and mttd's own sidecar names are never inputs."""
    lower = name.lower()
    if lower.startswith(".") or is_sidecar_name(lower):
        return True
    return any(fnmatch.fnmatchcase(lower, pattern) for pattern in TEMP_PATTERNS)


def candidate_kind(path: Path, root: Path, kinds: dict[str, TimelineKind]) -> TimelineKind | None:
    """The kind a path may hold, judged on its name alone; None for everything else.

    Files under a hidden folder of the watched root (.git, .cache, ...) are skipped too.
    """
    kind = kinds.get(path.suffix.lower())
    if kind is None or is_ignored_name(path.name):
        return None
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        return None
    if any(part.startswith(".") for part in parts):
        return None
    return kind


def walk_candidates(root: Path, kinds: dict[str, TimelineKind], follow_symlinks: bool = False,
                    leftovers: list[Path] | None = None) -> Iterator[tuple[Path, TimelineKind, tuple[int, int]]]:
    """(path, kind, (size, mtime_ns)) of every candidate under root, judged by name: hidden
    folders are skipped and symlinks not followed; unreadable folders are passed over. mttd's
    own temp files met on the way (a killed write's) are added to `leftovers` when given."""
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                if leftovers is not None and _is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                    leftovers.append(Path(entry.path))
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
                continue
            if not entry.is_file(follow_symlinks=follow_symlinks):
                continue  # a FIFO, socket or device under a timeline's name is never a candidate
            kind = kinds.get(os.path.splitext(entry.name)[1].lower())
            if kind is None or is_ignored_name(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=follow_symlinks)
            except OSError:
                continue
            yield Path(entry.path), kind, (st.st_size, st.st_mtime_ns)


def _is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX) and len(name) <= len(TEMP_PREFIX) + 16 + len(TEMP_SUFFIX)


def sidecar_json_path(path: Path) -> Path:
    return path.with_name(sidecar_stem(path) + JSON_SIDECAR)


def sidecar_xml_path(path: Path) -> Path:
    return path.with_name(sidecar_stem(path) + XML_SIDECAR)


@dataclass(frozen=True)
class FileScan:
    """One streaming read of a file: what the watcher needs to decide, without holding it."""

    size: int
    sha256: str
    complete: bool  # it ends with the closing marker


def scan_file(path: Path, kind: TimelineKind, follow_symlinks: bool = True) -> FileScan:
    """Read the file once in 1 MB chunks: hash everything, keep the tail (memory stays flat)."""
    digest = hashlib.sha256()
    tail = b""
    size = 0
    with _open_regular(path, follow_symlinks) as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            tail = (tail + chunk)[-TAIL_BYTES:]
            size += len(chunk)
    return FileScan(size=size, sha256=digest.hexdigest(), complete=tail.rstrip().endswith(kind.end_marker))


def sniff(path: Path, kind: TimelineKind, follow_symlinks: bool = True) -> bool:
    """True when the first 4 KB hold the kind's root marker (cheap: decides before any hashing)."""
    with _open_regular(path, follow_symlinks) as f:
        return kind.root_marker in f.read(HEAD_BYTES)


def _open_regular(path: Path, follow_symlinks: bool = True):
    return open_regular(path, follow_symlinks)


def sidecar_source_sha(path: Path) -> str | None:
    """The `source.sha256` the current sidecar pair was made from; None when NAME.mtt.json is
    absent or unreadable, or when its NAME.mtt.xml is missing (a half pair, e.g. from a full
    disk: it is made again)."""
    try:
        doc = json.loads(sidecar_json_path(path).read_bytes())
        sha = doc["source"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if "error" not in doc and not sidecar_xml_path(path).exists():
        return None
    return sha if isinstance(sha, str) else None


def sidecar_taken_by(path: Path) -> str | None:
    """Another existing file whose sidecars NAME.mtt.* are (`cut.xml` and `cut.fcpxml`, or
    `case.xml` and `case.XML`, share one name): the sidecars stay with the file their
    `source.path` names as long as it exists; None when they are free, this file's or stale."""
    try:
        doc = json.loads(sidecar_json_path(path).read_bytes())
        owner = doc["source"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(owner, str) or owner == str(path):
        return None
    try:
        return None if os.path.samefile(owner, path) else owner
    except OSError:
        return None  # the owner is gone (or unreadable): the name is free again
