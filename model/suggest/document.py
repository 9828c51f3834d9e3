"""The sidecar files of docs/sidecar.md: `NAME.mtt.json` and `NAME.mtt.xml`.

`document_for_file` is what the CLI, the daemon and the watcher call for a file on disk:
read, hash, suggest, and build the document (or the error document when the file cannot be
read). `write_sidecars` writes both files atomically. Nothing here imports grpc or the daemon.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from model.atomic import write_atomic_all
from model.inference import progress
from model.inference.load import ModelIdentity
from model.inference.predictor import Predictor
from model.suggest.items import STAGES, SequenceSuggestions, SuggestOptions
from model.suggest.pipeline import suggest
from model.suggest.suggested_xml import suggested_xmeml
from model.timeline.errors import TimelineParseError
from model.timeline.formats import read_timeline_bytes
from model.timeline.kinds import JSON_SIDECAR, XML_SIDECAR
from model.timeline.safe_xml import DEFAULT_MAX_BYTES, read_capped
from model.timeline.types import Timeline

SCHEMA = "mtt.suggestions/1"
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "mtt.suggestions-1.schema.json"


@dataclass
class SuggestionRun:
    """One file's suggestions: the document, and what the suggested XML is built from."""

    document: dict
    timeline: Timeline | None = None
    results: list[SequenceSuggestions] = field(default_factory=list)
    source_bytes: bytes | None = field(default=None, repr=False)  # xmeml input: the .mtt.xml keeps all of it

    @property
    def ok(self) -> bool:
        return "error" not in self.document

    def xml_bytes(self) -> bytes | None:
        """The `NAME.mtt.xml` document, or None when the file could not be read."""
        if self.timeline is None:
            return None
        return suggested_xmeml(self.timeline, self.results, self.source_bytes)


def document_for_file(path: str | Path, predictor: Predictor, options: SuggestOptions = SuggestOptions()) -> dict:
    """The `NAME.mtt.json` document for a timeline file (an error document when unreadable)."""
    return run_file(path, predictor, options).document


def run_file(path: str | Path, predictor: Predictor, options: SuggestOptions = SuggestOptions()) -> SuggestionRun:
    return run_source(read_source(path), predictor, options)


@dataclass
class SourceFile:
    """A timeline file read once: its bytes and Timeline, or the error that stopped the read."""

    path: str
    data: bytes | None
    timeline: Timeline | None
    error: TimelineParseError | None
    read_ms: float

    @property
    def ok(self) -> bool:
        return self.timeline is not None


def read_source(path: str | Path) -> SourceFile:
    """Read and parse a timeline file (any format of model.timeline.formats), before any model is
    needed: a broken file is known without loading one."""
    progress.report("read")
    start = time.perf_counter()
    data: bytes | None = None
    try:
        data = read_capped(path, DEFAULT_MAX_BYTES)
        timeline, error = read_timeline_bytes(data, str(path)), None
    except TimelineParseError as err:
        timeline, error = None, err
    return SourceFile(str(path), data, timeline, error, (time.perf_counter() - start) * 1000.0)


def run_source(source: SourceFile, predictor: Predictor | ModelIdentity, options: SuggestOptions = SuggestOptions()) -> SuggestionRun:
    """The run for a file read by `read_source`. For a file that could not be read, the model's
    identity (model.inference.load.model_identity) is enough: the error document only names it."""
    if source.error is not None:
        code = _error_code(source.path, source.data)
        return SuggestionRun(error_document(source.path, source.error, predictor, source.data, read_ms=source.read_ms, code=code))
    return run_timeline(source.path, source.data, source.timeline, predictor, options, read_ms=source.read_ms)


