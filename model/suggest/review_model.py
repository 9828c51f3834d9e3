"""The predictor's evidence for review: how surprised it is by each segment, at its entry and
over its length."""

from __future__ import annotations

import math

import numpy as np

from model.features.grid import MAX_SLOT, SequenceFeatures
from model.inference.predictor import N_SLOTS, Predictions
from model.suggest.review_segments import VALUE_UNITS, Segment

SURPRISE_CAP = 10.0  # -log p is capped (p clipped at e^-10): one impossible step must not dominate


def _surprise(p: np.ndarray | float) -> np.ndarray | float:
    if isinstance(p, float):  # np.float64 is a float too
        return -math.log(min(max(p, math.exp(-SURPRISE_CAP)), 1.0))
    return -np.log(np.clip(p, math.exp(-SURPRISE_CAP), 1.0))


def _prefix(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0, dtype=np.float64)])


class ModelEvidence:
    """The predictor's view of each segment: row t of Predictions is about step t+1.

    Interior evidence is the mean over the segment's rows, read from prefix sums; entry
    evidence is the row before the segment, conditioned on the change that happens there (a
    causal predictor does not know that a cut comes at exactly this step, only what it expects
    if one does).
    """

    def __init__(self, preds: Predictions, feats: SequenceFeatures, cite: bool = True) -> None:
        self.preds = preds
        self.feats = feats
        self.cite = cite  # whether explanations may quote the model's guesses
        p_on = preds.p_active.astype(np.float64)
        self.on_cum = _prefix(_surprise(p_on))
        self.off_cum = _prefix(_surprise(1.0 - p_on))
        self.slot_surprise = _surprise(preds.asset_probs.astype(np.float64))  # (T, 20, 10)
        self.slot_cum = _prefix(self.slot_surprise)
        err = np.zeros_like(feats.grid[:, :, 2:], dtype=np.float64)
        err[1:] = np.abs(preds.values[:-1] - feats.grid[1:, :, 2:]) / VALUE_UNITS
        self.err_cum = _prefix(err)  # row t = error of the prediction for step t

    def active(self, seg: Segment) -> tuple[float, float]:
        """Surprise at the track being on (off); at the entry, P(state | change) ~ P(state) / P(change)."""
        cum = self.on_cum if seg.active else self.off_cum
        rows = seg.end - 1 - seg.start
        inner = float(cum[seg.end - 1, seg.track] - cum[seg.start, seg.track]) / rows if rows > 0 else 0.0
        if seg.start == 0:
            return 0.0, inner
        row = seg.start - 1
        p_on = float(self.preds.p_active[row, seg.track])
        p = p_on if seg.active else 1.0 - p_on
        if (self.feats.grid[row, seg.track, 0] > 0.5) == seg.active:
            return float(_surprise(np.float64(p))), inner
        p_change = float(self.preds.p_change[row, seg.track])
        given_change = min(1.0, p / p_change) if p_change > 1e-6 else 0.5  # no view of changes: neutral
        return float(_surprise(np.float64(given_change))), inner

    def assets(self, segs: list[Segment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per shown segment: surprise at its slot at the entry, given that the source changes
        there (the previous slot left out and the rest renormalised; 0 at the sequence's start),
        the mean surprise inside, and the entry's slot probabilities (NaN at the start)."""
        track = np.array([s.track for s in segs], np.int64)
        start = np.array([s.start for s in segs], np.int64)
        end = np.array([s.end for s in segs], np.int64)
        slot = np.minimum([s.source_index for s in segs], MAX_SLOT).astype(np.int64)
        rows = end - 1 - start
        inner = self.slot_cum[end - 1, track, slot] - self.slot_cum[start, track, slot]
        interior = np.where(rows > 0, inner / np.maximum(rows, 1), 0.0)
        before = np.maximum(start - 1, 0)
        probs = self.preds.asset_probs[before, track].astype(np.float64)  # (n, 10)
        prev = self.feats.source_index[before, track]
        left_out = (prev >= 0) & (np.minimum(prev, MAX_SLOT) != slot)
        probs[np.flatnonzero(left_out), np.minimum(prev, MAX_SLOT)[left_out]] = 0.0
        total = probs.sum(axis=1, keepdims=True)
        probs = np.where(total > 1e-9, probs / np.maximum(total, 1e-12), 1.0 / N_SLOTS)
        entry = np.where(start > 0, _surprise(probs[np.arange(len(segs)), slot]), 0.0)
        probs[start == 0] = np.nan
        return entry, interior, probs

    def values(self, segs: list[Segment], values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per segment and value field: entry error, mean interior error (in VALUE_UNITS), and the
        entry guess (NaN where there is none).

        The entry counts only where the predictor expected a change there (p_change >= 0.5):
        otherwise its values for that step are the shot before going on, not a view of this one.
        """
        n = len(segs)
        entry = np.zeros((n, 7))
        interior = np.zeros((n, 7))
        guess = np.full((n, 7), np.nan)
        for i, s in enumerate(segs):
            rows = s.end - 1 - s.start
            if rows > 0:
                interior[i] = (self.err_cum[s.end, s.track] - self.err_cum[s.start + 1, s.track]) / rows
            if s.start > 0 and self.preds.p_change[s.start - 1, s.track] >= 0.5:
                guess[i] = self.preds.values[s.start - 1, s.track]
                entry[i] = np.abs(guess[i] - values[i]) / VALUE_UNITS
        return entry, interior, guess

