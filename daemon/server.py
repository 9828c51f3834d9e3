"""`mttd serve --foreground`: the gRPC daemon (service mtt.v1.Suggester, health, reflection).

Start-up order: the config; the private directories are verified (refusal otherwise); the log;
the instance lock is taken (one daemon per user) and only then is a stale socket removed and the
socket bound (0600, in its 0700 directory) or, on Windows, 127.0.0.1 with SO_REUSEPORT off; the
status file is written atomically; the engine loads the model and health turns SERVING.
Shutdown (SIGTERM, SIGINT or the Shutdown call): health NOT_SERVING, the status file removed,
in-flight calls given a grace period, the socket removed, exit 0.

The calls themselves are answered by daemon.servicer. The folder watcher is
`daemon.watch.registry.create_watcher(engine, config, paths)`; it starts once the model is loaded
and stops first at shutdown.
"""

from __future__ import annotations

import hmac
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from daemon import paths as paths_mod
from daemon import process, rendezvous
from daemon.config import Config, ConfigError
from daemon.config import load as load_config
from daemon.engine import (
    Engine,
    limit_malloc_arenas,
    rss_mb,
)
from daemon.servicer import SERVICE, Suggester, Watcher, watch_state
from model import __version__
from protos.mtt.v1 import PROTOCOL
from protos.mtt.v1 import suggester_pb2 as pb
from protos.mtt.v1 import suggester_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

RESERVED_WORKERS = 8  # threads left for health, info, status and shutdown when the queue is full
GRACE_S = 5.0
UNAUTHENTICATED_OK = ("/grpc.health.v1.Health/",)
LOG_ROOTS = ("daemon", "model")  # the packages whose modules log into mttd.log


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
    limit_malloc_arenas()  # before any thread allocates
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
        watches = [watch_state(w) for w in self.watcher.list()] if self.watcher is not None else []
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
