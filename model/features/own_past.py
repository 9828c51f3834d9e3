"""What a timeline's own past says about its next cut: the counts of an online first-order Markov
chain, and a small gate that mixes that chain's view with the network's heads.

State per track: 0 off, 1 + source slot. The chain counts, per state, the steps spent in it, the cuts
out of it and where they led, and the recency class of the source each cut showed. Row t of the
teacher-forced counts holds the transitions completed by step t (so only the past): the prediction
for step t+1 may read it. The network's attention spans `context` steps (25.6 s); these counts span
the whole timeline, which is where the chain beats it on long real programmes (issue 18).

`OwnPastGate` holds a few numbers (logistic weights on how much evidence the chain has: steps in the
track's current state, cuts out of it, cuts that showed something) fitted on real and synthetic
timelines; `mix` makes the network's head outputs the gated mixture, so every path that decodes
heads (marginal, forecast, rollouts; torch and ONNX) sees the same mixture.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS
from model.features.history import N_RECENCY, HistoryArrays

N_SLOTS = MAX_SLOT + 1
N_STATES = 1 + N_SLOTS  # 0 off, 1 + slot
PRIOR = 0.5  # additive smoothing of every count
EVENT_CUT = 2  # the event head's classes: nothing / values move / cut
FLOOR = 1e-9  # the least probability a mixture hands back as a log


@dataclass
class MarkovCounts:
    """Counts with a leading time axis (T, ...) for "own past" fits, or (1, ...) for a fixed fit."""

    steps: np.ndarray  # (., 11) steps spent in each state with a next step
    cuts: np.ndarray  # (., 11, 11) cut transitions from state a to state b
    recency: np.ndarray  # (., 10, 8) recency class of the source shown at a cut, by slot
    value_sum: np.ndarray  # (., 7) values of tracks right after a cut that shows something
    value_n: np.ndarray  # (., 1)


def states(grid: np.ndarray) -> np.ndarray:
    return np.where(grid[..., 0] > 0.5, 1 + grid[..., 1].astype(np.int64), 0)


def event_counts(grid: np.ndarray, hist: HistoryArrays, dtype=np.float64) -> MarkovCounts:
    """Per-row counts (T-1, ...) of the transitions from row t to row t+1."""
    s = states(grid)
    a, b = s[:-1], s[1:]
    cut = hist.cut[1:]
    rows = a.shape[0]
    # Whole numbers, so counting by bincount (not np.add.at, 10x slower on every cell) is exact.
    steps = np.bincount((np.arange(rows)[:, None] * N_STATES + a).ravel(), minlength=rows * N_STATES).reshape(rows, N_STATES).astype(dtype)
    cuts = np.zeros((rows, N_STATES, N_STATES), dtype)
    t, i = np.nonzero(cut)
    np.add.at(cuts, (t, a[t, i], b[t, i]), 1)
    shown = cut & (b > 0)
    t, i = np.nonzero(shown)
    recency = np.zeros((rows, N_SLOTS, N_RECENCY), dtype)
    np.add.at(recency, (t, b[t, i] - 1, np.maximum(hist.recency[1:][t, i], 0)), 1)
    value_sum = np.zeros((rows, 7), np.result_type(dtype, np.float32))  # values, whatever the counts' type
    np.add.at(value_sum, t, grid[1:][t, i, 2:])
    value_n = np.bincount(t, minlength=rows).astype(dtype)[:, None]
    return MarkovCounts(steps, cuts, recency, value_sum, value_n)


def fit(grids: list[np.ndarray], hists: list[HistoryArrays]) -> MarkovCounts:
    """One fixed fit over many sequences (a training split)."""
    parts = [event_counts(g, h) for g, h in zip(grids, hists)]
    return MarkovCounts(*(np.sum([getattr(p, f).sum(0) for p in parts], axis=0)[None] for f in MarkovCounts.__dataclass_fields__))


def own_past(grid: np.ndarray, hist: HistoryArrays, dtype=np.float64) -> MarkovCounts:
    """Row t holds the counts of the transitions completed by step t (so only the past)."""
    per_row = event_counts(grid, hist, dtype)

    def pad(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((1,) + x.shape[1:], dtype), np.cumsum(x, axis=0, dtype=dtype)])

    return MarkovCounts(*(pad(getattr(per_row, f)) for f in MarkovCounts.__dataclass_fields__))


def recency_counts(grid: np.ndarray, hist: HistoryArrays, dtype=np.float64) -> np.ndarray:
    """Per-row counts (T-1, 9, 8) of the recency class a cut showed, by the class of the shot the
    track showed before it (0 off, 1 + class): an interview cut A-B-A-B returns to the source two
    shots back, and on real programmes, where most cells are slot 9, the slot says little."""
    rows = grid.shape[0] - 1
    out = np.zeros((rows, 1 + N_RECENCY, N_RECENCY), dtype)
    t, i = np.nonzero(hist.cut[1:] & (grid[1:, :, 0] > 0.5))
    before = from_class(grid[:-1], hist.recency[:-1])
    np.add.at(out, (t, before[t, i], np.maximum(hist.recency[1:][t, i], 0)), 1)
    return out


def from_class(grid: np.ndarray, recency: np.ndarray) -> np.ndarray:
    """0 for an empty track, else 1 + the recency class of the shot it shows (..., 20)."""
    return np.where(grid[..., 0] > 0.5, np.maximum(recency.astype(np.int64), 0) + 1, 0)


def tables(c: MarkovCounts):
    """P(cut | a), P(b | a, cut), P(recency | slot), mean values after a cut; leading (., ...)."""
    p_cut = (c.cuts.sum(-1) + PRIOR) / (c.steps + 2 * PRIOR)
    p_dest = (c.cuts + PRIOR) / (c.cuts.sum(-1, keepdims=True) + N_STATES * PRIOR)
    p_rec = (c.recency + PRIOR) / (c.recency.sum(-1, keepdims=True) + N_RECENCY * PRIOR)
    default = np.array([100.0, 0, 0, 0, 0, 0, 0])
    values = np.where(c.value_n > 0, c.value_sum / np.maximum(c.value_n, 1), default)
    return np.minimum(p_cut, 1.0), p_dest, p_rec, values


# ---------------------------------------------------------------- the chain's view, cell by cell


@dataclass
class ChainView:
    """The chain's distributions for each (row, track) cell (..., 20[, n]) and its evidence there."""

    p_cut: np.ndarray  # P(cut at t+1 | current state)
    p_on: np.ndarray  # P(shows something | cut)
    slot: np.ndarray  # (..., 10) P(slot | cut, shows something)
    recency: np.ndarray | None  # (..., 8) P(recency class | cut, shows something, the class of the shot before);
    # None where only the marginal predictions are wanted (they have no recency: `mix` leaves that head alone)
    steps_here: np.ndarray  # steps spent in the current state so far
    cuts_here: np.ndarray  # cuts out of the current state so far
    shown: np.ndarray  # cuts that showed something so far (all tracks; the recency table's evidence)


