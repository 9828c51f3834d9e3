"""mtt-bridge: the thin client NLE plugins call to get suggestions from the mttd daemon.

It imports grpc, the generated protos and daemon.rendezvous only (never torch, the model or the
rest of the daemon), so it starts fast inside a plugin's Python. It finds the daemon through its status file, starts
it with `mttd start` when it is not running (unless told not to), sends the per-install token,
and returns one JSON document. Command line (see plugin_bridge/README.md for the JSON formats):

    mtt-bridge [--no-start] [--timeout S] suggest FILE|- [--json] [--kinds K,..] [--horizon S] [--sequence NAME] [--name NAME]
    mtt-bridge [--no-start] info
    mtt-bridge status

Python API (Blender, Resolve): suggest_file(path), suggest_timeline(dict), info(), status();
each returns a dict or raises BridgeError, whose `exit_code` is what the command would exit with.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from daemon import rendezvous  # standard library only: the one place the daemon is found
from protos.mtt.v1 import PROTOCOL, timeline_pb2
from protos.mtt.v1 import suggester_pb2 as pb
from protos.mtt.v1 import suggester_pb2_grpc as pb_grpc

EXIT_OK = 0
EXIT_ERROR = 1  # anything unexpected (the message says what)
EXIT_USAGE = 2  # bad command line
EXIT_NOT_RUNNING = 3  # no daemon, and it was not (or could not be) started
EXIT_BAD_INPUT = 4  # the timeline cannot be read (file, line and reason in the message)
EXIT_BUSY = 5  # the daemon is busy or the call ran out of time: try again
EXIT_REFUSED = 6  # the daemon refused the call (token) or speaks another protocol

INFO_TIMEOUT = 5.0
STATUS_TIMEOUT = 2.0
SUGGEST_TIMEOUT = 120.0
START_TIMEOUT = 60.0
MAX_MESSAGE = 64 * 1024 * 1024

_EXIT_FOR_CODE = {
    "INVALID_ARGUMENT": EXIT_BAD_INPUT,
    "NOT_FOUND": EXIT_BAD_INPUT,
    "PERMISSION_DENIED": EXIT_BAD_INPUT,
    "FAILED_PRECONDITION": EXIT_BAD_INPUT,
    "RESOURCE_EXHAUSTED": EXIT_BUSY,
    "DEADLINE_EXCEEDED": EXIT_BUSY,
    "UNAUTHENTICATED": EXIT_REFUSED,
    "UNAVAILABLE": EXIT_NOT_RUNNING,
}


class BridgeError(Exception):
    """A failed request: `code` (a gRPC status name or NOT_RUNNING, VERSION), message, exit code."""

    def __init__(self, code: str, message: str, exit_code: int, line: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code
        self.line = line

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "line": self.line or None}}


# -- the Python API ---------------------------------------------------------------------------


def suggest_file(
    path: str | os.PathLike, *, kinds: list[str] | None = None, horizon_s: float = 0.0, sequence: str = "",
    start: bool = True, timeout: float = SUGGEST_TIMEOUT,
) -> dict:
    """The NAME.mtt.json document for a timeline file (the daemon reads the file itself)."""
    request = pb.SuggestRequest(path=str(Path(path).expanduser().absolute()), options=_options(kinds, horizon_s, sequence))
    return _suggest(request, start, timeout)


def suggest_timeline(
    timeline: dict, *, name: str = "", kinds: list[str] | None = None, horizon_s: float = 0.0, sequence: str = "",
    start: bool = True, timeout: float = SUGGEST_TIMEOUT,
) -> dict:
    """The document for a timeline held in memory, in the bridge JSON format (see README.md)."""
    try:
        message = json_format.ParseDict(timeline, timeline_pb2.Timeline())
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as err:
        reason = " ".join(str(err).split())
        raise BridgeError("INVALID_ARGUMENT", f"{name or 'timeline'}: not in the bridge timeline format: {reason}", EXIT_BAD_INPUT) from None
    request = pb.SuggestRequest(timeline=message, source_name=name, options=_options(kinds, horizon_s, sequence))
    return _suggest(request, start, timeout)


def info(*, start: bool = True) -> dict:
    """Versions, protocol, capabilities and model of the daemon (started if needed)."""
    with _connect(start) as conn:
        return _as_dict(conn.call("GetInfo", pb.GetInfoRequest(), INFO_TIMEOUT))


def status() -> dict:
    """Whether the daemon runs and what it does; never starts it. {"running": false} when not."""
    record = find_daemon()
    if record is None:
        return {"running": False}
    if not record.endpoint:  # recovered from the lock: the daemon rewrites its status file within a second
        return {"running": True, "pid": record.pid, "endpoint": "", "responsive": False,
                "error": "the daemon's status file is being rewritten; try again"}
    with _Connection(record) as conn:
        try:
            reply = _as_dict(conn.call("GetStatus", pb.GetStatusRequest(), STATUS_TIMEOUT))
        except BridgeError as err:
            return {"running": True, "pid": record.pid, "endpoint": record.endpoint, "responsive": False, "error": err.message}
    return {"running": True, "responsive": True, **reply}


def _suggest(request: pb.SuggestRequest, start: bool, timeout: float) -> dict:
    with _connect(start) as conn:
        reply = conn.call("Suggest", request, timeout)
    return json.loads(reply.document_json)


def _options(kinds: list[str] | None, horizon_s: float, sequence: str) -> pb.SuggestOptions:
    return pb.SuggestOptions(kinds=list(kinds or ()), horizon_s=horizon_s or 0.0, sequence=sequence or "")


def _as_dict(message: Any) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


# -- finding the daemon (daemon.rendezvous: the daemon's own rules, standard library only) ----


def find_daemon() -> rendezvous.DaemonRecord | None:
    """The running daemon's record, or None (a file left by a dead daemon is ignored)."""
    return rendezvous.find_daemon(rendezvous.state_dir())


