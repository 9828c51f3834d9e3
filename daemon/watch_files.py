"""One watched file: is it a timeline, is it complete, what are its sidecars, and `process` for it.

Functions over names and bytes, so the watcher's threads stay small. A timeline is known by its
suffix and a sniff of its first 4 KB (an `.xml` must hold xmeml); it is complete when its closing
root element (or the closing brace of an OTIO JSON file) ends it. `make_processor` (in-process)
and `make_engine_processor` (the daemon's engine thread) build the `process` the watcher calls.
The model is imported inside them only, so the watcher itself never pulls in torch.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from model.atomic import no_wider_than
from model.timeline.kinds import JSON_SIDECAR, PNG_SIDECAR, XML_SIDECAR, TimelineKind, is_sidecar_name, sidecar_stem

if TYPE_CHECKING:
    from daemon.engine import Engine
    from model.inference.predictor import Predictor
    from model.suggest.document import SuggestionRun
    from model.suggest.items import SuggestOptions

# Editors' and downloaders' temp and backup names (daemon-notes 3.6), matched case-insensitively.
TEMP_PATTERNS = ("*.tmp", ".~*", "~$*", ".goutputstream-*", "*.swp", "*.part", "*.crdownload", "*~")
HEAD_BYTES = 4096
TAIL_BYTES = 1024
CHUNK_BYTES = 1 << 20
ENGINE_RETRY_S = 0.2  # how often a watcher job asks again when the engine's queue is full


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


def walk_candidates(root: Path, kinds: dict[str, TimelineKind],
                    follow_symlinks: bool = False) -> Iterator[tuple[Path, TimelineKind, tuple[int, int]]]:
    """(path, kind, (size, mtime_ns)) of every candidate under root, judged by name: hidden
    folders are skipped and symlinks not followed; unreadable folders are passed over."""
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
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
    from model.timeline.safe_xml import open_regular  # torch-free; one home for the FIFO-safe open

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


# -- what is done with a settled timeline ------------------------------------------------------


@dataclass(frozen=True)
class ProcessResult:
    """What `process` did with one timeline: sidecars written, or the error document (ok False)."""

    ok: bool
    error: str = ""  # one line naming the file and the problem, when not ok
    sequences: int = 0  # sequences suggested for, when ok
    items: tuple[tuple[str, int], ...] = ()  # (kind, count) of the suggestions written, when ok
    written: bool = True  # False: nothing was written (the error document neither)

    def summary(self) -> str:
        """`2 sequences, 5 review, 3 next, 2 fill` for the log line of a processed timeline."""
        counts = "".join(f", {n} {kind}" for kind, n in self.items)
        return f"{self.sequences} sequence{'s' if self.sequences != 1 else ''}{counts}"


@dataclass(frozen=True)
class TwoPhaseProcessor:
    """`process(path)` in two phases: `prepare` reads and suggests (the slow part, no writes) and
    `commit` writes the sidecars. The watcher may prepare a save while its settle time runs and
    commits only once the file has stayed unchanged through it (see `Watcher`)."""

    prepare: Callable[[Path], SuggestionRun]
    commit: Callable[[Path, SuggestionRun], ProcessResult]

    def __call__(self, path: Path) -> ProcessResult:
        return self.commit(path, self.prepare(path))


Processor = Callable[[Path], ProcessResult]  # a TwoPhaseProcessor, or any one-phase callable


def make_processor(predictor_provider: Callable[[], Predictor], options: SuggestOptions | None = None) -> TwoPhaseProcessor:
    """`process(path)` for the watcher, in this thread: read, suggest, write both sidecars.

    An unreadable timeline gets only the error document (NAME.mtt.json with `error`); anything
    else that goes wrong raises, so the watcher counts it and a later reconcile tries again.
    """

    def prepare(path: Path) -> SuggestionRun:
        from model.suggest.document import run_file

        return run_file(path, predictor_provider(), options or _default_options())

    return TwoPhaseProcessor(prepare, write_run)


def make_engine_processor(engine: Engine, options: SuggestOptions | None = None, timeout_s: float = 120.0,
                          picture: bool = False) -> TwoPhaseProcessor:
    """`process(path)` for the daemon: reading and inference run on the engine thread, behind the
    interactive calls' admission (a full queue makes the watcher wait, never the user), and the
    sidecars are written from the watcher's thread. With `picture`, NAME.mtt.png is drawn on the
    engine thread too (it needs the predictor) from the run's own suggestions."""
    from daemon.engine import QueueFull

    def prepare(path: Path) -> SuggestionRun:
        from model.suggest.document import run_file

        opts = options or _default_options()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                ticket = engine.admit()
                break
            except QueueFull:
                if time.monotonic() > deadline:
                    raise
                time.sleep(ENGINE_RETRY_S)

        def job(predictor: Predictor) -> SuggestionRun:
            run = run_file(path, predictor, opts)
            if picture:
                draw_picture(path, run, predictor)
            return run

        with ticket:
            return engine.run(ticket, job, "", timeout_s, label=str(path))

    return TwoPhaseProcessor(prepare, write_run)


def draw_picture(path: Path, run: SuggestionRun, predictor: Predictor) -> None:
    """NAME.mtt.png beside the timeline, from the run's suggestions; nothing for an unreadable file."""
    from model.viz.render import render_timeline_png

    if run.ok and run.timeline is not None and sidecar_taken_by(path) is None:
        with no_wider_than(path):
            render_timeline_png(run.timeline, None, predictor, path.parent / (sidecar_stem(path) + PNG_SIDECAR),
                                suggestions=run.results)


def write_run(path: Path, run: SuggestionRun) -> ProcessResult:
    """Write a run's sidecars beside the timeline (the error document alone when unreadable)."""
    from model.suggest.document import write_sidecars
    from model.suggest.items import KINDS

    owner = sidecar_taken_by(path)
    if owner is not None:  # never overwrite another file's sidecars with this one's
        stem = sidecar_stem(path)
        return ProcessResult(False, f"{path}: not written, its sidecars {stem}{JSON_SIDECAR} and {stem}{XML_SIDECAR} "
                                    f"describe {owner}; rename one of the two", written=False)
    with no_wider_than(path):  # a 0600 timeline never gets 0644 sidecars
        write_sidecars(run.document, run.xml_bytes(), path.parent, sidecar_stem(path))
    if not run.ok:
        return ProcessResult(False, run.document["error"]["message"])
    sequences = run.document.get("sequences", [])
    items = tuple((kind, sum(len(s.get(kind, ())) for s in sequences)) for kind in KINDS)
    return ProcessResult(True, sequences=len(sequences), items=items)


def _default_options() -> SuggestOptions:
    from model.suggest.items import SuggestOptions

    return SuggestOptions()
