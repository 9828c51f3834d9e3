"""`mttd serve --foreground`: the gRPC daemon (service mtt.v1.Suggester, health, reflection).

Start-up order: the config; the private directories are verified (refusal otherwise); the log;
the instance lock is taken (one daemon per user) and only then is a stale socket removed and the
socket bound (0600, in its 0700 directory) or, on Windows, 127.0.0.1 with SO_REUSEPORT off; the
status file is written atomically; the engine loads the model and health turns SERVING.
Shutdown (SIGTERM, SIGINT or the Shutdown call): health NOT_SERVING, the status file removed,
in-flight calls given a grace period, the socket removed, exit 0.

The folder watcher is `daemon.watch.registry.create_watcher(engine, config, paths)`; it starts
once the model is loaded and stops first at shutdown.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from daemon import limits, process, rendezvous
from daemon import paths as paths_mod
from daemon.config import Config, ConfigError
from daemon.config import load as load_config
from daemon.engine import (
    Engine,
    QueueFull,
    Ticket,
    TimelineInput,
    input_from_json,
    input_from_path,
    input_from_xml,
    return_memory_to_os,
    rss_mb,
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
RESERVED_WORKERS = 8  # threads left for health, info, status and shutdown when the queue is full
GRACE_S = 5.0
TRIM_AFTER_BYTES = 8 * 1024 * 1024  # after a features document this large, give freed memory back
MAX_PREDICT_STEPS = 4096
UNAUTHENTICATED_OK = ("/grpc.health.v1.Health/",)
LOG_ROOTS = ("daemon", "model")  # the packages whose modules log into mttd.log


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


def serve() -> int:
    """Run the daemon in this process until it is stopped; the exit code."""
    paths = paths_mod.resolve()
    try:
        config = load_config(paths)
    except ConfigError as err:
        print(f"mttd: {err}", file=sys.stderr)
        return 2
    try:
        paths_mod.ensure_dirs(paths)
        _setup_logging(paths, config)
    except paths_mod.UnsafeDirectory as err:
        print(f"mttd: refusing to start: {err}", file=sys.stderr)
        return 2
    # Before torch is imported (on the engine thread): its thread pools are sized at start-up.
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    lock = rendezvous.InstanceLock(paths.lock_file)
    try:
        lock.acquire()
    except rendezvous.AlreadyRunning as err:
        # Not an error: the one daemon the user wants runs. Exit 0, so a supervisor that
        # restarts on failure (systemd, launchd) does not retry against the lock.
        log.info("not starting: %s", err)
        print(f"mttd: already running ({err}); not starting another", file=sys.stderr)
        return 0
    try:
        token = paths_mod.ensure_token(paths)
        return Daemon(paths, config, token).run()
    except paths_mod.UnsafeDirectory as err:
        log.error("refusing to start: %s", err)
        print(f"mttd: refusing to start: {err}", file=sys.stderr)
        return 2
    except Exception:
        log.exception("the daemon failed")
        raise
    finally:
        lock.release()


class Daemon:
    def __init__(self, paths: paths_mod.Paths, config: Config, token: str) -> None:
        self.paths = paths
        self.config = config
        self.started = time.time()
        self.endpoint = ""
        self.exit_code = 0
        self._serving = False
        self._stop = threading.Event()
        self.health = health.HealthServicer()
        self.engine = Engine(config, on_ready=self._on_model_ready)
        self.watcher: Watcher | None = None
        self.server = self._make_server(token)

    def _make_server(self, token: str) -> grpc.Server:
        limit = self.config.max_message_mb * 1024 * 1024
        workers = self.config.queue_size + RESERVED_WORKERS
        server = grpc.server(
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mttd-rpc"),
            interceptors=(TokenInterceptor(token),),
            options=(
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", 0),
            ),
            # Beyond this many calls in flight grpc answers RESOURCE_EXHAUSTED by itself.
            maximum_concurrent_rpcs=workers * 8,
        )
        pb_grpc.add_SuggesterServicer_to_server(Suggester(self), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        for name in ("", SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        return server

    # -- run and stop ---------------------------------------------------------------------

    def run(self) -> int:
        self.endpoint = self._bind()
        self.server.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.begin_shutdown(f"signal {signum}"))
        self._write_status(serving=False)
        log.info("mttd %s (pid %d) listening on %s", __version__, os.getpid(), self.endpoint)
        self._attach_watcher()
        self.engine.start()
        while not self._stop.wait(1.0):
            self._repair_status()
        self._finish()
        return self.exit_code

    def _bind(self) -> str:
        if paths_mod.USE_TCP:
            port = self.server.add_insecure_port("127.0.0.1:0")
            if port == 0:
                raise RuntimeError("cannot bind 127.0.0.1")
            return f"127.0.0.1:{port}"
        sock = self.paths.socket_file
        if sock.exists() or sock.is_symlink():
            sock.unlink()  # stale: we hold the lock, so no live daemon owns it
        old_umask = os.umask(0o177)  # the socket is born 0600
        try:
            bound = self.server.add_insecure_port(f"unix:{sock}")
        finally:
            os.umask(old_umask)
        if bound == 0:
            raise RuntimeError(f"cannot bind the socket {sock}")
        os.chmod(sock, 0o600)
        return f"unix:{sock}"

    def _attach_watcher(self) -> None:
        # numpy and watchdog load after the instance lock: a second `serve` exits at once
        from daemon.watch.registry import create_watcher

        self.watcher = create_watcher(self.engine, self.config, self.paths)

    def _on_model_ready(self, error: str | None) -> None:
        if error is not None:
            log.error("cannot load the model: %s", error)
            print(f"cannot load the model: {error}", file=sys.stderr, flush=True)  # what `mttd start` reports
            self.exit_code = 1
            self.begin_shutdown("no model")
            return
        if self._stop.is_set():
            return  # stopped while the model was loading
        if self.watcher is not None:
            self.watcher.start()
        for name in ("", SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._write_status(serving=True)
        log.info("serving")

    def begin_shutdown(self, why: str) -> None:
        """Stop accepting work; the status file is gone when this returns (before any reply)."""
        if self._stop.is_set():
            return
        log.info("shutting down (%s)", why)
        self.health.enter_graceful_shutdown()
        rendezvous.remove_status(self.paths.status_file, os.getpid())
        self._stop.set()

    def _finish(self) -> None:
        # Running work stops at its next check (model.inference.cancel) instead of holding the
        # process for minutes after "stopped"; its callers get CANCELLED.
        self.engine.cancel_all("the daemon is shutting down")
        if self.watcher is not None:
            self.watcher.stop()
        self.server.stop(grace=GRACE_S).wait()
        self.engine.stop()
        rendezvous.remove_status(self.paths.status_file, os.getpid())
        if self.endpoint.startswith("unix:"):
            Path(self.endpoint[5:]).unlink(missing_ok=True)
        log.info("stopped")

    def _repair_status(self) -> None:
        """Rewrite the status file when something damaged, removed or replaced it: clients find
        the daemon by it, and a lost one would orphan a running daemon."""
        data = rendezvous.read_status(self.paths.status_file)
        if data is not None and data.get("pid") == os.getpid() and data.get("endpoint") == self.endpoint:
            return
        log.warning("the status file %s was damaged or replaced; rewriting it", self.paths.status_file)
        try:
            self._write_status(self._serving)
        except OSError as err:
            log.error("cannot rewrite the status file %s: %s", self.paths.status_file, err)

    def _write_status(self, serving: bool) -> None:
        if self._stop.is_set():
            return
        self._serving = serving
        process.write_status(
            self.paths.status_file,
            {
                "pid": os.getpid(),
                "start_time": rendezvous.process_start_time(os.getpid()),
                "endpoint": self.endpoint,
                "version": __version__,
                "protocol": PROTOCOL,
                "token_file": str(self.paths.token_file),
                "log": str(self.paths.log_file),
                "started_at": self.started,
                "serving": serving,
                "python": sys.executable,
            },
        )

    # -- what info and status report ------------------------------------------------------

    def model_info(self) -> pb.ModelInfo:
        state = self.engine.model_state()
        return pb.ModelInfo(
            name=state.name, version=state.version, sha256=state.sha256, path=state.path,
            loaded=state.loaded, idle_s=state.idle_s, backend=state.backend, loads=state.loads,
        )

    def status(self) -> pb.Status:
        watches = [_watch_state(w) for w in self.watcher.list()] if self.watcher is not None else []
        return pb.Status(
            version=__version__,
            protocol=PROTOCOL,
            pid=os.getpid(),
            endpoint=self.endpoint,
            uptime_s=time.time() - self.started,
            serving=self.health_serving(),
            model=self.model_info(),
            queue=pb.QueueState(**self.engine.queue_state()),
            cache=pb.CacheState(**self.engine.cache.state()),
            log=str(self.paths.log_file),
            watches=watches,
            watch_queue=self.watcher.queue_depth if self.watcher is not None else 0,
            rss_mb=rss_mb(),
        )

    def health_serving(self) -> bool:
        request = health_pb2.HealthCheckRequest(service=SERVICE)
        return self.health.Check(request, None).status == health_pb2.HealthCheckResponse.SERVING

    def timeout(self, context: grpc.ServicerContext) -> float:
        """The time a call may still take: its deadline, capped by request_timeout."""
        remaining = context.time_remaining()
        cap = self.config.request_timeout
        return cap if remaining is None else min(remaining, cap)


class Suggester(pb_grpc.SuggesterServicer):
    """The mtt.v1.Suggester service. Inference goes through the engine; nothing else waits for it."""

    def __init__(self, daemon: Daemon) -> None:
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
        return pb.WatchReply(watch=_watch_state(info))

    def Unwatch(self, request: pb.UnwatchRequest, context: grpc.ServicerContext) -> pb.UnwatchReply:
        watcher = self._watcher(context)
        return _answer(context, lambda: pb.UnwatchReply(removed=watcher.remove(request.path)))

    def ListWatches(self, request: pb.ListWatchesRequest, context: grpc.ServicerContext) -> pb.ListWatchesReply:
        watcher = self._watcher(context)
        return _answer(context, lambda: pb.ListWatchesReply(watches=[_watch_state(w) for w in watcher.list()]))

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


def _watch_state(info: Any) -> pb.WatchState:
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


class TokenInterceptor(grpc.ServerInterceptor):
    """Every call but health must carry `authorization: Bearer TOKEN` (UNAUTHENTICATED otherwise)."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(UNAUTHENTICATED_OK):
            return handler
        given = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(given.encode(), self._expected):
            return handler
        return _refusal(handler, "missing token" if not given else "wrong token")