def view_of(c: MarkovCounts, s: np.ndarray, rec: np.ndarray | None, before: np.ndarray) -> ChainView:
    """The view at cells in states s (R, 20) from counts with a matching leading axis (R, ...),
    recency counts `rec` (R, 9, 8) (None: no recency view) and the classes of the shots before (R, 20)."""
    out_of = row_sum(c.cuts)  # cuts out of each state (whole numbers: exact in any order)
    p_cut = np.minimum((out_of + PRIOR) / (c.steps + 2 * PRIOR), 1.0)  # as `tables`, without what the view omits
    p_dest = (c.cuts + PRIOR) / (out_of[..., None] + N_STATES * PRIOR)
    rows = np.arange(s.shape[0])[:, None]
    dest = p_dest[rows, s]  # (R, 20, 11)
    dest[..., 0] *= s > 0  # off -> off is no cut
    dest /= row_sum(dest)[..., None]
    slot = dest[..., 1:] / np.maximum(row_sum(dest[..., 1:])[..., None], 1e-12)
    shown_rec = None if rec is None else rec[rows, before]
    return ChainView(
        p_cut=p_cut[rows, s],
        p_on=1.0 - dest[..., 0],
        slot=slot,
        recency=None if rec is None else (shown_rec + PRIOR) / (row_sum(shown_rec)[..., None] + N_RECENCY * PRIOR),
        steps_here=c.steps[rows, s],
        cuts_here=out_of[rows, s],
        shown=np.broadcast_to(c.recency.sum((-1, -2))[:, None], s.shape),
    )


