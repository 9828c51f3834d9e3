"""next and fill: segments of at least the minimum length, after the end or inside the gap, showing
only the timeline's own sources."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from model.features.grid import featurize
from model.inference.predictor import PersistencePredictor
from model.suggest.continuation import empty_stretches, merged_runs
from model.suggest.items import SuggestOptions
from model.suggest.pipeline import suggest
from model.timeline.types import Rate
from tests.helpers_suggest import FlickerPredictor, as_timeline, interview

PREDICTORS = [PersistencePredictor(), FlickerPredictor(), FlickerPredictor(every=4)]


def own_sources(seq):
    return {it.source.key: it.source for tr in seq.video_tracks for it in tr.items}


def check_clip(clip, seq, min_s, window):
    fps = seq.rate.fps
    lo, hi = window
    assert lo <= clip.start_frame < clip.end_frame <= hi
    if hi - lo >= math.ceil(min_s * fps):
        assert clip.end_frame - clip.start_frame >= math.floor(min_s * fps)  # within a frame of the minimum
    assert own_sources(seq)[clip.source.key] == clip.source
    assert 0 <= clip.slot <= 9 and 0.0 <= clip.confidence <= 1.0


@pytest.mark.parametrize("predictor", PREDICTORS, ids=lambda p: f"{p.name}")
@pytest.mark.parametrize("rate", [Rate(25), Rate(30, True), Rate(24, True)], ids=["25", "29.97", "23.976"])
def test_next_lies_after_the_end_with_minimum_length_and_own_sources(predictor, rate):
    seq = interview(60, rate=rate)
    options = SuggestOptions(kinds=("next",), horizon_s=12.0, min_segment_s=1.5)
    result = suggest(as_timeline(seq), predictor, options)[0]
    assert result.next, "a continuation of a busy edit is never empty"
    window = (seq.duration, seq.duration + math.ceil(12 * seq.rate.fps))
    for clip in result.next:
        check_clip(clip, seq, 1.5, window)
    per_track = {}
    for clip in result.next:
        per_track.setdefault(clip.track, []).append(clip)
    for clips in per_track.values():  # segments of one track never overlap
        for a, b in zip(clips, clips[1:]):
            assert a.end_frame <= b.start_frame


def test_flicker_is_merged_into_the_shots_around_it():
    seq = interview(60)
    result = suggest(as_timeline(seq), FlickerPredictor(every=13), SuggestOptions(kinds=("next",), horizon_s=10.0))[0]
    # 100 steps cut every 13: 7 shots of 13 steps, the last 9 steps (under the 1 s minimum) go to the
    # 7th shot, and none of the one-step flashes survives. V2's rollout names slots only.
    names = ["camA.mov", "camB.mov", "face.mov"]
    for track in (0, 1):
        clips = [c for c in result.next if c.track == track]
        assert [c.source.name for c in clips] == [names[(k + track) % 3] for k in range(7)]
        assert [c.end_frame - c.start_frame for c in clips][:6] in ([33, 32, 33, 32, 33, 32], [32, 33, 32, 33, 32, 33])


def test_next_after_a_given_time_continues_from_there():
    seq = interview(60)
    result = suggest(as_timeline(seq), PersistencePredictor(), SuggestOptions(kinds=("next",), after_s=30.0, horizon_s=5.0))[0]
    frame_30s = 30 * 25
    covering = [it for it in seq.video_tracks[0].items if it.start <= frame_30s < it.end][0]
    v1 = [c for c in result.next if c.track == 0]
    assert [(c.start_frame, c.end_frame) for c in v1] == [(frame_30s, frame_30s + 125)]
    assert v1[0].source == covering.source  # persistence holds the shot it was in
    assert v1[0].in_frame == covering.in_frame + (frame_30s - covering.start)  # ... and goes on in it


@pytest.mark.parametrize("predictor", PREDICTORS, ids=lambda p: f"{p.name}")
def test_fill_lies_inside_the_empty_stretch(predictor):
    seq = interview(90, gap=(40, 47))
    gaps = empty_stretches(seq, 1.0)
    assert len(gaps) == 1
    lo, hi = gaps[0]
    assert all(not (it.start < hi and lo < it.end) for tr in seq.video_tracks for it in tr.items)
    result = suggest(as_timeline(seq), predictor, SuggestOptions(kinds=("fill",), min_segment_s=1.0, max_rollout_s=30))[0]
    assert result.fill
    for clip in result.fill:
        check_clip(clip, seq, 1.0, (lo, hi))
    v1 = [c for c in result.fill if c.track == 0]
    assert v1[0].start_frame == lo and v1[-1].end_frame == hi  # the gap is filled to its edges
    bounded = suggest(as_timeline(seq), predictor, SuggestOptions(kinds=("fill",), min_segment_s=1.0, max_rollout_s=5))[0]
    assert max(c.end_frame for c in bounded.fill) == lo + 5 * 25  # ... or its first max_rollout_s


def test_short_gaps_and_leading_black_are_not_filled():
    seq = interview(60, gap=(0, 5))  # black at the start: nothing before it to continue
    assert empty_stretches(seq, 1.0) == []
    short = interview(60, gap=(20, 20.5))
    assert empty_stretches(short, 1.0) == [] or all(b - a >= 25 for a, b in empty_stretches(short, 1.0))


def test_merged_runs_keeps_every_run_at_the_minimum():
    rng = np.random.default_rng(0)
    for _ in range(200):
        keys = rng.integers(-2, 4, size=int(rng.integers(1, 80)))
        runs = merged_runs(keys, 5)
        assert runs[0][0] == 0 and runs[-1][1] == len(keys)
        assert all(a[1] == b[0] and a[2] != b[2] for a, b in zip(runs, runs[1:]))
        if len(runs) > 1:
            assert all(hi - lo >= 5 for lo, hi, _ in runs)


def test_steps_and_frames_agree_on_the_grid():
    seq = interview(30, rate=Rate(30, True))
    feats = featurize(seq, Fraction(1, 10))
    result = suggest(as_timeline(seq), PersistencePredictor(), SuggestOptions(kinds=("next",)))[0]
    # The steps whose sampled frame floor((k + 0.5) x frames per step) lies inside the sequence.
    assert result.steps == feats.steps == math.ceil(Fraction(seq.duration) / feats.frames_per_step - Fraction(1, 2))