def _refusal(handler: grpc.RpcMethodHandler, why: str) -> grpc.RpcMethodHandler:
    message = f"{why}: send the token of this install as `authorization: Bearer TOKEN`"

    def deny(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    def deny_stream(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - abort raises

    make = {
        (False, False): (grpc.unary_unary_rpc_method_handler, deny),
        (False, True): (grpc.unary_stream_rpc_method_handler, deny_stream),
        (True, False): (grpc.stream_unary_rpc_method_handler, deny),
        (True, True): (grpc.stream_stream_rpc_method_handler, deny_stream),
    }
    factory, behaviour = make[(handler.request_streaming, handler.response_streaming)]
    return factory(behaviour, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)


class _NoFollowRotatingHandler(logging.handlers.RotatingFileHandler):
    """mttd.log, opened (and reopened after each rotation) never through a symlink."""

    def _open(self):  # noqa: ANN202 - logging's own signature
        fd = paths_mod.open_private_append(Path(self.baseFilename))
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def _setup_logging(paths: paths_mod.Paths, config: Config) -> None:
    """Every module logs to `logging.getLogger(__name__)`; the package roots send it all to mttd.log."""
    os.close(paths_mod.open_private_append(paths.log_file))  # refuses a planted symlink with one line
    handler = _NoFollowRotatingHandler(
        paths.log_file, maxBytes=config.log_max_mb * 1024 * 1024, backupCount=config.log_backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [handler]
    if os.environ.get("JOURNAL_STREAM") or sys.stderr.isatty():
        # Run by systemd (stderr goes to the journal) or by hand: show the log there too. Not
        # when spawned by `mttd start`, whose stderr file is only for crashes before this point.
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handlers.append(console)
    for name in LOG_ROOTS:
        root = logging.getLogger(name)
        root.handlers[:] = handlers
        root.setLevel(config.log_level.upper())
        root.propagate = False  # not again through a handler someone set on Python's root logger

    def log_thread_crash(args: threading.ExceptHookArgs) -> None:
        log.error("thread %s crashed", args.thread.name if args.thread else "?", exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    threading.excepthook = log_thread_crash
