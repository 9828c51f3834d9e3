"""What every predictor offers (the network, its ONNX export, and the baselines).

A predictor reads a featurized sequence and says, for every step t and track, what it expects at
step t+1 given steps 0..t (causal), and can roll the edit forward. The suggestion engine, the
evaluation and the daemon only talk to this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from model.features.grid import N_TRACKS, SequenceFeatures

N_SLOTS = 10
VALUE_FIELDS = ("scale", "pos_x", "pos_y", "crop_l", "crop_r", "crop_t", "crop_b")


@dataclass
class Predictions:
    """Row t is the prediction for step t+1 made from steps 0..t (so T rows for T steps)."""

    p_active: np.ndarray  # (T, 20) probability that the track is active at t+1
    asset_probs: np.ndarray  # (T, 20, 10) probability over source slots at t+1, given active
    values: np.ndarray  # (T, 20, 7) scale, pos_x, pos_y, crop l/r/t/b at t+1, physical units
    p_change: np.ndarray  # (T, 20) probability that anything on the track changes at t+1


@dataclass
class Rollout:
    """Steps generated after the given context, in the feature grid's layout."""

    grid: np.ndarray  # (n, 20, 9) as the feature contract
    source_index: np.ndarray  # (n, 20) index into SequenceFeatures.sources; -1 inactive or unknown
    confidence: np.ndarray  # (n, 20) probability of the chosen state


class Predictor(Protocol):
    name: str
    version: str
    sha256: str
    backend: str  # what runs it: torch, onnx, onnx-int8, or baseline

    def predict(self, feats: SequenceFeatures) -> Predictions: ...

    def rollout(self, feats: SequenceFeatures, start: int, n_steps: int) -> Rollout:
        """Continue the edit from step `start` (steps 0..start-1 are the context)."""
        ...


class PersistencePredictor:
    """Copy the previous step: the baseline every model must beat."""

    name = "persistence"
    version = "1"
    sha256 = ""
    backend = "baseline"

    def predict(self, feats: SequenceFeatures) -> Predictions:
        grid = feats.grid
        steps = grid.shape[0]
        asset = np.zeros((steps, N_TRACKS, N_SLOTS), np.float32)
        slots = grid[..., 1].astype(np.int64).clip(0, N_SLOTS - 1)
        np.put_along_axis(asset, slots[..., None], 1.0, axis=-1)
        return Predictions(
            p_active=grid[..., 0].astype(np.float32),
            asset_probs=asset,
            values=grid[..., 2:].astype(np.float32),
            p_change=np.zeros((steps, N_TRACKS), np.float32),
        )

    def rollout(self, feats: SequenceFeatures, start: int, n_steps: int) -> Rollout:
        if start <= 0:
            last = np.zeros((N_TRACKS, 9), np.float32)
            last_src = np.full(N_TRACKS, -1, np.int32)
        else:
            last = feats.grid[start - 1]
            last_src = feats.source_index[start - 1]
        return Rollout(
            grid=np.repeat(last[None], n_steps, axis=0),
            source_index=np.repeat(last_src[None], n_steps, axis=0),
            confidence=np.ones((n_steps, N_TRACKS), np.float32),
        )
