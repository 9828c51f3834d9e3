"""The engine: one thread owns the model and runs every inference, fed through a bounded queue.

Calls are admitted before they do any work (reading, parsing, inference) and refused with
QueueFull when `queue_size` calls are already waiting or running, so an overloaded daemon says
"busy" at once instead of letting health checks queue behind inference. The model is loaded on
the engine thread (torch is imported there, in the serve process only), unloaded after
`keep_alive` idle seconds and loaded again by the next call. Results are cached by content hash
and options. Nothing here knows about gRPC: errors are DaemonError with a status name.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from daemon.config import Config
from daemon.errors import DaemonError
from daemon.paths import resolve
from model.inference import cancel, progress
from model.timeline import kinds
from model.timeline.errors import TimelineParseError

log = logging.getLogger(__name__)

MAX_EXTRA_MODELS = 1  # models named by requests kept beside the configured one
LONG_JOB_S = 1.0  # after a job this long, freed memory goes back to the OS at once
M_ARENA_MAX = -8  # glibc's mallopt parameter
MALLOC_ARENAS = 2
CALLER_CHECK_S = 0.25  # how often a waiting call checks that its caller is still there


class QueueFull(Exception):
    """Too many calls waiting or running."""


@dataclass
class LoadedModel:
    spec: str  # "" = the configured model
    predictor: Any
    path: str
    backend: str
    loaded_at: float

    @property
    def name(self) -> str:
        return str(getattr(self.predictor, "name", ""))

    @property
    def version(self) -> str:
        return str(getattr(self.predictor, "version", ""))

    @property
    def sha256(self) -> str:
        return str(getattr(self.predictor, "sha256", ""))


@dataclass
class ModelState:
    name: str = ""
    version: str = ""
    sha256: str = ""
    path: str = ""
    backend: str = ""
    loaded: bool = False
    idle_s: float = 0.0
    loads: int = 0


def load_model(spec: str, fall_back: bool, backend: str = "torch", threads: int | None = None) -> tuple[Any, str]:
    """(predictor, path) for a model spec: "" = the bundled default, "persistence", or a path.

    model.inference.load does the loading on `backend` (the predictor's `backend` says what runs it).
    With `fall_back`, a model file that cannot be loaded is logged in one line and the bundled
    default is used instead (a broken config must not leave the user without suggestions).
    """
    # Imported here: the model (numpy, maybe torch) loads in the engine thread of `mttd serve` only.
    from model.inference.load import PERSISTENCE, ModelLoadError, load_predictor

    cache = resolve().data_dir / "onnx"
    try:
        predictor = load_predictor(spec or None, backend, cache, threads)
    except ModelLoadError as err:
        if not (spec and fall_back):
            raise DaemonError("FAILED_PRECONDITION", f"cannot load model {spec or 'default'}: {err}") from None
        log.error("cannot load model %s (%s); using the bundled default", spec, err)
        return load_predictor(None, backend, cache, threads), ""
    return predictor, "" if spec == PERSISTENCE else spec


@dataclass
class _Job:
    fn: Callable[[Any], Any]
    spec: str
    future: Future = field(default_factory=Future)
    unwanted: str = ""  # set once its caller has gone: why (the job stops at its next check)
    label: str = ""  # what it works on (a file), for status
    stage: str = ""  # where it stands (model.inference.progress), for status
    done: float = 0.0

    def progress(self, stage: str, done: float) -> None:
        self.stage, self.done = stage, done

    def check(self) -> None:
        """model.inference.cancel's check for this job: stop work nobody waits for any more."""
        if self.unwanted:
            raise DaemonError("CANCELLED", f"stopped: {self.unwanted}")


class Ticket:
    """An admitted call. It holds one place in the queue until released (once)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._released = False
        self.future: Future | None = None

    def release(self) -> None:
        with self._engine._lock:
            if not self._released:
                self._released = True
                self._engine._admitted -= 1
                self._engine._lock.notify()

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        # A job still running after its caller gave up keeps its place until it finishes.
        if self.future is not None and not self.future.done():
            self.future.add_done_callback(lambda _f: self.release())
        else:
            self.release()


class Engine:
    def __init__(self, config: Config, on_ready: Callable[[str | None], None] = lambda error: None) -> None:
        self.config = config
        self.capacity = config.queue_size
        self._on_ready = on_ready
        self._lock = threading.Condition()  # guards the counters and models; notified when a place frees
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._state = ModelState()
        self._admitted = 0
        self._busy_since: float | None = None
        self._running: _Job | None = None
        self._closing = ""  # why new jobs are refused (set by cancel_all at shutdown)
        self._last_used = time.monotonic()
        self.counts = {"completed": 0, "rejected": 0, "failed": 0}
        self.cache = ResultCache(config.cache_entries, config.cache_mb * 1024 * 1024)
        self._thread = threading.Thread(target=self._loop, name="mttd-engine", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; its first job loads the configured model, then on_ready is called."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    # -- admission and calls -----------------------------------------------------------------

    def admit(self, wait: float = 0.0) -> Ticket:
        """A place in the queue, or QueueFull. Clients never wait (busy is answered at once);
        in-process producers such as the watcher may `wait` seconds for a place."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._admitted < self.capacity, timeout=wait):
                self.counts["rejected"] += 1
                raise QueueFull(f"the daemon is busy ({self._admitted} calls waiting or running); try again shortly")
            self._admitted += 1
        return Ticket(self)

    def run(self, ticket: Ticket | None, fn: Callable[[Any], Any], spec: str = "", timeout: float | None = None,
            alive: Callable[[], bool] | None = None, label: str = "") -> Any:
        """Run fn(predictor) on the engine thread and wait for it (at most `timeout` seconds).

        Calls from clients pass their admission ticket; in-process callers with a bounded queue
        of their own (the folder watcher) pass None and are not counted against `queue_size`.
        Once the timeout passes, or `alive()` says the caller has gone, the job is dropped if it
        has not started and stopped at its next check (model.inference.cancel) if it has: work
        nobody waits for must not hold the engine.
        """
        job = _Job(fn=fn, spec=spec, label=label)
        if ticket is not None:
            ticket.future = job.future
        with self._lock:
            if self._closing:
                raise DaemonError("UNAVAILABLE", f"not started: {self._closing}")
            self._jobs.put(job)
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            wait = CALLER_CHECK_S if deadline is None else min(CALLER_CHECK_S, max(deadline - time.monotonic(), 0.0))
            try:
                return job.future.result(timeout=wait)
            except FutureTimeout:
                pass
            except CancelledError:  # dropped before it started (cancel_all)
                raise DaemonError("CANCELLED", f"stopped: {job.unwanted or 'cancelled'}") from None
            if alive is not None and not alive():
                self._give_up(job, "the caller has gone")
                raise DaemonError("CANCELLED", "the caller has gone")
            if deadline is not None and time.monotonic() >= deadline:
                self._give_up(job, f"no result within {timeout:.1f} s")
                raise DaemonError("DEADLINE_EXCEEDED", f"no result within {timeout:.1f} s (the daemon is busy or the timeline is large)")

    def cancel_all(self, why: str) -> None:
        """Stop every job: the running one at its next check, the queued ones before they start;
        later calls are refused. For shutdown: running work must not outlive the daemon."""
        with self._lock:
            self._closing = why
            running = self._running
        with self._jobs.mutex:
            queued = [job for job in self._jobs.queue if job is not None]
        for job in ([running] if running is not None else []) + queued:
            self._give_up(job, why)

    def _give_up(self, job: _Job, why: str) -> None:
        job.unwanted = why
        if not job.future.cancel():
            log.info("stopping a running call: %s", why)

    # -- what status and info report (never waits for the engine thread) ----------------------

    def model_state(self) -> ModelState:
        with self._lock:
            state = ModelState(**vars(self._state))
            state.idle_s = 0.0 if self._busy_since is not None else time.monotonic() - self._last_used
        return state

    def queue_state(self) -> dict[str, Any]:
        with self._lock:
            busy = self._busy_since is not None
            job = self._running
            return {
                "depth": self._admitted,
                "capacity": self.capacity,
                "busy": busy,
                "busy_s": time.monotonic() - self._busy_since if busy else 0.0,
                **self.counts,
                "job": job.label if job else "",
                "stage": job.stage if job else "",
                "percent": round(100.0 * job.done, 1) if job else 0.0,
            }

    def model_identity(self, spec: str) -> tuple[str, str]:
        """What a cached result depends on: the spec and the sha256 last loaded for it."""
        with self._lock:
            loaded = self._models.get(spec)
            return (spec, loaded.sha256 if loaded else self._state.sha256 if not spec else "")

    # -- the engine thread -------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._load("")
        except Exception as err:  # noqa: BLE001 - reported through on_ready, then the daemon exits
            self._on_ready(_error_text(err))
            return
        self._last_used = time.monotonic()
        self._on_ready(None)
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_wait())
            except queue.Empty:
                self._on_idle()
                continue
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue  # its caller gave up before it started
            self._run_job(job)

    def _run_job(self, job: _Job) -> None:
        with self._lock:
            self._busy_since = time.monotonic()
            self._running = job
        try:
            predictor = self._predictor(job.spec)
            if self.config.debug_job_delay:
                time.sleep(self.config.debug_job_delay)
            with cancel.checking(job.check), progress.reporting(job.progress):
                job.check()
                result = job.fn(predictor)
        except BaseException as err:  # noqa: BLE001 - every failure goes back to its caller
            with self._lock:
                self.counts["failed"] += 1
            job.future.set_exception(err)
        else:
            with self._lock:
                self.counts["completed"] += 1
            job.future.set_result(result)
        finally:
            with self._lock:
                took = time.monotonic() - (self._busy_since or time.monotonic())
                self._busy_since = None
                self._running = None
                self._last_used = time.monotonic()
            if self.config.keep_alive == 0:
                self._unload("keep_alive is 0")
            elif took >= LONG_JOB_S:
                return_memory_to_os()  # a long programme's temporaries: give them back now, not at unload

    def _idle_wait(self) -> float | None:
        """Seconds until the model and the cached results are idle for keep_alive; None = never.
        The cache fills without the engine thread (features calls), so an empty engine still
        looks again every keep_alive (at least every second)."""
        keep_alive = self.config.keep_alive
        if keep_alive < 0:
            return None
        if not self._models and not self.cache.state()["entries"]:
            return max(1.0, keep_alive)
        return max(0.01, self._last_activity() + keep_alive - time.monotonic())

    def _last_activity(self) -> float:
        return max(self._last_used, self.cache.last_used)

    def _on_idle(self) -> None:
        if time.monotonic() - self._last_activity() < self.config.keep_alive:
            return  # used (a cached answer, a features call) since the wait began
        self.cache.clear()  # idle: give back what the results held, with the model
        self._unload("idle for %.0f s" % self.config.keep_alive)

    def _predictor(self, spec: str) -> Any:
        with self._lock:
            loaded = self._models.get(spec)
        if loaded is None:
            loaded = self._load(spec)
        with self._lock:
            self._models.move_to_end(spec)
        return loaded.predictor

    def _load(self, spec: str) -> LoadedModel:
        configured = spec == ""
        started = time.monotonic()
        if self.config.debug_load_delay:
            time.sleep(self.config.debug_load_delay)
        predictor, path = load_model(
            self.config.model if configured else spec, fall_back=configured, backend=self.config.backend, threads=self.config.threads
        )
        _limit_threads(self.config.threads)
        backend = predictor.backend
        loaded = LoadedModel(spec, predictor, path, backend, time.time())
        with self._lock:
            previous = self._state.sha256 if configured else None
            self._models[spec] = loaded
            while len(self._models) > 1 + MAX_EXTRA_MODELS:
                self._models.popitem(last=False)
            if configured:
                self._state = ModelState(
                    name=loaded.name, version=loaded.version, sha256=loaded.sha256, path=path,
                    backend=backend, loaded=True, loads=self._state.loads + 1,
                )
        if previous and previous != loaded.sha256:
            self.cache.clear()  # the model file changed under the same name
        log.info("model %s %s loaded (%s) in %.2f s", loaded.name, loaded.version, backend, time.monotonic() - started)
        return loaded

    def _unload(self, why: str) -> None:
        with self._lock:
            if not self._models:
                return
            self._models.clear()
        gc.collect()
        return_memory_to_os()
        with self._lock:
            self._state.loaded = False  # only now: status shows the memory as already given back
        log.info("model unloaded (%s)", why)


