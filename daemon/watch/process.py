"""What the watcher does with a settled timeline: read it, suggest, and write its sidecars.

`make_processor` works in the calling thread; `make_engine_processor` runs reading and inference
on the daemon's engine thread. Both are two-phase (`TwoPhaseProcessor`): `prepare` does the slow
part without writing, `commit` writes the sidecars, so the watcher can prepare a save while its
settle time runs. The model modules imported here are torch-free; torch loads on the engine thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from daemon import limits
from daemon.engine import Engine, QueueFull
from daemon.watch.files import sidecar_taken_by
from daemon.watch.watcher import ProcessResult, TwoPhaseProcessor
from model.atomic import no_wider_than
from model.inference.predictor import Predictor
from model.suggest.document import SuggestionRun, read_source, run_file, run_source, write_sidecars
from model.suggest.items import KINDS, SuggestOptions
from model.suggest.pipeline import predictor_step
from model.timeline.kinds import JSON_SIDECAR, PNG_SIDECAR, XML_SIDECAR, sidecar_stem
from model.viz.render import render_timeline_png

ENGINE_RETRY_S = 0.2  # how often a watcher job asks again when the engine's queue is full


def make_processor(predictor_provider: Callable[[], Predictor], options: SuggestOptions | None = None) -> TwoPhaseProcessor:
    """`process(path)` for the watcher, in this thread: read, suggest, write both sidecars.

    An unreadable timeline gets only the error document (NAME.mtt.json with `error`); anything
    else that goes wrong raises, so the watcher counts it and a later reconcile tries again.
    """

    def prepare(path: Path) -> SuggestionRun:
        return run_file(path, predictor_provider(), options or _default_options())

    return TwoPhaseProcessor(prepare, _writer(options))


def make_engine_processor(engine: Engine, options: SuggestOptions | None = None, timeout_s: float = 120.0,
                          picture: bool = False, max_steps: int | None = None) -> TwoPhaseProcessor:
    """`process(path)` for the daemon: reading and inference run on the engine thread, behind the
    interactive calls' admission (a full queue makes the watcher wait, never the user), and the
    sidecars are written from the watcher's thread. With `picture`, NAME.mtt.png is drawn on the
    engine thread too (it needs the predictor) from the run's own suggestions."""
    def prepare(path: Path) -> SuggestionRun:
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
            source = read_source(path)
            if source.timeline is not None and max_steps is not None:
                # The bound a call has (daemon.limits): a two-hour timeline dropped in a folder
                # must not cost what it would cost through Suggest. Nothing is written for it.
                limits.check_steps(source.timeline, predictor_step(predictor, opts), opts.sequence, max_steps)
            run = run_source(source, predictor, opts)
            if picture:
                draw_picture(path, run, predictor)
            return run

        with ticket:
            return engine.run(ticket, job, "", timeout_s, label=str(path))

    return TwoPhaseProcessor(prepare, _writer(options))


def draw_picture(path: Path, run: SuggestionRun, predictor: Predictor) -> None:
    """NAME.mtt.png beside the timeline, from the run's suggestions; nothing for an unreadable file."""
    if run.ok and run.timeline is not None and sidecar_taken_by(path) is None:
        with no_wider_than(path):
            render_timeline_png(run.timeline, None, predictor, path.parent / (sidecar_stem(path) + PNG_SIDECAR),
                                suggestions=run.results)


def _writer(options: SuggestOptions | None) -> Callable[[Path, SuggestionRun], ProcessResult]:
    """`write_run` counting the kinds of suggestion that were asked for (the log line names those)."""
    kinds = (options or _default_options()).kinds
    return lambda path, run: write_run(path, run, kinds)


def write_run(path: Path, run: SuggestionRun, kinds: tuple[str, ...] = KINDS) -> ProcessResult:
    """Write a run's sidecars beside the timeline (the error document alone when unreadable)."""
    if not path.exists():  # deleted while it was read and suggested for: no orphan sidecars
        return ProcessResult(False, f"{path}: gone before its sidecars were written", written=False)
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
    items = tuple((kind, sum(len(s.get(kind, ())) for s in sequences)) for kind in kinds)
    return ProcessResult(True, sequences=len(sequences), items=items)


def _default_options() -> SuggestOptions:
    return SuggestOptions()
