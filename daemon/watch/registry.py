"""The daemon's folder watching: `create_watcher` builds it for the server, and `WatchRegistry`
answers the Watch, Unwatch and ListWatches calls: it checks a new folder, hands it to the
`Watcher` and saves the list (daemon.watch.store), so the watches survive a restart.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from daemon.config import Config
from daemon.engine import Engine
from daemon.paths import Paths
from daemon.watch.process import make_engine_processor
from daemon.watch.store import (
    STORE_NAME,
    WatchError,
    WatchInfo,
    WatchSpec,
    WatchStore,
    check_new_watch,
    normalize_path,
)
from daemon.watch.watcher import Watcher
from model.suggest.items import SuggestOptions

logger = logging.getLogger(__name__)


def create_watcher(engine: Engine, config: Config, paths: Paths) -> WatchRegistry:
    """The daemon's folder watching (daemon.server calls this): settings from `[watch]`, inference
    on the engine thread, the saved watch list restored (not started until the model is ready)."""
    settings = config.watch
    process = make_engine_processor(engine, SuggestOptions(kinds=settings.kinds), config.request_timeout,
                                    picture=settings.picture, max_steps=config.max_steps)
    watcher = Watcher(
        process,
        settle_s=settings.settle_ms / 1000.0,
        reconcile_interval_s=settings.reconcile_minutes * 60.0,
        queue_max=settings.queue_max,
        poll_interval_s=settings.poll_interval_s,
        follow_symlinks=settings.follow_symlinks,
    )
    registry = WatchRegistry(watcher, WatchStore(paths.config_dir / STORE_NAME))
    registry.restore()
    return registry


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