class ResultCache:
    """A small LRU of finished results keyed by content hash, options and model, bounded by
    entries and by bytes: one features document of a long timeline can hold tens of MB, so a
    count alone let 20 calls of 45 bytes each take the daemon from 123 to 843 MB."""

    def __init__(self, capacity: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.last_used = time.monotonic()
        self._flights: dict[Hashable, Future] = {}  # results being computed, by key

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any], wait_s: float) -> tuple[Any, bool]:
        """(value, hit): a kept result; else, while the same key is being computed for another
        call, that call's result (waited for up to `wait_s`, taking no queue place); else
        `compute()` (which takes one), kept for the next. 64 clients asking for one file at once
        are one computation, not 64 (before, 560 of 640 such calls were refused as busy)."""
        with self._lock:
            self.last_used = time.monotonic()
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key][0], True
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = Future()
                self.misses += 1
            else:
                self.hits += 1
        if not leader:
            try:
                return flight.result(timeout=max(wait_s, 0.0)), True
            except FutureTimeout:
                raise DaemonError("DEADLINE_EXCEEDED", f"no result within {wait_s:.1f} s (the same call is still running)") from None
        try:
            value = compute()
        except BaseException as err:
            with self._lock:
                self._flights.pop(key, None)
            flight.set_exception(err)
            raise
        self.put(key, value)
        with self._lock:
            self._flights.pop(key, None)
        flight.set_result(value)
        return value, False

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            self.last_used = time.monotonic()
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key][0]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: Any) -> None:
        size = _result_bytes(value)
        with self._lock:
            self.last_used = time.monotonic()
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.max_bytes:
                return  # larger than the whole cache: answered, never kept
            self._items[key] = (value, size)
            self.bytes += size
            while len(self._items) > self.capacity or self.bytes > self.max_bytes:
                self.bytes -= self._items.popitem(last=False)[1][1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def state(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._items), "capacity": self.capacity, "hits": self.hits, "misses": self.misses,
                    "bytes": self.bytes, "max_bytes": self.max_bytes}