def run_timeline(
    path: str | None,
    source_bytes: bytes,
    timeline: Timeline,
    predictor: Predictor,
    options: SuggestOptions = SuggestOptions(),
    *,
    read_ms: float = 0.0,
) -> SuggestionRun:
    """Suggest for an already read timeline; an unknown `--sequence` is an error document."""
    try:
        results = suggest(timeline, predictor, options)
    except KeyError:
        err = TimelineParseError(path or "<bytes>", 0, f"no sequence named {options.sequence!r}")
        return SuggestionRun(error_document(path, err, predictor, source_bytes, read_ms=read_ms, code="no_such_sequence"))
    doc = _document(path, source_bytes, predictor, results, read_ms)
    return SuggestionRun(doc, timeline, results, source_bytes)


def suggestions_document(
    path: str | None,
    source_bytes: bytes,
    timeline: Timeline,
    predictor: Predictor,
    options: SuggestOptions = SuggestOptions(),
    *,
    read_ms: float = 0.0,
) -> dict:
    """The document for a timeline read elsewhere (XML bytes, the bridge's JSON); path may be None."""
    return run_timeline(path, source_bytes, timeline, predictor, options, read_ms=read_ms).document


def _document(path: str | None, data: bytes, predictor: Predictor, results: list[SequenceSuggestions], read_ms: float) -> dict:
    elapsed = {stage: 0.0 for stage in STAGES}
    elapsed["read"] = read_ms
    for r in results:
        for stage, ms in r.elapsed_ms.items():
            elapsed[stage] += ms
    elapsed["total"] = sum(v for k, v in elapsed.items() if k != "total")
    doc = _header(path, data, predictor, elapsed)
    doc["sequences"] = [r.to_json() for r in results]
    return doc


def error_document(
    path: str | None,
    err: TimelineParseError,
    predictor: Predictor | ModelIdentity,
    source_bytes: bytes | None = None,
    *,
    read_ms: float = 0.0,
    code: str = "invalid_timeline",
) -> dict:
    """The document written when a timeline cannot be read: `error` instead of `sequences`."""
    elapsed = {stage: 0.0 for stage in STAGES}
    elapsed["read"] = elapsed["total"] = read_ms
    doc = _header(path, source_bytes, predictor, elapsed)
    doc["error"] = {"code": code, "message": err.one_line(), "line": err.line or None, "file": err.path, "reason": err.reason}
    return doc


def _header(path: str | None, data: bytes | None, predictor: Predictor | ModelIdentity, elapsed: dict[str, float]) -> dict:
    return {
        "schema": SCHEMA,
        "source": {
            "path": path,
            "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
            "size": len(data) if data is not None else None,
        },
        "model": {"name": predictor.name, "version": predictor.version, "sha256": predictor.sha256},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "elapsed_ms": {k: round(v, 3) for k, v in elapsed.items()},
    }


def _error_code(path: str | Path, data: bytes | None) -> str:
    if data is not None:
        return "invalid_timeline"
    return "not_found" if not os.path.exists(path) else "unreadable"


# --- writing -------------------------------------------------------------------------------


def sidecar_paths(out_dir: str | Path, stem: str) -> tuple[Path, Path]:
    out = Path(out_dir)
    return out / f"{stem}{JSON_SIDECAR}", out / f"{stem}{XML_SIDECAR}"


def write_sidecars(doc: dict, xml_bytes: bytes | None, out_dir: str | Path, stem: str) -> list[Path]:
    """Write `stem.mtt.json` (and `stem.mtt.xml` when given) atomically: temp file, then rename.

    Returns the paths written. A reader of the folder sees either the old file or the new one,
    never half of one; an error document comes without XML. Both or neither: both are written
    out before either is renamed (a full disk leaves the old pair), the JSON last, since its
    `source.sha256` is what says the pair is of this content.
    """
    import json

    json_path, xml_path = sidecar_paths(out_dir, stem)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    files: list = [] if xml_bytes is None else [(xml_path, xml_bytes)]
    files.append((json_path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n"))
    write_atomic_all(files)
    return [json_path] + ([xml_path] if xml_bytes is not None else [])

