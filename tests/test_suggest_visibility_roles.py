"""What the viewer sees and what each track is for, on real shared-corpus exports and small
fixtures cut from them: opacity and alpha as the reader keeps them, clips hidden under opaque
full-frame clips, copied tracks, overlay tracks and a reference master laid on top."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.suggest.roles import track_roles
from model.suggest.visibility import Pictures, covers_frame, hides_below, item_hidden_by, visibility
from model.timeline.types import Motion, Track, const

KRAAKE = "havardgulldahl__xmeml/Kraakeklubben%20Pgm%205%20v3.xml"
BROCODES = "havardgulldahl__xmeml/BroShow ep Brocodes.xml"
MSUB = "havardgulldahl__xmeml/msub20001812aa.xml"


def test_the_reader_keeps_opacity_alpha_and_composite_mode(corpus_sequence):
    seq = corpus_sequence(KRAAKE)
    v2 = seq.video_tracks[1].items
    assert v2[3].opacity.value == 50.0  # 00708001.MOV at 50 %
    assert [k.value for k in v2[2].opacity.keyframes] == [0.0, 75.0]  # a fade up, keyframed
    assert seq.video_tracks[0].items[0].opacity is None and seq.video_tracks[0].items[0].alpha == "none"  # no filter: 100 %
    brocodes = corpus_sequence(BROCODES)
    assert brocodes.video_tracks[3].items[0].composite == "texturize"
    assert brocodes.video_tracks[3].items[0].blends and not brocodes.video_tracks[2].items[0].blends
    msub = corpus_sequence(MSUB)
    assert any(it.has_alpha for tr in msub.video_tracks for it in tr.items)  # straight-alpha PNGs


def test_kept_picture_facts_give_the_same_visibility(corpus_sequence):
    """A pass keeps each item's painted/hides facts (Pictures) for all its samplings: the same
    arrays as working them out frame by frame, keyframed fades and moves included."""
    for name in (KRAAKE, BROCODES, MSUB):
        seq = corpus_sequence(name)
        pictures = Pictures(seq)
        for frames in (np.arange(0, seq.duration, 3), np.arange(seq.duration)):
            a, b = visibility(seq, frames), visibility(seq, frames, pictures)
            for field in ("painted", "hides", "hidden_by"):
                assert np.array_equal(getattr(a, field), getattr(b, field)), (name, field)
    kraake = corpus_sequence(KRAAKE)
    facts = Pictures(kraake)
    assert facts.facts(kraake.video_tracks[1].items[2]) is None  # the keyframed fade up: frame by frame
    assert facts.facts(kraake.video_tracks[0].items[0]) == (True, True)  # a plain full-frame clip


def test_a_clip_under_an_opaque_full_frame_clip_is_hidden(corpus_sequence):
    seq = corpus_sequence(KRAAKE)
    frames = np.arange(seq.duration)
    vis = visibility(seq, frames)
    hidden = seq.video_tracks[0].items[62]  # DYR18102_01 on V1, under a full-frame V2 cutaway
    assert (hidden.name, hidden.start) == ("DYR18102_01", 7492)
    assert item_hidden_by(vis, 0, hidden) == (1.0, 1)
    assert vis.top[hidden.start] == 1
    # The cutaway at 50 % opacity hides nothing: V1 shows through.
    half = seq.video_tracks[1].items[3]
    assert not hides_below(half, seq, np.array([half.start]))[0]
    lo = int(np.searchsorted(frames, half.start))
    assert vis.visible[lo, 0] and vis.hidden_by[lo, 0] == -1


def test_a_picture_in_picture_or_a_shifted_clip_does_not_cover_the_frame(corpus_sequence):
    seq = corpus_sequence(KRAAKE)
    item = seq.video_tracks[0].items[0]
    at = np.array([item.start])
    assert covers_frame(item, seq, at)[0]
    assert not covers_frame(replace(item, motion=Motion(const(30.0))), seq, at)[0]
    assert not covers_frame(replace(item, motion=Motion(const(100.0), const(0.1))), seq, at)[0]
    assert covers_frame(replace(item, motion=Motion(const(115.0), const(0.05))), seq, at)[0]
    small = replace(item, source=replace(item.source, width=1280, height=720))
    assert not covers_frame(small, seq, at)[0]  # 1280x720 at 100 % in a 1080 sequence
    assert covers_frame(replace(small, motion=Motion(const(150.0))), seq, at)[0]


def test_copied_tracks_are_found_with_their_original(corpus_sequence):
    roles = track_roles(corpus_sequence(BROCODES))
    # V4, V6 and V8 repeat V3, V5 and V7 (the 50 % opacity graphics and their full copies).
    assert [(r.role, r.of) for r in roles[3:8:2]] == [("copy", 2), ("copy", 4), ("copy", 6)]
    assert all(r.role == "overlay" for r in roles[2:7:2])
    assert not roles[3].reviewed and not roles[2].gaps_matter


def test_graphics_tracks_are_overlays_and_the_programme_is_the_a_roll(corpus_sequence):
    roles = track_roles(corpus_sequence(MSUB))
    assert roles[0].role == "a-roll" and roles[0].gaps_matter
    assert [r.role for r in roles[2:5]] == ["overlay"] * 3
    kraake = track_roles(corpus_sequence(KRAAKE))
    assert kraake[0].role == "a-roll" and kraake[1].role == "b-roll"


def test_a_master_laid_over_the_whole_sequence_is_a_reference(corpus_sequence):
    seq = corpus_sequence(KRAAKE)
    first = seq.video_tracks[0].items[0]
    master = replace(first, start=0, end=seq.duration, opacity=None, motion=None, crop=None, name="master.mov")
    with_master = replace(seq, video_tracks=(*seq.video_tracks, Track((master,))))
    roles = track_roles(with_master)
    assert roles[-1].role == "reference"
    vis = visibility(with_master, np.arange(0, seq.duration, 25))
    assert (vis.top == len(with_master.video_tracks) - 1).all()
    # At 50 % it hides nothing: an overlay laid over the programme, not a reference.
    see_through = replace(with_master, video_tracks=(*seq.video_tracks, Track((replace(master, opacity=const(50.0)),))))
    assert track_roles(see_through)[-1].role == "overlay"
