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
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon import paths as paths_mod
from daemon import process
from daemon.config import Config
from model import __version__

HEALTH_TIMEOUT = 2.0
INFO_TIMEOUT = 5.0
SUGGEST_TIMEOUT = 120.0
SHUTDOWN_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0  # for the process to exit after Shutdown, then after SIGTERM
NOT_A_DAEMON_ANSWER = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "CANCELLED", "UNIMPLEMENTED", "UNAUTHENTICATED")


class DaemonError(Exception):
    """A call that failed; `code` is the gRPC status name (or NOT_RUNNING, START_FAILED, VERSION)."""

    def __init__(self, code: str, message: str, line: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.reason = reason or message


class DaemonClient:
    """A channel to one daemon with the install's token; every call has a deadline."""

    def __init__(self, endpoint: str, token: str, max_message_mb: int = 64) -> None:
        import grpc

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
    def for_record(cls, record: process.DaemonRecord, paths: paths_mod.Paths) -> DaemonClient:
        try:
            token = paths_mod.read_token(paths)
        except FileNotFoundError:
            raise DaemonError("UNAUTHENTICATED", f"no token at {paths.token_file}") from None
        except paths_mod.UnsafeDirectory as err:
            raise DaemonError("PERMISSION_DENIED", str(err)) from None
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

    def predict(self, request: Any, timeout: float = SUGGEST_TIMEOUT) -> Any:
        return self._call("Predict", request, timeout)

    def shutdown(self, reason: str, timeout: float = SHUTDOWN_TIMEOUT) -> Any:
        return self._call("Shutdown", self.pb.ShutdownRequest(reason=reason), timeout)

    def _call(self, method: str, request: Any, timeout: float) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=timeout, metadata=self._metadata)
        except self._grpc.RpcError as err:
            raise _daemon_error(err) from None


def _daemon_error(err: Any) -> DaemonError:
    trailing = dict(err.trailing_metadata() or ())
    line = int(trailing.get("mtt-error-line", 0) or 0)
    reason = trailing.get("mtt-error-reason-bin", b"").decode("utf-8", "replace")
    return DaemonError(err.code().name, err.details() or err.code().name, line, reason)


# -- start, stop, handshake -----------------------------------------------------------------


@dataclass
class Running:
    record: process.DaemonRecord
    how: str  # "running", "started" or "restarted (daemon X, client Y)"


def ensure_daemon(paths: paths_mod.Paths, config: Config, timeout: float | None = None) -> Running:
    """Make sure a daemon of this version serves; idempotent. Raises DaemonError."""
    timeout = config.start_timeout if timeout is None else timeout
    record = process.find_daemon(paths)
    if record is None:
        proc = process.spawn_serve(paths)  # before grpc is imported in the common case
        return Running(wait_until_serving(paths, proc, timeout), "started")
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
    proc = process.spawn_serve(paths)
    return Running(wait_until_serving(paths, proc, timeout), f"restarted ({mismatch})")


def version_mismatch(record: process.DaemonRecord) -> str | None:
    if record.version == __version__ and record.protocol == _protocol():
        return None
    return f"daemon {record.version} (protocol {record.protocol}), client {__version__} (protocol {_protocol()})"


def older(version: str, than: str) -> bool:
    return _version_key(version) < _version_key(than)


def _version_key(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _protocol() -> int:
    from protos.mtt.v1 import PROTOCOL

    return PROTOCOL


def wait_until_serving(paths: paths_mod.Paths, proc: Any, timeout: float) -> process.DaemonRecord:
    """Wait until the daemon's health is SERVING; DaemonError START_FAILED with the reason otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        record = process.find_daemon(paths)
        if record is not None:
            with DaemonClient.for_record(record, paths) as client:
                if client.health(timeout=1.0) == "SERVING":
                    return record
        elif proc is not None and proc.poll() is not None and not process.lock_held(paths.lock_file):
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
    """Shutdown call, then SIGTERM, then SIGKILL, each with a timeout. Returns what happened."""
    record = process.find_daemon(paths)
    if record is None:
            return "not running"
    try:
        with DaemonClient.for_record(record, paths) as client:
            client.shutdown("mttd stop")
    except DaemonError:
        pass  # unresponsive or refusing: the signals below still work
    if process.wait_gone(record.pid, record.start_time, timeout):
        return "stopped"
    return process.terminate(record.pid, record.start_time, timeout)


# -- helpers for `mttd suggest` and `mttd features` -------------------------------------------


def try_daemon_suggest(path: str | Path, options: Any = None, model: str | None = None) -> dict | None:
    """The suggestions document from the running daemon, or None to work in-process."""
    request_options = _proto_options(options, model)
    if request_options is None:
        return None
    return _try_document(
        lambda client: client.suggest(client.pb.SuggestRequest(path=_absolute(path), options=request_options(client.pb))),
        path,
    )


def try_daemon_features(path: str | Path, step: Any = None, sequence: str | None = None) -> dict | None:
    """The features document from the running daemon, or None to work in-process."""
    step_text = "" if step is None else str(step)
    return _try_document(
        lambda client: client.features(client.pb.FeaturesRequest(path=_absolute(path), step=step_text, sequence=sequence or "")),
        path,
    )


def _try_document(call: Any, path: str | Path) -> dict | None:
    import json

    from model.errors import TimelineParseError

    paths = paths_mod.resolve()
    record = process.find_daemon(paths)
    if record is None or version_mismatch(record) is not None:
        return None
    try:
        with DaemonClient.for_record(record, paths) as client:
            reply = call(client)
    except DaemonError as err:
        if err.code in ("INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED"):
            raise TimelineParseError(str(path), err.line, err.reason) from None
        return None
    return json.loads(reply.document_json)


def _proto_options(options: Any, model: str | None) -> Any:
    """A builder of pb.SuggestOptions, or None when the options hold what the daemon does not take."""
    from model.suggest import SuggestOptions

    options = options or SuggestOptions()
    defaults = SuggestOptions()
    for name in ("after_s", "max_review", "min_segment_s", "min_gap_s", "step"):
        if getattr(options, name, None) != getattr(defaults, name, None):
            return None
    return lambda pb: pb.SuggestOptions(
        kinds=list(options.kinds), horizon_s=options.horizon_s, sequence=options.sequence or "", model=model or ""
    )


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().absolute())