def _read_token(record: rendezvous.DaemonRecord) -> str:
    path = Path(record.token_file or rendezvous.state_dir() / rendezvous.TOKEN_NAME)
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError as err:
        raise BridgeError("UNAUTHENTICATED", f"cannot read the token {path}: {err.strerror}", EXIT_REFUSED) from None


# -- starting and connecting ------------------------------------------------------------------


def mttd_command() -> list[str]:
    """How to run `mttd`: $MTTD_BIN, the mttd beside this Python, on PATH, or `python -m daemon`."""
    if os.environ.get("MTTD_BIN"):
        return [os.environ["MTTD_BIN"]]
    beside = Path(sys.executable).parent / ("mttd.exe" if sys.platform == "win32" else "mttd")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mttd")
    if found:
        return [found]
    spec = importlib.util.find_spec("daemon")  # locates the package without importing it
    if spec is not None and spec.origin and Path(spec.origin).with_name("cli.py").exists():
        return [sys.executable, "-m", "daemon"]
    raise BridgeError("NOT_RUNNING", "cannot find the mttd command: put it on PATH or set MTTD_BIN", EXIT_NOT_RUNNING)


def start_daemon() -> None:
    """`mttd start`: starts the daemon, or restarts an idle one of an older version."""
    command = mttd_command() + ["start"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BridgeError("NOT_RUNNING", f"cannot run {' '.join(command)}: {err}", EXIT_NOT_RUNNING) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise BridgeError("NOT_RUNNING", f"mttd start failed: {last}", EXIT_NOT_RUNNING)


def _connect(start: bool) -> _Connection:
    """A connection to a running daemon that speaks our protocol, starting or upgrading it if allowed."""
    record = find_daemon()
    if record is None or _outdated(record):
        if not start:
            why = "is not running" if record is None else f"runs version {record.version} (protocol {record.protocol})"
            raise BridgeError("NOT_RUNNING", f"the mttd daemon {why}; run `mttd start`", EXIT_NOT_RUNNING)
        start_daemon()
        record = find_daemon()
        if record is None:
            raise BridgeError("NOT_RUNNING", "mttd start succeeded but no daemon is running", EXIT_NOT_RUNNING)
    if record.protocol != PROTOCOL:
        raise BridgeError("VERSION", f"the daemon speaks protocol {record.protocol}, this bridge {PROTOCOL}", EXIT_REFUSED)
    return _Connection(record)


def _outdated(record: rendezvous.DaemonRecord) -> bool:
    """The daemon speaks another protocol, or is older than the mttd installed beside this bridge
    (a record recovered from the lock, while the daemon rewrites its status file, says neither)."""
    if record.protocol != PROTOCOL:
        return True
    installed = _installed_version()
    return installed is not None and rendezvous.version_key(record.version) < rendezvous.version_key(installed)


def _installed_version() -> str | None:
    """The version of the mttd installed beside this bridge, read from model/__init__.py.

    Reading the one line is ~1 ms; importlib.metadata scans every installed distribution
    (~90 ms, a fifth of the bridge's whole run) and importing `model` is not allowed here.
    """
    spec = importlib.util.find_spec("model")  # locates the package without importing it
    if spec is None or not spec.origin:
        return None
    try:
        text = Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else None



class _Connection:
    def __init__(self, record: rendezvous.DaemonRecord) -> None:
        self._channel = grpc.insecure_channel(
            record.endpoint,
            options=(("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)),
        )
        self._stub = pb_grpc.SuggesterStub(self._channel)
        self._metadata = (("authorization", f"Bearer {_read_token(record)}"),)

    def call(self, method: str, request: Any, timeout: float) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            code = err.code().name
            line = int(dict(err.trailing_metadata() or ()).get("mtt-error-line", 0) or 0)
            raise BridgeError(code, err.details() or code, _EXIT_FOR_CODE.get(code, EXIT_ERROR), line) from None

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()


# -- the command ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtt-bridge", description="Ask the mttd daemon for timeline suggestions.")
    parser.add_argument("--no-start", action="store_true", help="fail (exit 3) instead of starting the daemon")
    parser.add_argument("--timeout", type=float, default=SUGGEST_TIMEOUT, help="seconds a suggestion may take (default 120)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("suggest", help="print the suggestions document for a timeline file, or - for bridge JSON on stdin")
    p.add_argument("file", help="a timeline file, or - to read the bridge timeline JSON on standard input")
    p.add_argument("--json", action="store_true", help="print the document on one line (default: indented)")
    p.add_argument("--kinds", default="", help="any of review,next,fill (default: all)")
    p.add_argument("--horizon", type=float, default=0.0, help="seconds `next` continues the edit (default: the daemon's)")
    p.add_argument("--sequence", default="", help="only this sequence")
    p.add_argument("--name", default="", help="with -: the name the document gives the timeline")
    sub.add_parser("info", help="print the daemon's versions, protocol, capabilities and model")
    sub.add_parser("status", help="print whether the daemon runs (exit 0) or not (exit 3); never starts it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        doc, code = _run(args)
    except BridgeError as err:
        print(json.dumps(err.to_json()))
        print(f"mtt-bridge: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    compact = getattr(args, "json", False)
    print(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) if compact else json.dumps(doc, indent=2, ensure_ascii=False))
    return code


def _run(args: argparse.Namespace) -> tuple[dict, int]:
    if args.command == "status":
        doc = status()
        return doc, EXIT_OK if doc["running"] else EXIT_NOT_RUNNING
    if args.command == "info":
        return info(start=not args.no_start), EXIT_OK
    options = {
        "kinds": [k.strip() for k in args.kinds.split(",") if k.strip()],
        "horizon_s": args.horizon,
        "sequence": args.sequence,
        "start": not args.no_start,
        "timeout": args.timeout,
    }
    if args.file != "-":
        return suggest_file(args.file, **options), EXIT_OK
    try:
        timeline = json.load(sys.stdin)
    except json.JSONDecodeError as err:
        raise BridgeError("INVALID_ARGUMENT", f"{args.name or '<stdin>'}:{err.lineno}: invalid JSON: {err.msg}", EXIT_BAD_INPUT, err.lineno) from None
    return suggest_timeline(timeline, name=args.name, **options), EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
