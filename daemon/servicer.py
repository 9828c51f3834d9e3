"""The mtt.v1.Suggester service: each call checked, run through the engine, and its failure turned
into one status code with one clear message (a DaemonError's code, line and reason travel in the
trailing metadata, so the client raises the same error). daemon.server runs it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import grpc
from google.protobuf import json_format

from daemon import limits
from daemon.config import Config
from daemon.engine import (
    Engine,
    QueueFull,
    Ticket,
    TimelineInput,
    input_from_json,
    input_from_path,
    input_from_xml,
    return_memory_to_os,
)
from daemon.errors import DaemonError
from model import __version__
from model.timeline.kinds import kind_of
from protos.mtt.v1 import PROTOCOL
from protos.mtt.v1 import suggester_pb2 as pb
from protos.mtt.v1 import suggester_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE = pb.DESCRIPTOR.services_by_name["Suggester"].full_name  # "mtt.v1.Suggester"
CAPABILITIES = ("suggest", "suggest-batch", "predict", "features")
MAX_PREDICT_STEPS = 4096
TRIM_AFTER_BYTES = 8 * 1024 * 1024  # after a features document this large, give freed memory back


class Watcher(Protocol):
    """What the server needs from the folder watcher (daemon.watch.registry.WatchRegistry).

    `daemon.watch.registry.create_watcher(engine, config, paths)` builds it; the server starts it once
    the model is loaded and stops it first at shutdown. Watch infos carry the fields of
    mtt.v1.WatchState (a dataclass or a dict); a path the watcher refuses raises an exception
    whose message says why (the caller gets INVALID_ARGUMENT).
    """

    queue_depth: int

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def add(self, path: str, poll: bool) -> Any: ...
    def remove(self, path: str) -> bool: ...
    def list(self) -> list[Any]: ...


class Host(Protocol):
    """What the service needs from the daemon that runs it (daemon.server.Daemon)."""

    config: Config
    engine: Engine
    watcher: Watcher | None

    def model_info(self) -> pb.ModelInfo: ...
    def status(self) -> pb.Status: ...
    def timeout(self, context: grpc.ServicerContext) -> float: ...
    def begin_shutdown(self, why: str) -> None: ...


class Suggester(pb_grpc.SuggesterServicer):
    """The mtt.v1.Suggester service. Inference goes through the engine; nothing else waits for it."""

    def __init__(self, daemon: Host) -> None:
        self.daemon = daemon
        self.engine = daemon.engine

    def GetInfo(self, request: pb.GetInfoRequest, context: grpc.ServicerContext) -> pb.Info:
        capabilities = CAPABILITIES + (("watch",) if self.daemon.watcher is not None else ())
        return pb.Info(
            version=__version__, protocol=PROTOCOL, capabilities=capabilities, model=self.daemon.model_info(),
            keep_alive_s=self.daemon.config.keep_alive, pid=os.getpid(),
        )

    def GetStatus(self, request: pb.GetStatusRequest, context: grpc.ServicerContext) -> pb.Status:
        return self.daemon.status()

    def Shutdown(self, request: pb.ShutdownRequest, context: grpc.ServicerContext) -> pb.ShutdownReply:
        self.daemon.begin_shutdown(request.reason or "Shutdown call")
        return pb.ShutdownReply(pid=os.getpid())

    def Suggest(self, request: pb.SuggestRequest, context: grpc.ServicerContext) -> pb.SuggestReply:
        return _answer(context, lambda: self._suggest_input(None, _input(request), request.options, context))

    def SuggestBatch(self, request: pb.SuggestBatchRequest, context: grpc.ServicerContext):
        try:
            ticket = self.engine.admit()  # the walk is work too: it takes its place before it starts
        except QueueFull as err:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(err))
        with ticket:
            deadline = time.monotonic() + self.daemon.timeout(context)

            def still_wanted() -> None:
                if not context.is_active():
                    raise DaemonError("CANCELLED", "the caller has gone")
                if time.monotonic() > deadline:
                    raise DaemonError("DEADLINE_EXCEEDED", "listing the folders took longer than the call may take")

            files = _answer(context, lambda: _expand_paths(request.paths, request.recursive, still_wanted))
            for index, path in enumerate(files):
                if not context.is_active():
                    return
                item = pb.SuggestBatchReply(index=index, total=len(files), path=path)
                try:
                    source = input_from_path(limits.path_text(path))
                    item.reply.CopyFrom(self._suggest_input(ticket, source, request.options, context))
                except DaemonError as err:
                    item.error.CopyFrom(pb.Error(code=err.code, message=err.message, line=err.line))
                except Exception as err:  # noqa: BLE001 - one bad file must not end the batch
                    log.exception("internal error on %s", path)
                    item.error.CopyFrom(pb.Error(code="INTERNAL", message=f"{type(err).__name__}: {err}"))
                yield item

    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictReply:
        return _answer(context, lambda: self._admitted(lambda ticket: self._predict(ticket, request, context)))

    def GetFeatures(self, request: pb.FeaturesRequest, context: grpc.ServicerContext) -> pb.FeaturesReply:
        return _answer(context, lambda: self._features(request, context))

    def Watch(self, request: pb.WatchRequest, context: grpc.ServicerContext) -> pb.WatchReply:
        watcher = self._watcher(context)
        try:
            info = watcher.add(request.path, request.poll)
        except Exception as err:  # noqa: BLE001 - the watcher says why it refuses the path
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{request.path}: {err}")
        return pb.WatchReply(watch=watch_state(info))

    def Unwatch(self, request: pb.UnwatchRequest, context: grpc.ServicerContext) -> pb.UnwatchReply:
        watcher = self._watcher(context)
        return _answer(context, lambda: pb.UnwatchReply(removed=watcher.remove(request.path)))

    def ListWatches(self, request: pb.ListWatchesRequest, context: grpc.ServicerContext) -> pb.ListWatchesReply:
        watcher = self._watcher(context)
        return _answer(context, lambda: pb.ListWatchesReply(watches=[watch_state(w) for w in watcher.list()]))

    # -- the work -------------------------------------------------------------------------

    def _admitted(self, fn: Callable[[Ticket], Any]) -> Any:
        with self.engine.admit() as ticket:
            return fn(ticket)

    def _suggest_input(self, ticket: Ticket | None, source: TimelineInput, proto_options: pb.SuggestOptions,
                       context) -> pb.SuggestReply:
        """A cache hit is answered at once; a miss takes a place in the queue (`ticket`, or its own)."""
        started = time.perf_counter()
        options = _suggest_options(proto_options)
        spec = limits.model_spec(proto_options.model)
        key = ("suggest", source.kind, source.name, source.sha256, options, self.engine.model_identity(spec))

        def compute() -> tuple[str, dict]:
            timeline = source.parse()
            read_ms = (time.perf_counter() - started) * 1000.0

            def job(predictor: Any) -> dict:
                # numpy loads on the first call, not before the daemon has bound its socket
                from model.suggest.document import suggestions_document
                from model.suggest.pipeline import predictor_step

                limits.check_steps(timeline, predictor_step(predictor, options), options.sequence, self.daemon.config.max_steps)
                return suggestions_document(source.name or None, source.data, timeline, predictor, options, read_ms=read_ms)

            label = source.name
            if ticket is None:
                with self.engine.admit() as own:
                    doc = self.engine.run(own, job, spec, self.daemon.timeout(context), alive=context.is_active, label=label)
            else:
                doc = self.engine.run(ticket, job, spec, self.daemon.timeout(context), alive=context.is_active, label=label)
            if "error" in doc:
                error = doc["error"]
                raise DaemonError("INVALID_ARGUMENT", error["message"], error.get("line") or 0)
            return json.dumps(doc, ensure_ascii=False), _summary(doc)

        cached, hit = self.engine.cache.get_or_compute(key, compute, self.daemon.timeout(context))
        text, summary = cached
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return pb.SuggestReply(document_json=text, cached=hit, elapsed_ms=elapsed_ms, **summary)

    def _predict(self, ticket: Ticket, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictReply:
        timeline = _input(request).parse()
        if request.start < 0 or request.steps < 0:
            raise DaemonError("INVALID_ARGUMENT", "start and steps must not be negative")

        def job(predictor: Any) -> pb.PredictReply:
            # numpy loads on the first call, not before the daemon has bound its socket
            from model.features.grid import DEFAULT_STEP, as_step

            step = as_step(getattr(predictor, "step_seconds", DEFAULT_STEP))
            limits.check_steps(timeline, step, request.sequence or None, self.daemon.config.max_steps)
            return _predict_window(timeline, predictor, request)

        reply = self.engine.run(ticket, job, limits.model_spec(request.model), self.daemon.timeout(context), alive=context.is_active)
        reply.model.CopyFrom(self.daemon.model_info())
        return reply

    def _features(self, request: pb.FeaturesRequest, context: grpc.ServicerContext) -> pb.FeaturesReply:
        """A cache hit is answered at once; a miss takes a place in the queue."""
        # numpy loads on the first call, not before the daemon has bound its socket
        from model.features.grid import DEFAULT_STEP

        step = limits.features_step(request.step) if request.step else DEFAULT_STEP
        source = _input(request)
        key = ("features", source.kind, source.name, source.sha256, request.sequence, step)

        def compute() -> str:
            with self.engine.admit():
                return self._features_text(source, request, step)

        text, _hit = self.engine.cache.get_or_compute(key, compute, self.daemon.timeout(context))
        return pb.FeaturesReply(document_json=text)

    def _features_text(self, source: TimelineInput, request: pb.FeaturesRequest, step: Any) -> str:
        # numpy loads on the first call, not before the daemon has bound its socket
        from model.features.grid import features_document

        timeline = source.parse()
        limits.check_steps(timeline, step, request.sequence or None, self.daemon.config.max_steps)
        try:
            doc = features_document(timeline, step, request.sequence or None)
        except KeyError:
            raise DaemonError("INVALID_ARGUMENT", f"{source.label}: no sequence named {request.sequence!r}") from None
        text = json.dumps(doc)
        del doc
        if len(text) > TRIM_AFTER_BYTES:
            return_memory_to_os()  # the document's lists held several times the text: hand them back
        return text

    def _watcher(self, context: grpc.ServicerContext) -> Watcher:
        if self.daemon.watcher is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "folder watching is not available in this daemon")
        return self.daemon.watcher


def watch_state(info: Any) -> pb.WatchState:
    fields = info if isinstance(info, dict) else dataclasses.asdict(info)
    known = pb.WatchState.DESCRIPTOR.fields_by_name
    return pb.WatchState(**{k: v for k, v in fields.items() if k in known})


def _answer(context: grpc.ServicerContext, fn: Callable[[], Any]) -> Any:
    """Run fn and turn what goes wrong into one status code with one clear message."""
    try:
        return fn()
    except QueueFull as err:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(err))
    except DaemonError as err:
        context.set_trailing_metadata((("mtt-error-line", str(err.line)), ("mtt-error-reason-bin", err.reason.encode())))
        context.abort(grpc.StatusCode[err.code], err.message)
    except Exception as err:  # noqa: BLE001 - a bug must not look like a dead daemon
        log.exception("internal error")
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err} (see the daemon log)")


def _input(request: Any) -> TimelineInput:
    which = request.WhichOneof("source")
    name = getattr(request, "source_name", "")
    if which == "path":
        return input_from_path(limits.path_text(request.path))
    if which == "xml":
        return input_from_xml(request.xml, name)
    if which == "timeline":
        data = json_format.MessageToDict(request.timeline, always_print_fields_with_no_presence=True)
        return input_from_json(data, name)
    raise DaemonError("INVALID_ARGUMENT", "no timeline given: set path, xml or timeline")


def _suggest_options(options: pb.SuggestOptions) -> Any:
    # numpy loads on the first call, not before the daemon has bound its socket
    from model.suggest.items import SuggestOptions

    fields: dict[str, Any] = {}
    if options.kinds:
        fields["kinds"] = tuple(options.kinds)
    if options.horizon_s:  # 0 is "not given"; nan and inf are refused here, not deep in a rollout
        fields["horizon_s"] = limits.horizon(options.horizon_s)
    if options.sequence:
        fields["sequence"] = options.sequence
    try:
        return SuggestOptions(**fields)
    except ValueError as err:
        raise DaemonError("INVALID_ARGUMENT", str(err)) from None


def _summary(doc: dict) -> dict[str, Any]:
    model = doc.get("model", {})
    return {
        "schema": doc.get("schema", ""),
        "model": pb.ModelInfo(name=model.get("name") or "", version=model.get("version") or "", sha256=model.get("sha256") or ""),
        "source_sha256": doc.get("source", {}).get("sha256") or "",
        "sequences": [
            pb.SequenceSummary(
                name=s["name"], step_seconds=s["step_seconds"], steps=s["steps"],
                review=len(s["review"]), next=len(s["next"]), fill=len(s["fill"]),
            )
            for s in doc.get("sequences", [])
        ],
    }


def _predict_window(timeline: Any, predictor: Any, request: pb.PredictRequest) -> pb.PredictReply:
    # numpy loads on the first call, not before the daemon has bound its socket
    from model.features.grid import DEFAULT_STEP, N_TRACKS, as_step, featurize
    from model.inference.predictor import N_SLOTS, VALUE_FIELDS

    try:
        seq = timeline.sequence(request.sequence or None)
    except KeyError:
        raise DaemonError("INVALID_ARGUMENT", f"{timeline.path}: no sequence named {request.sequence!r}") from None
    feats = featurize(seq, as_step(getattr(predictor, "step_seconds", DEFAULT_STEP)))
    total = feats.steps
    if request.start > total or (request.start == total and total > 0):
        raise DaemonError("INVALID_ARGUMENT", f"start {request.start} is past the last step ({total} steps)")
    wanted = request.steps or total - request.start
    count = max(0, min(wanted, total - request.start, MAX_PREDICT_STEPS))
    window = slice(request.start, request.start + count)
    preds = predictor.predict(feats)
    return pb.PredictReply(
        sequence=seq.name,
        step_seconds=float(feats.step_seconds),
        total_steps=total,
        start=request.start,
        steps=count,
        max_steps=MAX_PREDICT_STEPS,
        tracks=N_TRACKS,
        slots=N_SLOTS,
        value_fields=VALUE_FIELDS,
        p_active=preds.p_active[window].ravel().tolist(),
        asset_probs=preds.asset_probs[window].ravel().tolist(),
        values=preds.values[window].ravel().tolist(),
        p_change=preds.p_change[window].ravel().tolist(),
        assets=[pb.Asset(**a) for a in feats.assets()],
    )


def _expand_paths(paths: Any, recursive: bool, still_wanted: Callable[[], None] = lambda: None) -> list[str]:
    """Files as given, folders as the timeline files inside them (never mttd's own sidecars), in
    path order. `still_wanted` is called as the walk goes and raises to end it (a deadline, a
    caller gone): a walk of "/" must not outlive its call."""
    files: list[str] = []
    for text in paths:
        path = Path(limits.path_text(text))
        if not path.is_absolute():
            raise DaemonError("INVALID_ARGUMENT", f"{text}: the path must be absolute")
        if not path.is_dir():
            files.append(str(path))
            continue
        for found in _timeline_files(path, recursive, still_wanted):
            files.append(found)
            if len(files) > limits.MAX_BATCH_FILES:
                raise DaemonError("INVALID_ARGUMENT", f"{text}: more than the limit of {limits.MAX_BATCH_FILES} timeline files; name fewer folders")
    return files


def _timeline_files(folder: Path, recursive: bool, still_wanted: Callable[[], None]) -> Iterator[str]:
    """Timeline files under `folder`, sorted by path (folders before the files after them, as
    sorting the paths would), never following a symlinked folder."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for n, entry in enumerate(entries):
        if n % 64 == 0:
            still_wanted()
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from _timeline_files(Path(entry.path), recursive, still_wanted)
            elif kind_of(entry.name) is not None and entry.is_file():
                yield entry.path
        except OSError:
            continue


