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
        self._track = -1  # the track whose prefix sums are made (review asks one track at a time)
        self._sums: dict[str, np.ndarray] = {}
        self._slots: dict[tuple[int, int], np.ndarray] = {}  # (track, slot) -> prefix sum of its surprise

    def _prefix_sums(self, track: int) -> dict[str, np.ndarray]:
        """The track's prefix sums over rows: surprise at on / off (T+1,) and the values' error (row
        t = error of the prediction for step t) (T+1, 7). Made one track at a time: the whole
        sequence's in float64 were 140 MB on a 40-minute programme."""
        if track != self._track:
            p_on = self.preds.p_active[:, track].astype(np.float64)
            err = np.zeros((len(p_on), 7))
            err[1:] = np.abs(self.preds.values[:-1, track] - self.feats.grid[1:, track, 2:]) / VALUE_UNITS
            self._sums = {
                "on": _prefix(_surprise(p_on)),
                "off": _prefix(_surprise(1.0 - p_on)),
                "err": _prefix(err),
            }
            self._track = track
        return self._sums

    def _slot_sums(self, track: int, slot: int) -> np.ndarray:
        """The prefix sum over rows (T+1,) of the surprise at one slot of one track (a track's
        clips show few of the ten slots)."""
        key = (track, slot)
        if key not in self._slots:
            self._slots = {key: _prefix(_surprise(self.preds.asset_probs[:, track, slot].astype(np.float64)))} | {
                k: v for k, v in self._slots.items() if k[0] == track}  # one track's at a time
        return self._slots[key]

    def active(self, seg: Segment) -> tuple[float, float]:
        """Surprise at the track being on (off); at the entry, P(state | change) ~ P(state) / P(change)."""
        cum = self._prefix_sums(seg.track)["on" if seg.active else "off"]
        rows = seg.end - 1 - seg.start
        inner = float(cum[seg.end - 1] - cum[seg.start]) / rows if rows > 0 else 0.0
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
        inner = np.zeros(len(segs))
        for t, s in {(int(t), int(s)) for t, s in zip(track, slot)}:  # the slots the segments show only
            at = (track == t) & (slot == s)
            cum = self._slot_sums(t, s)
            inner[at] = cum[end[at] - 1] - cum[start[at]]
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
                cum = self._prefix_sums(s.track)["err"]
                interior[i] = (cum[s.end] - cum[s.start + 1]) / rows
            if s.start > 0 and self.preds.p_change[s.start - 1, s.track] >= 0.5:
                guess[i] = self.preds.values[s.start - 1, s.track]
                entry[i] = np.abs(guess[i] - values[i]) / VALUE_UNITS
        return entry, interior, guess

