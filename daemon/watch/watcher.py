"""The folder watcher: a saved timeline gets its sidecars, with nothing to click.

Three kinds of thread (daemon-notes pitfalls 13 and 14, section 3.6):
- watchdog's observer threads call `_Handler.dispatch`, which never raises and only files the
  path in the settle queue (`daemon.watch.settle`: one entry per path, so a burst of events is one
  job; bounded by `queue_max`);
- one worker takes the entry whose settle time has passed, checks that size and mtime held still
  since the last event and that the file is complete (retrying a half-written one with backoff),
  skips content its sidecar was already made from, and calls `process(path)`. With a two-phase
  `process` (`TwoPhaseProcessor`), an idle worker prepares a complete save as soon as
  its event arrives and commits the sidecars once the settle time has passed with no new event
  and the same size and mtime: the settle time overlaps the work instead of preceding it;
- a supervisor restarts a dead observer, notices watched folders that vanish or come back, and
  runs the reconcile scan (at start, every `reconcile_interval_s`, after an overflow of the queue),
  which is the only way to catch events the OS dropped.
The watcher itself never writes: `process` writes the sidecars, never the user's files.
"""

from __future__ import annotations

import logging
import os
import stat as stat_mod
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog import events
from watchdog.events import FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from daemon.watch import files as watch_files
from daemon.watch.settle import Job, SettleQueue, Stat
from daemon.watch.store import WatchInfo
from model.timeline.kinds import TimelineKind, timeline_kinds

__all__ = ["ProcessResult", "Watcher", "WatcherStats"]

logger = logging.getLogger(__name__)

# What a save looks like: created, written, renamed into place, closed after writing (inotify).
EVENT_TYPES = [events.FileCreatedEvent, events.FileModifiedEvent, FileMovedEvent, events.FileClosedEvent]
STALE_TEMP_S = 600.0  # a temp file of mttd's this old is a killed write's leftover
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)  # a stable but incomplete file is checked again after these


@dataclass(frozen=True)
class ProcessResult:
    """What `process` did with one timeline: sidecars written, or the error document (ok False)."""

    ok: bool
    error: str = ""  # one line naming the file and the problem, when not ok
    sequences: int = 0  # sequences suggested for, when ok
    items: tuple[tuple[str, int], ...] = ()  # (kind, count) of the suggestions written, when ok
    written: bool = True  # False: nothing was written (the error document neither)

    def summary(self) -> str:
        """`2 sequences, 5 review, 3 next, 2 fill` for the log line of a processed timeline."""
        counts = "".join(f", {n} {kind}" for kind, n in self.items)
        return f"{self.sequences} sequence{'s' if self.sequences != 1 else ''}{counts}"


@dataclass(frozen=True)
class TwoPhaseProcessor:
    """`process(path)` in two phases: `prepare` reads and suggests (the slow part, no writes) and
    `commit` writes the sidecars. The watcher may prepare a save while its settle time runs and
    commits only once the file has stayed unchanged through it (see `Watcher`)."""

    prepare: Callable[[Path], Any]  # the prepared run (a model.suggest.document.SuggestionRun)
    commit: Callable[[Path, Any], ProcessResult]

    def __call__(self, path: Path) -> ProcessResult:
        return self.commit(path, self.prepare(path))


Processor = Callable[[Path], ProcessResult]  # a TwoPhaseProcessor, or any one-phase callable
@dataclass
class _Folder:
    root: Path
    poll: bool
    seen: int = 0
    processed: int = 0
    skipped_unchanged: int = 0
    failed: int = 0
    last_error: str = ""
    missing: bool = False
    handle: ObservedWatch | None = None
    observer: BaseObserver | None = None  # its own PollingObserver when polled

    def info(self) -> WatchInfo:
        return WatchInfo(
            str(self.root), self.poll, self.seen, self.processed, self.skipped_unchanged,
            self.failed, self.last_error, self.missing,
        )


@dataclass
class _Known:
    """The last decision about a file, so a reconcile scan does not re-read what has not changed."""

    stat: Stat
    timeline: bool


@dataclass
class WatcherStats:
    jobs: int = 0  # times the worker took a due path (stability re-checks included)
    sniffed_out: int = 0  # .xml files that turned out not to be xmeml
    overflows: int = 0  # paths turned away by a full queue (a reconcile scan picks them up)
    observer_restarts: int = 0
    reconciles: int = 0
    peak_queue: int = 0
    early: int = 0  # saves prepared while their settle time ran
    early_dropped: int = 0  # of those, dropped because the file changed again before it passed


