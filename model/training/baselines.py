"""Baselines that know nothing about editing: persistence and a first-order Markov chain.

Both speak the `Predictor` protocol plus `forecast` (what follows a cut), like the network, so
the evaluation treats all systems alike. The Markov chain's state per track is off / source slot;
it counts, per state, how often a cut happens and where a cut leads (and which recency class the
shown source has), fitted on a training split or, for a lone timeline, on that timeline's own past.
The shot-length baseline for cut timing lives in `model.training.metrics.shot_length_errors`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS, SequenceFeatures
from model.features.history import N_RECENCY, History, HistoryArrays, feed, history_arrays, score_candidates
from model.inference.predictor import N_SLOTS, PersistencePredictor, Predictions, Rollout
from model.training.metrics import Forecast

N_STATES = 1 + N_SLOTS  # 0 off, 1 + slot
PRIOR = 0.5  # additive smoothing of every count


class Persistence(PersistencePredictor):
    """Copy the previous step; after a cut it still expects the current state."""

    def forecast(self, feats: SequenceFeatures) -> Forecast:
        grid = feats.grid
        active = grid[..., 0] > 0.5
        slots = np.eye(N_SLOTS, dtype=np.float32)[grid[..., 1].astype(np.int64).clip(0, MAX_SLOT)]
        recency = np.zeros(grid.shape[:2] + (N_RECENCY,), np.float32)
        recency[..., 1] = 1.0  # the track's most recent source is the one it shows
        return Forecast(p_cut=np.zeros(grid.shape[:2], np.float32), p_active_cut=active.astype(np.float32),
                        slot_probs=slots, recency_probs=recency, values_change=grid[..., 2:].copy())

    def rollout(self, feats: SequenceFeatures, start: int, n_steps: int, *, seed: int = 0, sample: bool = True) -> Rollout:
        """Repeat the last step (seed and sample exist for a common signature; nothing is random)."""
        return super().rollout(feats, start, n_steps)


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


def _event_counts(grid: np.ndarray, hist: HistoryArrays) -> MarkovCounts:
    """Per-row counts (T-1, ...) of the transitions from row t to row t+1."""
    s = states(grid)
    a, b = s[:-1], s[1:]
    cut = hist.cut[1:]
    rows = a.shape[0]
    steps = np.zeros((rows, N_STATES))
    np.add.at(steps, (np.repeat(np.arange(rows), N_TRACKS), a.ravel()), 1)
    cuts = np.zeros((rows, N_STATES, N_STATES))
    t, i = np.nonzero(cut)
    np.add.at(cuts, (t, a[t, i], b[t, i]), 1)
    shown = cut & (b > 0)
    t, i = np.nonzero(shown)
    recency = np.zeros((rows, N_SLOTS, N_RECENCY))
    np.add.at(recency, (t, b[t, i] - 1, np.maximum(hist.recency[1:][t, i], 0)), 1)
    value_sum = np.zeros((rows, 7))
    np.add.at(value_sum, t, grid[1:][t, i, 2:])
    value_n = np.bincount(t, minlength=rows).astype(np.float64)[:, None]
    return MarkovCounts(steps, cuts, recency, value_sum, value_n)


def fit(grids: list[np.ndarray], hists: list[HistoryArrays]) -> MarkovCounts:
    """One fixed fit over many sequences (a training split)."""
    parts = [_event_counts(g, h) for g, h in zip(grids, hists)]
    return MarkovCounts(*(np.sum([getattr(p, f).sum(0) for p in parts], axis=0)[None] for f in MarkovCounts.__dataclass_fields__))


def own_past(grid: np.ndarray, hist: HistoryArrays) -> MarkovCounts:
    """Row t holds the counts of the transitions completed by step t (so only the past)."""
    per_row = _event_counts(grid, hist)
    pad = lambda x: np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])  # noqa: E731
    return MarkovCounts(*(pad(getattr(per_row, f)) for f in MarkovCounts.__dataclass_fields__))


class Markov:
    name = "markov"
    version = "1"
    sha256 = ""

    def __init__(self, counts: MarkovCounts | None = None) -> None:
        self.counts = counts  # None: fit on each sequence's own past

    def _counts(self, feats: SequenceFeatures) -> MarkovCounts:
        if self.counts is not None:
            return self.counts
        return own_past(feats.grid, history_arrays(feats.grid, feats.source_index))

    def _tables(self, c: MarkovCounts):
        """P(cut | a), P(b | a, cut), P(recency | slot), mean values after a cut; leading (., ...)."""
        p_cut = (c.cuts.sum(-1) + PRIOR) / (c.steps + 2 * PRIOR)
        p_dest = (c.cuts + PRIOR) / (c.cuts.sum(-1, keepdims=True) + N_STATES * PRIOR)
        p_rec = (c.recency + PRIOR) / (c.recency.sum(-1, keepdims=True) + N_RECENCY * PRIOR)
        default = np.array([100.0, 0, 0, 0, 0, 0, 0])
        values = np.where(c.value_n > 0, c.value_sum / np.maximum(c.value_n, 1), default)
        return np.minimum(p_cut, 1.0), p_dest, p_rec, values

    def forecast(self, feats: SequenceFeatures) -> Forecast:
        return self._forecast_and_values(feats)[0]

    def _forecast_and_values(self, feats: SequenceFeatures) -> tuple[Forecast, np.ndarray]:
        s = states(feats.grid)  # (T, 20)
        p_cut, p_dest, p_rec, values = self._tables(self._counts(feats))
        rows = np.arange(len(s))[:, None] if p_cut.shape[0] > 1 else np.zeros((len(s), 1), np.int64)
        dest = p_dest[rows, s]  # (T, 20, 11)
        dest[np.arange(len(s))[:, None], np.arange(N_TRACKS)[None], 0] *= s > 0  # off -> off is no cut
        dest /= dest.sum(-1, keepdims=True)
        slot_probs = dest[..., 1:] / np.maximum(dest[..., 1:].sum(-1, keepdims=True), 1e-12)
        recency = np.einsum("tis,tsr->tir", slot_probs, p_rec[rows[:, 0]])
        # The chain models states, not values: given a change an empty track switches on with the
        # mean values seen after cuts, and a track in use keeps its values.
        cut_values = values[rows[:, 0]]  # (T, 7)
        on = (s > 0)[..., None]
        fc = Forecast(p_cut=p_cut[rows, s], p_active_cut=1.0 - dest[..., 0], slot_probs=slot_probs, recency_probs=recency,
                      values_change=np.where(on, feats.grid[..., 2:], cut_values[:, None, :]))
        return fc, cut_values

    def predict(self, feats: SequenceFeatures) -> Predictions:
        fc, cut_values = self._forecast_and_values(feats)
        grid = feats.grid
        active = grid[..., 0] > 0.5
        p_on = fc.p_cut * fc.p_active_cut
        current = np.eye(N_SLOTS)[grid[..., 1].astype(np.int64).clip(0, MAX_SLOT)]
        mixed = ((1 - fc.p_cut) * active)[..., None] * current + p_on[..., None] * fc.slot_probs
        asset = np.where(active[..., None], mixed / np.maximum(mixed.sum(-1, keepdims=True), 1e-12), fc.slot_probs)
        keep = (active & (fc.p_cut <= 0.5))[..., None]  # a chain that has seen nothing (1/2) expects nothing
        values = np.where(keep, grid[..., 2:], cut_values[:, None, :])
        return Predictions(
            p_active=((1 - fc.p_cut) * active + p_on).astype(np.float32),
            asset_probs=asset.astype(np.float32),
            values=values.astype(np.float32),
            p_change=fc.p_cut.astype(np.float32),
        )

    def rollout(self, feats: SequenceFeatures, start: int, n_steps: int, *, seed: int = 0, sample: bool = True) -> Rollout:
        """Sample the chain forward from the last context step (counts as of the context's end)."""
        rng = np.random.default_rng(seed)
        hist = History()
        feed(hist, feats.grid[:start], feats.source_index[:start])
        c = self._counts(feats)
        at = 0 if c.steps.shape[0] == 1 else max(start - 1, 0)
        p_cut, p_dest, p_rec, values = (x[min(at, x.shape[0] - 1)] for x in self._tables(c))
        grid = np.zeros((n_steps, N_TRACKS, 9), np.float32)
        src = np.full((n_steps, N_TRACKS), -1, np.int64)
        conf = np.ones((n_steps, N_TRACKS), np.float32)
        for n in range(n_steps):
            for i in range(N_TRACKS):
                a = int(1 + min(hist.src[i], MAX_SLOT)) if hist.active[i] else 0
                row, s = grid[n, i], -1
                cuts = rng.random() < p_cut[a] if sample else p_cut[a] > 0.5
                if cuts:
                    dest = p_dest[a].copy()
                    dest[0] *= a > 0
                    b = int(rng.choice(N_STATES, p=dest / dest.sum())) if sample else int(np.argmax(dest))
                    if b > 0:
                        slots = np.eye(N_SLOTS)[b - 1]
                        cands = [x for x in hist.candidates(i) if x[0] != hist.src[i]]
                        scores = score_candidates(cands, slots, p_rec[b - 1])
                        if scores.sum() > 0:
                            s = cands[int(np.argmax(scores))][0]
                            row[:] = [1.0, b - 1, *values]
                elif hist.active[i]:
                    s = int(hist.src[i])
                    row[:] = [1.0, min(s, MAX_SLOT), *hist.values[i]]
                src[n, i] = s
            hist.step(grid[n, :, 0] > 0.5, src[n], grid[n, :, 2:])
        return Rollout(grid=grid, source_index=np.where(src < len(feats.sources), src, -1).astype(np.int32), confidence=conf)
