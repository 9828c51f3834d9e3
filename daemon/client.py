"""Talking to the daemon: finding it, starting it, stopping it, and calling it with deadlines.

grpc is imported only when a call is made (inside DaemonClient), so `mttd start` can spawn the
daemon before grpc is loaded and `mttd suggest --no-daemon` never loads it at all.

For other commands:
- `try_daemon_suggest(path, options=None, model=None) -> dict | None`: the NAME.mtt.json
  document from the running daemon, or None when no daemon can answer (not running, busy,
  another version, options it does not take), in which case the caller works in-process.
  An unreadable timeline raises TimelineParseError(path, line, reason) like the reader does.
- `try_daemon_features(path, step=None, sequence=None) -> dict | None`: the same for
  `mttd features --json`.
- `client_for_cli() -> DaemonClient | None`: a client of a running daemon of this version, for
  callers that make several calls (`mttd suggest` over many files streams `suggest_batch`).
Documents from the daemon name the file as the caller gave it, like in-process ones do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from daemon import paths as paths_mod
from daemon import process, rendezvous, service
from daemon.config import Config
from daemon.errors import DaemonError
from model import __version__
from model.timeline.errors import TimelineParseError

HEALTH_TIMEOUT = 2.0
INFO_TIMEOUT = 5.0
SUGGEST_TIMEOUT = 120.0
SHUTDOWN_TIMEOUT = 10.0
WATCH_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0  # for the process to exit after Shutdown, then after SIGTERM
MANAGED_GRACE = 2.0  # after the service manager's stop returned, for its daemon to be reaped
NO_WATCHING = "this daemon cannot watch folders; run `mttd restart` after upgrading"  # an older daemon
NOT_A_DAEMON_ANSWER = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "CANCELLED", "UNIMPLEMENTED", "UNAUTHENTICATED")


class DaemonClient:
    """A channel to one daemon with the install's token; every call has a deadline."""

    def __init__(self, endpoint: str, token: str, max_message_mb: int = 64) -> None:
        import grpc

        # grpc and the model's modules load only when a call is made (`mttd start` spawns first)
        from protos.mtt.v1 import suggester_pb2, suggester_pb2_grpc

        limit = max_message_mb * 1024 * 1024
        self.endpoint = endpoint
        self.pb = suggester_pb2
        self._grpc = grpc
        self._channel = grpc.insecure_channel(
            endpoint,
            options=(("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)),
        )
        self._stub = suggester_pb2_grpc.SuggesterStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)

    @classmethod
    def for_running(cls, paths: paths_mod.Paths | None = None) -> DaemonClient | None:
        """A client of the running daemon, or None when none runs."""
        paths = paths or paths_mod.resolve()
        record = process.find_daemon(paths)
        if record is None:
            return None
        return cls.for_record(record, paths)

    @classmethod
    def for_record(cls, record: rendezvous.DaemonRecord, paths: paths_mod.Paths) -> DaemonClient:
        try:
            token = paths_mod.read_token(paths)
        except FileNotFoundError:
            raise DaemonError("UNAUTHENTICATED", f"no token at {paths.token_file}") from None
        except paths_mod.UnsafeDirectory as err:
            raise DaemonError("PERMISSION_DENIED", str(err)) from None
        except paths_mod.BadToken as err:
            raise DaemonError("UNAUTHENTICATED", str(err)) from None
        return cls(record.endpoint, token)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self, timeout: float = HEALTH_TIMEOUT) -> str:
        """SERVING, NOT_SERVING, or the status name of a failed check (UNAVAILABLE, ...)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except self._grpc.RpcError as err:
            return err.code().name
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def info(self, timeout: float = INFO_TIMEOUT) -> Any:
        return self._call("GetInfo", self.pb.GetInfoRequest(), timeout)

    def status(self, timeout: float = HEALTH_TIMEOUT) -> Any:
        return self._call("GetStatus", self.pb.GetStatusRequest(), timeout)

    def suggest(self, request: Any, timeout: float = SUGGEST_TIMEOUT) -> Any:
        return self._call("Suggest", request, timeout)

    def features(self, request: Any, timeout: float = SUGGEST_TIMEOUT) -> Any:
        return self._call("GetFeatures", request, timeout)

    def suggest_batch(self, paths: list[str], options: Any = None, recursive: bool = False,
                      timeout: float | None = None) -> Iterator[Any]:
        """SuggestBatch: one reply per file (index, total, path, and reply or error) as each
        finishes. The deadline covers the whole stream (default SUGGEST_TIMEOUT per path)."""
        request = self.pb.SuggestBatchRequest(paths=list(paths), recursive=recursive, options=options)
        deadline = SUGGEST_TIMEOUT * max(1, len(paths)) if timeout is None else timeout
        stream = self._stub.SuggestBatch(request, timeout=deadline, metadata=self._metadata)
        try:
            yield from stream
        except self._grpc.RpcError as err:
            raise _daemon_error(err) from None
        finally:
            stream.cancel()  # a caller that stops early frees the daemon's engine

    def predict(self, request: Any, timeout: float = SUGGEST_TIMEOUT) -> Any:
        return self._call("Predict", request, timeout)

    def watch(self, path: str, poll: bool = False, timeout: float = WATCH_TIMEOUT) -> Any:
        """Watch a folder; the reply's `watch` is its mtt.v1.WatchState."""
        return self._call("Watch", self.pb.WatchRequest(path=path, poll=poll), timeout, NO_WATCHING)

    def unwatch(self, path: str, timeout: float = WATCH_TIMEOUT) -> bool:
        return self._call("Unwatch", self.pb.UnwatchRequest(path=path), timeout, NO_WATCHING).removed

    def list_watches(self, timeout: float = WATCH_TIMEOUT) -> list[Any]:
        return list(self._call("ListWatches", self.pb.ListWatchesRequest(), timeout, NO_WATCHING).watches)

    def shutdown(self, reason: str, timeout: float = SHUTDOWN_TIMEOUT) -> Any:
        return self._call("Shutdown", self.pb.ShutdownRequest(reason=reason), timeout)

    def _call(self, method: str, request: Any, timeout: float, unimplemented: str = "") -> Any:
        """The reply, or DaemonError (`unimplemented`: what an UNIMPLEMENTED answer means here)."""
        try:
            return getattr(self._stub, method)(request, timeout=timeout, metadata=self._metadata)
        except self._grpc.RpcError as err:
            error = _daemon_error(err)
            if error.code == "UNIMPLEMENTED" and unimplemented:
                error = DaemonError(error.code, unimplemented)
            raise error from None


