"""`mttd serve|start|stop|restart|status|logs`: run and manage the per-user daemon.

Nothing heavy is imported at module level: `mttd start` spawns the daemon before grpc (or torch)
is loaded in this process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from daemon import paths as paths_mod
from daemon.client import DaemonClient, ensure_daemon, stop_daemon
from daemon.config import load, load_or_defaults
from daemon.errors import DaemonError, MttdError
from daemon.paths import UnsafeDirectory, ensure_dirs
from daemon.process import find_daemon

STATUS_NOT_RUNNING = 3  # LSB: program is not running


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the daemon in this process (what autostart units run)")
    p.add_argument("--foreground", action="store_true", help="accepted for clarity: serve never daemonizes itself")
    p.set_defaults(run=run_serve)

    p = sub.add_parser("start", help="start the daemon in the background; does nothing if it already runs")
    p.add_argument("--timeout", type=float, help="seconds to wait until it serves (default: start_timeout, 30)")
    p.set_defaults(run=run_start)

    p = sub.add_parser("stop", help="stop the daemon (Shutdown call, then SIGTERM, then SIGKILL)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait at each step (default 10)")
    p.set_defaults(run=run_stop)

    p = sub.add_parser("restart", help="stop the daemon if it runs, then start it")
    p.add_argument("--timeout", type=float, help="seconds to wait until it serves (default: start_timeout, 30)")
    p.set_defaults(run=run_restart)

    p = sub.add_parser("status", help="is the daemon running? (exit 0 running, 3 not running)")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.set_defaults(run=run_status)

    p = sub.add_parser("logs", help="print the daemon's log")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=int, default=50, help="lines from the end to show first (default 50)")
    p.set_defaults(run=run_logs)


def _setup(lenient: bool = False) -> tuple[Any, Any]:
    """Paths and config; `lenient` (stop, status, logs): a broken config gives the defaults and one
    warning line instead of an error, so a running daemon can always be seen and stopped."""

    paths = paths_mod.resolve()
    if lenient:
        return paths, load_or_defaults(paths, lambda line: print(f"mttd: {line}", file=sys.stderr))
    return paths, load(paths)


def run_serve(args: argparse.Namespace) -> int:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from daemon.server import serve

    return serve()


def run_start(args: argparse.Namespace) -> int:
    paths, config = _setup()
    try:
        ensure_dirs(paths)
    except UnsafeDirectory as err:
        raise MttdError(f"refusing to start: {err}") from None
    running = ensure_daemon(paths, config, args.timeout)
    record = running.record
    print(f"mttd {record.version} {running.how}: pid {record.pid}, {record.endpoint}")
    return 0


def run_stop(args: argparse.Namespace) -> int:
    paths, _config = _setup(lenient=True)
    record = find_daemon(paths)
    how = stop_daemon(paths, args.timeout)
    if how == "still running":
        raise MttdError(f"pid {record.pid} did not exit, even after SIGKILL")
    print(f"mttd: {how}" + (f" (pid {record.pid})" if record else ""))
    return 0


def run_restart(args: argparse.Namespace) -> int:
    paths, _config = _setup()
    if stop_daemon(paths) == "still running":
        raise MttdError("the old daemon did not exit, even after SIGKILL")
    return run_start(args)


def run_status(args: argparse.Namespace) -> int:
    paths, _config = _setup(lenient=True)
    doc = status_document(paths)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(_status_text(doc))
    return 0 if doc["running"] else STATUS_NOT_RUNNING


def status_document(paths: Any) -> dict[str, Any]:
    """What `mttd status --json` prints; a busy daemon is running, only unresponsive."""
    record = find_daemon(paths)
    doc: dict[str, Any] = {
        "running": record is not None, "pid": None, "endpoint": None, "version": None, "protocol": None,
        "uptime_s": None, "serving": False, "model": None, "queue": None, "log": str(paths.log_file),
    }
    if record is None:
        return doc
    doc.update(pid=record.pid, endpoint=record.endpoint, version=record.version, protocol=record.protocol,
               uptime_s=round(time.time() - record.started_at, 1), serving=bool(record.raw.get("serving")))
    from google.protobuf import json_format

    try:
        with DaemonClient.for_record(record, paths) as client:
            status = client.status()
    except DaemonError as err:
        doc.update(responsive=False, error=f"{err.code}: {err.message}")
        return doc
    reply = json_format.MessageToDict(status, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    reply["uptime_s"] = round(reply["uptime_s"], 1)
    reply["rss_mb"] = round(reply["rss_mb"], 1)
    doc.update(reply, responsive=True)
    return doc


def _status_text(doc: dict[str, Any]) -> str:
    if not doc["running"]:
        return f"mttd is not running\nlog       {doc['log']}"
    lines = [f"mttd {doc['version']} running (pid {doc['pid']}, up {_duration(doc['uptime_s'])})"]
    lines.append(f"endpoint  {doc['endpoint']}")
    if not doc.get("responsive"):
        lines.append(f"state     not answering ({doc.get('error')}); it may be busy: see the log")
    else:
        model, queue, cache = doc["model"], doc["queue"], doc["cache"]
        loaded = "loaded" if model["loaded"] else "unloaded (reloads on the next call)"
        lines.append(f"health    {'SERVING' if doc['serving'] else 'NOT_SERVING (loading the model)'}")
        lines.append(f"model     {model['name']} {model['version']} sha256 {model['sha256'][:12] or '-'}, {loaded}, "
                     f"idle {model['idle_s']:.0f} s, backend {model.get('backend') or '-'}")
        busy = f", busy for {queue['busy_s']:.1f} s" if queue["busy"] else ""
        if queue["busy"] and queue.get("stage"):
            busy += f" on {queue.get('job') or 'a timeline sent by a client'} ({queue['stage']} {queue.get('percent', 0):.0f} %)"
        lines.append(
            f"queue     {queue['depth']}/{queue['capacity']} waiting or running{busy}; "
            f"{queue['completed']} done, {queue['rejected']} refused as busy, {queue['failed']} failed"
        )
        held, bound = int(cache.get("bytes", 0)) / 1e6, int(cache.get("max_bytes", 0)) / 1e6
        lines.append(f"cache     {cache['entries']} results ({held:.1f} of {bound:.0f} MB), {cache['hits']} hits, {cache['misses']} misses")
        if doc.get("watches"):
            lines.append(f"watching  {len(doc['watches'])} folders, {doc['watch_queue']} files queued")
        lines.append(f"memory    {doc['rss_mb']:.0f} MB resident")
    lines.append(f"log       {doc['log']}")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def run_logs(args: argparse.Namespace) -> int:
    paths, _config = _setup(lenient=True)
    log_file = paths.log_file
    if not log_file.exists() and not args.follow:
        raise MttdError(f"no log yet at {log_file}")
    position = 0
    if log_file.exists():
        with log_file.open("rb") as f:
            lines = f.readlines()
            position = f.tell()  # follow from exactly where this read stopped
        for line in lines[-args.lines:] if args.lines > 0 else []:
            sys.stdout.write(line.decode("utf-8", "replace"))
        sys.stdout.flush()
    if args.follow:
        _follow(log_file, position)
    return 0


def _follow(log_file: Any, position: int) -> None:
    """Print lines as they are appended, across rotations (the file is replaced or shrinks)."""
    import codecs
    import os

    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    f = None
    inode = None
    while True:
        try:
            st = os.stat(log_file)
        except FileNotFoundError:
            st = None
        if st is not None and (f is None or st.st_ino != inode or st.st_size < position):
            if f is not None:
                _emit(decoder, f.read())  # what was written before the rotation
                f.close()
                position = 0
            f = open(log_file, "rb")
            f.seek(position)
            inode = st.st_ino
        chunk = f.read() if f is not None else b""
        if chunk:
            _emit(decoder, chunk)
            position = f.tell()
        else:
            time.sleep(0.2)


def _emit(decoder: Any, data: bytes) -> None:
    if data:
        sys.stdout.write(decoder.decode(data))
        sys.stdout.flush()