def framing_counts(grid: np.ndarray, hist: HistoryArrays) -> np.ndarray:
    """Per-row counts (T-1, 2) of cuts between two shots on a track in use, and of those that kept
    the track's values (scale, position, crop): on real programmes 89 % do, on the synthetic
    styles 36 % (a new shot is often reframed there)."""
    now, nxt = grid[:-1], grid[1:]
    between = hist.cut[1:] & (now[..., 0] > 0.5) & (nxt[..., 0] > 0.5)
    t, i = np.nonzero(between)  # values compared at those cuts only (a few in a thousand cells)
    same = np.all(np.abs(nxt[t, i, 2:] - now[t, i, 2:]) <= 1e-4, axis=-1)
    return np.stack([between.sum(1), np.bincount(t[same], minlength=len(between))], -1).astype(np.float64)


def framing_kept(grid: np.ndarray, hist: HistoryArrays) -> np.ndarray:
    """The share (T,) of the cuts between two shots so far that kept the framing (1/2 before any)."""
    c = np.concatenate([np.zeros((1, 2)), np.cumsum(framing_counts(grid, hist), axis=0)])
    return (c[:, 1] + PRIOR) / (c[:, 0] + 2 * PRIOR)


def chain_view(grid: np.ndarray, hist: HistoryArrays) -> ChainView:
    """The own-past chain's view at every step of a sequence (T, 20, ...), causal."""
    per_row = recency_counts(grid, hist, np.float32)
    rec = np.concatenate([np.zeros((1,) + per_row.shape[1:], np.float32), np.cumsum(per_row, axis=0, dtype=np.float32)])
    return view_of(own_past(grid, hist, np.float32), states(grid), rec, from_class(grid, hist.recency))


class RowCounts:
    """`chain_view` a block of rows at a time (the teacher-forced predictions of a long sequence
    mix in the chain block by block; its whole-sequence views are hundreds of MB): the per-row
    counts are kept and summed up to each block. The counts are whole numbers, exact in float32
    in any order of summation, so a block's view is the same as the rows of `chain_view`."""

    def __init__(self, grid: np.ndarray, hist: HistoryArrays) -> None:
        # Per-row counts are at most 20 (one per track): kept as bytes, a quarter of float32's memory.
        per_row = event_counts(grid, hist, np.uint8)
        self.steps, self.cuts, self.recency = per_row.steps, per_row.cuts, per_row.recency  # (T-1, ...)
        self.rec = recency_counts(grid, hist, np.uint8)
        self.framing = framing_counts(grid, hist).astype(np.uint8)  # (T-1, 2)
        self.grid = grid
        self.states = states(grid)
        self.before = from_class(grid, hist.recency)
        self._cursor = threading.local()  # per thread (blocks may go on several): where its last block began

    def _rows(self) -> tuple[np.ndarray, ...]:
        return self.steps, self.cuts, self.recency, self.rec

    def _counts_before(self, lo: int) -> tuple[np.ndarray, ...]:
        """The counts of the transitions completed by step lo (row lo of `own_past`)."""
        at, base = getattr(self._cursor, "base", None) or (0, tuple(np.zeros(x.shape[1:], np.float32) for x in self._rows()))
        if lo < at:
            at, base = 0, tuple(np.zeros_like(b) for b in base)
        base = tuple(b + x[at:lo].sum(0, dtype=np.float32) for b, x in zip(base, self._rows()))
        self._cursor.base = (lo, base)  # a thread's blocks come in order: its next one starts from here
        return base

    def view(self, lo: int, hi: int, recency: bool = True) -> ChainView:
        """Rows lo..hi-1 of `chain_view` (without the recency view unless `recency`)."""
        base = self._counts_before(lo)
        rows = [np.concatenate([b[None], b + np.cumsum(x[lo : hi - 1], axis=0, dtype=np.float32)]) for b, x in zip(base, self._rows())]
        steps, cuts, rec_shown, rec = rows
        zero = np.zeros((hi - lo, 1), np.float32)
        counts = MarkovCounts(steps, cuts, rec_shown, zero, zero)
        return view_of(counts, self.states[lo:hi], rec if recency else None, self.before[lo:hi])

    def online(self, s: int) -> OnlineCounts:
        """`OnlineCounts.after` steps 0..s-1 (s >= 1) from the kept rows: a rollout's start without
        counting its context again (without the values after cuts, which no view reads)."""
        steps, cuts, recency, rec = self._counts_before(s - 1)
        empty = MarkovCounts(steps, cuts, recency, np.zeros(7, np.float32), np.zeros(1, np.float32))
        online = OnlineCounts(empty, self.states[s - 1])
        online.framing = self.framing[: s - 1].sum(0, dtype=np.float64)
        online.rec = rec.copy()
        online.before = self.before[s - 1]
        online.values = self.grid[s - 1, :, 2:].astype(np.float32)
        return online