def _daemon_error(err: Any) -> DaemonError:
    trailing = dict(err.trailing_metadata() or ())
    line = int(trailing.get("mtt-error-line", 0) or 0)
    reason = trailing.get("mtt-error-reason-bin", b"").decode("utf-8", "replace")
    return DaemonError(err.code().name, err.details() or err.code().name, line, reason)


# -- start, stop, handshake -----------------------------------------------------------------


@dataclass
class Running:
    record: rendezvous.DaemonRecord
    how: str  # "running", "started" or "restarted (daemon X, client Y)"


def ensure_daemon(paths: paths_mod.Paths, config: Config, timeout: float | None = None) -> Running:
    """Make sure a daemon of this version serves; idempotent. Raises DaemonError."""
    timeout = config.start_timeout if timeout is None else timeout
    record = process.find_daemon(paths)
    if record is None:
        return _launch(paths, timeout, "started")
    record = wait_until_serving(paths, None, timeout)
    mismatch = version_mismatch(record)
    if mismatch is None:
        return Running(record, "running")
    if not older(record.version, __version__) and record.version != __version__:
        if record.protocol == _protocol():
            return Running(record, "running")  # a newer daemon that still speaks our protocol
        raise DaemonError("VERSION", f"{mismatch}: the daemon is newer; upgrade this client or run `mttd restart`")
    with DaemonClient.for_record(record, paths) as client:
        status = client.status()
    if status.queue.depth or status.watch_queue:
        raise DaemonError("VERSION", f"{mismatch}, and it is busy; run `mttd restart` when it is idle")
    stop_daemon(paths)
    return _launch(paths, timeout, f"restarted ({mismatch})")


def _launch(paths: paths_mod.Paths, timeout: float, how: str) -> Running:
    """Start `serve`: through the service manager when its installed unit runs this mttd (so the
    two never fight over the daemon), else as a fresh process of our own."""
    try:
        managed = service.managed_start()
    except service.ServiceError as err:
        raise DaemonError("START_FAILED", f"the service manager did not start mttd: {err}") from None
    if not managed:
        proc = process.spawn_serve(paths)  # before grpc is imported in the common case
        return Running(wait_until_serving(paths, proc, timeout), how)
    try:
        record = wait_until_serving(paths, None, timeout)
    except DaemonError as err:
        raise DaemonError(err.code, f"{err.message} (started through the service manager: check its status too)") from None
    return Running(record, f"{how} through the service manager")


def version_mismatch(record: rendezvous.DaemonRecord) -> str | None:
    if record.version == __version__ and record.protocol == _protocol():
        return None
    return f"daemon {record.version} (protocol {record.protocol}), client {__version__} (protocol {_protocol()})"


def older(version: str, than: str) -> bool:
    return rendezvous.version_key(version) < rendezvous.version_key(than)


def _protocol() -> int:
    # grpc and the model's modules load only when a call is made (`mttd start` spawns first)
    from protos.mtt.v1 import PROTOCOL

    return PROTOCOL


