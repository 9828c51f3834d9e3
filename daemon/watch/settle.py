"""The watcher's queue: one pending job per path, due once its settle time has passed, bounded.

A burst of events for one path is one job whose due time moves back with every event (the
debounce). A full queue turns new paths away (the caller then schedules a reconcile scan, which
finds them again), so memory stays bounded however many files arrive at once. An idle worker may
take a job `early`, before it is due, to prepare it while the settle time runs; a new event for
the path files a fresher job, which `wait_quiet` reports so the early work is dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from model.timeline.kinds import TimelineKind

Stat = tuple[int, int]  # (size, mtime_ns)


@dataclass
class Job:
    path: Path
    root: Path  # the watched folder it belongs to
    kind: TimelineKind
    due: float  # time.monotonic() after which the worker takes it
    stat: Stat | None  # at the last event or check; the next check must find the same
    attempts: int = 0  # readiness retries of a stable but incomplete file
    early: bool = True  # may be taken before it is due (until an early attempt gave it back)


class SettleQueue:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.peak = 0
        self.overflows = 0
        self._cond = threading.Condition()
        self._jobs: dict[Path, Job] = {}
        self._in_flight = 0
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)

    @property
    def depth(self) -> int:
        """Jobs waiting plus the one being worked on."""
        with self._cond:
            return len(self._jobs) + self._in_flight

    def put(self, job: Job) -> bool:
        """File a job; for a path already waiting, only push its due time back. False when full."""
        with self._cond:
            waiting = self._jobs.get(job.path)
            if waiting is not None:
                waiting.due, waiting.stat, waiting.attempts = max(waiting.due, job.due), job.stat, 0
                waiting.early = True
                return True
            if len(self._jobs) >= self.maxsize:
                self.overflows += 1
                return False
            self._jobs[job.path] = job
            self.peak = max(self.peak, len(self._jobs))
            self._cond.notify()
            return True

    def put_back(self, job: Job, delay: float | None) -> None:
        """Return a job the worker took (may exceed maxsize by that one job); a fresher one wins.
        `delay` None keeps its due time and takes it back only when due."""
        with self._cond:
            if job.path in self._jobs:
                return
            if delay is None:
                job.early = False
            else:
                job.due = time.monotonic() + delay
            self._jobs[job.path] = job
            self._cond.notify()

    def take(self, early: bool = False) -> Job | None:
        """Block until a job is due and return it (counted in flight until `done`); None once closed.
        With `early`, a job not yet due is taken at once when no job is due."""
        with self._cond:
            while not self._closed:
                wait = None
                if self._jobs:
                    job = min(self._jobs.values(), key=lambda j: j.due)
                    wait = job.due - time.monotonic()
                    if wait > 0 and early:
                        job = min((j for j in self._jobs.values() if j.early), key=lambda j: j.due, default=job)
                    if wait <= 0 or (early and job.early):
                        del self._jobs[job.path]
                        self._in_flight += 1
                        return job
                self._cond.wait(wait)
        return None

    def wait_quiet(self, path: Path, due: float) -> bool:
        """Wait until `due`; False as soon as a fresher job for `path` is filed or the queue closes."""
        with self._cond:
            while not self._closed and path not in self._jobs:
                wait = due - time.monotonic()
                if wait <= 0:
                    return True
                self._cond.wait(wait)
        return False

    def done(self) -> None:
        with self._cond:
            self._in_flight -= 1

    def drop(self, which: Callable[[Job], bool]) -> None:
        with self._cond:
            for path in [p for p, job in self._jobs.items() if which(job)]:
                del self._jobs[path]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
