"""Re-saves in a fraction of a pass: what one pass over a sequence leaves for the next pass over
an edited version of it.

The network is causal with a bounded reach: a step's outputs depend on its own inputs and those
of the n_layer x (context - 1) steps before it (each layer attends context - 1 steps back). So
after an edit, the outputs of the steps before the first changed step are the same, and so are
those more than that reach after the last changed step when the length is unchanged. A pass
with a `PassMemo` of the previous version runs the network only from the stored cache at or
before the first change (one every SNAPSHOT_EVERY chunks, at the same chunk boundaries as a full
pass, so the numbers are the same as a full pass's) up to the first chunk past the reach, and
copies the rest. Steps are compared by a digest of what their inputs are made of and of their grid row.

Predictions are spliced the same way: a row is recomputed where its outputs, its inputs or the
framing it snaps to changed (`changed_rows`); with an own-past gate, every row from the first
changed one (the chain's counts of every later row include the edit). Rollouts from a start at or
before the first change are the same rollouts, and so is any rollout whose whole context (cache
window, History, sources) has the same digest as last time; both are kept. Where the network
starts from the same cache window and row but the rest differs (the own-past counts, a source's
last use: a `next` after an edit far from the end), the rollout is replayed: its steps are drawn
again, from the network's kept outputs mixed with the new counts, as long as each step's network
inputs digest as last time (the same inputs after the same cache give the same outputs); the
network runs again, from the start, only when they do not.

Where the nearest stored cache lies more than n_layer chunks before the changed chunk, the pass
warms up from no cache n_layer chunks before it instead (the cache a pass from the start has
there: see decoding.ChunkRun).

Memory: a 40-minute sequence at 0.1 s steps keeps its head outputs (68 MB), its predictions
(35 MB) and a cache every 8 chunks (23 MB, each a copy of its trimmed window); the predictor
keeps one such memo (`MEMO_SEQUENCES`) and drops it when it is unloaded. A re-save of the same
length writes into the memo's arrays (taken out of the store first: a pass stopped half-way
leaves none) rather than holding a second set.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.inference.predictor import Predictions, Rollout

SNAPSHOT_EVERY = 8  # chunks between stored caches (a re-save recomputes at most this many chunks before its change)
MEMO_SEQUENCES = 1  # sequences whose last pass a predictor keeps
_DIGEST_SEED = 20261206


@dataclass
class PassMemo:
    """One pass over one sequence, as the next pass needs it."""

    digest: np.ndarray  # (T, k) per-step digest of what the inputs are made of and of the grid row
    out: dict[str, np.ndarray]  # calibrated head outputs (T, 20, n)
    snapshots: dict[int, Any]  # chunk start -> the (trimmed) cache before that chunk
    windows: dict[int, Any]  # rollout start -> the cache window before it
    last_active: np.ndarray  # (T, 20) int32: each track's last active step up to t (-1 none)
    preds: Predictions | None = None
    rollouts: dict[tuple, Rollout] = field(default_factory=dict)  # (start, n_steps, seed, sample) -> rollout
    identities: dict[int, bytes] = field(default_factory=dict)  # rollout start -> digest of the context it read
    # The network's side of each kept rollout: its calibrated head outputs step by step (n_steps - 1,
    # 20, n) and the digest of each step's inputs, and per start the digest of the cache window and
    # network row it started from (see Decoder.rollout: a replay instead of running the network).
    nets: dict[tuple, tuple[dict[str, np.ndarray], list[bytes]]] = field(default_factory=dict)  # key -> (outputs, input digests)
    net_identities: dict[int, bytes] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.digest)


class MemoStore:
    """The last passes of a predictor, keyed by the caller's sequence identity (file and name)."""

    def __init__(self, capacity: int = MEMO_SEQUENCES) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, PassMemo] = OrderedDict()

    def get(self, key: Hashable) -> PassMemo | None:
        memo = self._items.get(key)
        if memo is not None:
            self._items.move_to_end(key)
        return memo

    def put(self, key: Hashable, memo: PassMemo) -> None:
        self._items[key] = memo
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def pop(self, key: Hashable) -> PassMemo | None:
        return self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


DIGEST_BLOCK = 4096  # steps digested at a time (bounds the float64 temporaries)


