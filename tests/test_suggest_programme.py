"""next and fill held to the programme, on real shared-corpus exports: in and out points inside the
media, framings in use, bounded fills, and no `next` after closing material."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model.inference.predictor import PersistencePredictor, Rollout
from model.suggest.continuation import fill_stretches
from model.suggest.items import SuggestOptions
from model.suggest.pipeline import suggest
from model.suggest.programme import Programme, item_values
from model.suggest.roles import track_roles
from model.timeline.formats import read_timeline
from model.timeline.types import Item, Rate, Sequence, Timeline, Track
from tests.helpers_suggest import FlickerPredictor, source

BROCODES = "havardgulldahl__xmeml/BroShow ep Brocodes.xml"
KRAAKE = "havardgulldahl__xmeml/Kraakeklubben%20Pgm%205%20v3.xml"
FINFREDAG = "havardgulldahl__xmeml/msub20001812aa.xml"
STORYBOARD = "nick-animation-studio__fcp7xml-to-unreal/test_XML_export_filtered_premiere.xml"
PREDICTORS = [PersistencePredictor(), FlickerPredictor(), FlickerPredictor(every=4)]


def read(corpus_dir, name) -> Sequence:
    return read_timeline(corpus_dir / name).sequences[0]


def without_last_seconds(seq: Sequence, seconds: float) -> Sequence:
    """The programme cut before its closing material: what an editor has while still working."""
    cut = seq.duration - round(seconds * float(seq.rate.fps))
    tracks = tuple(replace(t, items=tuple(it for it in t.items if it.end <= cut)) for t in seq.video_tracks)
    return replace(seq, video_tracks=tracks)


def assert_inside_media(clips, seq: Sequence) -> None:
    programme = Programme.of(seq)
    for clip in clips:
        limit = programme.media_length(clip.source)
        assert clip.in_frame >= 0
        if limit is not None:
            assert clip.in_frame + (clip.end_frame - clip.start_frame) <= limit, (clip, limit)


@pytest.mark.parametrize("predictor", PREDICTORS, ids=lambda p: p.name)
@pytest.mark.parametrize("name", [KRAAKE, STORYBOARD, FINFREDAG])
def test_next_and_fill_in_and_out_points_lie_within_the_media(corpus_dir, name, predictor):
    seq = without_last_seconds(read(corpus_dir, name), 60)
    result = suggest(Timeline(name, (seq,)), predictor, SuggestOptions(kinds=("next", "fill"), horizon_s=20))[0]
    assert result.next or result.fill
    assert_inside_media(result.next + result.fill, seq)
    for clip in result.fill:  # media running out never leaves a sliver of a clip
        assert clip.end_frame - clip.start_frame >= float(seq.rate.fps) * 1.0 - 1
    assert not [c for c in result.next + result.fill if c.source.key.lower() in ("generator:color", "generator:slug")]
    for clip in result.next + result.fill:
        document = result._clip_json(clip)
        assert document["source_in"] == clip.in_frame
        assert document["source_out"] - document["source_in"] == clip.end_frame - clip.start_frame


def test_holding_a_short_shot_past_its_media_stops_at_its_last_frame(corpus_dir):
    # Fin fredag before its last 2.5 s ends on the 500-frame 'Plakater_Progr.1' at in 0..372: holding
    # it for 20 s more would run 500 frames past its end.
    seq = without_last_seconds(read(corpus_dir, FINFREDAG), 2.5)
    last = max((it for t in seq.video_tracks for it in t.items), key=lambda it: it.end)
    assert last.source.name == "Plakater_Progr.1.mov" and last.source.duration == 500
    result = suggest(Timeline("f", (seq,)), PersistencePredictor(), SuggestOptions(kinds=("next",), horizon_s=20))[0]
    held = [c for c in result.next if c.source.key == last.source.key]
    assert held and all(c.in_frame + c.end_frame - c.start_frame <= 500 for c in held)
    assert any(c.in_frame == last.in_frame + (last.end - last.start) for c in held)  # it goes on where the shot was


@pytest.mark.parametrize(
    "name, why",
    [(BROCODES, "NRK_sluttplakat_2016"), (FINFREDAG, "sluttplak"), (KRAAKE, "'NRK2011' on V1 plays in full"),
     (STORYBOARD, "plain color matte")],
)
def test_no_next_after_closing_material_the_item_says_finished(corpus_dir, name, why):
    seq = read(corpus_dir, name)
    result = suggest(Timeline(name, (seq,)), PersistencePredictor(), SuggestOptions(kinds=("next",)))[0]
    assert result.next == []
    assert why in result.finished
    assert result.to_json()["finished"]["reason"].startswith("the programme looks finished")


def test_an_unfinished_programme_gets_a_next(corpus_dir):
    seq = without_last_seconds(read(corpus_dir, KRAAKE), 60)
    result = suggest(Timeline("k", (seq,)), PersistencePredictor(), SuggestOptions(kinds=("next",)))[0]
    assert result.finished is None and result.next
    assert "finished" not in result.to_json()


@pytest.mark.parametrize("predictor", PREDICTORS, ids=lambda p: p.name)
def test_framings_are_ones_the_programme_uses(corpus_dir, predictor):
    seq = read(corpus_dir, STORYBOARD)
    in_use = {item_values(it) for t in seq.video_tracks for it in t.items if it.enabled}
    result = suggest(Timeline("s", (seq,)), predictor, SuggestOptions(kinds=("next", "fill")))[0]
    assert result.fill
    for clip in result.next + result.fill:
        assert tuple(clip.values) in in_use


def test_fill_is_bounded_in_count_and_length(corpus_dir):
    seq = read(corpus_dir, STORYBOARD)
    assert len(fill_stretches(seq, 1.0)) > 3
    options = SuggestOptions(kinds=("fill",), max_fills=3, max_rollout_s=4.0)
    result = suggest(Timeline("s", (seq,)), FlickerPredictor(), options)[0]
    holes = {a for a, _, _ in fill_stretches(seq, 1.0)}
    assert result.fill and {c.start_frame for c in result.fill} & holes
    assert len({c.start_frame for c in result.fill} & holes) <= 3
    assert all(c.end_frame - c.start_frame <= 4 * 24 for c in result.fill)


class EveryTrackPredictor(PersistencePredictor):
    """Rollouts that show the timeline's first file on all 20 tracks: whatever track a fill
    could land on, it does, unless the engine keeps it off."""

    name = "every-track"

    def rollout(self, feats, start, n_steps):
        grid = np.zeros((n_steps, 20, 9), np.float32)
        grid[:, :, 0], grid[:, :, 2] = 1.0, 100.0
        first_file = next(i for i, s in enumerate(feats.sources) if s.kind == "file")  # not a matte: those are dropped
        grid[:, :, 1] = min(first_file, 9)
        index = np.full((n_steps, 20), first_file, np.int32)
        return Rollout(grid=grid, source_index=index, confidence=np.full((n_steps, 20), 0.5, np.float32))


@pytest.mark.parametrize("name", [STORYBOARD, KRAAKE, FINFREDAG, BROCODES])
def test_sparse_graphics_and_overlay_tracks_get_no_fill(corpus_dir, name):
    seq = read(corpus_dir, name)
    roles = track_roles(seq)
    result = suggest(Timeline(name, (seq,)), EveryTrackPredictor(), SuggestOptions(kinds=("fill",), max_fills=20))[0]
    on = {c.track for c in result.fill}
    assert all(roles[t].gaps_matter for t in on), [(t + 1, roles[t].role) for t in on]
    overlays = [t for t, r in enumerate(roles) if r.role == "overlay" or r.sparse]
    assert overlays and not on & set(overlays)
    for clip in result.fill:  # ... and never over something the track already shows
        assert not any(it.start < clip.end_frame and clip.start_frame < it.end for it in seq.video_tracks[clip.track].items if it.enabled)
    if name == BROCODES:  # its picture tracks are score graphics and sparse cutaways: nothing to fill
        assert result.fill == []
    elif name in (STORYBOARD, KRAAKE):  # (Fin fredag's A-roll runs without a hole)
        assert result.fill


def test_a_continued_clip_and_a_fresh_one_take_unused_material():
    rush = replace(source("rush.mov"), duration=1000)
    seq = Sequence("s", Rate(25), (Track((Item(0, 100, rush, in_frame=0), Item(100, 200, rush, in_frame=500))),))
    programme = Programme.of(seq)
    assert programme.place(rush, 0, 200, 100) == (600, 100)  # goes on in the shot it follows
    assert programme.place(rush, 0, 300, 100) == (600, 100)  # fresh: after the last use before it
    programme.claim(rush, 600, 100)
    assert programme.place(rush, 0, 300, 450) == (100, 400)  # the longest unused stretch, shortened
    assert programme.place(rush, 0, 200, 450) == (600, 400)  # continuing stops at the media's end


@pytest.mark.parametrize(
    "name", ["havardgulldahl__xmeml/Dagsnytt18-24.02.16.xml", "havardgulldahl__xmeml/jrpa-ths-skvln-henrik.xml"]
)
def test_a_shot_that_ran_out_of_media_is_not_started_again_as_next(corpus_dir, name):
    # Both end on a shot played to the end of all the media seen of it (no <duration>): holding it
    # proposed its unused head instead (Dagsnytt 18's 168-frame pre-roll, jrpa-ths' last package from 0).
    seq = read(corpus_dir, name)
    last = max((it for t in seq.video_tracks for it in t.items), key=lambda it: it.end)
    result = suggest(Timeline(name, (seq,)), PersistencePredictor(), SuggestOptions(kinds=("next",)))[0]
    assert not [c for c in result.next if c.source.key == last.source.key and c.in_frame < last.in_frame + last.end - last.start]