class OnlineCounts:
    """The same counts kept up step by step (a rollout's generated steps)."""

    def __init__(self, counts: MarkovCounts, state: np.ndarray) -> None:
        self.counts = MarkovCounts(*(np.array(getattr(counts, f)[None]) for f in MarkovCounts.__dataclass_fields__))
        self.state = np.asarray(state, np.int64)  # (20,) the states of the last step counted
        self.framing = np.zeros(2)  # cuts between two shots, and those that kept the framing
        self.rec = np.zeros((1 + N_RECENCY, N_RECENCY), np.float32)  # recency counts (see recency_counts)
        self.before = np.zeros(N_TRACKS, np.int64)  # from_class of the last counted step
        self.values = np.zeros((N_TRACKS, 7), np.float32)  # the last counted step's values

    @classmethod
    def after(cls, grid: np.ndarray, hist: HistoryArrays) -> OnlineCounts:
        """The counts after steps 0..T-1 (row T-1 of `own_past`), without the (T, ...) arrays."""
        per_row = event_counts(grid, hist, np.float32)
        counts = MarkovCounts(*(getattr(per_row, f).sum(0) for f in MarkovCounts.__dataclass_fields__))
        online = cls(counts, states(grid[-1:])[0] if len(grid) else np.zeros(N_TRACKS, np.int64))
        if len(grid):
            online.framing = framing_counts(grid, hist).sum(0)
            online.rec = recency_counts(grid, hist, np.float32).sum(0)
            online.before = from_class(grid[-1], hist.recency[-1])
            online.values = grid[-1, :, 2:].astype(np.float32)
        return online

    def step(self, grid_row: np.ndarray, cut: np.ndarray, recency: np.ndarray) -> None:
        """Count the transition from the last step to `grid_row` (20, 9) with its cuts and recency."""
        c, a, b = self.counts, self.state, states(grid_row)
        np.add.at(c.steps[0], a, 1)
        i = np.flatnonzero(cut)
        np.add.at(c.cuts[0], (a[i], b[i]), 1)
        i = i[b[i] > 0]
        np.add.at(c.recency[0], (b[i] - 1, np.maximum(recency[i], 0)), 1)
        np.add.at(self.rec, (self.before[i], np.maximum(recency[i], 0)), 1)
        self.before = from_class(grid_row, recency)
        between = cut & (a > 0) & (b > 0)
        same = np.all(np.abs(grid_row[:, 2:] - self.values) <= 1e-4, axis=-1)
        self.framing += [between.sum(), (between & same).sum()]
        self.state, self.values = b, grid_row[:, 2:].astype(np.float32)

    def framing_kept(self) -> float:
        return float((self.framing[1] + PRIOR) / (self.framing[0] + 2 * PRIOR))

    def view(self) -> ChainView:
        """The view (1, 20, ...) at the last counted step."""
        return view_of(self.counts, self.state[None], self.rec[None], self.before[None])


