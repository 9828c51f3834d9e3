"""Each style's signature holds on 50 generated timelines (checked on the Timeline objects)."""

from __future__ import annotations

import numpy as np

from model.timeline.types import Item, Sequence
from model.training.synth import synthesize_with_params
from model.training.synth.common import visible_rect

N = 50
MINUTES = (1.0, 2.0)


def generated(style: str):
    for index in range(N):
        timeline, params = synthesize_with_params(style, 11, index, MINUTES)
        yield timeline.sequences[0], params


def rect_of(item: Item, seq: Sequence, frame_of_source: int = 0):
    m, c = item.motion, item.crop
    src = (item.source.width, item.source.height)
    s = item.source_frame(item.start + frame_of_source)
    values = [m.scale.at(s), m.center_x.at(s), m.center_y.at(s)] if m else [100.0, 0.0, 0.0]
    crops = [c.left.at(s), c.right.at(s), c.top.at(s), c.bottom.at(s)] if c else [0.0] * 4
    return visible_rect(src, (seq.width, seq.height), *values, *crops)


def scale_of(item: Item) -> float:
    return item.motion.scale.value if item.motion else 100.0


def in_corner(r, seq: Sequence, margin: float) -> bool:
    inside = r.x0 >= -0.5 and r.y0 >= -0.5 and r.x1 <= seq.width + 0.5 and r.y1 <= seq.height + 0.5
    return inside and min(r.x0, seq.width - r.x1) <= margin + 0.5 and min(r.y0, seq.height - r.y1) <= margin + 0.5


def covers_frame(r, seq: Sequence) -> bool:
    return r.x0 <= 0.5 and r.y0 <= 0.5 and r.x1 >= seq.width - 0.5 and r.y1 >= seq.height - 0.5


def podcast_shots(seq: Sequence, p) -> list[tuple[str, int, int, float]]:
    """(source name, start, end, scale) of what is on screen, title excluded."""
    if p.layout == "single":
        return [(it.source.name, it.start, it.end, scale_of(it)) for it in seq.video_tracks[0].items]
    angles = sorted((it for tr in seq.video_tracks[1 : 1 + p.speakers] for it in tr.items if it.enabled),
                    key=lambda it: it.start)
    shots, t = [], 0
    for it in angles:
        if it.start > t:
            shots.append(("WIDE", t, it.start, 100.0))
        shots.append((it.source.name, it.start, it.end, scale_of(it)))
        t = it.end
    if t < seq.duration:
        shots.append(("WIDE", t, seq.video_tracks[0].items[0].end, 100.0))
    return shots


def test_podcast_shots_stay_between_drawn_min_and_max_and_punch_ins_alternate():
    layouts = set()
    for seq, p in generated("podcast"):
        layouts.add(p.layout)
        shots = podcast_shots(seq, p)
        assert len({s[0] for s in shots}) >= 2
        for name, start, end, _ in shots[:-1]:
            assert p.min_shot <= end - start <= p.max_shot, (name, start, end, p)
        by_camera: dict[str, list[float]] = {}
        for name, _, _, scale in shots:
            if name != "WIDE" and "WIDE" not in name:
                by_camera.setdefault(name, []).append(scale)
        for scales in by_camera.values():
            base = min(scales)
            assert all(abs(s - base) < 1e-6 or 1.099 <= s / base <= 1.301 for s in scales)
            assert all(a != b for a, b in zip(scales, scales[1:])), "each angle alternates base and punch-in"
    assert layouts == {"single", "stacked"}


def test_tutorial_face_cam_is_in_its_scale_range_and_in_a_corner_or_full_frame():
    full_seen = 0
    for seq, p in generated("tutorial"):
        for item in seq.video_tracks[1].items:
            r = rect_of(item, seq)
            if covers_frame(r, seq):
                full_seen += 1
                continue
            assert 20.0 <= scale_of(item) <= 35.0
            assert in_corner(r, seq, p.margin), (r, p)
    assert full_seen > 0