def _result_bytes(value: Any) -> int:
    """What a cached result holds in memory: its strings (the documents) and a little for the rest."""
    if isinstance(value, (str, bytes)):
        return sys.getsizeof(value)
    if isinstance(value, (tuple, list)):
        return sys.getsizeof(value) + sum(_result_bytes(v) for v in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(_result_bytes(v) for v in value.values())
    return sys.getsizeof(value)


def _limit_threads(threads: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def return_memory_to_os() -> None:
    """glibc keeps freed arenas; malloc_trim hands them back so an unload shows in RSS."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """glibc gives each thread that allocates at once its own arena (up to 8 per core) and keeps
    what each freed: the daemon's RPC threads building large documents held +290 MB after 20
    features calls of an hour-long timeline, +139 MB with two arenas. Called before threads start."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return  # glibc read the user's own choice at start-up
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def _error_text(err: BaseException | None) -> str | None:
    if err is None:
        return None
    return err.message if isinstance(err, DaemonError) else f"{type(err).__name__}: {err}"


def rss_mb() -> float:
    """Resident memory of this process in MB (0 where /proc is unavailable)."""
    try:
        pages = int(open("/proc/self/statm").read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


# -- what a call reads ------------------------------------------------------------------------

# The daemon opens a path only when model.timeline.kinds names its suffix and the content starts
# like that kind; anything else is refused before it is read.
MAX_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class TimelineInput:
    """A timeline as a call gave it: a file's bytes, XML bytes, or the bridge JSON."""

    kind: str  # "path", "xml" or "timeline"
    name: str  # the path, or the name the caller gave (may be empty)
    data: bytes  # what the result cache and the document's sha256 are computed from
    json_data: Any = None  # the decoded bridge JSON for kind "timeline"

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.data).hexdigest()

    @property
    def label(self) -> str:
        return self.name or {"xml": "<xml>", "timeline": "<timeline>"}.get(self.kind, "<input>")

    def parse(self) -> Any:
        """The Timeline; DaemonError INVALID_ARGUMENT naming the file and line when unreadable."""
        try:
            if self.kind == "timeline":
                # the model's modules load on the engine thread, in the serve process only
                from model.timeline.timeline_json import timeline_from_dict

                return timeline_from_dict(self.json_data, self.label)
            # the model's modules load on the engine thread, in the serve process only
            from model.timeline.formats import read_timeline_bytes

            return read_timeline_bytes(self.data, self.label)
        except TimelineParseError as err:
            raise DaemonError("INVALID_ARGUMENT", f"cannot read {err.one_line()}", err.line, err.reason) from None


def input_from_path(text: str) -> TimelineInput:
    """Read a timeline file as the user, refusing anything that is not one."""
    import stat

    if not text:
        raise DaemonError("INVALID_ARGUMENT", "no path given")
    path = os.path.normpath(text)

    def refuse(code: str, reason: str) -> DaemonError:
        return DaemonError(code, f"{path}: {reason}", reason=reason)

    if not os.path.isabs(path):
        raise refuse("INVALID_ARGUMENT", "the path must be absolute (the daemon has no working directory of yours)")
    suffix = os.path.splitext(path)[1].lower()
    kind = kinds.BY_SUFFIX.get(suffix)
    if kind is None:
        raise refuse("INVALID_ARGUMENT", f"not a timeline file (expected {', '.join(kinds.BY_SUFFIX)})")
    try:
        # O_NONBLOCK: opening a FIFO named like a timeline must not hang the call.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise refuse("NOT_FOUND", "no such file") from None
    except PermissionError:
        raise refuse("PERMISSION_DENIED", "permission denied") from None
    except OSError as err:
        raise refuse("INVALID_ARGUMENT", err.strerror or str(err)) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise refuse("INVALID_ARGUMENT", "not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise refuse("INVALID_ARGUMENT", f"{st.st_size} bytes, larger than the {MAX_FILE_BYTES} byte limit")
        data = f.read(MAX_FILE_BYTES + 1)
    if not _starts_with(data, kind.first_byte):
        raise refuse("INVALID_ARGUMENT", f"does not look like a {suffix} timeline")
    return TimelineInput("path", path, data)


def input_from_xml(data: bytes, name: str) -> TimelineInput:
    return TimelineInput("xml", name, data)


def input_from_json(data: Any, name: str) -> TimelineInput:
    import json

    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return TimelineInput("timeline", name, canonical, data)


def _starts_with(data: bytes, first: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(first)
