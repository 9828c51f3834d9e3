"""Everything around the network that is numpy: its inputs, its heads' meaning, and decoding.

`Decoder` turns head outputs into the `Predictor` protocol (marginal predictions, the forecast
given a change, step-by-step rollouts); a subclass supplies only the network itself as
`run(x, start, cache)` and `trim(cache)`: `model.inference.network.NetworkPredictor` in torch,
`model.inference.onnx_backend.OnnxPredictor` on ONNX Runtime. This module never imports torch, so the
torch-free backend and the daemon's fast start share one copy of the decoding.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS, SequenceFeatures
from model.features.history import (
    N_RECENCY,
    History,
    HistoryArrays,
    framing_arrays,
    history_arrays,
    score_candidates,
    single_step,
)
from model.features.own_past import OnlineCounts, OwnPastGate, RowCounts, chain_view, framing_kept, mix, row_sum, softmax
from model.features.own_past_inputs import OnlineInputs, own_past_inputs
from model.inference import cancel, progress, reuse
from model.inference.predictor import N_SLOTS, VALUE_FIELDS, Predictions, Rollout
from model.timeline.types import SOURCE_KINDS
from model.training.metrics import Forecast

N_VALUES = len(VALUE_FIELDS)
PREDICTION_FIELDS = ("p_active", "asset_probs", "values", "p_change")
HEADS = (("event", 3), ("active", 2), ("asset", N_SLOTS), ("recency", N_RECENCY), ("values", N_VALUES), ("delta", N_VALUES))
NONE, MOVE, CUT = 0, 1, 2  # event classes
MOVE_START = 0.2  # rollouts: the least P(move) that lets a still shot start moving
MIN_SHOT_STEPS = 3  # rollouts: no shot or gap shorter (3 of 4,023 held-out synthetic shots are)
# Which manifest statistic normalises each value field (per parameter type, active cells only: F3).
STAT_OF_FIELD = ("scale", "pos_x", "pos_y", "crop", "crop", "crop", "crop")


@dataclass
class Norm:
    """Per-parameter-type statistics over active cells; in-shot changes in units of their median size.

    `delta_log`: the delta head works on a signed log of those units, since the moves it learns
    range from a slow zoom (1 unit) to a punch-in (100): on a linear scale the punch-ins' Huber
    loss would swamp every other component. Checkpoints from before it have a linear delta head.
    """

    mean: list[float] = field(default_factory=lambda: [100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    std: list[float] = field(default_factory=lambda: [1.0] * N_VALUES)
    delta: list[float] = field(default_factory=lambda: [1.0] * N_VALUES)
    delta_log: bool = False

    @classmethod
    def from_manifest(cls, stats: dict, delta: list[float]) -> Norm:
        mean = [float(stats[k]["mean"]) for k in STAT_OF_FIELD]
        std = [max(float(stats[k]["std"]), 1e-3) for k in STAT_OF_FIELD]
        return cls(mean=mean, std=std, delta=delta, delta_log=True)

    def delta_target(self, change: np.ndarray) -> np.ndarray:
        """The delta head's target for per-step value changes (..., 7) in physical units."""
        x = change / np.asarray(self.delta, np.float32)
        return np.sign(x) * np.log1p(np.abs(x)) if self.delta_log else x

    def delta_change(self, head: np.ndarray, snap: bool = False) -> np.ndarray:
        """Physical per-step value changes from the delta head's output (the inverse of delta_target).

        `snap`: changes under half a typical change become 0. In a move most fields stay put (a
        punch-in leaves the crop alone) and a regression never says exactly 0; as a point forecast
        under absolute error, "this field does not move" is the better call for such small values.
        """
        x = np.sign(head) * np.expm1(np.abs(head)) if self.delta_log else head
        if snap:
            x = np.where(np.abs(x) < 0.5, 0.0, x)
        return x * np.asarray(self.delta, np.float32)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """mean, std and delta as float32 arrays (made once: a rollout asks twice a step)."""
        key = (tuple(self.mean), tuple(self.std), tuple(self.delta))
        cached = self.__dict__.get("_arrays")
        if cached is None or cached[0] != key:
            cached = (key, tuple(np.asarray(v, np.float32) for v in key))
            self.__dict__["_arrays"] = cached
        return cached[1]


# ---------------------------------------------------------------- inputs


