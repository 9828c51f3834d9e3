"""Augmentations for training on feature grids (numpy; never imports torch).

- Temporal jitter, done honestly at build time: `shift_sequence` moves the whole edit a few frames
  earlier, so featurizing it samples every step at a different phase inside the step (the grid
  of the *same* edit seen by a clock that started a fraction of a step later). `mttd dataset build
  --jitter K` stores K such copies of every training timeline (never of validation ones), at
  shifts spread evenly over one step (`model.training.dataset.jitter_shifts`). Shifting a built grid
  instead would only move whole steps, which is not jitter.
- Sequence cropping: `crop_window` picks a random sub-window of a window.
- Parameter noise on inputs only: `noisy_inputs(inputs, targets, rng)` returns perturbed inputs
  and the targets object untouched.
- Asset-slot permutation: `permute_prior_slots`. Slots number sources in first-use order over the
  whole timeline, so within a window the order of sources first used *before* the window is not
  observable from the window itself: their slot numbers are arbitrary labels there and may be
  permuted. Slots first used inside the window keep their numbers (the next new source always
  takes the next free slot, which is real, learnable structure), and slot 9 ("any later source")
  is never touched.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from model.features.grid import MAX_SLOT
from model.timeline.types import Sequence, Track

# Standard deviations of the input noise, in each parameter's units (percent, source fractions).
NOISE = {"scale": 0.5, "pos": 0.005, "crop": 0.25}
_NOISE_COLUMNS = ((2, "scale"), (3, "pos"), (4, "pos"), (5, "crop"), (6, "crop"), (7, "crop"), (8, "crop"))


def shift_sequence(seq: Sequence, frames: int) -> Sequence:
    """The same edit starting `frames` frames earlier: items before 0 are cut, in points follow."""
    if frames <= 0:
        return seq
    tracks = []
    for track in seq.video_tracks:
        items = []
        for it in track.items:
            start, end = it.start - frames, it.end - frames
            if end <= 0:
                continue
            if start < 0:
                items.append(dataclasses.replace(it, start=0, end=end, in_frame=it.in_frame - start))
            else:
                items.append(dataclasses.replace(it, start=start, end=end))
        tracks.append(Track(tuple(items), track.enabled, ()))
    return dataclasses.replace(seq, video_tracks=tuple(tracks), markers=())


def crop_window(start: int, length: int, rng: np.random.Generator, min_length: int = 32) -> tuple[int, int]:
    """A random (start, length) inside the window (start, length), at least `min_length` long."""
    if length <= min_length:
        return start, length
    new_length = int(rng.integers(min_length, length + 1))
    return start + int(rng.integers(0, length - new_length + 1)), new_length


def noisy_inputs(
    inputs: np.ndarray, targets: object, rng: np.random.Generator, scale: float = 1.0
) -> tuple[np.ndarray, object]:
    """Gaussian noise on scale, position and crop of the active input cells; targets are returned as given.

    `inputs` is (..., 20, 9) in the grid's units; crop never goes below 0. Inactive cells stay all zero.
    """
    noisy = np.array(inputs, dtype=np.float32, copy=True)
    active = noisy[..., 0] > 0.5
    for col, kind in _NOISE_COLUMNS:
        noise = rng.normal(0.0, NOISE[kind] * scale, size=active.shape).astype(np.float32)
        noisy[..., col] += np.where(active, noise, 0.0).astype(np.float32)
    noisy[..., 5:9] = np.maximum(noisy[..., 5:9], 0.0)
    return noisy, targets


def sources_before(source_index: np.ndarray, start: int) -> int:
    """How many sources a timeline used before row `start` (its rows are (T, 20), -1 = inactive)."""
    if start <= 0:
        return 0
    return int(source_index[:start].max(initial=-1)) + 1


def permute_prior_slots(
    grid: np.ndarray, source_index: np.ndarray, prior: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Relabel the slots of the `prior` sources first used before the window with a random permutation.

    `grid` (T, 20, 9) and `source_index` (T, 20) are one window of one timeline; returns new arrays.
    Only slots 0..min(prior, 9)-1 move; the uncapped `source_index` moves with them.
    """
    n = min(prior, MAX_SLOT)
    grid, source_index = grid.copy(), source_index.copy()
    if n < 2:
        return grid, source_index
    perm = rng.permutation(n)
    active = grid[..., 0] > 0.5
    index = source_index.astype(np.int64)
    moves = active & (index >= 0) & (index < n)
    new_index = np.where(moves, perm[np.clip(index, 0, n - 1)], index)
    source_index[:] = new_index.astype(source_index.dtype)
    grid[..., 1] = np.where(moves, np.minimum(new_index, MAX_SLOT), grid[..., 1]).astype(grid.dtype)
    return grid, source_index