class _Handler(FileSystemEventHandler):
    """watchdog's handler for one watched folder: files paths, never raises."""

    def __init__(self, watcher: Watcher, root: Path) -> None:
        super().__init__()
        self.watcher = watcher
        self.root = root

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            path = event.dest_path if isinstance(event, FileMovedEvent) else event.src_path
            if path and not event.is_directory:
                self.watcher._on_path(Path(os.fsdecode(path)), self.root)
        except Exception:  # an exception here would silently kill the observer thread
            logger.exception("event %r", event)


def _stat(path: Path, follow_symlinks: bool = True) -> Stat | None:
    """(size, mtime_ns) of a regular file; None for anything else (gone, a FIFO, a device, and a
    symlink unless `follow_symlinks`)."""
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except OSError:
        return None
    if not stat_mod.S_ISREG(st.st_mode):
        return None
    return (st.st_size, st.st_mtime_ns)


class Watcher:
    """Watch folders for timeline saves and call `process(path)` once per settled, changed file."""

    def __init__(
        self,
        process: Callable[[Path], ProcessResult],
        *,
        settle_s: float = 0.5,
        reconcile_interval_s: float = 300.0,
        queue_max: int = 1024,
        poll_interval_s: float = 2.0,
        stability_s: float = 0.1,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
        supervise_interval_s: float = 1.0,
        kinds: dict[str, TimelineKind] | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        self._process = process
        # A symlink in a watched folder may point at a private file elsewhere: its sidecars would
        # copy what it holds into the watched folder, so symlinks are skipped unless allowed.
        self.follow_symlinks = follow_symlinks
        self.settle_s = settle_s
        self.reconcile_interval_s = reconcile_interval_s
        self.queue_max = queue_max
        self.poll_interval_s = poll_interval_s
        self.stability_s = stability_s
        self.retry_delays_s = retry_delays_s
        self.supervise_interval_s = supervise_interval_s
        self.kinds = timeline_kinds() if kinds is None else kinds
        self.stats = WatcherStats()
        self._lock = threading.Condition()
        self._folders: dict[Path, _Folder] = {}
        self._queue = SettleQueue(queue_max)
        self._known: dict[Path, _Known] = {}
        self._rescan: set[Path] = set()  # folders to reconcile soon (added, restarted, overflowed)
        self._observer: BaseObserver | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._wake_supervisor = threading.Event()

    # -- the public API ------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return self._queue.depth

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopping.is_set()

    def add(self, path: Path, poll: bool = False) -> WatchInfo:
        """Watch a folder recursively; a missing one is reported (missing=True) and retried."""
        root = Path(path)
        with self._lock:
            folder = self._folders.get(root)
            if folder is not None and folder.poll == poll:
                return folder.info()
        if folder is not None:
            self.remove(root)
        folder = _Folder(root, poll)
        with self._lock:
            self._folders[root] = folder
            self._rescan.add(root)
        if self.running:
            self._attach(folder)
            self._wake_supervisor.set()
        elif not root.is_dir():
            self._note_missing(folder)
        return folder.info()

    def remove(self, path: Path) -> bool:
        root = Path(path)
        with self._lock:
            folder = self._folders.pop(root, None)
            if folder is None:
                return False
            self._rescan.discard(root)
            for p in [p for p in self._known if p.is_relative_to(root)]:
                del self._known[p]
        self._queue.drop(lambda job: job.root == root)
        self._detach(folder)
        return True

    def list(self) -> list[WatchInfo]:
        with self._lock:
            return [f.info() for f in sorted(self._folders.values(), key=lambda f: str(f.root))]

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        self._queue.reopen()
        self._observer = self._new_observer(poll=False)
        self._observer.start()
        for folder in list(self._folders.values()):
            self._attach(folder)
        with self._lock:
            self._rescan.update(self._folders)
        self._threads = [
            threading.Thread(target=self._work, name="mttd-watcher-worker", daemon=True),
            threading.Thread(target=self._supervise, name="mttd-watcher-supervisor", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop observing and join every thread (the job in progress finishes first)."""
        if not self._threads:
            return
        self._stopping.set()
        self._wake_supervisor.set()
        self._queue.close()
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        for folder in list(self._folders.values()):
            self._detach(folder)
        if self._observer is not None:
            _stop_observer(self._observer, timeout)
            self._observer = None

    def reconcile(self, root: Path | None = None) -> int:
        """Queue every timeline under the folder(s) whose sidecar is missing or older; return the count."""
        with self._lock:
            roots = [root] if root is not None else [f.root for f in self._folders.values() if not f.missing]
        queued = 0
        for r in roots:
            queued += self._reconcile_folder(r)
        self.stats.reconciles += 1
        return queued

    # -- events -> pending ---------------------------------------------------------------------

    def _on_path(self, path: Path, root: Path) -> None:
        kind = watch_files.candidate_kind(path, root, self.kinds)
        if kind is not None:
            self._enqueue(path, root, kind, self.settle_s, self._source_stat(path))

    def _source_stat(self, path: Path) -> Stat | None:
        return _stat(path, self.follow_symlinks)

    def _enqueue(self, path: Path, root: Path, kind: TimelineKind, delay: float, stat: Stat | None) -> bool:
        """File a path for the worker (a burst is one job); False, and a rescan later, when full."""
        with self._lock:
            if root not in self._folders:
                return False
        if self._queue.put(Job(path, root, kind, time.monotonic() + delay, stat)):
            self.stats.peak_queue = self._queue.peak
            return True
        self.stats.overflows = self._queue.overflows
        self._mark_rescan(root)
        return False

    # -- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        early = isinstance(self._process, TwoPhaseProcessor)
        while (job := self._queue.take(early)) is not None:
            if self._rescan and len(self._queue) == self.queue_max // 2:
                self._wake_supervisor.set()  # room again for an overflowed folder's scan
            try:
                if job.due > time.monotonic():
                    self._prepare_early(job)
                else:
                    self._handle(job)
            except OSError as err:  # unreadable, or its sidecars cannot be written: the user can fix it
                logger.warning("failed %s: %s", job.path, err.strerror or err)
                self._count(job.root, "failed", f"{job.path}: {err}")
            except Exception as err:  # a bad file must never stop the worker; a bug shows its traceback
                if self._stopping.is_set() or getattr(err, "code", "") in ("CANCELLED", "UNAVAILABLE"):
                    # Its work was cancelled by the shutdown (daemon.engine.cancel_all): done at the next start.
                    logger.info("stopped %s: the watcher is stopping", job.path)
                    continue
                logger.exception("failed %s: %s: %s", job.path, type(err).__name__, err)
                self._count(job.root, "failed", f"{job.path}: {err}")
            finally:
                self._queue.done()

    def _handle(self, job: Job) -> None:
        self.stats.jobs += 1
        with self._lock:
            if job.root not in self._folders:
                return  # unwatched since it was queued
        stat = self._source_stat(job.path)
        if stat is None:
            return  # gone again (a temp name renamed away, or deleted)
        if stat != job.stat:  # still changing, or first sight: check again shortly
            job.stat = stat
            self._queue.put_back(job, self.stability_s)
            return
        if not watch_files.sniff(job.path, job.kind, self.follow_symlinks):
            self.stats.sniffed_out += 1
            # INFO: a text file named .xml is not the user's mistake, only worth knowing why it got no sidecars
            logger.info("skipped %s: not a %s timeline (no %s in its first %d bytes)", job.path, job.kind.suffix,
                        job.kind.root_marker.decode(), watch_files.HEAD_BYTES)
            self._remember(job.path, stat, timeline=False)
            return
        scan = watch_files.scan_file(job.path, job.kind, self.follow_symlinks)
        if self._source_stat(job.path) != stat:
            self._queue.put_back(job, self.stability_s)  # written to while we read it
            return
        if not scan.complete and job.attempts < len(self.retry_delays_s):
            job.attempts += 1
            self._queue.put_back(job, self.retry_delays_s[job.attempts - 1])
            return
        self._count(job.root, "seen")
        if watch_files.sidecar_source_sha(job.path) == scan.sha256:
            self._settled(job, stat, None, 0.0)
            return
        started = time.perf_counter()
        result = self._process(job.path)
        self._settled(job, stat, result, time.perf_counter() - started)

    def _prepare_early(self, job: Job) -> None:
        """Prepare a complete, changed save before its settle time has passed; commit the sidecars
        only when it has, with no new event for the path and the same size and mtime. Anything
        else goes back to the queue for the regular path at the due time."""
        stat = self._source_stat(job.path)
        scan = None
        if stat is not None and stat == job.stat and watch_files.sniff(job.path, job.kind, self.follow_symlinks):
            scan = watch_files.scan_file(job.path, job.kind, self.follow_symlinks)
        if (scan is None or not scan.complete or self._source_stat(job.path) != stat
                or watch_files.sidecar_source_sha(job.path) == scan.sha256):
            self._queue.put_back(job, None)
            return
        self.stats.jobs += 1
        self.stats.early += 1
        started = time.perf_counter()
        run = self._process.prepare(job.path)
        prepare_s = time.perf_counter() - started
        if not self._queue.wait_quiet(job.path, job.due):
            self.stats.early_dropped += 1
            return  # a new event filed a fresher job (or the watcher stops)
        with self._lock:
            watched = job.root in self._folders
        if not watched:
            return
        if self._source_stat(job.path) != stat:  # changed with no event yet: check again as usual
            self.stats.early_dropped += 1
            self._queue.put_back(job, None)  # due: the regular path checks it again
            return
        self._count(job.root, "seen")
        started = time.perf_counter()
        result = self._process.commit(job.path, run)
        self._settled(job, stat, result, prepare_s + time.perf_counter() - started)  # the wait is not work

    def _settled(self, job: Job, stat: Stat, result: ProcessResult | None, seconds: float) -> None:
        """Count and log what became of a seen timeline (None: skipped, its sidecars are of this
        content). One line each in the daemon's log: `mttd logs` shows every file watched."""
        if result is None:
            self._count(job.root, "skipped_unchanged")
            logger.info("skipped %s: unchanged since its sidecars were made", job.path)
        elif result.ok:
            self._count(job.root, "processed")
            logger.info("processed %s: %s in %.2f s", job.path, result.summary(), seconds)
        else:
            self._count(job.root, "failed", result.error)
            written = "; its error document is written" if result.written else ""
            logger.warning("failed %s%s", result.error, written)  # error: FILE:LINE: reason
        self._remember(job.path, stat, timeline=True)

    def _count(self, root: Path, counter: str, error: str = "") -> None:
        with self._lock:
            folder = self._folders.get(root)
            if folder is not None:
                setattr(folder, counter, getattr(folder, counter) + 1)
                if error:
                    folder.last_error = error

    def _remember(self, path: Path, stat: Stat, timeline: bool) -> None:
        with self._lock:
            self._known[path] = _Known(stat, timeline)

    # -- reconcile -----------------------------------------------------------------------------

    def _reconcile_folder(self, root: Path) -> int:
        queued = 0
        leftovers: list[Path] = []
        for path, kind, stat in watch_files.walk_candidates(root, self.kinds, self.follow_symlinks, leftovers):
            if self._stopping.is_set():
                break
            if not self._needs_work(path, stat):
                continue
            if not self._enqueue(path, root, kind, self.stability_s, stat):
                break  # queue full: the folder is marked for another scan once it drains
            queued += 1
        _remove_stale_temps(leftovers)
        return queued

    def _needs_work(self, path: Path, stat: Stat) -> bool:
        sidecar = _stat(watch_files.sidecar_json_path(path))
        with self._lock:
            known = self._known.get(path)
        if known is not None and known.stat == stat:
            if not known.timeline:
                return False
            return sidecar is None or self._half_pair(path)  # unchanged since we decided; sidecar deleted?
        return sidecar is None or sidecar[1] < stat[1] or self._half_pair(path)  # none, older than the file, half

    @staticmethod
    def _half_pair(path: Path) -> bool:
        """NAME.mtt.json without its NAME.mtt.xml (not an error document): a write that failed half."""
        if _stat(watch_files.sidecar_xml_path(path)) is not None:
            return False
        return watch_files.sidecar_source_sha(path) is None

    # -- the supervisor ------------------------------------------------------------------------

    def _supervise(self) -> None:
        next_reconcile = time.monotonic() + self.reconcile_interval_s
        while not self._stopping.is_set():
            try:
                self._check_folders()
                self._check_observers()
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + self.reconcile_interval_s
                    with self._lock:
                        self._rescan.update(self._folders)
                self._run_rescans()
            except Exception:
                logger.exception("supervisor")
            self._wake_supervisor.wait(self.supervise_interval_s)
            self._wake_supervisor.clear()

    def _check_folders(self) -> None:
        """Report a watched folder that vanished (not fatal) and resume when it comes back."""
        with self._lock:
            folders = list(self._folders.values())
        for folder in folders:
            present = folder.root.is_dir()
            if folder.missing and present:
                logger.info("%s is back", folder.root)
                with self._lock:
                    folder.missing = False
                    if folder.last_error == _missing_error(folder):
                        folder.last_error = ""  # it is back: the error no longer holds
                self._attach(folder)
                self._mark_rescan(folder.root)
            elif not folder.missing and not present:
                logger.warning("watched folder %s is missing", folder.root)
                self._detach(folder)
                self._note_missing(folder)

    def _check_observers(self) -> None:
        """Restart an observer whose thread or one of whose emitters died while its folder exists,
        and retry folders that could not be scheduled (the inotify watch limit, a race)."""
        for folder in self._folder_list(poll=False) + self._folder_list(poll=True):
            if folder.handle is None:
                self._attach(folder)
                self._mark_rescan(folder.root)
        if self._observer is not None and not _healthy(self._observer):
            logger.warning("the observer died; restarting it")
            _stop_observer(self._observer, 2.0)
            self._observer = self._new_observer(poll=False)
            self._observer.start()
            self.stats.observer_restarts += 1
            for folder in self._folder_list(poll=False):
                folder.handle = None
                self._attach(folder)
                self._mark_rescan(folder.root)  # events may have been lost while it was down
        for folder in self._folder_list(poll=True):
            if folder.observer is not None and not _healthy(folder.observer):
                logger.warning("the polling observer of %s died; restarting it", folder.root)
                self._detach(folder)
                self.stats.observer_restarts += 1
                self._attach(folder)
                self._mark_rescan(folder.root)

    def _run_rescans(self) -> None:
        with self._lock:
            if len(self._queue) > self.queue_max // 2:
                return  # the queue is still draining; scan when there is room
            roots, self._rescan = self._rescan, set()
        for root in roots:
            with self._lock:
                folder = self._folders.get(root)
            if folder is not None and not folder.missing:
                self.reconcile(root)

    def _mark_rescan(self, root: Path) -> None:
        with self._lock:
            self._rescan.add(root)

    def _folder_list(self, poll: bool) -> list[_Folder]:
        with self._lock:
            return [f for f in self._folders.values() if f.poll == poll and not f.missing]

    # -- observers -----------------------------------------------------------------------------

    def _new_observer(self, poll: bool) -> BaseObserver:
        return PollingObserver(timeout=self.poll_interval_s) if poll else Observer()

    def _attach(self, folder: _Folder) -> None:
        """Schedule the folder on its observer; a folder that is not there is marked missing."""
        if not folder.root.is_dir():
            self._note_missing(folder)
            return
        observer = self._new_observer(poll=True) if folder.poll else self._observer
        try:
            if observer is not None:
                folder.handle = observer.schedule(_Handler(self, folder.root), str(folder.root),
                                                  recursive=True, event_filter=EVENT_TYPES)
            if folder.poll:
                observer.start()
                folder.observer = observer
        except OSError as err:  # e.g. ENOSPC, the inotify watch limit: the supervisor retries
            error = f"cannot watch {folder.root}: {err}"
            if error != folder.last_error:
                logger.error("%s", error)
            with self._lock:
                folder.last_error = error

    def _note_missing(self, folder: _Folder) -> None:
        with self._lock:
            folder.missing = True
            folder.last_error = _missing_error(folder)

    def _detach(self, folder: _Folder) -> None:
        try:
            if folder.observer is not None:
                _stop_observer(folder.observer, 2.0)
            elif folder.handle is not None and self._observer is not None:
                self._observer.unschedule(folder.handle)
        except Exception:
            logger.exception("detaching %s", folder.root)
        folder.observer = None
        folder.handle = None


def _remove_stale_temps(paths: list[Path]) -> None:
    """Remove mttd's temp files that no write has touched for STALE_TEMP_S: what a write killed
    before its rename (kill -9, a power cut) leaves behind. A fresh one may be a write in progress."""
    for path in paths:
        try:
            if time.time() - os.lstat(path).st_mtime > STALE_TEMP_S:
                path.unlink()
                logger.info("removed %s, left by an interrupted write", path)
        except OSError:
            continue


def _missing_error(folder: _Folder) -> str:
    return f"folder missing: {folder.root}"


def _healthy(observer: BaseObserver) -> bool:
    return observer.is_alive() and all(e.is_alive() for e in list(observer.emitters))


def _stop_observer(observer: BaseObserver, timeout: float) -> None:
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout)
    except Exception:
        logger.exception("stopping an observer")
