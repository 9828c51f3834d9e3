"""Review on real shared-corpus exports, and small fixtures cut from them (issue 19): a copied track
gives one item for the pair, a clip hidden under an opaque full-frame clip is not reviewed as
seen, overlay tracks get no "empty" items, a reference master on top gets one item, the new checks
find what real programmes showed, and no reason contradicts itself anywhere on the corpus."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from model.features.grid import featurize
from model.inference.predictor import PersistencePredictor
from model.suggest.items import SuggestOptions
from model.suggest.pipeline import predictor_step, suggest
from model.suggest.review import candidates
from model.suggest.review_context import review_context
from model.suggest.review_eval import real_timelines
from model.suggest.review_words import MIN_SUPPORT, contradiction
from model.suggest.roles import track_roles
from model.timeline.types import Motion, Timeline, Track, const

REVIEW = SuggestOptions(kinds=("review",))
KRAAKE = "havardgulldahl__xmeml/Kraakeklubben%20Pgm%205%20v3.xml"
BROCODES = "havardgulldahl__xmeml/BroShow ep Brocodes.xml"
MSUB = "havardgulldahl__xmeml/msub20001812aa.xml"
NICK = "nick-animation-studio__fcp7xml-to-unreal/test_XML_export_filtered_premiere.xml"
PREDICTOR = PersistencePredictor()  # the pattern-only calibration: fast, and any predictor's floor


def review(seq, max_review=20):
    return suggest(Timeline("fixture.xml", (seq,)), PREDICTOR, replace(REVIEW, max_review=max_review))[0].review


def with_items(seq, track, changes: dict[int, dict]):
    items = list(seq.video_tracks[track].items)
    for j, change in changes.items():
        items[j] = replace(items[j], **change)
    tracks = list(seq.video_tracks)
    tracks[track] = replace(tracks[track], items=tuple(items))
    return replace(seq, video_tracks=tuple(tracks))


def overlapping(items, track, clip):
    return [r for r in items if r.track == track and r.start_frame < clip.end and clip.start < r.end_frame]


def test_a_copied_track_gives_one_item_for_the_pair(corpus_sequence):
    # Kraakeklubben with its V1 copied at 68 % opacity onto a new top track, as a grade or a
    # reference copy is kept; one V1 clip set to 50 % on both, as a copy has it.
    seq = corpus_sequence(KRAAKE)
    v1 = seq.video_tracks[0]
    copy = replace(v1, items=tuple(replace(it, opacity=const(68.0)) for it in v1.items))
    doubled = replace(seq, video_tracks=(*seq.video_tracks, copy))
    top = len(doubled.video_tracks) - 1
    assert track_roles(doubled)[top].role == "copy" and track_roles(doubled)[top].of == 0
    j = 120
    clip = v1.items[j]
    slip = {"motion": Motion(const(50.0))}
    slipped = with_items(with_items(doubled, 0, {j: slip}), top, {j: {**slip, "opacity": const(68.0)}})
    found = review(slipped)
    assert not [r for r in found if r.track == top], "the copy is reviewed through its original"
    on_clip = [r for r in overlapping(found, 0, clip) if r.field == "scale"]
    assert len(on_clip) == 1
    assert f"copy V{top + 1}" in on_clip[0].reason and "50 %" in on_clip[0].reason
    # The real programme with three copied pairs: nothing is said on a copy.
    brocodes = corpus_sequence(BROCODES)
    copies = {t for t, r in enumerate(track_roles(brocodes)) if r.role == "copy"}
    assert copies == {3, 5, 7}
    assert not [r for r in review(brocodes) if r.track in copies]


def test_a_clip_hidden_under_an_opaque_full_frame_clip_is_not_reviewed_as_seen(corpus_sequence):
    seq = corpus_sequence(KRAAKE)
    hidden = seq.video_tracks[0].items[62]  # DYR18102_01 on V1, under a full-frame V2 cutaway
    seen = seq.video_tracks[0].items[61]
    assert (seen.end, seen.name) == (hidden.start, "DYR18102_01")  # the same shot, seen just before
    # The same slip on each in turn: disabled among 238 enabled clips.
    on_seen = overlapping(review(with_items(seq, 0, {61: {"enabled": False}}), max_review=100), 0, seen)
    on_hidden = overlapping(review(with_items(seq, 0, {62: {"enabled": False}}), max_review=100), 0, hidden)
    assert on_seen and "hidden" not in on_seen[0].reason
    assert on_hidden and all("hidden under V2" in r.reason for r in on_hidden)
    assert max(r.confidence for r in on_hidden) < on_seen[0].confidence  # ranks below what the viewer sees


def test_a_sparse_graphics_track_gets_no_empty_item(corpus_sequence):
    seq = corpus_sequence(MSUB)
    roles = track_roles(seq)
    overlays = [t for t, r in enumerate(roles) if r.role == "overlay"]
    assert overlays and not any(roles[t].gaps_matter for t in overlays)
    # Cut a long stretch out of the busiest overlay track: still no "empty" item there.
    t = max(overlays, key=lambda t: len(seq.video_tracks[t].items))
    items = seq.video_tracks[t].items
    thinned = replace(seq, video_tracks=tuple(
        replace(tr, items=items[:3] + items[6:]) if k == t else tr for k, tr in enumerate(seq.video_tracks)))
    found = review(thinned, max_review=100)
    assert not [r for r in found if r.track in overlays and r.field == "active" and "nothing on" in r.reason]


def test_a_master_laid_over_the_whole_sequence_gets_one_item_and_nothing_else(corpus_sequence):
    seq = corpus_sequence(KRAAKE)
    first = seq.video_tracks[0].items[0]
    master = replace(first, start=0, end=seq.duration, opacity=None, motion=None, crop=None, name="master.mov")
    with_master = replace(seq, video_tracks=(*seq.video_tracks, Track((master,))))
    found = review(with_master)
    top = len(with_master.video_tracks) - 1
    mine = [r for r in found if r.track == top]
    assert len(mine) == 1 and found[0] == mine[0]
    assert "hides everything below it (V1, V2, V3, V4)" in mine[0].reason


def test_a_few_frames_gap_where_the_cuts_touch_is_found(corpus_sequence):
    seq = corpus_sequence(KRAAKE)
    items = seq.video_tracks[0].items
    j = next(j for j in range(100, 200) if items[j - 1].end == items[j].start and items[j].end - items[j].start > 30)
    clip = items[j]
    slipped = with_items(seq, 0, {j: {"start": clip.start + 3, "in_frame": clip.in_frame + 3}})
    found = [r for r in review(slipped) if r.track == 0 and r.start_frame == clip.start]
    assert found and re.search(r"a 3-frame gap .* where (\d+) of the track's other \d+ cuts touch", found[0].reason)


def test_a_small_source_left_at_100_percent_among_its_scaled_up_uses_is_found(corpus_sequence):
    seq = corpus_sequence(NICK)  # V11: 1280x720 stills at 150 % in a 1920x1080 sequence, every one of them
    t = 10
    items = seq.video_tracks[t].items
    j = next(j for j in range(20, 200) if items[j].source.key == items[0].source.key)
    slipped = with_items(seq, t, {j: {"motion": None}})
    found = [r for r in overlapping(review(slipped), t, items[j]) if r.field == "scale"]
    assert found, "the border a 1280x720 picture leaves went unnoticed"
    assert (found[0].current, found[0].suggested) == (100.0, 150.0)
    assert "1280x720 source at 100 % in a 1920x1080 sequence" in found[0].reason


def test_no_reason_on_the_corpus_contradicts_itself():
    """Every candidate review may show (with the support an editor would accept), on every real
    export of the corpus: its reason names a place, quotes no pattern seen fewer than MIN_SUPPORT
    times and never suggests what is already there."""
    checked = 0
    for tl in real_timelines():
        seq = tl.sequences[0]
        feats = featurize(seq, predictor_step(PREDICTOR, REVIEW))
        ctx = review_context(seq, feats)
        for cs in candidates(seq, feats, PREDICTOR.predict(feats), context=ctx):
            rows = range(len(cs.features)) if cs.allowed is None else [i for i, ok in enumerate(cs.allowed) if ok]
            for row in rows:
                current, suggested, reason = cs.explain(row)
                assert contradiction(reason, current, suggested) is None, (tl.path, reason)
                assert re.match(r"V\d+ \d\d:\d\d:\d\d[:;]\d\d: ", reason), reason
                counts = [int(n) for n in re.findall(r"\b(\d+) (?:other|of the|of its)", reason)]
                assert all(n >= MIN_SUPPORT for n in counts), reason
                checked += 1
    assert checked > 200


@pytest.mark.parametrize("reason, current, suggested", [
    ("V1 00:00:01:00: after 'X' it goes to 'X' (5 of 6 times)", {"name": "Y"}, {"name": "X"}),
    ("V1 00:00:01:00: 'X' after 'W'; the model expects 'X' here (40%)", {"name": "X"}, {"name": "Z"}),
    ("V1 00:00:01:00: a pattern seen 1 of 1 times", {"name": "X"}, {"name": "Z"}),
    ("V1 00:00:01:00: at 100 % where the same source is at 150 % the 2 other times", 100.0, 150.0),
    ("V1 00:00:01:00: at 100 % where the same source is at 100 % the 6 other times", 100.0, 100.0),
])
def test_the_issue_s_self_contradicting_reasons_are_caught(reason, current, suggested):
    assert contradiction(reason, current, suggested) is not None
    assert contradiction("V1 00:00:01:00: at 100 % where the same source is at 150 % the 6 other times", 100.0, 150.0) is None
