"""`mttd watch add PATH [--poll] | remove PATH | list [--json]`: the folders the daemon watches.

A timeline saved into a watched folder gets NAME.mtt.json and NAME.mtt.xml beside it. `add`
creates the folder when it is missing and starts the daemon when it is not running (watching is
what the user asked for), saying so; `remove` and
`list` also work without it, on the saved watch list, which the daemon reads when it starts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from daemon import paths as paths_mod
from daemon import process
from daemon.client import DaemonClient, ensure_daemon
from daemon.config import load
from daemon.errors import MttdError
from daemon.paths import ensure_dirs
from daemon.watch.store import STORE_NAME, WatchStore, normalize_path

COLUMNS = ("seen", "processed", "skipped_unchanged", "failed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="watch folders: saved timelines get suggestion sidecars beside them")
    actions = p.add_subparsers(dest="watch_action", metavar="ACTION", required=True)

    a = actions.add_parser("add", help="watch a folder and its subfolders (created if missing; starts the daemon if needed)")
    a.add_argument("path", help="the folder")
    a.add_argument("--poll", action="store_true", help="poll for changes instead of OS events (network drives)")
    a.set_defaults(run=run_add)

    r = actions.add_parser("remove", help="stop watching a folder")
    r.add_argument("path", help="the folder, as added")
    r.set_defaults(run=run_remove)

    ls = actions.add_parser("list", help="watched folders with what happened in each since the daemon started")
    ls.add_argument("--json", action="store_true", help="print a JSON document")
    ls.set_defaults(run=run_list)


def run_add(args: argparse.Namespace) -> int:
    folder = Path(args.path).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise MttdError(f"{folder}: not a folder")
    paths, config = _setup()
    if not folder.exists():
        try:
            folder.mkdir(parents=True)
        except OSError as err:
            raise MttdError(f"cannot create {folder}: {err.strerror or err}") from None
        print(f"created {folder}")
    ensure_dirs(paths)
    running = ensure_daemon(paths, config)
    record = running.record
    if running.how != "running":
        print(f"mttd {running.how} (pid {record.pid})")
    with _client(record, paths) as client:
        state = client.watch(str(folder), args.poll).watch
    how = "polling every few seconds" if state.poll else "on file system events"
    print(f"watching {state.path} ({how})")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    folder = Path(args.path).expanduser().absolute()
    paths, _config = _setup()
    record = _running(paths)
    if record is not None:
        with _client(record, paths) as client:
            removed = client.unwatch(str(folder))
        note = ""
    else:
        removed = _remove_saved(paths, folder)
        note = " (the daemon is not running: removed from the saved list)"
    if not removed:
        raise MttdError(f"not watched: {folder}")
    print(f"stopped watching {folder}{note}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    paths, _config = _setup()
    doc = _listing(paths)
    print(json.dumps(doc, indent=2) if args.json else _listing_text(doc))
    return 0


# -- talking to the daemon ----------------------------------------------------------------------


def _setup() -> tuple[Any, Any]:
    paths = paths_mod.resolve()
    return paths, load(paths)


def _running(paths: Any) -> Any:
    return process.find_daemon(paths)


def _client(record: Any, paths: Any) -> Any:
    """A client of the running daemon; its calls raise DaemonError on failure."""
    return DaemonClient.for_record(record, paths)


def _listing(paths: Any) -> dict:
    """{"running", "queue", "watches": [mtt.v1.WatchState fields]}; without a daemon, the saved list."""
    from google.protobuf import json_format

    record = _running(paths)
    if record is None:
        saved = _store(paths).load()
        return {"running": False, "queue": None,
                "watches": [{"path": w.path, "poll": w.poll, "missing": not Path(w.path).is_dir()} for w in saved]}
    with _client(record, paths) as client:
        watches = client.list_watches()
        status = client.status()
        queue = status.watch_queue
        running = {"file": status.queue.job, "stage": status.queue.stage, "percent": status.queue.percent,
                   "elapsed_s": round(status.queue.busy_s, 1)} if status.queue.busy else None
    as_dict = [json_format.MessageToDict(w, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
               for w in watches]
    for w in as_dict:
        for key in COLUMNS:
            w[key] = int(w[key])  # int64 arrives as a string in proto JSON
    return {"running": True, "queue": queue, "watches": as_dict, "working_on": running}


def _listing_text(doc: dict) -> str:
    if not doc["watches"]:
        return "no folders are watched; add one with `mttd watch add PATH`"
    if not doc["running"]:
        lines = ["mttd is not running; these folders are watched once it starts (`mttd start`):"]
        lines += [f"  {w['path']}{' (poll)' if w['poll'] else ''}{'  [missing]' if w['missing'] else ''}" for w in doc["watches"]]
        return "\n".join(lines)
    width = max(len(w["path"]) for w in doc["watches"])
    lines = [f"{'FOLDER':<{width}}  MODE    STATE    SEEN  DONE  SAME  FAILED  LAST ERROR"]
    for w in doc["watches"]:
        counts = "  ".join(f"{w[k]:>4}" for k in COLUMNS[:3]) + f"  {w['failed']:>6}"
        state = "missing" if w["missing"] else "ok"
        lines.append(f"{w['path']:<{width}}  {'poll' if w['poll'] else 'events':<6}  {state:<7}  {counts}  {w['last_error'] or '-'}")
    lines.append(f"{doc['queue']} files queued")
    if doc.get("working_on"):
        lines.append(f"working on {working_on_text(doc['working_on'])}")
    return "\n".join(lines)


def working_on_text(job: dict) -> str:
    """`FILE: predict 40 %, 12.3 s` for the running job (the file, its stage and how long it has run)."""
    stage = f"{job['stage']} {job['percent']:.0f} %" if job.get("stage") else "starting"
    return f"{job['file'] or '(a timeline sent by a client)'}: {stage}, {job['elapsed_s']:.1f} s"


# -- the saved list, when no daemon runs --------------------------------------------------------


def _store(paths: Any) -> Any:
    return WatchStore(paths.config_dir / STORE_NAME)


def _remove_saved(paths: Any, folder: Path) -> bool:
    store = _store(paths)
    saved = store.load()
    wanted = {str(folder), str(normalize_path(folder))}
    kept = [w for w in saved if w.path not in wanted]
    if len(kept) == len(saved):
        return False
    store.save(kept)
    return True
