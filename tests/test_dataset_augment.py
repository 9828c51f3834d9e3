"""Augmentations: sub-step jitter is a real re-sampling, noise never touches targets, slots permute safely."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from model.features.grid import featurize
from model.timeline.types import Rate
from model.training.augment import crop_window, noisy_inputs, permute_prior_slots, shift_sequence, sources_before
from model.training.dataset import jitter_shifts
from model.training.synth import synthesize


def podcast_at(rate: Rate):
    for index in range(200):
        seq = synthesize("podcast", 2, index, (0.5, 0.8)).sequences[0]
        if seq.rate == rate:
            return seq
    raise AssertionError(f"no podcast at {rate}")


def test_shifting_by_a_whole_step_drops_the_first_row_and_by_less_resamples():
    seq = podcast_at(Rate(30, False))  # 0.1 s = exactly 3 frames
    grid = featurize(seq).grid
    whole = featurize(shift_sequence(seq, 3)).grid
    np.testing.assert_array_equal(whole, grid[1:])
    part = featurize(shift_sequence(seq, 1)).grid
    assert part.shape == grid.shape
    changed = np.flatnonzero((part != grid).any(axis=(1, 2)))
    assert 0 < len(changed) < len(grid) // 10  # only steps next to a cut see the other side of it


def test_jitter_shifts_stay_inside_one_step():
    assert jitter_shifts(2, Fraction(3)) == (1, 2)
    assert jitter_shifts(1, Fraction(6)) == (3,)
    assert jitter_shifts(3, Fraction(12, 5)) == (1, 2)
    assert jitter_shifts(1, Fraction(1)) == ()


def test_noise_perturbs_active_inputs_only_and_returns_targets_untouched():
    grid = featurize(podcast_at(Rate(30, True))).grid[:200]
    inputs, targets = grid[:-1], grid[1:].copy()
    before = targets.copy()
    noisy, same = noisy_inputs(inputs, targets, np.random.default_rng(0))
    assert same is targets and np.array_equal(targets, before)
    active = inputs[..., 0] > 0.5
    assert (noisy[~active] == 0).all()
    assert (noisy[..., :2] == inputs[..., :2]).all()
    assert not np.array_equal(noisy[active][:, 2:5], inputs[active][:, 2:5])
    assert (noisy[..., 5:9] >= 0).all()


def test_crop_window_stays_inside():
    rng = np.random.default_rng(1)
    for _ in range(200):
        start, length = crop_window(100, 256, rng, min_length=32)
        assert 100 <= start and start + length <= 356 and length >= 32
    assert crop_window(5, 10, rng, min_length=32) == (5, 10)


def test_slot_permutation_moves_only_sources_first_used_before_the_window():
    seq = synthesize("documentary", 0, 0, (1.0, 1.5)).sequences[0]
    feats = featurize(seq)
    start = feats.steps // 2
    prior = sources_before(feats.source_index, start)
    window, index = feats.grid[start:], feats.source_index[start:]
    for seed in range(5):
        grid, moved = permute_prior_slots(window, index, prior, np.random.default_rng(seed))
        later = index >= prior
        assert np.array_equal(moved[later], index[later]) and np.array_equal(grid[..., 1][later], window[..., 1][later])
        early = (index >= 0) & (index < min(prior, 9))
        assert set(np.unique(moved[early])) <= set(range(min(prior, 9)))
        assert np.array_equal(grid[..., 2:], window[..., 2:])
        # the same source keeps one label throughout the window
        pairs = {(int(a), int(b)) for a, b in zip(index[early], moved[early])}
        assert len(pairs) == len({a for a, _ in pairs})
    assert prior >= 3