def test_vlog_jump_cuts_last_1_to_6_seconds_and_framing_alternates():
    changes = pairs = 0
    for seq, p in generated("vlog"):
        fps = float(seq.rate.fps)
        items = seq.video_tracks[0].items
        assert len({it.source.key for it in items}) == p.locations
        for a, b in zip(items, items[1:]):
            if a.source.key != b.source.key:
                continue  # the last shot of a location is cut short by the location's end
            assert 1.0 * fps - 1 <= a.end - a.start <= 6.0 * fps + 1
            pairs += 1
            changes += scale_of(a) != scale_of(b)
    assert changes / pairs > 0.7


def test_documentary_b_roll_never_covers_a_lower_third_and_a_roll_is_interviews():
    thirds_seen = 0
    for seq, _p in generated("documentary"):
        fps = float(seq.rate.fps)
        a_roll, b_roll, thirds = (tr.items for tr in seq.video_tracks[:3])
        assert all(it.kind == "generator" or it.source.name.startswith("INT_") for it in a_roll)
        assert all(2.5 * fps - 1 <= it.end - it.start <= 7.0 * fps + 1 for it in b_roll if it.start > 0)
        for lt in thirds:
            thirds_seen += 1
            assert not any(b.start < lt.end and lt.start < b.end for b in b_roll)
    assert thirds_seen >= N


def test_split_screen_layouts_tile_the_frame_without_gaps_wider_than_the_margin():
    layouts = set()
    xs, ys = np.meshgrid(np.linspace(0, 1, 33), np.linspace(0, 1, 19))
    for seq, p in generated("splitscreen"):
        first = 1 if p.margin > 0 else 0
        cuts = sorted({it.start for tr in seq.video_tracks[first:] for it in tr.items})
        for t in cuts:
            shown = [it for tr in seq.video_tracks[first:] for it in tr.items if it.start <= t < it.end]
            layouts.add(len(shown))
            rects = [rect_of(it, seq, t - it.start) for it in shown]
            px, py = xs * seq.width, ys * seq.height
            gap = np.full(px.shape, np.inf)
            for r in rects:
                dx = np.maximum(np.maximum(r.x0 - px, px - r.x1), 0)
                dy = np.maximum(np.maximum(r.y0 - py, py - r.y1), 0)
                gap = np.minimum(gap, np.maximum(dx, dy))  # a frame corner is one margin from both edges
            assert gap.max() <= p.margin + 0.5, (t, len(shown), p)
    assert {1, 2, 3, 4} <= layouts


def test_slideshow_stills_carry_ken_burns_keyframes_that_keep_the_frame_covered():
    directions = []
    for seq, _p in generated("slideshow"):
        for item in seq.video_tracks[0].items:
            if item.kind == "generator":
                continue
            assert item.source.kind == "still"
            assert item.motion.scale.is_keyframed
            for frame in (0, item.end - item.start - 1):
                assert covers_frame(rect_of(item, seq, frame), seq)
            keys = item.motion.scale.keyframes
            directions.append(keys[-1].value > keys[0].value)
    flips = np.mean([a != b for a, b in zip(directions, directions[1:])])
    assert 0.5 < flips < 1.0


def test_stream_overlays_sit_in_corners_stingers_cover_cuts_and_some_tracks_are_disabled():
    disabled_tracks = disabled_clips = 0
    for seq, p in generated("stream"):
        play, cams, logo, stingers = seq.video_tracks[:4]
        assert logo.items[0].start == 0 and logo.items[0].end == seq.duration
        for item in cams.items:
            r = rect_of(item, seq)
            assert covers_frame(r, seq) or (20.0 <= scale_of(item) <= 35.0 and in_corner(r, seq, p.margin))
        cuts = [b.start for a, b in zip(play.items, play.items[1:]) if a.source_frame(a.end) != b.in_frame]
        middles = [(s.start + s.end) // 2 for s in stingers.items]
        assert all(min(abs(m - c) for c in cuts) <= 1 for m in middles)
        assert len(middles) >= len(cuts) - 1  # a cut in the last second may go without one
        disabled_tracks += sum(not tr.enabled for tr in seq.video_tracks)
        disabled_clips += sum(not it.enabled for tr in seq.video_tracks for it in tr.items)
    assert disabled_tracks > 0 and disabled_clips > 0