def digest(parts, grid: np.ndarray) -> np.ndarray:
    """(T, parts + 1): per step, a random projection of each part of its inputs and of the grid row.
    Equal rows give equal digests; different rows give different ones but with probability ~0.
    `parts(lo, hi)` gives what the inputs of steps lo..hi-1 are made of besides the grid ({name:
    (n, ...)}; not the encoded inputs: encoding a whole sequence cost as much as the rest of a re-save's
    digest). A step's encoded inputs read the grid row before it too, so `plan` counts a change
    as reaching one step past its last differing row."""
    steps = grid.shape[0]
    rng = np.random.default_rng(_DIGEST_SEED)
    weights: dict[str, np.ndarray] = {}
    blocks = []
    for lo in range(0, steps, DIGEST_BLOCK):
        hi = min(lo + DIGEST_BLOCK, steps)
        x = parts(lo, hi)
        cols = []
        for name in sorted(x):
            flat = x[name].reshape(hi - lo, -1).astype(np.float64)
            w = weights.setdefault(name, rng.standard_normal(flat.shape[1]))
            cols.append(flat @ w)
        flat = grid[lo:hi].reshape(hi - lo, -1).astype(np.float64)
        cols.append(flat @ weights.setdefault("grid", rng.standard_normal(flat.shape[1])))
        blocks.append(np.stack(cols, axis=1))
    return np.concatenate(blocks) if blocks else np.zeros((0, 10))


def last_active_steps(grid: np.ndarray) -> np.ndarray:
    t = np.arange(grid.shape[0], dtype=np.int32)[:, None]
    return np.maximum.accumulate(np.where(grid[..., 0] > 0.5, t, -1), axis=0).astype(np.int32)


@dataclass(frozen=True)
class Plan:
    """Which chunks of a pass to run: from `start` (a stored cache's chunk) up to `stop`; the
    outputs before `start` and from `stop` on come from the memo."""

    start: int
    stop: int
    first_change: int  # first step whose digest differs (T when none)
    last_change: int  # last such step (-1 when none)
    same_length: bool


def plan(memo: PassMemo | None, new_digest: np.ndarray, context: int, n_layer: int) -> Plan:
    steps = len(new_digest)
    if memo is None or memo.digest.shape[1] != new_digest.shape[1]:
        return Plan(0, steps, 0, steps - 1, False)
    common = min(steps, memo.steps)
    differs = np.flatnonzero(np.any(memo.digest[:common] != new_digest[:common], axis=1))
    same_length = steps == memo.steps
    first = int(differs[0]) if len(differs) else common
    last = int(differs[-1]) + 1 if len(differs) else -1  # the step after reads the changed row too (its motion)
    if not same_length:
        first, last = min(first, common), steps - 1
    start = max((a for a in memo.snapshots if a <= first), default=0)
    if same_length and last < 0:
        return Plan(steps, steps, steps, -1, True)
    reach = last + 1 + n_layer * (context - 1)  # outputs from here on are the memo's
    stop = steps if not same_length else min(steps, -(-reach // context) * context)
    return Plan(start, max(stop, start), first, last, same_length)


def changed_rows(plan_: Plan, memo: PassMemo | None, new_digest: np.ndarray, last_active: np.ndarray) -> np.ndarray:
    """Rows of the predictions to recompute (bool, T): the recomputed outputs, and every row whose
    framing (each track's values at its last active step) is not the memo's."""
    steps = len(new_digest)
    rows = np.zeros(steps, bool)
    if memo is None or not plan_.same_length:
        rows[plan_.start :] = True
        rows[: plan_.start] = False
        if memo is None:
            rows[:] = True
        return rows
    rows[plan_.start : plan_.stop] = True
    grid_digest_new, grid_digest_old = new_digest[:, -1], memo.digest[:, -1]
    same_last = last_active == memo.last_active
    at = np.maximum(last_active, 0)
    same_row = grid_digest_new[at] == grid_digest_old[at]
    rows |= np.any(~(same_last & same_row), axis=1)
    return rows


def first_differing_row(new: dict[str, np.ndarray], old: dict[str, np.ndarray], lo: int, old_steps: int, steps: int) -> int:
    """The first row of a chunk of new outputs (rows lo..) that differs from the old pass's (rows
    past its end are new), or `steps` when none does. An int8 graph quantizes a chunk's activations
    with one scale, so the rows of a changed chunk before its first change may differ too."""
    n = len(new["event"])
    same = min(n, max(old_steps - lo, 0))
    differ = np.zeros(same, bool)
    for name, rows in new.items():
        differ |= np.any((rows[:same] != old[name][lo : lo + same]).reshape(same, -1), axis=1)
    if differ.any():
        return lo + int(np.argmax(differ))
    return lo + same if same < n else steps
