"""Baselines that know nothing about editing: persistence and a first-order Markov chain.

Both speak the `Predictor` protocol plus `forecast` (what follows a cut), like the network, so
the evaluation treats all systems alike. The Markov chain's state per track is off / source slot;
it counts, per state, how often a cut happens and where a cut leads (and which recency class the
shown source has), fitted on a training split or, for a lone timeline, on that timeline's own past.
The shot-length baseline for cut timing lives in `model.training.metrics.shot_length_errors`.
"""

from __future__ import annotations

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS, SequenceFeatures
from model.features.history import N_RECENCY, History, feed, history_arrays, score_candidates
from model.features.own_past import (  # noqa: F401 - fit and MarkovCounts are part of this module's interface
    N_STATES,
    MarkovCounts,
    fit,
    own_past,
    states,
    tables,
)
from model.inference.predictor import N_SLOTS, PersistencePredictor, Predictions, Rollout
from model.training.metrics import Forecast


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

    def forecast(self, feats: SequenceFeatures) -> Forecast:
        return self._forecast_and_values(feats)[0]

    def _forecast_and_values(self, feats: SequenceFeatures) -> tuple[Forecast, np.ndarray]:
        s = states(feats.grid)  # (T, 20)
        p_cut, p_dest, p_rec, values = tables(self._counts(feats))
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
        p_cut, p_dest, p_rec, values = (x[min(at, x.shape[0] - 1)] for x in tables(c))
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
