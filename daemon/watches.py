"""The watched folders: what `mttd watch list` shows, the list that survives a restart, and the
`[watch]` table of the config file.

`WatchStore` keeps the folders (and whether each is polled) in `watches.json` in the config
directory, written atomically (the user's config.toml is never rewritten). `WatchRegistry` is the
object the daemon holds (`daemon.watcher.create_watcher`): its Watch, Unwatch and ListWatches
calls check a new path, hand it to the `Watcher` and save the list.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.errors import MttdError
from model.atomic import write_atomic

if TYPE_CHECKING:
    from daemon.watcher import Watcher

logger = logging.getLogger(__name__)

STORE_SCHEMA = "mttd.watches/1"
STORE_NAME = "watches.json"


class WatchError(MttdError):
    """A watch that cannot be added or a watch list that cannot be read; the message says why."""


@dataclass(frozen=True)
class WatchSpec:
    path: str  # absolute, resolved
    poll: bool = False


@dataclass(frozen=True)
class WatchSettings:
    """The `[watch]` table of config.toml."""

    settle_ms: int = 500  # quiet time after the last event before a file is looked at
    reconcile_minutes: float = 5.0  # full scan for missed saves (events the OS dropped)
    poll_interval_s: float = 2.0  # for folders watched with --poll (network drives)
    queue_max: int = 1024  # files waiting at once; beyond it a later scan picks them up
    kinds: tuple[str, ...] = ("review", "next", "fill")  # the suggestions written to sidecars
    picture: bool = False  # also draw NAME.mtt.png (`mttd viz`); off by default: it costs a forward pass
    follow_symlinks: bool = False  # process timelines that are symlinks (their target may be private)


def watch_settings(tables: dict, where: str = "config.toml") -> WatchSettings:
    """WatchSettings from the config's tables; WatchError naming a bad or unknown key."""
    table = tables.get("watch", {})
    defaults = WatchSettings()
    values = {}
    for key, raw in table.items():
        if key not in WatchSettings.__dataclass_fields__:
            known = ", ".join(WatchSettings.__dataclass_fields__)
            raise WatchError(f"{where}: unknown setting [watch] {key!r} (known: {known})")
        values[key] = _setting_value(key, raw, getattr(defaults, key), where)
    return WatchSettings(**values)


def _setting_value(key: str, raw: object, default: object, where: str) -> object:
    if key == "kinds":
        if not isinstance(raw, list) or not raw or not set(raw) <= set(default):
            raise WatchError(f"{where}: [watch] kinds must be a list of {', '.join(default)}, got {raw!r}")
        return tuple(raw)
    if isinstance(default, bool):
        if not isinstance(raw, bool):
            raise WatchError(f"{where}: [watch] {key} must be true or false, got {raw!r}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
        raise WatchError(f"{where}: [watch] {key} must be a positive number, got {raw!r}")
    return type(default)(raw)


@dataclass(frozen=True)
class WatchInfo:
    """One watched folder and what happened in it since the daemon started."""

    path: str
    poll: bool
    seen: int = 0  # timeline saves examined (a burst of events counts once)
    processed: int = 0  # sidecars written from a readable timeline
    skipped_unchanged: int = 0  # content hash equal to the one the sidecar was made from
    failed: int = 0  # error document written, or processing raised
    last_error: str = ""
    missing: bool = False  # the folder is gone (or not mounted); watching resumes when it returns

    def to_json(self) -> dict:
        """The fields of mtt.v1.WatchState, which mirrors this class."""
        return asdict(self)


def normalize_path(path: str | Path) -> Path:
    """Absolute and resolved, so one folder is one watch however it was typed."""
    return Path(path).expanduser().resolve()


def check_new_watch(path: str | Path) -> Path:
    """The folder to watch, or WatchError saying what is wrong with it (the caller names the path)."""
    if not Path(path).expanduser().is_absolute():
        raise WatchError("give an absolute path (the daemon does not share your working directory)")
    folder = normalize_path(path)
    if not folder.exists():
        raise WatchError("no such folder")
    if not folder.is_dir():
        raise WatchError("not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise WatchError("cannot read this folder")
    return folder


class WatchStore:
    """The persisted watch list: `{"schema": "mttd.watches/1", "watches": [{"path", "poll"}]}`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> list[WatchSpec]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            raise WatchError(f"cannot read the watch list {self.path}: {err}") from None
        if not isinstance(doc, dict) or doc.get("schema") != STORE_SCHEMA:
            raise WatchError(f"cannot read the watch list {self.path}: not a {STORE_SCHEMA} document")
        try:
            return [WatchSpec(str(w["path"]), bool(w.get("poll", False))) for w in doc["watches"]]
        except (KeyError, TypeError) as err:
            raise WatchError(f"cannot read the watch list {self.path}: bad entry ({err})") from None

    def keep_bad(self) -> Path | None:
        """Move an unreadable list aside to watches.json.bad (the next save would overwrite the
        folders the user listed); the path it went to, or None."""
        bad = self.path.with_name(self.path.name + ".bad")
        try:
            os.replace(self.path, bad)
        except OSError:
            return None
        return bad

    def save(self, specs: list[WatchSpec]) -> None:
        doc = {"schema": STORE_SCHEMA, "watches": [asdict(s) for s in specs]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(doc, indent=2) + "\n", mode=0o600)


class WatchRegistry:
    """The daemon's view of watching (server.Watcher): checks, hands to the watcher, persists."""

    def __init__(self, watcher: Watcher, store: WatchStore) -> None:
        self.watcher = watcher
        self.store = store
        self._lock = threading.Lock()

    @property
    def queue_depth(self) -> int:
        return self.watcher.queue_depth

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()

    def restore(self) -> str:
        """Watch every saved folder (a missing one is reported, not fatal); return a load error or ""."""
        try:
            specs = self.store.load()
        except WatchError as err:
            kept = self.store.keep_bad()
            logger.error("%s; %sstarting with no watched folders", err, f"kept as {kept}; " if kept else "")
            return str(err)
        for spec in specs:
            self.watcher.add(Path(spec.path), poll=spec.poll)
        return ""

    def add(self, path: str | Path, poll: bool = False) -> WatchInfo:
        folder = check_new_watch(path)
        with self._lock:
            info = self.watcher.add(folder, poll=poll)
            self._save()
        return info

    def remove(self, path: str | Path) -> bool:
        """Stop watching; the path as given or as resolved (a folder that is gone resolves as typed)."""
        with self._lock:
            removed = self.watcher.remove(normalize_path(path)) or self.watcher.remove(Path(path).absolute())
            if removed:
                self._save()
        return removed

    def list(self) -> list[WatchInfo]:
        return self.watcher.list()

    def _save(self) -> None:
        self.store.save([WatchSpec(w.path, w.poll) for w in self.watcher.list()])