def encode_inputs(
    grid: np.ndarray, kind: np.ndarray, hist: HistoryArrays, norm: Norm, prev: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Model inputs of steps (..., T, 20, 9) with their history features; leading dims are kept.

    `prev` (..., 20, 9) is the step before the first one (None: the sequence starts here), for the
    per-step motion of values inside a shot (too small to see in the normalised values): a flag
    per track and a signed log of each value's change in units of its typical change.
    """
    mean, std, dscale = norm.arrays()
    active = grid[..., 0] > 0.5
    values = np.where(active[..., None], np.clip((grid[..., 2:] - mean) / std, -10, 10), 0.0)
    step = velocity(grid, hist.cut, prev) / dscale
    motion = np.concatenate([np.any(step != 0, axis=-1, keepdims=True), np.sign(step) * np.log1p(np.abs(step))], axis=-1)
    return {
        "active": active.astype(np.float32),
        "values": values.astype(np.float32),
        "motion": motion.astype(np.float32),
        "slot": np.where(active, grid[..., 1].astype(np.int64) + 1, 0),
        "kind": kind.astype(np.int64),
        "recency": hist.recency.astype(np.int64) + 1,
        "seen": hist.seen.astype(np.int64),
        "age": hist.age.astype(np.int64),
        "age_any": hist.age_any.astype(np.int64),
    }


def velocity(grid: np.ndarray, cut: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
    """Per-step change of the 7 values inside a shot (..., T, 20, 7); 0 at cuts and when off."""
    before = np.zeros_like(grid[..., :1, :, :]) if prev is None else prev[..., None, :, :]
    previous = np.concatenate([before, grid[..., :-1, :, :]], axis=-3)
    inside = ((grid[..., 0] > 0.5) & (previous[..., 0] > 0.5) & ~cut)[..., None]
    return np.where(inside, grid[..., 2:] - previous[..., 2:], 0.0)


def batch_of_one(hist: HistoryArrays, tail: int | None = None) -> HistoryArrays:
    """(T, ...) history arrays as a batch of one, optionally only the last -tail steps."""
    sl = slice(tail, None)
    return HistoryArrays(**{k: getattr(hist, k)[sl][None] for k in ("cut", "change", "recency", "seen", "age", "age_any")})


def kind_codes(feats: SequenceFeatures) -> np.ndarray:
    """Kind code of each source of the sequence, then 1 for a source it does not know yet (a file)."""
    return np.array([1 + SOURCE_KINDS.index(s.kind) for s in feats.sources] + [1], np.int64)


# ---------------------------------------------------------------- heads


def motion(speed: np.ndarray, delta: np.ndarray, norm: Norm, snap: bool = False) -> np.ndarray:
    """The next step's change of a moving shot: its velocity, or the delta head's when it was still."""
    moving = np.any(speed != 0, axis=-1, keepdims=True)
    return np.where(moving, speed, norm.delta_change(delta, snap))


def draw(p: np.ndarray, rng: np.random.Generator, sample: bool) -> np.ndarray:
    """One index per row of probabilities (n, k): sampled, or the most likely."""
    if not sample:
        return np.argmax(p, axis=-1)
    u = rng.random(p.shape[0])[:, None]
    return np.minimum((np.cumsum(p, axis=-1) < u * p.sum(-1, keepdims=True)).sum(-1), p.shape[-1] - 1)


# The values an editor can set: scale >= 0 %, crops 0-100 %, positions anywhere.
VALUE_LOW = np.array([0.0, -np.inf, -np.inf, 0.0, 0.0, 0.0, 0.0], np.float32)
VALUE_HIGH = np.array([np.inf, np.inf, np.inf, 100.0, 100.0, 100.0, 100.0], np.float32)


def in_range(values: np.ndarray) -> np.ndarray:
    """Values (..., 7) clipped to what an editor can set: a regression head or a zoom carried on
    by its velocity can overshoot (a crop of -0.15 % is no suggestion to make)."""
    return np.clip(values, VALUE_LOW, VALUE_HIGH)


FULL_FRAME = np.array([100.0, 0, 0, 0, 0, 0, 0], np.float32)
CANCEL_EVERY = 64  # rollout steps between checks that the call is still wanted (model.inference.cancel)
SEGMENT_CHUNKS = 4  # a pass splits over workers only when each part is at least this many chunks per layer
MARGINAL_BLOCK = 512  # steps per block of the marginal predictions (bounds their temporaries)
MARGINAL_SHARE = 4  # blocks each thread takes at least when the predictions split over threads
SNAP_BLOCK = 8192  # cells per block when snapping (bounds the (cells, 21, 7) candidate array)


def after_cut(head_values: np.ndarray, framing: np.ndarray, framed: np.ndarray, active_now: np.ndarray,
              std: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """The values a track shows after a cut, over (..., 20 tracks, 7 values).

    - A track switching back on takes up the framing it last had: editors give a track one
      framing (a full frame, a picture-in-picture corner) and keep it across the shots they put
      there, and the network cannot see the framing of a track that is off (its inputs are zero
      there). Held-out IoU at switch-ons 0.80 -> 0.93.
    - A track's first shot takes the framing in use (on any track so far, or the full frame)
      nearest to the values head's guess, in units of each field's spread: the head's guess is
      a mean between framings (scale 80.7 between 100 and 50), which no editor would set.
      Held-out IoU at those switch-ons 0.77 -> 0.85.
    - At a cut between two shots the head decides: it has the lower absolute error there, and
      keeping the framing gains almost no IoU (on the synthetic styles). Where `keep` (cells, from
      the timeline's own past: most of its cuts between shots kept the framing, as on real
      programmes) the track keeps its framing instead.
    """
    held = framed & ~active_now if keep is None else framed & (~active_now | keep)
    out = np.where(held[..., None], framing, head_values)
    first = ~framed
    if not first.any():
        return out
    # Candidates per cell: the 20 tracks' framings at that step (full frame where none) + full frame.
    cands = np.concatenate([np.where(framed[..., None], framing, FULL_FRAME), np.broadcast_to(FULL_FRAME, framing[..., :1, :].shape)], axis=-2)
    lead = first.shape[:-1]
    cells = np.argwhere(first)  # (n, ndim): leading index..., track
    by_field = np.moveaxis(cands, -1, 0).copy()  # (7, ..., 21): one field of every candidate at a time
    for lo in range(0, len(cells), SNAP_BLOCK):
        block = cells[lo : lo + SNAP_BLOCK]
        where = tuple(block.T)
        head = head_values[where]  # (n, 7)
        # Sum of |head - candidate| / std over the 7 fields, a field at a time (numpy's sum over
        # 7 terms adds them one after another: the same numbers, without (n, 21, 7) temporaries).
        dist = None
        for f in range(head.shape[-1]):
            field_rows = by_field[f][where[:-1]] if lead else by_field[f]  # (n, 21) or (21,)
            d = np.abs((head[:, f, None] - field_rows) / std[f])
            dist = d if dist is None else dist + d
        pick = dist.argmin(-1)
        out[where] = cands[(*where[:-1], pick)] if lead else cands[pick]
    return out


# ---------------------------------------------------------------- the predictor around a network


@dataclass
class Primed:
    """Where a rollout starts: the heads' row about step `start`, the cache of the steps before
    it, the History after them and the shots' velocity there. A rollout consumes it (the
    History steps on)."""

    start: int
    last: dict[str, np.ndarray]
    cache: Any
    cached: int  # steps the cache holds
    hist: History
    speed: np.ndarray
    done: dict[tuple, Rollout] | None = None  # (n_steps, seed, sample) -> the same rollout from the last pass
    keep: dict[tuple, Rollout] | None = None  # where a rollout from here is kept for the next pass
    chain: OnlineCounts | None = None  # the own-past counts after the context (with a gate)
    inputs: OnlineInputs | None = None  # the own-past inputs after the context (a network that reads them)
    net_last: dict[str, np.ndarray] | None = None  # the network's own row about `start` (before the mix)
    replay: dict[tuple, tuple] | None = None  # (n_steps, seed, sample) -> (network outputs, input digests) of the last pass's rollout
    keep_nets: dict[tuple, tuple] | None = None  # where a rollout's network outputs and input digests are kept for the next pass


def _detached(window: Any) -> Any:
    """A numpy cache window as its own arrays: a view would keep the chunk's whole cache alive
    (twice the memory, for every rollout start kept)."""
    if isinstance(window, tuple) and all(isinstance(c, np.ndarray) for c in window):
        return tuple(np.array(c) for c in window)
    return window


def _input_digest(x: dict[str, np.ndarray]) -> bytes:
    """A digest of one step's network inputs (equal inputs after an equal cache: equal outputs)."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(x):
        h.update(name.encode())
        h.update(np.ascontiguousarray(x[name]).tobytes())
    return h.digest()


