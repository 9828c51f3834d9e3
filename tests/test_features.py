"""The feature contract of docs/features.md on hand-built sequences whose answers are known."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from model.features.grid import DEFAULT_STEP, N_TRACKS, featurize, step_frames
from model.timeline.types import Crop, Item, Keyframe, Motion, Param, Rate, Sequence, Source, Track
from tests.conftest import REPO

A = Source("file://localhost/a.mov", "a.mov")
B = Source("file://localhost/b.png", "b.png", kind="still")
C = Source("generator:Text", "Text", kind="generator")


def seq(*tracks: Track, rate: Rate = Rate(25)) -> Sequence:
    return Sequence("s", rate, tuple(tracks))


def test_step_frames_are_exact_for_ntsc():
    # 24/TRUE: one 0.1 s step is 2400/1001 frames; f_k = floor((k + 0.5) * 2400 / 1001).
    s = seq(Track((Item(0, 96, A),)), rate=Rate(24, True))
    frames = step_frames(s, DEFAULT_STEP)
    # 96 / (2400/1001) = 40.04 steps; the 41st would sample frame floor(40.5 x 2.3976) = 97, past the end.
    assert len(frames) == 40
    expected = [int((Fraction(2 * k + 1, 2) * Fraction(2400, 1001)) // 1) for k in range(40)]
    assert frames.tolist() == expected
    assert frames[-1] < 96


def test_no_step_samples_past_the_end():
    # A partial last step whose centre falls past the end would read as an empty step: a cut to
    # black on every track that is not in the edit. At 25 fps a step is 2.5 frames.
    for end, steps in ((100, 40), (101, 40), (102, 41), (103, 41), (1, 0), (2, 1)):
        s = seq(Track((Item(0, end, A),)))
        feats = featurize(s, DEFAULT_STEP)
        assert feats.steps == steps, end
        assert (feats.grid[:, 0, 0] == 1).all(), end


def test_no_video_gives_zero_steps():
    f = featurize(seq(Track()))
    assert f.steps == 0 and f.grid.shape == (0, N_TRACKS, 9)


def test_last_item_in_document_order_wins_and_disabled_empties():
    # 25 fps, 0.1 s = 2.5 frames: step k samples frame floor(2.5k + 1.25).
    t = Track((Item(0, 50, A), Item(10, 20, B, enabled=False)))
    f = featurize(seq(t))
    frames = step_frames(seq(t), DEFAULT_STEP)
    covered_by_b = (frames >= 10) & (frames < 20)
    assert covered_by_b.any()
    assert np.all(f.grid[covered_by_b, 0, 0] == 0)
    assert np.all(f.grid[covered_by_b, 0, 1:] == 0)
    assert np.all(f.grid[~covered_by_b, 0, 0] == 1)


def test_disabled_track_is_inactive_and_gives_no_slot():
    f = featurize(seq(Track((Item(0, 25, B),), enabled=False), Track((Item(5, 25, A),))))
    assert f.grid[:, 0, 0].sum() == 0
    assert [s.key for s in f.sources] == [A.key]


def test_slots_follow_first_use_with_track_tiebreak_and_cap_at_nine():
    many = tuple(Item(100 + 10 * i, 110 + 10 * i, Source(f"k{i}", f"n{i}")) for i in range(12))
    f = featurize(seq(Track((Item(0, 10, B),) + many), Track((Item(0, 10, A),))))
    keys = [s.key for s in f.sources]
    assert keys[:2] == [B.key, A.key]  # same start: lower track first
    slots = [a["slot"] for a in f.assets()]
    assert slots[:10] == list(range(10)) and set(slots[10:]) == {9}
    last = f.grid[-1, 0]
    assert last[0] == 1 and last[1] == 9


def test_motion_crop_defaults_and_keyframes_on_source_axis():
    motion = Motion(scale=Param(100, (Keyframe(10, 100), Keyframe(20, 200))), center_x=Param(0.25))
    crop = Crop(left=Param(10), bottom=Param(5))
    t = Track((Item(0, 25, A, in_frame=10, motion=motion, crop=crop), Item(25, 50, C)))
    f = featurize(seq(t))
    frames = step_frames(seq(t), DEFAULT_STEP)
    k = int(np.searchsorted(frames, 5))  # frame 5 -> source frame 15 -> scale 150
    assert frames[k] == 6
    assert f.grid[k, 0, 2] == pytest.approx(160.0)
    assert f.grid[k, 0, 3] == pytest.approx(0.25)
    assert f.grid[k, 0, 5:9].tolist() == [10, 0, 0, 5]
    later = int(np.searchsorted(frames, 30))
    assert f.grid[later, 0, 2:].tolist() == [100, 0, 0, 0, 0, 0, 0]
    assert f.source_kind[later, 0] == 4 and f.source_kind[k, 0] == 1


def test_negative_sentinel_holds_until_next_key():
    p = Param(0, (Keyframe(-78277, 50), Keyframe(100, 150)))
    f = featurize(seq(Track((Item(0, 50, A, motion=Motion(scale=p)),))))
    assert np.all(f.grid[:, 0, 2] == 50)


def test_more_than_twenty_tracks_keeps_the_first_twenty():
    tracks = [Track((Item(0, 10, Source(f"t{i}", f"t{i}")),)) for i in range(25)]
    f = featurize(seq(*tracks))
    assert f.tracks_total == 25 and f.grid.shape[1] == 20
    assert len(f.sources) == 20


def test_forty_minutes_of_twenty_tracks():
    # Speed is measured in tests/bench/bench_reader.py; here only the shape and gaps.
    tracks = [
        Track(tuple(Item(i * 750, i * 750 + 700, Source(f"{t}-{i % 7}", "x")) for i in range(80)))
        for t in range(20)
    ]
    f = featurize(seq(*tracks))
    assert f.steps == 23980  # last end 59,950 frames at 2.5 frames per step
    gap = (step_frames(seq(*tracks), DEFAULT_STEP) % 750) >= 700
    assert np.all(f.grid[gap, :, 0] == 0) and np.all(f.grid[~gap, :, 0] == 1)


def test_reading_and_featurizing_never_import_torch():
    code = "import sys, model.features.grid, model.timeline.types; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
