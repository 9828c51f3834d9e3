"""The own-past statistics as network inputs (issue 18): per track and step, what an online chain
fitted on the timeline's own past knows there, so the network can learn when to trust it.

Row t describes the past up to and including step t (the same rows the own-past gate reads to
predict step t+1), so the inputs are causal: a later step never changes an earlier row.
`N_OWN` features per cell, all roughly in [-2, 2]:

- from the chain (`model.features.own_past.chain_view`): log1p of the steps spent in the track's
  current state and of the cuts out of it, log P(cut next), P(a cut shows something), log1p of
  the cuts that showed something (the recency table's evidence), the chain's recency-class
  distribution (8) and its slot distribution (10);
- the track's own: log1p of the shots it has shown so far, log1p of its mean shot length so far
  (steps on / shots), and log1p of how often the source it shows now has been cut to before
  (on any track; 0 when the track is off).

`OnlineInputs` keeps the same rows up step by step for a rollout's generated steps.
"""

from __future__ import annotations

import numpy as np

from model.features.grid import N_TRACKS
from model.features.history import N_RECENCY, HistoryArrays
from model.features.own_past import N_SLOTS, ChainView, OnlineCounts, chain_view

LOG_SCALE = 0.2  # log1p of counts up to ~10^4 stays under 2
N_OWN = 5 + N_RECENCY + N_SLOTS + 3


def _rows(view: ChainView, shots: np.ndarray, on_steps: np.ndarray, uses: np.ndarray) -> np.ndarray:
    """The (..., 20, N_OWN) float32 rows from a chain view and the per-track counts (..., 20)."""
    cols = [
        LOG_SCALE * np.log1p(view.steps_here),
        LOG_SCALE * np.log1p(view.cuts_here),
        LOG_SCALE * np.log(np.maximum(view.p_cut, 1e-6)),
        view.p_on,
        LOG_SCALE * np.log1p(view.shown),
    ]
    per_track = [
        np.log1p(shots) * LOG_SCALE,
        np.log1p(on_steps / np.maximum(shots, 1)) * LOG_SCALE,
        np.log1p(uses) * LOG_SCALE,
    ]
    parts = [np.stack(cols, -1), view.recency, view.slot, np.stack(per_track, -1)]
    return np.concatenate([p.astype(np.float32) for p in parts], axis=-1)


def source_uses(shows: np.ndarray, src: np.ndarray, active: np.ndarray) -> np.ndarray:
    """(T, 20): how many cuts up to and including step t (any track) showed the source the cell shows."""
    steps = shows.shape[0]
    t, i = np.nonzero(shows)
    keys = np.sort(src[t, i].astype(np.int64) * (steps + 1) + t)
    s = np.maximum(src, 0).astype(np.int64)
    here = s * (steps + 1) + np.arange(steps)[:, None]
    count = np.searchsorted(keys, here, side="right") - np.searchsorted(keys, s * (steps + 1), side="left")
    return np.where(active, count, 0)


def own_past_inputs(grid: np.ndarray, hist: HistoryArrays, source_index: np.ndarray) -> np.ndarray:
    """The inputs (T, 20, N_OWN) of every step of one sequence, causal."""
    if grid.shape[0] == 0:
        return np.zeros((0, N_TRACKS, N_OWN), np.float32)
    active = grid[..., 0] > 0.5
    shows = hist.cut & active
    shots = np.cumsum(shows, axis=0)
    on_steps = np.cumsum(active, axis=0)
    uses = source_uses(shows, np.where(active, source_index, -1), active)
    return _rows(chain_view(grid, hist), shots, on_steps, uses)


class OnlineInputs:
    """The same rows kept up one generated step at a time (a rollout)."""

    def __init__(self, chain: OnlineCounts, shots: np.ndarray, on_steps: np.ndarray, uses: dict[int, int], src: np.ndarray) -> None:
        self.chain = chain
        self.shots, self.on_steps = shots.astype(np.float64), on_steps.astype(np.float64)
        self.uses = uses  # source index -> cuts that showed it so far
        self.src = src  # (20,) the source each track shows now (-1 off)

    @classmethod
    def after(cls, grid: np.ndarray, hist: HistoryArrays, source_index: np.ndarray) -> OnlineInputs:
        """The state after steps 0..T-1 (its `row()` is row T-1 of `own_past_inputs`)."""
        active = grid[..., 0] > 0.5
        shows = hist.cut & active
        src = np.where(active, source_index, -1).astype(np.int64)
        uses: dict[int, int] = {}
        for s in src[shows]:
            uses[int(s)] = uses.get(int(s), 0) + 1
        last = src[-1] if len(src) else np.full(N_TRACKS, -1, np.int64)
        return cls(OnlineCounts.after(grid, hist), shows.sum(0), active.sum(0), uses, last)

    def step(self, grid_row: np.ndarray, src_row: np.ndarray, cut: np.ndarray, recency: np.ndarray) -> None:
        """Count one more step (20, 9) with its sources, cuts and recency classes."""
        self.chain.step(grid_row, cut, recency)
        active = grid_row[:, 0] > 0.5
        shows = cut & active
        self.src = np.where(active, np.asarray(src_row, np.int64), -1)
        for s in self.src[shows]:
            self.uses[int(s)] = self.uses.get(int(s), 0) + 1
        self.shots += shows
        self.on_steps += active

    def row(self) -> np.ndarray:
        """The inputs (20, N_OWN) of the last counted step."""
        uses = np.array([self.uses.get(int(s), 0) if s >= 0 else 0 for s in self.src], np.float64)
        view = self.chain.view()
        return _rows(view, self.shots[None], self.on_steps[None], uses[None])[0]