# ---------------------------------------------------------------- the gate


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class OwnPastGate:
    """Weights of the chain in each mixture: sigmoid(bias + slopes . log1p(evidence)).

    cut: on (steps in the current state, cuts out of it); dest (shows something, which slot): on
    cuts out of the current state; recency: on cuts that showed something so far. `keep_framing`:
    a cut between two shots keeps the track's framing when more than this share of such cuts so
    far did (above 1: never; the values head decides).
    """

    cut: tuple[float, float, float] = (-4.0, 0.0, 0.0)
    dest: tuple[float, float] = (-4.0, 0.0)
    recency: tuple[float, float] = (-4.0, 0.0)
    keep_framing: float = 2.0
    geometric: bool = False  # slot and recency mixed as weighted geometric means (else linear)

    @classmethod
    def from_json(cls, doc: dict) -> OwnPastGate:
        gate = cls(**{k: tuple(float(x) for x in doc[k]) for k in ("cut", "dest", "recency")})
        gate.keep_framing = float(doc.get("keep_framing", gate.keep_framing))
        gate.geometric = bool(doc.get("geometric", False))
        return gate

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def weights(self, v: ChainView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = np.log1p(v.steps_here), np.log1p(v.cuts_here)
        w_cut = _sigmoid(self.cut[0] + self.cut[1] * a + self.cut[2] * b)
        w_dest = _sigmoid(self.dest[0] + self.dest[1] * b)
        w_rec = _sigmoid(self.recency[0] + self.recency[1] * np.log1p(v.shown))
        return w_cut, w_dest, w_rec


def own_past_gate(meta: dict) -> OwnPastGate | None:
    """The gate a model's JSON names under "own_past" (None: the network decodes alone)."""
    doc = meta.get("own_past")
    return OwnPastGate.from_json(doc) if doc else None


def softmax(x: np.ndarray) -> np.ndarray:
    """exp(x - max) / sum over the last axis. The heads have 2 to 10 classes, where numpy's max and
    sum reductions spend most of their time per row: both go column by column here (5-8x faster),
    the sum in the order numpy's own reduction adds (see `row_sum`), so the numbers are the same."""
    n = x.shape[-1]
    if n > _PAIRWISE_BLOCK or x.size < _COLUMNS_FROM:  # a rollout's step: one reduction beats n column calls
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    top = x[..., 0]
    for i in range(1, n):
        top = np.maximum(top, x[..., i])
    e = np.exp(x - top[..., None])
    return e / row_sum(e)[..., None]


_softmax = softmax  # the name model.training.fit_gate imports
_PAIRWISE_BLOCK = 128  # numpy sums up to this many terms with eight accumulators (pairwise beyond)
_COLUMNS_FROM = 4096  # elements from which column-by-column pays (below, per-call overhead dominates)


def row_sum(e: np.ndarray) -> np.ndarray:
    """e.sum(-1), the same numbers: on large arrays with a short last axis (at most
    _PAIRWISE_BLOCK terms) column by column in numpy's order (its pairwise sum: one after another
    under 8 terms, else eight running sums combined as a tree, then the rest one by one)."""
    n = e.shape[-1]
    if n > _PAIRWISE_BLOCK or e.size < _COLUMNS_FROM:
        return e.sum(-1)
    if n < 8:
        total = e[..., 0].copy()
        for i in range(1, n):
            total += e[..., i]
        return total
    acc = [e[..., j].copy() for j in range(8)]
    whole = n - n % 8
    for i in range(8, whole, 8):
        for j in range(8):
            acc[j] += e[..., i + j]
    total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    for i in range(whole, n):
        total += e[..., i]
    return total


def _blend(chain: np.ndarray, net: np.ndarray, w: np.ndarray, geometric: bool) -> np.ndarray:
    """w * chain + (1 - w) * net, or the normalised chain^w * net^(1-w): a confident network then
    yields only where the chain is as sure the other way (selected on train exports: see REPORT)."""
    if not geometric:
        return w * chain + (1 - w) * net
    p = np.exp(w * np.log(np.maximum(chain, FLOOR)) + (1 - w) * np.log(np.maximum(net, FLOOR)))
    return p / p.sum(-1, keepdims=True)


def mix(out: dict[str, np.ndarray], view: ChainView, gate: OwnPastGate) -> dict[str, np.ndarray]:
    """Head outputs whose softmaxes are the gated mixtures of the network's and the chain's
    distributions (as log-probabilities); the values and delta heads are left alone."""
    w_cut, w_dest, w_rec = gate.weights(view)
    event = _softmax(out["event"])
    p_cut = w_cut * view.p_cut + (1 - w_cut) * event[..., EVENT_CUT]
    rest = (1 - p_cut) / np.maximum(1 - event[..., EVENT_CUT], FLOOR)  # nothing / move keep their ratio
    event = np.concatenate([event[..., :EVENT_CUT] * rest[..., None], p_cut[..., None]], axis=-1)
    p_on = w_dest * view.p_on + (1 - w_dest) * _softmax(out["active"])[..., 1]
    slot = _blend(view.slot, _softmax(out["asset"]), w_dest[..., None], gate.geometric)
    log = lambda p: np.log(np.maximum(p, FLOOR)).astype(np.float32)  # noqa: E731
    mixed = {**out, "event": log(event), "active": log(np.stack([1 - p_on, p_on], -1)), "asset": log(slot)}
    if view.recency is not None:
        mixed["recency"] = log(_blend(view.recency, _softmax(out["recency"]), w_rec[..., None], gate.geometric))
    return mixed