def wait_until_serving(paths: paths_mod.Paths, proc: Any, timeout: float) -> rendezvous.DaemonRecord:
    """Wait until the daemon's health is SERVING; DaemonError START_FAILED with the reason otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        record = process.find_daemon(paths)
        if record is not None and not record.recovered:  # a recovered one gets its file back within a second
            with DaemonClient.for_record(record, paths) as client:
                if client.health(timeout=1.0) == "SERVING":
                    return record
        elif record is None and proc is not None and proc.poll() is not None and not rendezvous.lock_held(paths.lock_file):
            raise DaemonError("START_FAILED", f"the daemon exited with code {proc.returncode} while starting: {_last_words(paths)}")
        if time.monotonic() >= deadline:
            raise DaemonError("START_FAILED", f"the daemon did not become ready within {timeout:.0f} s; see {paths.log_file}")
        time.sleep(0.05)


def _last_words(paths: paths_mod.Paths) -> str:
    """The last line the daemon wrote on stderr, or a pointer to the log."""
    try:
        lines = [ln for ln in paths.stderr_file.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    return lines[-1].strip() if lines else f"see {paths.log_file}"


def stop_daemon(paths: paths_mod.Paths, timeout: float = EXIT_TIMEOUT) -> str:
    """Through the service manager when its unit runs this mttd (so it stays stopped), then, for a
    daemon still alive (one not started by the manager): Shutdown call, SIGTERM, SIGKILL, each
    with a timeout. Returns what happened."""
    record = process.find_daemon(paths)
    # The manager's stop returns once its unit's process is gone; one still alive is not its own.
    if _managed_stop() and (record is None or process.wait_gone(record.pid, record.start_time, MANAGED_GRACE)):
        return "stopped through the service manager" if record else "not running"
    if record is None:
        return "not running"
    try:
        with DaemonClient.for_record(record, paths) as client:
            client.shutdown("mttd stop")
    except DaemonError:
        pass  # unresponsive or refusing: the signals below still work
    if process.wait_gone(record.pid, record.start_time, timeout):
        return "stopped"
    return process.terminate(record.pid, record.start_time, timeout, paths.lock_file)


def _managed_stop() -> bool:
    """True when the service manager owns this mttd and stopped its unit (even with none running:
    a unit waiting to restart a crashed daemon must stay stopped too)."""
    try:
        return service.managed_stop()
    except service.ServiceError:
        return False  # the manager refused: stop the daemon directly


# -- helpers for `mttd suggest` and `mttd features` -------------------------------------------


def try_daemon_suggest(path: str | Path, options: Any = None, model: str | None = None) -> dict | None:
    """The suggestions document from the running daemon, or None to work in-process."""
    request_options = proto_options(options, model)
    if request_options is None:
        return None
    doc = _try_document(
        lambda client: client.suggest(client.pb.SuggestRequest(path=_absolute(path), options=request_options(client.pb))),
        path,
    )
    if doc is not None:
        doc["source"]["path"] = str(path)
    return doc


def try_daemon_features(path: str | Path, step: Any = None, sequence: str | None = None) -> dict | None:
    """The features document from the running daemon, or None to work in-process."""
    step_text = "" if step is None else str(step)
    doc = _try_document(
        lambda client: client.features(client.pb.FeaturesRequest(path=_absolute(path), step=step_text, sequence=sequence or "")),
        path,
    )
    if doc is not None:
        doc["file"] = str(path)
    return doc


def client_for_cli(paths: paths_mod.Paths | None = None) -> DaemonClient | None:
    """A client of the running daemon when it is of this version, else None (work in-process)."""
    paths = paths or paths_mod.resolve()
    record = process.find_daemon(paths)
    if record is None or version_mismatch(record) is not None:
        return None
    try:
        return DaemonClient.for_record(record, paths)
    except DaemonError:
        return None


def _try_document(call: Any, path: str | Path) -> dict | None:
    import json

    client = client_for_cli()
    if client is None:
        return None
    try:
        with client:
            reply = call(client)
    except DaemonError as err:
        if err.code in ("INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED"):
            raise TimelineParseError(str(path), err.line, err.reason) from None
        return None
    return json.loads(reply.document_json)


def proto_options(options: Any, model: str | None) -> Any:
    """A builder of pb.SuggestOptions, or None when the options hold what the daemon does not take.

    A model given as a path is sent absolute: the daemon does not share the caller's directory.
    """
    # grpc and the model's modules load only when a call is made (`mttd start` spawns first)
    from model.suggest.items import SuggestOptions

    options = options or SuggestOptions()
    defaults = SuggestOptions()
    for name in ("after_s", "max_review", "min_segment_s", "min_gap_s", "step"):
        if getattr(options, name, None) != getattr(defaults, name, None):
            return None
    spec = model or ""
    if spec and spec != "persistence":
        spec = _absolute(spec)
    return lambda pb: pb.SuggestOptions(
        kinds=list(options.kinds), horizon_s=options.horizon_s, sequence=options.sequence or "", model=spec
    )


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().absolute())