def _network_identity(p: Primed) -> bytes:
    """A digest of what the network side of a rollout from `p` starts from: the cache window and
    the network's own row about the start (before the own-past mix)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (*(p.cache if isinstance(p.cache, tuple) else (p.cache,)), *(p.net_last or {}).values()):
        h.update(np.ascontiguousarray(np.asarray(part)).tobytes())
    return h.digest()


def _digest_state(h, value: Any, depth: int = 8) -> None:
    """Feed `value` to the digest `h`: arrays by their bytes, objects by their attributes (a few
    levels down), containers item by item, anything else by its repr."""
    if isinstance(value, np.ndarray):
        h.update(np.ascontiguousarray(value).tobytes())
    elif depth and isinstance(value, (tuple, list)):
        for v in value:
            _digest_state(h, v, depth - 1)
    elif depth and (isinstance(value, dict) or hasattr(value, "__dict__")):
        for k, v in (value if isinstance(value, dict) else vars(value)).items():
            h.update(repr(k).encode())
            _digest_state(h, v, depth - 1)
    else:
        h.update(repr(value).encode())


def _context_identity(p: Primed, feats: SequenceFeatures) -> bytes:
    """A digest of everything a rollout from `p` reads: the cache window, the heads' last row, the
    shots' velocity, the History (its sources in first-seen order: the order of the candidates a
    cut draws from), the own-past counts and inputs it steps on, and the sequence's sources. Equal
    digests, equal rollouts (a re-save whose edit leaves a rollout's context alone keeps that rollout)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (*(p.cache if isinstance(p.cache, tuple) else (p.cache,)), *p.last.values(), p.speed):
        h.update(np.ascontiguousarray(np.asarray(part)).tobytes())
    hist = p.hist
    for part in (hist.active, hist.src, hist.values, hist.framing, hist.framed, hist.since_cut, hist.recency, hist.seen):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(repr((hist.t, hist.since_any, hist.mru, list(hist.last_seen.items()))).encode())
    _digest_state(h, (p.chain, p.inputs))  # the chain's counts beyond the last row's states, the inputs' statistics
    h.update("\0".join(src.key for src in feats.sources).encode())
    return h.digest()


class ChunkRun:
    """The chunks of one teacher-forced pass: each `context` steps through the cache of the steps
    before it, writing the heads' outputs, the caches at rollout starts and (with `keep`) the
    memo's snapshots.

    A long pass splits over the predictor's `workers` threads, each running its part on one
    thread. The network's reach is bounded: a step's outputs depend only on the n_layer x
    (context - 1) steps before it (model.inference.reuse), so a part starting at chunk a runs
    the n_layer chunks before a from an empty cache first, and from a on its chunks see the very
    same inputs, caches and chunk boundaries as one pass from the start: the same numbers, at
    n_layer chunks of extra work per part (4 of 94 on a 40-minute programme).
    """

    def __init__(self, decoder: Decoder, feats: SequenceFeatures, encoded, starts: tuple[int, ...], keep: bool,
                 out: dict[str, np.ndarray], snapshots: dict[int, Any], caches: dict[int, Any],
                 memo: reuse.PassMemo | None = None, taken: bool = False) -> None:
        self.decoder, self.feats, self.encoded, self.starts, self.keep = decoder, feats, encoded, starts, keep
        self.out, self.snapshots, self.caches = out, snapshots, caches
        self.memo, self.taken = memo, taken  # the last pass (its arrays are `out` when taken)
        self.first_new: list[int] = []  # per part, its first row whose outputs differ from the memo's
        self.done = 0  # chunks finished (all parts)
        self.stop = threading.Event()  # the caller stopped waiting: the other parts stop too

    def run_all(self, start: int, stop: int, cache: Any, n_layer: int, warm_from: int | None = None) -> None:
        """Chunks start.. up to stop, from `cache` (or from no cache after the chunks from `warm_from`)."""
        warm_from = start if warm_from is None else warm_from
        context = self.decoder.context
        heads = list(range(start, stop, context))
        workers = self.decoder.workers or self.decoder.default_workers()
        parts = split_chunks(len(heads), workers, n_layer)
        self.total = max(len(heads), 1)
        if len(parts) == 1:
            with self.decoder.scope(single_steps=False):
                self.run(start, stop, warm_from, cache, calling=True)
            return
        bounds = [heads[i] for i in parts[1:]] + [stop]
        with self.decoder.parallel_scope(), ThreadPoolExecutor(len(parts) - 1, thread_name_prefix="mtt-pass") as pool:
            others = [pool.submit(self.worker, a, b, heads[i - n_layer]) for i, a, b in zip(parts[1:], bounds, bounds[1:])]
            try:
                self.run(start, bounds[0], warm_from, cache, calling=True)
            except BaseException:
                self.stop.set()
                raise
            finally:
                for f in others:
                    f.exception()  # wait for every part (a failed one raises below)
            for f in others:
                f.result()

    def worker(self, first: int, stop: int, warm_from: int) -> None:
        try:
            with self.decoder.scope(single_steps=False):
                self.run(first, stop, warm_from, None, calling=False)
        except BaseException:
            self.stop.set()
            raise

    def run(self, first: int, stop: int, warm_from: int, cache: Any, calling: bool) -> None:
        """Chunks first.. up to stop, after the chunks from warm_from (their outputs are not kept).
        Only the `calling` thread checks for cancellation and reports progress (both are per thread)."""
        dec, feats, context, steps = self.decoder, self.feats, self.decoder.context, self.feats.steps
        memo, first_new = self.memo, steps
        for a in range(warm_from, stop, context):
            if self.stop.is_set():
                return
            if calling:
                cancel.check()  # a long sequence is many chunks: stop between them once unwanted
                progress.report("predict", self.done / self.total)
            counted = a >= first
            if counted and self.keep and a > 0 and a % (reuse.SNAPSHOT_EVERY * context) == 0:
                self.snapshots[a] = _detached(cache)  # the trimmed view kept the whole returned cache (twice the steps)
            chunk, cache = dec.run(self.encoded(a, min(a + context, steps)), a, cache)
            if counted:
                at = a - min(a, context - 1)  # the step the returned cache begins at
                for s in (s for s in self.starts if a < s <= a + context):
                    self.caches[s] = _detached(dec.window(cache, max(s - (context - 1), 0) - at, s - at))
                n = chunk["event"].shape[1]
                calibrated = dec.calibrate({k: v[0] for k, v in chunk.items()}, feats.grid[a : a + n, :, 0] > 0.5)
                if memo is not None and first_new == steps:  # where do the outputs first differ from the memo's?
                    first_new = reuse.first_differing_row(calibrated, self.out if self.taken else memo.out, a, memo.steps, steps)
                for k, v in calibrated.items():
                    self.out[k][a : a + n] = v
                self.done += 1
            cache = dec.trim(cache)
        self.first_new.append(first_new)


def split_chunks(n: int, workers: int, n_layer: int) -> list[int]:
    """The first chunk of each part when n chunks split over `workers` threads: as many parts as
    keep SEGMENT_CHUNKS x n_layer chunks each, sized so that every part does the same work (each
    but the first also runs n_layer chunks before its own)."""
    parts = min(workers, n // (SEGMENT_CHUNKS * max(n_layer, 1))) if n_layer else 1
    if parts <= 1:
        return [0]
    per = (n + (parts - 1) * n_layer) / parts  # chunks each part runs, its warm-up included
    return [0] + [round(k * per - (k - 1) * n_layer) for k in range(1, parts)]


class Decoder:
    """The `Predictor` protocol around a network that maps encoded inputs to head outputs.

    Subclasses set `norm`, `event_shift`, `step_seconds`, `context` (attention span in steps),
    `heads` ((name, size) pairs), `version` and `sha256`, and implement `run` and `trim`.
    """

    name = "mtt"
    norm: Norm
    event_shift: float = 0.0
    step_seconds: Fraction
    context: int
    heads: tuple[tuple[str, int], ...] = HEADS
    trim_slack = 0  # steps a rollout's cache may grow past context-1 before it is cut back
    own_past: OwnPastGate | None = None  # the gate that mixes in the own-past chain (None: the network alone)
    own_inputs: bool = False  # the network reads the own-past statistics as inputs (x["own_past"])
    workers: int | None = None  # threads a long teacher-forced pass may split over (None: `default_workers`)

    def run(self, x: dict[str, np.ndarray], start: int, cache: Any) -> tuple[dict[str, np.ndarray], Any]:
        """Head outputs {name: (1, T, 20, n)} of T new steps at positions start.. and the new cache."""
        raise NotImplementedError

    def window(self, cache: Any, lo: int | None, hi: int | None) -> Any:
        """The cache's entries lo:hi along its step axis (Python slice semantics)."""
        raise NotImplementedError

    def trim(self, cache: Any) -> Any:
        """The cache cut to the last context-1 steps (the next step looks back `context` steps with itself)."""
        return self.window(cache, -(self.context - 1), None)

    def scope(self, single_steps: bool) -> AbstractContextManager:
        """Where a batch of `run` calls happens (torch: inference mode, one thread for single steps)."""
        return nullcontext()

    def default_workers(self) -> int:
        """Threads a long pass may use unless `workers` says otherwise (torch: its thread count)."""
        return 1

    def parallel_scope(self) -> AbstractContextManager:
        """Around a pass split over worker threads: every `run` on one thread (each worker runs in
        `scope(single_steps=False)`, the calling thread in this scope)."""
        return self.scope(single_steps=True)

    # -- teacher-forced outputs

    def outputs(self, feats: SequenceFeatures) -> dict[str, np.ndarray]:
        """Head outputs (T, 20, n) for every step; long sequences go in chunks through the cache."""
        return self.outputs_and_caches(feats, ())[0]

    def outputs_and_caches(
        self, feats: SequenceFeatures, starts: tuple[int, ...], arrays: HistoryArrays | None = None
    ) -> tuple[dict[str, np.ndarray], dict[int, Any]]:
        """`outputs` and, from the same pass, {start: cache of the steps before it} for each start,
        so rollouts from there need not encode their context again (see `predict_primed`)."""
        arrays = history_arrays(feats.grid, feats.source_index) if arrays is None else arrays
        out, caches, *_ = self._pass(feats, starts, arrays, None, keep=False)
        return self.with_own_past(out, feats.grid, arrays), caches

    def _pass(self, feats: SequenceFeatures, starts: tuple[int, ...], arrays: HistoryArrays | None,
              memo: reuse.PassMemo | None, keep: bool):
        """The teacher-forced pass in chunks of `context` steps through the cache; with the memo of
        an earlier version of the sequence, only the chunks its changes reach (model.inference.reuse).
        Returns the outputs, the caches at `starts`, the new memo (when `keep`) and the plan."""
        self._check_step(feats)
        arrays = history_arrays(feats.grid, feats.source_index) if arrays is None else arrays
        steps, context = feats.steps, self.context
        own = own_past_inputs(feats.grid, arrays, feats.source_index) if self.own_inputs else None

        def encoded(lo: int, hi: int) -> dict[str, np.ndarray]:
            """Inputs of steps lo..hi-1 (encoded a chunk at a time: a whole 40-minute sequence's are 50 MB)."""
            prev = feats.grid[None, lo - 1] if lo > 0 else None
            rows = batch_of_one(arrays.rows(slice(lo, hi)))
            x = encode_inputs(feats.grid[None, lo:hi], feats.source_kind[None, lo:hi], rows, self.norm, prev)
            return x if own is None else {**x, "own_past": own[None, lo:hi]}

        n_layer = getattr(self, "n_layer", None)
        def raw(lo: int, hi: int) -> dict[str, np.ndarray]:
            """What the encoded inputs of steps lo..hi-1 are made of, besides the grid (and the grid
            row before each step, whose own digest row covers it: see reuse.plan)."""
            rows = arrays.rows(slice(lo, hi))
            parts = {"kind": feats.source_kind[lo:hi], "cut": rows.cut, "recency": rows.recency, "seen": rows.seen,
                     "age": rows.age, "age_any": rows.age_any}
            return parts if own is None else {**parts, "own_past": own[lo:hi]}

        dg = reuse.digest(raw, feats.grid) if keep or memo is not None else None
        plan = reuse.plan(memo if n_layer else None, dg, context, n_layer or 0) if dg is not None else reuse.Plan(0, steps, 0, steps - 1, False)
        # A re-save of the same length takes the memo's arrays over and overwrites the rows it runs
        # (the caller has taken the memo out of its store: a pass stopped half-way leaves none).
        taken = memo is not None and plan.same_length and all(memo.out[k].shape == (steps, N_TRACKS, n) for k, n in self.heads)
        out = memo.out if taken else {name: np.empty((steps, N_TRACKS, n), np.float32) for name, n in self.heads}
        snapshots: dict[int, Any] = {}
        caches: dict[int, Any] = {}
        if memo is not None and (plan.start > 0 or plan.same_length):
            for k in out if not taken else ():
                out[k][: plan.start] = memo.out[k][: plan.start]
                if plan.same_length:
                    out[k][plan.stop :] = memo.out[k][plan.stop :]
            reach = plan.last_change + 1 + (n_layer - 1) * (context - 1)  # K/V from here on are the memo's
            snapshots = {a: c for a, c in memo.snapshots.items() if a <= plan.first_change or (plan.same_length and a - (context - 1) >= reach)}
            memo.snapshots = {}  # this pass's own now (the memo is its caller's no more): the others go at once
            caches = {s: memo.windows[s] for s in starts if s in memo.windows
                      and (s <= plan.first_change or (plan.same_length and s - (context - 1) >= reach))}
            missing = [s for s in starts if s not in caches and not plan.start < s <= plan.stop]
            if missing:  # a start the memo has no cache for: run its chunk too (exactly a full pass's cache)
                start = max((a for a in snapshots if a <= min(plan.first_change, min(missing) - 1)), default=0)
                stop = min(steps, max(plan.stop, -(-max(missing) // context) * context))
                plan = dataclasses.replace(plan, start=min(start, plan.start), stop=stop)
        warm_from = None
        first_chunk = plan.first_change // context * context
        if taken and n_layer and plan.start < first_chunk - n_layer * context and not any(plan.start < s <= first_chunk for s in starts
                                                                                          if s not in caches):
            # Nearer than the stored cache: n_layer chunks from no cache give the very cache a pass
            # from the start has before the changed chunk (see ChunkRun); the rows between are the memo's.
            warm_from, plan = first_chunk - n_layer * context, dataclasses.replace(plan, start=first_chunk)
        cache = snapshots.get(plan.start) if plan.start > 0 and warm_from is None else None
        chunks = ChunkRun(self, feats, encoded, starts, keep, out, snapshots, caches, memo, taken)
        chunks.run_all(plan.start, plan.stop, cache, n_layer or 0, warm_from)
        first_new = 0 if memo is None else min(chunks.first_new, default=steps)
        new_memo = reuse.PassMemo(dg, out, snapshots, dict(caches), reuse.last_active_steps(feats.grid)) if keep else None
        return out, caches, new_memo, plan, first_new

    def with_own_past(self, out: dict[str, np.ndarray], grid: np.ndarray, arrays: HistoryArrays) -> dict[str, np.ndarray]:
        """Teacher-forced head outputs (T, 20, n) mixed with the own-past chain by the model's gate
        (after the pass: the memo of model.inference.reuse keeps the network's own outputs)."""
        if self.own_past is None:
            return out
        return mix(out, chain_view(grid, arrays), self.own_past)

    def framing_keeps(self, grid: np.ndarray, arrays: HistoryArrays) -> np.ndarray | None:
        """Cells (T, 20) where a cut between two shots keeps the framing (the gate's own-past rule)."""
        if self.own_past is None or self.own_past.keep_framing > 1:
            return None
        return np.broadcast_to((framing_kept(grid, arrays) > self.own_past.keep_framing)[:, None], grid.shape[:2])

    def predict_primed(
        self, feats: SequenceFeatures, starts: tuple[int, ...], key: Any = None
    ) -> tuple[Predictions, dict[int, Primed]]:
        """`predict` and, from the same pass, rollouts primed at each start in 1..T (review, next
        and fill together read the network over the sequence once).

        With a `key` (the caller's identity of the sequence: its file and name) the pass and its
        rollouts are kept, and the next call with that key (a re-save) runs only what its edit
        reaches (model.inference.reuse); the results are the same as a full pass's."""
        arrays = history_arrays(feats.grid, feats.source_index)
        starts = tuple(s for s in set(starts) if 0 < s <= feats.steps)
        memos = self.__dict__.setdefault("_memos", reuse.MemoStore())
        memo = memos.pop((key, self.sha256)) if key is not None else None  # the pass may take its arrays over
        out, caches, new_memo, plan, first_new = self._pass(feats, starts, arrays, memo, keep=key is not None)
        # The chain is mixed in a block of rows at a time, and on a re-save only from the first row
        # the edit reaches: the network's own outputs stay in the memo, its mixture is not kept.
        counts = RowCounts(feats.grid, arrays) if self.own_past is not None else None
        if new_memo is None:
            preds = self._marginal_blocks(feats, out, arrays, 0, feats.steps, counts)
        else:
            preds = self._spliced_predictions(feats, out, arrays, memo, new_memo, plan, first_new, counts)
            new_memo.preds = preds
            memos.put((key, self.sha256), new_memo)
        primed = {}
        for s, cache in caches.items():
            grid, src = feats.grid[:s], feats.source_index[:s]
            head = arrays.rows(slice(0, s))
            hist = History.after(grid, src, head)
            speed = velocity(grid[-2:], head.cut[-2:])[-1]
            chain = counts.online(s) if counts is not None else None
            inputs = OnlineInputs.after(grid, head, src) if self.own_inputs else None
            last = self._mixed({k: v[s - 1 : s] for k, v in out.items()}, counts, s - 1, s, recency=True)
            primed[s] = Primed(s, {k: v[0] for k, v in last.items()}, cache, min(s, self.context - 1), hist, speed,
                               chain=chain, inputs=inputs, net_last={k: v[s - 1] for k, v in out.items()})
            if new_memo is not None:
                self._reuse_rollouts(primed[s], feats, memo, new_memo, plan)
        return preds, primed

    def _reuse_rollouts(self, p: Primed, feats: SequenceFeatures, memo: reuse.PassMemo | None, new_memo: reuse.PassMemo,
                        plan: reuse.Plan) -> None:
        """What the last pass's rollouts from `p.start` give this one: the same rollouts where the
        whole context is the same, else a replay through the network's kept outputs where the
        network starts from the same cache and row (`_rollout`)."""
        s = p.start
        new_memo.identities[s] = identity = _context_identity(p, feats)
        new_memo.net_identities[s] = net_identity = _network_identity(p)
        same = memo is not None and (s <= plan.first_change or memo.identities.get(s) == identity)
        old = memo.rollouts if same else {}
        p.done = {k[1:]: r for k, r in old.items() if k[0] == s}
        new_memo.rollouts.update({(s, *k): r for k, r in p.done.items()})
        new_memo.nets.update({(s, *k): memo.nets[(s, *k)] for k in p.done if (s, *k) in memo.nets})
        if memo is not None and not same and memo.net_identities.get(s) == net_identity:
            p.replay = {k[1:]: nets for k, nets in memo.nets.items() if k[0] == s}
        p.keep, p.keep_nets = new_memo.rollouts, new_memo.nets

    def _mixed(self, out: dict[str, np.ndarray], counts: RowCounts | None, lo: int, hi: int, recency: bool = False) -> dict[str, np.ndarray]:
        """The network's head outputs of rows lo..hi-1 mixed with the own-past chain by the gate
        (as they are without one); the recency head only when asked (predictions have none)."""
        if counts is None or self.own_past is None:
            return out
        return mix(out, counts.view(lo, hi, recency), self.own_past)

    def _marginal_blocks(self, feats, out, arrays, lo: int, hi: int, counts: RowCounts | None = None,
                         into: Predictions | None = None) -> Predictions:
        """`marginal` of the network's outputs `out`, mixed with the chain (`counts`), of rows lo..hi-1,
        MARGINAL_BLOCK rows at a time (their temporaries for a whole 40-minute sequence would be a
        few hundred MB), written into `into` (whole-sequence arrays) or new arrays of rows lo..hi-1."""
        framing = framing_arrays(feats.grid)
        keeps = self.framing_keeps(feats.grid, arrays)
        offset = 0 if into is not None else lo
        parts = into
        if parts is None and hi > lo:
            shapes = {"p_active": (), "asset_probs": (N_SLOTS,), "values": (N_VALUES,), "p_change": ()}
            parts = Predictions(**{name: np.empty((hi - lo, N_TRACKS, *shapes[name]), np.float32) for name in PREDICTION_FIELDS})

        def rows(a: int, b: int) -> None:  # blocks of rows a..b-1, in order
            for c in range(a, b, MARGINAL_BLOCK):
                d = min(c + MARGINAL_BLOCK, b)
                block = self._mixed({k: v[c:d] for k, v in out.items()}, counts, c, d)
                part = self._marginal_rows(feats, block, arrays, c, d, framing, keeps)
                for name in PREDICTION_FIELDS:
                    getattr(parts, name)[c - offset : d - offset] = getattr(part, name)

        # Blocks are independent (numpy lets go of the GIL in their array work): with several
        # threads, each takes a contiguous share of them.
        blocks = -(-(hi - lo) // MARGINAL_BLOCK)
        workers = min(self.workers or self.default_workers(), blocks // MARGINAL_SHARE)
        if workers > 1:
            bounds = [lo + (k * blocks // workers) * MARGINAL_BLOCK for k in range(workers)] + [hi]
            with ThreadPoolExecutor(workers - 1, thread_name_prefix="mtt-marginal") as pool:
                others = [pool.submit(rows, a, b) for a, b in zip(bounds[1:], bounds[2:])]
                rows(bounds[0], bounds[1])
                for f in others:
                    f.result()
        else:
            rows(lo, hi)
        if parts is None:  # no rows
            return self._marginal_rows(feats, {k: v[lo:hi] for k, v in out.items()}, arrays, lo, hi, framing, keeps)
        return parts

    def _spliced_predictions(self, feats, out, arrays, memo, new_memo, plan, first_new: int, counts: RowCounts | None) -> Predictions:
        """The memo's predictions with the rows the edit reaches recomputed (one span covering them).
        With a gate that is every row from the first whose inputs or network outputs changed (the
        chain's counts of every later row include the edit)."""
        steps = feats.steps
        if memo is None or memo.preds is None or not plan.same_length and plan.start == 0:
            return self._marginal_blocks(feats, out, arrays, 0, steps, counts)
        kept = len(memo.preds.p_active)
        if self.own_past is not None:
            lo, hi = min(plan.first_change, first_new, kept), steps
        else:
            rows = reuse.changed_rows(plan, memo, new_memo.digest, new_memo.last_active)
            rows[kept:] = True
            changed = np.flatnonzero(rows)
            if len(changed) == 0:
                return memo.preds
            lo, hi = int(changed[0]), int(changed[-1]) + 1
        if kept == steps:  # the memo's arrays, its rows lo..hi-1 overwritten (the memo is the caller's no more)
            into = memo.preds
        else:
            into = Predictions(**{name: np.empty((steps, *getattr(memo.preds, name).shape[1:]), np.float32) for name in PREDICTION_FIELDS})
            for name in PREDICTION_FIELDS:
                old, full = getattr(memo.preds, name), getattr(into, name)
                full[:lo] = old[:lo]
                full[hi:] = old[hi:steps]
        return self._marginal_blocks(feats, out, arrays, lo, hi, counts, into)

    def calibrate(self, out: dict[str, np.ndarray], active: np.ndarray) -> dict[str, np.ndarray]:
        """Undo a known prior shift of the cut logit of empty tracks (logit adjustment).

        A checkpoint trained with empty-track cells split by their state at t+1 (format 3 before
        the split moved to the state at t) weighted "an empty track switches on" by about
        N_idle / N_live; `event_prior_shift` in its JSON is log of that ratio on its training
        data, 0 for checkpoints trained since.
        """
        if self.event_shift:
            event = out["event"].copy()
            event[..., CUT] -= self.event_shift * ~active
            out = {**out, "event": event}
        return out

    def predict(self, feats: SequenceFeatures) -> Predictions:
        return self.predict_primed(feats, ())[0]

    def marginal(self, feats: SequenceFeatures, out: dict[str, np.ndarray], arrays: HistoryArrays | None = None,
                 rows: slice | None = None, framing: tuple[np.ndarray, np.ndarray] | None = None) -> Predictions:
        """Mix "nothing changes" (the current state) with "after a cut" by the event head; only
        `rows` of it when given (a row depends on its own step, the one before and the framings)."""
        arrays = history_arrays(feats.grid, feats.source_index) if arrays is None else arrays
        lo, hi = (0, feats.steps) if rows is None else (rows.start, rows.stop)
        framing = framing_arrays(feats.grid) if framing is None else framing
        keeps = self.framing_keeps(feats.grid, arrays)
        return self._marginal_rows(feats, {k: v[lo:hi] for k, v in out.items()}, arrays, lo, hi, framing, keeps)

    def _marginal_rows(self, feats: SequenceFeatures, out: dict[str, np.ndarray], arrays: HistoryArrays, lo: int, hi: int,
                       framing: tuple[np.ndarray, np.ndarray], keeps: np.ndarray | None) -> Predictions:
        """`marginal` of rows lo..hi-1 from their (mixed) head outputs `out` (hi - lo rows); `framing`
        and `keeps` are the whole sequence's (made once per pass, not once per block)."""
        mean, std, _ = self.norm.arrays()
        framing, framed = framing[0][lo:hi], framing[1][lo:hi]
        speed = velocity(feats.grid[lo:hi], arrays.cut[lo:hi], feats.grid[lo - 1] if lo > 0 else None)
        grid = feats.grid[lo:hi]
        event = softmax(out["event"])
        p_cut = event[..., CUT]
        active_now = grid[..., 0] > 0.5
        p_on_after_cut = softmax(out["active"])[..., 1]
        p_active = p_cut * p_on_after_cut + (1 - p_cut) * active_now
        asset_after_cut = softmax(out["asset"])
        current = np.eye(N_SLOTS, dtype=np.float32)[grid[..., 1].astype(np.int64).clip(0, MAX_SLOT)]
        stay = ((1 - p_cut) * active_now)[..., None]
        mixed = stay * current + (p_cut * p_on_after_cut)[..., None] * asset_after_cut
        asset = np.where(active_now[..., None], mixed / np.maximum(row_sum(mixed)[..., None], 1e-9), asset_after_cut)
        # Values as a decision: under absolute error the best point forecast is the median, which
        # stays at the current values unless one kind of change is likelier than not. So: the
        # cut's values if P(cut) >= 1/2; the shot's current velocity (keyframes are linear between
        # keys) or, when it starts to move, the delta head if P(move) > 1/2; else the current values.
        # (The most likely of the three events is not enough: a move at 40 % against "nothing" at
        # 35 % is still a jump that does not happen 60 % of the time.)
        cut_values = after_cut(out["values"] * std + mean, framing, framed, active_now, std, None if keeps is None else keeps[lo:hi])
        moving = (event[..., MOVE] > 0.5)[..., None]
        kept_values = grid[..., 2:] + np.where(moving, motion(speed, out["delta"], self.norm, snap=True), 0.0)
        keep = (active_now & (p_cut < 0.5))[..., None]
        return Predictions(
            p_active=p_active.astype(np.float32),
            asset_probs=asset.astype(np.float32),
            values=in_range(np.where(keep, kept_values, cut_values)).astype(np.float32),
            p_change=(1 - event[..., NONE]).astype(np.float32),
        )

    def forecast(self, feats: SequenceFeatures, out: dict[str, np.ndarray] | None = None) -> Forecast:
        """What the network expects at a cut (for the evaluation's 'after the change' metrics)."""
        out = self.outputs(feats) if out is None else out
        mean, std, _ = self.norm.arrays()
        grid = feats.grid
        event = softmax(out["event"])
        p_active_cut = softmax(out["active"])[..., 1]
        # Given that the track changes and shows something after it: what a cut shows if the event
        # head finds a cut likelier than a move (an empty track can only cut, i.e. switch on), else
        # the shot's motion. (Weighing the cut by P(on | cut) scored worse: IoU at changes 0.845 vs
        # 0.863, crop MAE at changes 2.09 vs 1.46 on the 140 held-out timelines.)
        active_now = grid[..., 0] > 0.5
        cut = ~active_now | (event[..., CUT] >= event[..., MOVE])
        arrays = history_arrays(grid, feats.source_index)
        speed = velocity(grid, arrays.cut)
        moved = grid[..., 2:] + motion(speed, out["delta"], self.norm)
        keeps = self.framing_keeps(grid, arrays)
        if keeps is not None:  # where framings are kept, a still shot that changes keeps its values
            # (IoU at changes on the train exports 0.970 -> 0.974; synthetic 0.900 either way)
            moved = np.where((keeps & ~np.any(speed != 0, axis=-1))[..., None], grid[..., 2:], moved)
        return Forecast(
            p_cut=event[..., CUT],
            p_active_cut=p_active_cut,
            slot_probs=softmax(out["asset"]),
            recency_probs=softmax(out["recency"]),
            values_change=in_range(np.where(cut[..., None], after_cut(out["values"] * std + mean, *framing_arrays(grid), active_now, std, keeps),
                                            moved)).astype(np.float32),
        )

    # -- generation

    def rollout(
        self, feats: SequenceFeatures, start: int, n_steps: int, *, seed: int = 0, sample: bool = True, primed: Primed | None = None
    ) -> Rollout:
        """Continue the edit after steps 0..start-1, one step at a time through the key/value cache.

        Each track draws its event (nothing / values move / cut) and, at a cut, whether it shows
        something and which concrete source (slot x recency over the sources the past offers);
        `sample=False` takes the most likely choice instead. Deterministic for a given seed.
        `primed` (from `predict_primed`, used once) skips encoding the context again.
        """
        self._check_step(feats)
        if not 0 <= start <= feats.steps:
            raise ValueError(f"rollout start {start} outside 0..{feats.steps}")
        if primed is not None and primed.start != start:
            raise ValueError(f"rollout start {start}, but primed at {primed.start}")
        if primed is not None and primed.done is not None and (n_steps, seed, sample) in primed.done:
            return primed.done[(n_steps, seed, sample)]  # the same context: the same rollout as the last pass
        replay = primed.replay.get((n_steps, seed, sample)) if primed is not None and primed.replay else None
        if replay is not None:
            start_state = copy.deepcopy((primed.hist, primed.chain, primed.inputs))  # to run it after all if the inputs differ
            replayed = self._rollout(feats, start, n_steps, seed, sample, primed, replay)
            if replayed is not None:
                return replayed
            primed.hist, primed.chain, primed.inputs = start_state
        return self._rollout(feats, start, n_steps, seed, sample, primed)

    def _rollout(self, feats: SequenceFeatures, start: int, n_steps: int, seed: int, sample: bool, primed: Primed | None,
                 replay: tuple[dict, list] | None = None) -> Rollout | None:
        """`rollout`; with `replay` (the network's outputs along the last pass's rollout from the
        same cache and network row, and the digests of its inputs step by step), each step is drawn
        anew (the own-past chain, the History and so the draws may differ) while the network's
        outputs are taken from there as long as its inputs are the same as then (the same inputs
        after the same cache give the same outputs); None as soon as they are not."""
        rng = np.random.default_rng(seed)
        out_grid = np.zeros((n_steps, N_TRACKS, 9), np.float32)
        out_src = np.full((n_steps, N_TRACKS), -1, np.int32)
        conf = np.zeros((n_steps, N_TRACKS), np.float32)
        with self.scope(single_steps=True):
            p = self._prime(feats, start) if primed is None else primed
            last, cache, cached, hist, speed, pos = p.last, p.cache, p.cached, p.hist, p.speed, max(start, 1)
            chain, inputs = p.chain, p.inputs
            nets = {name: np.zeros((max(n_steps - 1, 0), N_TRACKS, size), np.float32) for name, size in self.heads}
            digests: list[bytes] = []  # of each step's network inputs
            for n in range(n_steps):
                if n % CANCEL_EVERY == 0:
                    cancel.check()
                keeps = chain is not None and chain.framing_kept() > self.own_past.keep_framing
                row, srow, krow, conf[n] = self._choose(last, hist, feats, rng, sample, speed, keeps)
                out_grid[n] = row
                out_src[n] = np.where(srow < len(feats.sources), srow, -1)
                if n == n_steps - 1:
                    break
                before = np.concatenate([hist.active[:, None], np.zeros((N_TRACKS, 1)), hist.values], axis=1)
                st = hist.step(row[:, 0] > 0.5, srow, row[:, 2:])
                if chain is not None:
                    chain.step(row, st.cut, st.recency)
                speed = velocity(row[None], st.cut[None], before)[0]
                x = encode_inputs(row[None, None], krow[None, None], single_step(st), self.norm, before[None])
                if inputs is not None:
                    inputs.step(row, srow, st.cut, st.recency)
                    x["own_past"] = inputs.row()[None, None]
                digests.append(_input_digest(x))
                if replay is not None:  # the network's inputs as last time: its outputs are the kept ones
                    if n >= len(replay[1]) or digests[n] != replay[1][n]:
                        return None
                    net = {k: v[n] for k, v in replay[0].items()}
                else:
                    if cached >= self.context - 1 + self.trim_slack:  # the attention mask bounds the span either way
                        cache, cached = self.trim(cache), self.context - 1
                    out, cache = self.run(x, pos, cache)
                    net = self.calibrate({k: v[0, -1] for k, v in out.items()}, hist.active)
                for k, v in net.items():
                    nets[k][n] = v
                last = self._mixed_step(net, chain)
                cached, pos = cached + 1, pos + 1
        rollout = Rollout(grid=out_grid, source_index=out_src, confidence=conf)
        if primed is not None and primed.keep is not None:
            primed.keep[(start, n_steps, seed, sample)] = rollout
            if primed.keep_nets is not None:
                primed.keep_nets[(start, n_steps, seed, sample)] = (nets, digests)
        return rollout

    def _prime(self, feats: SequenceFeatures, start: int) -> Primed:
        """Encode the last `context` steps before `start` on their own (an empty step when start is 0)."""
        grid, src, kind = feats.grid[:start], feats.source_index[:start], feats.source_kind[:start]
        if start == 0:
            grid, src, kind = np.zeros((1, N_TRACKS, 9), np.float32), np.full((1, N_TRACKS), -1), np.zeros((1, N_TRACKS), np.int8)
        arrays = history_arrays(grid, src)
        hist = History.after(grid, src, arrays)
        keep = min(len(grid), self.context)
        prev = grid[None, -keep - 1] if len(grid) > keep else None
        x = encode_inputs(grid[None, -keep:], kind[None, -keep:], batch_of_one(arrays, -keep), self.norm, prev)
        inputs = OnlineInputs.after(grid, arrays, src) if self.own_inputs else None
        if inputs is not None:
            x["own_past"] = own_past_inputs(grid, arrays, src)[None, -keep:]
        out, cache = self.run(x, len(grid) - keep, None)
        chain = OnlineCounts.after(grid, arrays) if self.own_past is not None else None
        last = self._mixed_step(self.calibrate({k: v[0, -1] for k, v in out.items()}, hist.active), chain)
        return Primed(start, last, cache, keep, hist, velocity(grid[-2:], arrays.cut[-2:])[-1], chain=chain, inputs=inputs)

    def _mixed_step(self, last: dict[str, np.ndarray], chain: OnlineCounts | None) -> dict[str, np.ndarray]:
        """One step's head outputs (20, n) mixed with the own-past chain as it stands (a rollout's step)."""
        if chain is None or self.own_past is None:
            return last
        return {k: v[0] for k, v in mix({k: v[None] for k, v in last.items()}, chain.view(), self.own_past).items()}

    def _choose(self, out, hist: History, feats: SequenceFeatures, rng, sample: bool, speed: np.ndarray, keep_framing: bool = False):
        """One generated step: grid row (20, 9), source indices, kinds and confidences; with
        `keep_framing` a cut between two shots keeps the track's framing (the own-past rule).

        Events are drawn for all tracks at once; only tracks that cut visit Python one by one.
        """
        mean, std, _ = self.norm.arrays()
        was_on = hist.active
        event = softmax(out["event"]) * np.where(was_on[:, None], 1.0, [1.0, 0.0, 1.0])  # an empty track cannot move
        # A still shot starts to move only when that is a real option: a moving shot keeps moving
        # (the network learned that), so one unlikely draw would otherwise drift for the whole rollout.
        still = ~np.any(speed != 0, axis=-1)
        event[still & (event[:, MOVE] < MOVE_START), MOVE] = 0.0
        # New tracks open bottom-up: of the tracks never used, only the lowest above those in use
        # may switch on (a first clip on V11 with V5-V10 empty is sampling noise, not a layout).
        used = np.flatnonzero(hist.framed)
        event[~hist.framed & (np.arange(N_TRACKS) != (used[-1] + 1 if len(used) else 0)), CUT] = 0.0
        # A shot or gap of one or two steps is a flash frame, not an edit (an A -> B -> A flicker
        # when it returns): the track that cut holds for MIN_SHOT_STEPS steps.
        cut_lately = (hist.since_cut < MIN_SHOT_STEPS - 1) & (hist.since_cut <= hist.t)  # since_cut > t: never cut
        event[cut_lately, CUT] = 0.0
        event /= event.sum(-1, keepdims=True)
        ev = draw(event, rng, sample)
        conf = event[np.arange(N_TRACKS), ev].astype(np.float32)
        keep = was_on & (ev != CUT)
        row = np.zeros((N_TRACKS, 9), np.float32)
        srow = np.where(keep, hist.src, -1)
        row[keep, 0], row[keep, 1] = 1.0, np.minimum(srow[keep], MAX_SLOT)
        row[keep, 2:] = hist.values[keep]
        moves = keep & (ev == MOVE)
        if moves.any():
            row[moves, 2:] += motion(speed, out["delta"], self.norm)[moves]
        cuts = np.flatnonzero(ev == CUT)
        if len(cuts):
            on, slots, recency = softmax(out["active"])[:, 1], softmax(out["asset"]), softmax(out["recency"])
            cut_values = after_cut(out["values"] * std + mean, hist.framing, hist.framed, was_on, std, np.full(N_TRACKS, keep_framing))
        for i in cuts:
            p_on = np.array([1 - on[i], on[i]]) if was_on[i] else np.array([0.0, 1.0])
            show = int(draw(p_on[None], rng, sample)[0])
            conf[i] *= p_on[show]
            if not show:
                continue
            cands = [c for c in hist.candidates(i) if c[0] != hist.src[i]]
            scores = score_candidates(cands, slots[i], recency[i])
            scores = scores / max(scores.sum(), 1e-12)
            c = int(draw(scores[None], rng, sample)[0])
            conf[i] *= scores[c]
            srow[i] = cands[c][0]
            row[i, 0], row[i, 1], row[i, 2:] = 1.0, min(srow[i], MAX_SLOT), cut_values[i]
        row[:, 2:] = in_range(row[:, 2:])
        kinds = feats.__dict__.get("_kind_codes")
        if kinds is None or len(kinds) != len(feats.sources) + 1:  # once per sequence, not per step (176 sources: 1 ms)
            kinds = feats.__dict__["_kind_codes"] = kind_codes(feats)
        krow = np.where(srow >= 0, kinds[np.clip(srow, 0, len(feats.sources))], 0)
        return row, srow, krow, conf

    def _check_step(self, feats: SequenceFeatures) -> None:
        if Fraction(feats.step_seconds) != self.step_seconds:
            raise ValueError(f"the model works on {self.step_seconds} s steps, the features have {feats.step_seconds} s")
