"""Batch mode of `mttd suggest`: many files and folders in one run, the model loaded once.

Files named on the command line are always tried; folders give the timeline files inside them
(by the watcher's rules: suffix and a sniff of the content, hidden, temporary and sidecar names
skipped; sub-folders with `--recursive`). With `--out DIR` the sidecars of a folder's files go
into DIR under the same relative sub-folders, so two `cut.xml` of different folders never
collide; two named files that would still collide are refused before any work.

Results come from the daemon's streaming SuggestBatch call when one serves and nothing is written
to disk, else from this process. Either way each file gives the same document; a file the daemon
reports as unreadable is done again here, so its error reads exactly as without a daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

from daemon.client import client_for_cli, proto_options
from daemon.commands.suggest_shared import Model, error_line
from daemon.errors import DaemonError, UsageError
from daemon.watch import files as watch_files
from model.inference.model_files import ModelLoadError
from model.timeline.kinds import sidecar_stem, timeline_kinds

USAGE = 2


@dataclass(frozen=True)
class Job:
    path: str  # as the user gave it, or the folder they gave joined with the relative path
    out_dir: str | None  # where its sidecars go; None = not written


@dataclass
class Outcome:
    path: str
    doc: dict | None = None  # None when even the error document could not be made
    failure: str = ""  # one line: why this file gave no suggestions
    written: list[Path] = field(default_factory=list)

    @property
    def suggestions(self) -> int:
        seqs = (self.doc or {}).get("sequences", [])
        return sum(len(s["review"]) + len(s["next"]) + len(s["fill"]) for s in seqs)


def run_batch(args: argparse.Namespace, options: Any, model: Model) -> int:
    started = time.perf_counter()
    jobs, refusal = plan_jobs(args.paths, args.recursive, args.out, args.in_place)
    if refusal:
        raise UsageError(refusal)
    progress = Progress(sys.stderr, len(jobs))
    summary = Summary()
    try:
        for outcome in outcomes(jobs, options, model, use_daemon=not args.no_daemon):
            summary.add(outcome)
            progress.clear()
            _print_outcome(outcome, args.json)
            progress.step(outcome.path)
    except ModelLoadError:
        progress.clear()
        raise
    progress.clear()
    report = summary.text(time.perf_counter() - started)
    print(report, file=sys.stderr if args.json else sys.stdout)
    return 1 if summary.failures else 0


# -- which files, and where their sidecars go ----------------------------------------------------


def plan_jobs(paths: list[str], recursive: bool, out: str | None, in_place: bool) -> tuple[list[Job], str]:
    """The files of the batch in order (duplicates once) and their sidecar folders; or a refusal."""
    jobs: list[Job] = []
    seen: set[str] = set()
    for given in paths:
        if Path(given).is_dir():
            found = [(str(Path(given) / rel), rel.parent) for rel in folder_timelines(Path(given), recursive)]
        else:
            found = [(given, Path("."))]
        for path, rel_dir in found:
            key = os.path.realpath(path)
            if key in seen:
                continue
            seen.add(key)
            out_dir = str(Path(path).parent) if in_place else str(Path(out) / rel_dir) if out else None
            jobs.append(Job(path, out_dir))
    return jobs, _collision(jobs)


def folder_timelines(folder: Path, recursive: bool) -> list[Path]:
    """Timeline files in folder (relative paths, sorted), judged like the watcher judges them."""
    kinds = timeline_kinds()
    if recursive:
        found = (path for path, _kind, _stat in watch_files.walk_candidates(folder, kinds, follow_symlinks=True))
    else:
        found = (Path(e.path) for e in os.scandir(folder) if e.is_file() and not watch_files.is_ignored_name(e.name))
    return sorted(
        path.relative_to(folder) for path in found
        if (kind := kinds.get(path.suffix.lower())) is not None and _looks_like(path, kind)
    )


def _looks_like(path: Path, kind: Any) -> bool:
    """The sniff of the watcher; a file it cannot open stays in, to be reported as a failure."""
    try:
        return watch_files.sniff(path, kind)
    except OSError:
        return True


def _collision(jobs: list[Job]) -> str:

    owner: dict[str, str] = {}
    for job in jobs:
        if job.out_dir is None:
            continue
        target = os.path.join(os.path.realpath(job.out_dir), sidecar_stem(job.path))
        if target in owner:
            return f"{owner[target]} and {job.path} would write the same sidecars {target}.mtt.*; use --in-place or separate runs"
        owner[target] = job.path
    return ""


# -- the work ------------------------------------------------------------------------------------


def outcomes(jobs: list[Job], options: Any, model: Model, use_daemon: bool) -> Iterator[Outcome]:
    """One Outcome per job, in order: from the daemon while it answers, then in this process."""
    done = 0
    if use_daemon and all(job.out_dir is None for job in jobs):
        for outcome in _daemon_outcomes(jobs, options, model):
            done += 1
            yield outcome if outcome.doc is not None else _local_outcome(jobs[done - 1], options, model)
    for job in jobs[done:]:
        yield _local_outcome(job, options, model)


def _daemon_outcomes(jobs: list[Job], options: Any, model: Model) -> Iterator[Outcome]:
    """Outcomes streamed by SuggestBatch (doc None where the daemon could not read the file);
    stops early, without raising, when the daemon cannot take the batch or goes away."""

    request_options = proto_options(options, model.requested)
    client = client_for_cli() if request_options is not None and jobs else None
    if client is None:
        return
    with client:
        paths = [str(Path(job.path).expanduser().absolute()) for job in jobs]
        try:
            for reply in client.suggest_batch(paths, request_options(client.pb)):
                job = jobs[reply.index]
                if reply.WhichOneof("result") != "reply":
                    yield Outcome(job.path)
                    continue
                doc = json.loads(reply.reply.document_json)
                doc["source"]["path"] = job.path
                yield Outcome(job.path, doc)
        except DaemonError:
            return  # busy, stopped or restarted: the rest is done here


def _local_outcome(job: Job, options: Any, model: Model) -> Outcome:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.suggest.document import read_source, run_source, write_sidecars

    source = read_source(job.path)  # first: a file that cannot be read needs no model
    result = run_source(source, model.get() if source.ok else model.identity(), options)
    outcome = Outcome(job.path, result.document, "" if result.ok else error_line(result.document))
    if job.out_dir is not None:
        try:
            outcome.written = write_sidecars(result.document, result.xml_bytes(), job.out_dir, sidecar_stem(job.path))
        except OSError as err:
            outcome.failure = outcome.failure or f"cannot write sidecars into {job.out_dir}: {err.strerror or err}"
    return outcome


# -- what is printed -----------------------------------------------------------------------------


def _print_outcome(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps(outcome.doc, ensure_ascii=False), flush=True)
        return
    if outcome.failure:
        line = f"{outcome.path}: failed: {outcome.failure}"
    else:
        line = f"{outcome.path}: {_counts(outcome.doc)}"
    if outcome.written:
        line += f" -> {outcome.written[0]}"
    print(line, flush=True)


def _counts(doc: dict) -> str:
    totals = {kind: sum(len(s[kind]) for s in doc["sequences"]) for kind in ("review", "next", "fill")}
    return ", ".join(f"{n} {kind}" for kind, n in totals.items())


@dataclass
class Summary:
    files: int = 0
    suggestions: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.files += 1
        self.suggestions += outcome.suggestions
        if outcome.failure:
            self.failures.append((outcome.path, outcome.failure))

    def text(self, seconds: float) -> str:
        rate = self.files / seconds if seconds > 0 else 0.0
        lines = [
            f"{self.files} files, {self.suggestions} suggestions, {len(self.failures)} failed, "
            f"{seconds:.1f} s ({rate:.1f} files/s)"
        ]
        lines += [f"  failed: {path}: {why}" for path, why in self.failures]
        return "\n".join(lines)


class Progress:
    """`[#####     ] 12/50 name.xml` redrawn in place on a terminal; nothing otherwise."""

    WIDTH = 24

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.enabled = total > 1 and stream.isatty()
        self._shown = False

    def step(self, name: str) -> None:
        self.done += 1
        if not self.enabled or self.done >= self.total:
            return
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + " " * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {Path(name).name[:40]}\x1b[K")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
