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


# --- broadcast (opt-in) -------------------------------------------------------------------

BROADCAST = [synthesize_with_params("broadcast", 11, index, (20.0, 60.0)) for index in range(24)]


def folder_of(item: Item) -> str:
    return "" if item.source.path is None else item.source.path.rsplit("/", 2)[-2]


def programme_tracks(seq: Sequence, p) -> list:
    """The tracks that are not the copy of V1 (a copy repeats every source of V1 once more)."""
    return [tr for k, tr in enumerate(seq.video_tracks) if not (p.copy_track and k == 2)]


def test_broadcast_opens_with_a_vignette_alternates_studio_and_packages_and_ends_on_credits_and_a_slate():
    for timeline, p in BROADCAST:
        seq = timeline.sequences[0]
        fps = float(seq.rate.fps)
        line, graphics = seq.video_tracks[0].items, seq.video_tracks[1].items
        vignette = next(k for k, it in enumerate(line) if it.source.name.endswith("_vignett.mov"))
        assert all(folder_of(it) in ("Pakker", "Archive") for it in line[:vignette])  # a cold open, if any
        assert (vignette > 0) == (p.cold_open_s > 0)
        assert 8.0 * fps - 1 <= line[vignette].end - line[vignette].start <= 25.0 * fps + 1
        slate, credits = line[-1], line[-2]
        assert slate.source.name == "sluttplakat_HD.mov" and 2.0 * fps - 1 <= slate.end - slate.start <= 5.0 * fps + 1
        assert slate.end == seq.duration
        assert folder_of(credits) == "Studio" and credits.end - credits.start >= 10.0 * fps - 1
        rolled = [g for g in graphics if credits.start <= g.start < credits.end]
        assert rolled and (rolled[0].source.name == "Crawl") == p.credits_crawl
        # the body: studio runs and package runs in turn, studio first
        runs = []
        for it in line[vignette + 1 : -2]:
            kind = "studio" if folder_of(it) == "Studio" else "package"
            if not runs or runs[-1][0] != kind:
                runs.append([kind, it.start, it.end])
            runs[-1][2] = it.end
        assert runs[0][0] == "studio" and sum(r[0] == "package" for r in runs) >= 3
        package_s = [(end - start) / fps for kind, start, end in runs[1:-1] if kind == "package"]
        assert 0.4 < np.median(package_s) / p.package_mean_s < 2.0, (package_s, p.package_mean_s)


def test_broadcast_has_40_to_180_sources_most_used_once_and_archive_reels_cut_into_many_pieces():
    pieces_per_reel, counts = [], []
    for timeline, p in BROADCAST:
        seq = timeline.sequences[0]
        items = [it for tr in programme_tracks(seq, p) for it in tr.items if it.kind == "clip"]
        uses: dict[str, int] = {}
        for it in items:
            uses[it.source.key] = uses.get(it.source.key, 0) + 1
        counts.append(len(uses))
        assert 30 <= len(uses) <= 180, (len(uses), seq.duration / float(seq.rate.fps) / 60)
        assert sum(n == 1 for n in uses.values()) / len(uses) >= 0.6
        reels: dict[str, list[Item]] = {}
        for it in seq.video_tracks[0].items:
            if folder_of(it) == "Archive":
                reels.setdefault(it.source.key, []).append(it)
        for pieces in reels.values():
            pieces_per_reel.append(len(pieces))
            assert all(a.in_frame + (a.end - a.start) <= b.in_frame for a, b in zip(pieces, pieces[1:]))
    assert np.mean(pieces_per_reel) >= 10
    assert np.mean(np.array(counts) >= 40) >= 0.85  # a programme with few package shots leaves files unused


def test_broadcast_graphics_are_sparse_short_items_and_copies_and_masters_are_what_was_drawn():
    for timeline, p in BROADCAST:
        seq = timeline.sequences[0]
        fps = float(seq.rate.fps)
        line, graphics = seq.video_tracks[0], seq.video_tracks[1]
        credits = line.items[-2]
        others = [g for g in graphics.items if not credits.start <= g.start < credits.end]
        assert others and all(g.end - g.start <= 6.0 * fps + 1 for g in others)
        assert all(g.kind == "generator" or g.source.kind == "still" or folder_of(g) == "Grafikk" for g in graphics.items)
        assert all(a.end <= b.start for a, b in zip(graphics.items, graphics.items[1:]))
        assert sum(g.end - g.start for g in others) < 0.12 * seq.duration  # train masters: 2-7 % per track
        copies = [tr for tr in seq.video_tracks if any(it.opacity is not None for it in tr.items)]
        if p.copy_track:
            copy = seq.video_tracks[2]
            assert copies == [copy] and copy.enabled == (not p.copy_disabled)
            assert [(c.start, c.end, c.source.key, c.in_frame) for c in copy.items] == \
                   [(it.start, it.end, it.source.key, it.in_frame) for it in line.items]
            assert all(20.0 <= c.opacity.value <= 70.0 for c in copy.items)
        else:
            assert copies == []
        top = seq.video_tracks[-1]
        full = len(top.items) == 1 and (top.items[0].start, top.items[0].end, top.items[0].in_frame) == (0, seq.duration, 0)
        assert full == p.master
        if p.master:
            assert top.enabled == (p.master_state != "track disabled")
            assert top.items[0].enabled == (p.master_state != "item disabled")


def test_broadcast_studio_shots_follow_the_drawn_mean_and_game_shows_cut_faster_than_magazines():
    drawn, seen, by_show = [], [], {"magazine": [], "gameshow": []}
    for timeline, p in BROADCAST:
        seq = timeline.sequences[0]
        fps = float(seq.rate.fps)
        # studio shots inside links (not the last of a link, which the link's end cuts short)
        line = seq.video_tracks[0].items
        shots = [(a.end - a.start) / fps for a, b in zip(line, line[1:])
                 if folder_of(a) == "Studio" and folder_of(b) == "Studio" and b.start < line[-2].start]
        drawn.append(p.studio_shot_mean_s)
        seen.append(np.mean(shots))
        by_show[p.show].extend(shots)
        assert len({it.source.key for it in line if folder_of(it) == "Studio"}) == p.studio_cams
    assert np.corrcoef(drawn, seen)[0, 1] > 0.8
    assert np.median(by_show["gameshow"]) < np.median(by_show["magazine"])
