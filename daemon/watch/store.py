"""The watched folders: what `mttd watch list` shows and the list that survives a restart.

`WatchStore` keeps the folders (and whether each is polled) in `watches.json` in the config
directory, written atomically (the user's config.toml is never rewritten); `check_new_watch`
says what is wrong with a folder before it is watched. `mttd watch` reads and edits the list
without a daemon; the daemon's `daemon.watch.registry` keeps it in step with its watcher.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from daemon.errors import MttdError
from model.atomic import write_atomic

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
