"""`mttd viz`: the geometry the picture is drawn from (not pixels), and one real PNG per path."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from model.features.grid import featurize
from model.inference.predictor import PersistencePredictor, Predictions
from model.suggest.items import ReviewItem, SequenceSuggestions, SuggestOptions
from model.suggest.pipeline import suggest_sequence
from model.timeline.formats import read_timeline
from model.timeline.timecode import timecode_to_frames
from model.timeline.types import Crop, Item, Motion, Rate, Sequence, Source, Timeline, Track, const
from model.viz.geometry import (
    CONFLICT_S,
    DISABLED_COLOUR,
    MAX_ZOOMS,
    ONCE_COLOUR,
    PALETTE,
    Box,
    timeline_geometry,
    visible_box,
)
from model.viz.render import (
    SEE_THROUGH_HATCH,
    draw_geometry,
    draw_pages,
    geometry_for,
    overview_figure,
    page_figures,
    pick_sequence,
    render_timeline_png,
)
from tests.conftest import REPO

FPS = 25
# 40 s of media each: a held shot has some left for next and fill
A = Source("file:///media/a.mov", "a.mov", width=1920, height=1080, duration=1000)
B = Source("file:///media/b.mov", "b.mov", width=1920, height=1080, duration=1000)
LOGO = Source("file:///media/logo.png", "logo.png", kind="still", width=1920, height=1080)
PIP = Item(10, 40, LOGO, motion=Motion(scale=const(50.0)), crop=Crop(left=const(20.0), top=const(10.0)), name="logo")
V1 = (Item(0, 50, A, name="a1"), Item(50, 100, B, name="b1"), Item(150, 200, A, name="a2"))  # a 2 s gap at 4-6 s
V4 = (Item(60, 80, B, enabled=False, name="off"),)
CORPUS_FILE = ("nick-animation-studio__fcp7xml-to-unreal", "test_XML_export_resolve.xml")


def hand_sequence(timecode_start: int = 0) -> Sequence:
    """V1: a, b, gap, a; V2: a half-size cropped logo; V3 empty; V4: a disabled clip."""
    tracks = (Track(V1), Track((PIP,)), Track(()), Track(V4))
    return Sequence("cut", Rate(FPS), tracks, 1920, 1080, timecode_start=timecode_start)


def persistence_geometry(seq: Sequence, suggestions: SequenceSuggestions | None = None):
    predictor = PersistencePredictor()
    feats = featurize(seq)
    if suggestions is None:
        suggestions = suggest_sequence(seq, predictor, SuggestOptions(), feats.step_seconds)
    return timeline_geometry(seq, feats, predictor.predict(feats), suggestions)


class AlwaysB(PersistencePredictor):
    """Expects b.mov on V1 at every step: disagrees wherever a.mov or nothing is there."""

    def predict(self, feats) -> Predictions:
        preds = super().predict(feats)
        b_slot = [s.key for s in feats.sources].index(B.key)
        preds.p_active[:, 0] = 1.0
        preds.asset_probs[:, 0] = 0.0
        preds.asset_probs[:, 0, b_slot] = 1.0
        preds.values[:, 0] = [100.0, 0, 0, 0, 0, 0, 0]
        return preds


def test_one_lane_per_used_track_with_the_clips_where_they_are():
    geom = persistence_geometry(hand_sequence())
    assert [lane.label for lane in geom.lanes] == ["V1", "V2", "V4"]  # V3 has no items
    clips = {(r.lane, r.label): (r.x0, r.x1) for r in geom.of_kind("clip")}
    assert clips == {
        (0, "a1"): (0.0, 2.0), (0, "b1"): (2.0, 4.0), (0, "a2"): (6.0, 8.0),
        (1, "logo"): (0.4, 1.6), (2, "off"): (2.4, 3.2),
    }
    assert geom.duration_s == 8.0


def test_same_source_same_colour_different_sources_different_colours():
    geom = persistence_geometry(hand_sequence())
    by_label = {r.label: r for r in geom.of_kind("clip")}
    assert by_label["a1"].colour == by_label["a2"].colour == geom.colours[A.key]
    colours = [geom.colours[k] for k in (A.key, B.key, LOGO.key)]
    assert len(set(colours)) == 3
    assert by_label["off"].colour == DISABLED_COLOUR and not by_label["off"].enabled
    # Named as the clips are: the name most of its clips carry, the others and the file's name apart.
    assert {e.name: (e.clips, e.also, e.file) for e in geom.legend} == {
        "a1": (2, ("a2",), "a.mov"), "b1": (2, ("off",), "b.mov"), "logo": (1, (), "logo.png")}


def test_a_see_through_clip_is_drawn_and_labelled_see_through():
    copy = Item(0, 50, A, name="grade copy", opacity=const(68.0))
    geom = persistence_geometry(Sequence("s", Rate(FPS), (Track((Item(0, 50, A, name="a1"),)), Track((copy,)))))
    by_lane = {r.lane: r for r in geom.of_kind("clip")}
    assert (by_lane[0].opacity, by_lane[0].label) == (100.0, "a1")
    assert (by_lane[1].opacity, by_lane[1].label) == (68.0, "grade copy (68 %)")


def test_many_sources_keep_distinct_colours():
    few = tuple(Item(i * 10, i * 10 + 10, Source(f"s{i}", f"s{i}")) for i in range(len(PALETTE)))
    geom = persistence_geometry(Sequence("few", Rate(FPS), (Track(few),)))
    assert len(set(geom.colours.values())) == len(PALETTE)  # every source its own colour while they fit


def test_a_long_programme_colours_repeated_sources_apart_and_single_clips_neutral():
    """100 sources used once (0-200 s), 20 used twice at 200-400 s and 20 more used twice from
    1,000 s: one-clip sources are ONCE_COLOUR; the repeated sources near each other all differ;
    a colour comes back only for a source CONFLICT_S or more away."""
    once = [Item(i * 50, i * 50 + 50, Source(f"once{i}", f"once{i}.mov")) for i in range(100)]
    near = [Item(5000 + i * 250 + k, 5000 + i * 250 + k + 100, Source(f"near{i}", f"near{i}.mov"))
            for i in range(20) for k in (0, 125)]
    far = [Item(25000 + i * 250 + k, 25000 + i * 250 + k + 100, Source(f"far{i}", f"far{i}.mov"))
           for i in range(20) for k in (0, 125)]
    seq = Sequence("long", Rate(FPS), (Track(tuple(once + near + far)),), 1920, 1080)
    geom = persistence_geometry(seq)
    colours = geom.colours
    assert {colours[f"once{i}"] for i in range(100)} == {ONCE_COLOUR}
    assert len({colours[f"near{i}"] for i in range(20)}) == 20 and len({colours[f"far{i}"] for i in range(20)}) == 20
    assert ONCE_COLOUR not in {colours[f"near{i}"] for i in range(20)}
    assert {colours[f"near{i}"] for i in range(20)} & {colours[f"far{i}"] for i in range(20)}  # 800 s apart: reused
    group = geom.legend[0]
    assert group.group and group.clips == 100 and group.name == "100 sources used once"
    assert [e.name for e in geom.legend[1:3]] == ["near0.mov", "near1.mov"]  # the clips' names, most used first


def test_a_long_real_programme_shares_a_colour_only_between_sources_far_apart(corpus_dir: Path):
    """Kraakeklubben, 20 minutes, 190 sources: 132 used once (a clip, or touching pieces of one)
    are ONCE_COLOUR; the 58 repeated ones get palette colours, and two sources with one colour
    have no clips within CONFLICT_S of each other (golden-ratio hues put some side by side)."""
    seq = read_timeline(corpus_dir / "havardgulldahl__xmeml" / "Kraakeklubben%20Pgm%205%20v3.xml").sequences[0]
    geom = persistence_geometry(seq)
    by_colour: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for r in geom.of_kind("clip"):
        if r.enabled and r.colour != ONCE_COLOUR:
            by_colour.setdefault(r.colour, {}).setdefault(r.source_key, []).append((r.x0, r.x1))
    assert sum(len(v) for v in by_colour.values()) == 58 and len(by_colour) <= len(PALETTE)
    for sources in by_colour.values():
        keys = list(sources)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                gap = min(max(0.0, y0 - x1, x0 - y1) for x0, x1 in sources[a] for y0, y1 in sources[b])
                assert gap >= CONFLICT_S, (a, b, gap)
    group = geom.legend[0]
    assert group.group and group.clips == 132 and group.colour == ONCE_COLOUR


def test_nameless_sources_are_labelled_by_their_path():
    # 500 frames of media: the held shot has some left for a next
    nameless = Source("file:///media/clips/take7.mov", "", path="file:///media/clips/take7.mov", duration=500)
    geom = persistence_geometry(Sequence("s", Rate(FPS), (Track((Item(0, 50, nameless),)),)))
    assert [r.label for r in geom.of_kind("clip")] == ["take7.mov"]
    assert [e.name for e in geom.legend] == ["take7.mov"]
    assert {r.label for r in geom.of_kind("next")} == {"take7.mov"}


def test_frame_diagram_of_a_half_size_cropped_clip():
    logo = next(r for r in geom_clips(hand_sequence()) if r.label == "logo")
    # 50 %: the image spans the middle half; crop 20 % of its width off the left, 10 % of its height off the top.
    assert logo.transformed and logo.scale == 50.0
    assert _close(logo.frame, Box(0.35, 0.30, 0.75, 0.75))
    plain = next(r for r in geom_clips(hand_sequence()) if r.label == "a1")
    assert not plain.transformed and _close(plain.frame, Box(0.0, 0.0, 1.0, 1.0))


def test_visible_box_moves_with_position_and_uses_the_source_size():
    # pos_x 0.5 = half the source image to the right: the left edge lands on the frame's centre line.
    assert _close(visible_box((1920, 1080), A, (100, 0.5, 0, 0, 0, 0, 0)), Box(0.5, 0.0, 1.0, 1.0))
    small = Source("s", "s", width=960, height=540)  # a quarter-size source at 100 %, moved up by its half
    assert _close(visible_box((1920, 1080), small, (100, 0, -0.5, 0, 0, 0, 0)), Box(0.25, 0.0, 0.75, 0.5))
    assert visible_box((1920, 1080), A, (100, 0, 0, 100, 0, 0, 0)).empty  # cropped away


def test_review_items_are_highlighted_with_their_reason():
    seq = hand_sequence()
    review = [ReviewItem(0, 150, 200, "asset", {"slot": 0}, {"slot": 1}, 0.93, "a.mov breaks the track's pattern")]
    suggestions = SequenceSuggestions(seq, featurize(seq).step_seconds, featurize(seq).steps, review=review)
    (rect,) = persistence_geometry(seq, suggestions).of_kind("review")
    assert (rect.lane, rect.x0, rect.x1, rect.field) == (0, 6.0, 8.0, "asset")
    assert rect.reason == "a.mov breaks the track's pattern" and (rect.label, rect.mark) == ("1", "R1")
    assert rect.span == "00:00:06:00–00:00:08:00" and rect.confidence == pytest.approx(0.93)


def test_a_track_used_only_by_a_suggestion_gets_a_lane():
    seq = hand_sequence()
    review = [ReviewItem(2, 0, 50, "active", 0, 1, 0.6, "V3 is empty")]
    suggestions = SequenceSuggestions(seq, featurize(seq).step_seconds, featurize(seq).steps, review=review)
    geom = persistence_geometry(seq, suggestions)
    assert [lane.label for lane in geom.lanes] == ["V1", "V2", "V3", "V4"]
    assert geom.of_kind("review")[0].lane == geom.lane_of(2) == 2


def test_next_segments_start_at_or_after_the_end_and_fill_segments_lie_in_gaps():
    geom = persistence_geometry(hand_sequence())
    nexts, fills, gaps = geom.of_kind("next"), geom.of_kind("fill"), geom.of_kind("gap")
    assert nexts and fills
    assert all(r.x0 >= geom.duration_s and r.x1 > r.x0 for r in nexts)
    assert geom.extent_s == max(r.x1 for r in nexts) > geom.duration_s
    assert [(g.x0, g.x1) for g in gaps] == [(4.0, 6.0)]
    assert all(any(g.x0 <= f.x0 < f.x1 <= g.x1 for g in gaps) for f in fills)
    # Persistence carries the shot before on: b.mov into the gap, a.mov after the end, in their colours.
    assert {f.source_key for f in fills} == {B.key} and all(f.colour == geom.colours[B.key] for f in fills)
    assert any(r.source_key == A.key and r.lane == 0 for r in nexts)


def test_prediction_strip_follows_the_predicted_source():
    geom = persistence_geometry(hand_sequence())
    v1 = [r for r in geom.of_kind("prediction") if r.lane == 0]
    # Row t predicts step t+1, so each run starts one 0.1 s step after the clip it copies.
    assert [(round(r.x0, 6), round(r.x1, 6), r.source_key) for r in v1] == [
        (0.1, 2.1, A.key), (2.1, 4.1, B.key), (6.1, 8.0, A.key),
    ]
    assert all(r.colour == geom.colours[r.source_key] for r in v1)
    assert not geom.of_kind("disagreement")  # copying the step before never disagrees, cuts included


def test_disagreements_mark_where_the_model_expects_something_else():
    seq = hand_sequence()
    predictor = AlwaysB()
    feats = featurize(seq)
    geom = timeline_geometry(seq, feats, predictor.predict(feats), None)
    spans = [(round(r.x0, 6), round(r.x1, 6)) for r in geom.of_kind("disagreement") if r.lane == 0]
    # a1 (from step 1), the gap and a2 differ; b1 agrees. The gap's first step is only a lag: b.mov
    # was there the step before, and not foreseeing a cut is no disagreement.
    assert spans == [(0.1, 2.0), (4.1, 8.0)]
    assert {r.colour for r in geom.of_kind("prediction") if r.lane == 0} == {geom.colours[B.key]}


def test_prediction_strip_splits_where_the_model_is_less_sure():
    seq = hand_sequence()
    feats = featurize(seq)
    preds = AlwaysB().predict(feats)
    preds.p_active[:30, 0] = 0.7  # rows 0-29 guess steps 1-30
    geom = timeline_geometry(seq, feats, preds, None)
    v1 = [(round(r.x0, 6), round(r.x1, 6), round(r.confidence, 3)) for r in geom.of_kind("prediction") if r.lane == 0]
    assert v1 == [(0.1, 3.1, 0.7), (3.1, 8.0, 1.0)]


def test_the_picture_reuses_the_review_predictions():
    """Drawing after suggesting runs the predictor over the sequence once, not twice."""

    class Counting(PersistencePredictor):
        calls = 0

        def predict(self, feats):
            Counting.calls += 1
            return super().predict(feats)

    timeline = Timeline("cut.xml", (hand_sequence(),))
    geom = geometry_for(timeline, None, Counting())
    assert Counting.calls == 1 and geom.lanes


def test_ticks_are_round_timecodes():
    geom = persistence_geometry(hand_sequence(timecode_start=3600 * FPS))
    assert geom.ticks[0] == (0.0, "01:00:00:00")
    assert all(tc.startswith("01:00:") and tc.endswith(":00") for _, tc in geom.ticks)
    seconds = [s for s, _ in geom.ticks]
    assert seconds == sorted(seconds) and seconds[-1] <= geom.extent_s and len(seconds) <= 11
    # A start 12 frames before the hour: the first tick is on the hour, 12 frames in.
    late = persistence_geometry(hand_sequence(timecode_start=3600 * FPS - 12))
    assert late.ticks[0] == (12 / FPS, "01:00:00:00")


def test_drop_frame_ticks_fall_on_round_drop_frame_labels():
    rate = Rate(30, True)
    start = timecode_to_frames("00:59:58;00", rate, True)
    items = (Item(0, 30 * 150, A),)  # 2.5 minutes
    seq = Sequence("df", rate, (Track(items),), drop_frame=True, timecode_start=start)
    geom = persistence_geometry(seq)
    labels = [tc for _, tc in geom.ticks]
    assert labels[:3] == ["01:00:00;00", "01:00:30;00", "01:01:00;02"]  # ;00 and ;01 do not exist at 01:01:00
    assert geom.ticks[0][0] == pytest.approx(float(Fraction(timecode_to_frames("01:00:00;00", rate, True) - start) / rate.fps))


def test_corpus_timeline_clips_match_its_items(corpus_dir: Path):
    timeline = read_timeline(str(corpus_dir.joinpath(*CORPUS_FILE)))
    geom = geometry_for(timeline, None, PersistencePredictor())
    seq = timeline.sequences[0]
    fps = float(seq.rate.fps)
    expected = sorted(
        (t, round(it.start / fps, 6), round(it.end / fps, 6))
        for t, tr in enumerate(seq.video_tracks) for it in tr.items if it.end > it.start
    )
    got = sorted((geom.lanes[r.lane].track, round(r.x0, 6), round(r.x1, 6)) for r in geom.of_kind("clip"))
    assert got == expected
    clips_of = {}
    for r in geom.of_kind("clip"):
        clips_of.setdefault(r.source_key, set()).add(r.colour)
    assert all(len(c) == 1 for c in clips_of.values())


def test_the_first_sequence_with_video_is_drawn_unless_one_is_named():
    empty = Sequence("empty", Rate(FPS), (Track(()),))
    timeline = Timeline("two.xml", (empty, hand_sequence()))
    assert pick_sequence(timeline, None).name == "cut"
    assert pick_sequence(timeline, "empty") is empty
    geom = geometry_for(timeline, "empty", PersistencePredictor())
    assert geom.lanes == [] and geom.rects == [] and geom.duration_s == 0.0
    with pytest.raises(KeyError):
        pick_sequence(timeline, "nope")


def test_render_writes_a_png_atomically(tmp_path: Path):
    seq = hand_sequence()
    timeline = Timeline(str(tmp_path / "cut.xml"), (seq,))
    predictor = PersistencePredictor()
    results = [suggest_sequence(seq, predictor, SuggestOptions(), featurize(seq).step_seconds)]
    out = render_timeline_png(timeline, None, predictor, tmp_path / "cut.mtt.png", suggestions=results)
    assert out == tmp_path / "cut.mtt.png"
    assert png_size(out)[0] == 1600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mtt.png"]  # no temp file left


def test_cli_draws_a_corpus_file(tmp_path: Path, corpus_dir: Path, mttd_home: Path):
    src = tmp_path / "in" / "resolve cut.xml"
    src.parent.mkdir()
    src.write_bytes(corpus_dir.joinpath(*CORPUS_FILE).read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    proc = mttd("viz", str(src), "--model", "persistence", cwd=work)
    assert proc.returncode == 0, proc.stderr
    out = work / "resolve cut.mtt.png"  # the default: NAME.mtt.png in the current folder, not beside the file
    assert str(out) in proc.stdout
    width, height = png_size(out)
    assert width == 1600 and 300 < height < 3000
    import matplotlib.image

    assert matplotlib.image.imread(out).shape[:2] == (height, width)
    assert sorted(p.name for p in src.parent.iterdir()) == ["resolve cut.xml"]


def test_cli_bad_file_is_one_line_and_nonzero(tmp_path: Path, mttd_home: Path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<xmeml version='4'><sequence><name>x</name>\n<media><video><track>")
    proc = mttd("viz", str(bad), "--model", "persistence", "--out", str(tmp_path / "x.png"), cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mttd: cannot read ") and str(bad) in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.png").exists()


def test_cli_unknown_sequence_is_one_line(tmp_path: Path, corpus_dir: Path, mttd_home: Path):
    src = corpus_dir.joinpath(*CORPUS_FILE)
    proc = mttd("viz", str(src), "--sequence", "nope", "--model", "persistence", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no sequence named 'nope'" in proc.stderr


def test_model_viz_imports_no_matplotlib_until_it_draws():
    code = "import sys, model.viz.render, model.viz.geometry; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- helpers ---------------------------------------------------------------------------------


def geom_clips(seq: Sequence):
    return persistence_geometry(seq).of_kind("clip")


def _close(got: Box, want: Box) -> bool:
    return np.allclose([got.left, got.top, got.right, got.bottom], [want.left, want.top, want.right, want.bottom])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def mttd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_a_long_programme_gets_a_readable_strip_around_each_suggestion(corpus_dir: Path, tmp_path: Path):
    seq = read_timeline(corpus_dir / "havardgulldahl__xmeml" / "Kraakeklubben%20Pgm%205%20v3.xml").sequences[0]
    geom = persistence_geometry(seq)
    marks = [r for r in geom.rects if r.kind in ("review", "fill", "next")]
    assert marks and geom.zooms and len(geom.zooms) <= MAX_ZOOMS
    assert sorted(r.mark for r in marks) == sorted(
        [f"R{n}" for n in range(1, len(geom.of_kind("review")) + 1)] + [f"F{n}" for n in range(1, len(geom.of_kind("fill")) + 1)]
        + [f"N{n}" for n in range(1, len(geom.of_kind("next")) + 1)])
    for r in marks:  # every suggestion lies inside a strip whose title names its mark
        assert any(z.x0 <= r.x0 and r.x1 <= z.x1 and r.mark in z.title.split(": ")[1].split(", ") for z in geom.zooms), r.mark
    for z in geom.zooms:
        assert 0 < z.x1 - z.x0 <= 200 and z.ticks and all(z.x0 <= t <= z.x1 for t, _ in z.ticks)
    assert all(a.x1 <= b.x0 for a, b in zip(geom.zooms, geom.zooms[1:]))  # in time order, not overlapping
    out = draw_geometry(geom, tmp_path / "long.png")
    width, height = struct.unpack(">II", out.read_bytes()[16:24])
    assert width == 1600 and height > 1000  # the strips add height, not width
    assert persistence_geometry(hand_sequence()).zooms == []  # an 8-second sequence reads whole


def test_a_long_programme_in_pages_of_one_minute_rows(corpus_dir: Path, tmp_path: Path):
    """Kraakeklubben (20:26) in 60-second rows: 21 rows, every clip in the rows that span it, as
    many rows a page as fit (each page's lanes only the tracks used there), written as -pN.png."""
    seq = read_timeline(corpus_dir / "havardgulldahl__xmeml" / "Kraakeklubben%20Pgm%205%20v3.xml").sequences[0]
    geom = persistence_geometry(seq)
    assert len(geom.rows) == 21 and all(r.x1 - r.x0 == 60.0 for r in geom.rows)
    assert [r.x0 for r in geom.rows] == [60.0 * k for k in range(21)] and geom.rows[-1].x1 >= geom.extent_s
    assert geom.rows[1].title == "00:01:00:00-00:02:00:00" and geom.rows[-1].title.endswith("-00:20:26:09")
    figures = page_figures(geom)
    written = draw_pages(geom, tmp_path / "kraake.mtt.png")
    assert [p.name for p in written] == [f"kraake.mtt-p{n}.png" for n in range(1, len(figures) + 1)]
    assert 4 <= len(written) <= 6  # 21 rows of 4 lanes, about 5 to a page
    titles = [[t.get_text() for t in fig.axes[0].texts] for fig in figures]
    rows_drawn = [t for page in titles for t in page if t in {r.title for r in geom.rows}]
    assert rows_drawn == [r.title for r in geom.rows]  # each row once, in order
    assert re.search(rf"page 1 of {len(figures)}: 00:00:00:00-00:0\d:00:00$", titles[0][0]), titles[0][0]
    for fig in figures:
        width, height = fig.get_size_inches()
        assert width == 16.0 and height < 26.0
    # The main picture shows where each page starts, and lists each suggestion with its page.
    overview = overview_figure(geom, paged=True)
    starts = [t.get_text() for t in overview.axes[1].texts if re.fullmatch(r"p\d+", t.get_text())]
    assert starts == [f"p{n}" for n in range(1, len(figures) + 1)]
    marks = {r.mark for r in geom.rects if r.mark}
    badges = [{t.get_text() for ax in fig.axes[1:] for t in ax.texts} & marks for fig in figures]
    listed = [t.get_text() for t in overview.axes[0].texts if t.get_text().split(".")[0] in marks]
    assert len(listed) == len(marks)
    for line in listed:
        mark, page = re.match(r"(\w+)\. page (\d+), ", line).groups()
        assert mark in badges[int(page) - 1], line
    for path in written:
        assert png_size(path)[0] == 1600


def test_every_suggestion_is_marked_where_it_is_drawn(corpus_dir: Path):
    """The badge R1/N1/F1 sits on each suggestion's box, in the overview and on its page."""
    seq = read_timeline(corpus_dir / "havardgulldahl__xmeml" / "Kraakeklubben%20Pgm%205%20v3.xml").sequences[0]
    geom = persistence_geometry(seq)
    marks = {r.mark: r for r in geom.rects if r.mark}
    assert marks
    overview = overview_figure(geom)
    lanes_axes = overview.axes[1]
    badges = {t.get_text(): t.get_position()[0] for t in lanes_axes.texts if t.get_text() in marks}
    assert badges == {m: r.x0 for m, r in marks.items()}
    on_pages = [t.get_text() for fig in page_figures(geom) for ax in fig.axes[1:] for t in ax.texts if t.get_text() in marks]
    assert sorted(set(on_pages)) == sorted(marks)
    listed = {t.get_text().split(".")[0]: t.get_text() for t in overview.axes[0].texts if t.get_text().split(".")[0] in marks}
    assert set(listed) == set(marks)  # each is listed under its mark, next and fill with their media range
    for mark, rect in marks.items():
        assert rect.span.split("–")[0] in listed[mark]
        if rect.kind != "review":
            assert f"source in {rect.source_in}, out {rect.source_out}" in listed[mark]
    assert any(r.kind == "fill" for r in marks.values())


def test_legend_names_are_the_clip_names_of_the_xml(corpus_dir: Path):
    """Read apart from mttd's reader: each legend entry is named as the clipitems of its source
    are named in the file."""
    from lxml import etree

    path = corpus_dir / "havardgulldahl__xmeml" / "Kraakeklubben%20Pgm%205%20v3.xml"
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    names_in_xml = {c.findtext("name") for c in tree.iterfind(".//sequence/media/video/track/clipitem")}
    geom = persistence_geometry(read_timeline(path).sequences[0])
    named = [e for e in geom.legend if not e.group]
    assert len(named) == 58 and all(e.name in names_in_xml for e in named)
    assert {"DYR18091_01 plukke mose", "Wipe1_Kongler m Alpha", "00708001.MOV"} <= {e.name for e in named}
    by_key = {}
    for r in geom.of_kind("clip"):
        by_key.setdefault(r.source_key, set()).add(r.label)
    for entry in named:  # the clips of the source carry the entry's name
        assert entry.name in by_key[entry.keys[0]]


def test_a_see_through_clip_is_drawn_paler_and_dotted():
    copy = Item(0, 50, A, name="grade copy", opacity=const(68.0))
    seq = Sequence("s", Rate(FPS), (Track((Item(0, 50, A, name="a1"),)), Track((copy,))))
    fig = overview_figure(persistence_geometry(seq))
    lanes = fig.axes[1]
    clip_y = {0: None, 1: None}
    for patch in lanes.patches:
        lane = int(patch.get_y())
        if patch.get_x() == 0.0 and patch.get_width() == 2.0 and patch.get_facecolor()[3] > 0 and lane in clip_y:
            clip_y[lane] = clip_y[lane] or patch
    assert clip_y[0].get_alpha() is None and clip_y[1].get_alpha() == pytest.approx(0.68)
    dotted = [p for p in lanes.patches if p.get_hatch() == SEE_THROUGH_HATCH]
    assert len(dotted) == 1 and int(dotted[0].get_y()) == 1


def test_cli_draws_pages_for_a_long_programme(tmp_path: Path, corpus_dir: Path, mttd_home: Path):
    src = corpus_dir / "havardgulldahl__xmeml" / "BroShow ep Fordommer.xml"
    proc = mttd("viz", str(src), "--model", "persistence", "--out", str(tmp_path / "bro.png"), "--row-seconds", "120",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pages = sorted(p.name for p in tmp_path.glob("bro-p*.png"))
    assert pages and f"wrote {len(pages)} pages of 120-second rows" in proc.stdout
    off = mttd("viz", str(src), "--model", "persistence", "--out", str(tmp_path / "one.png"), "--pages", "off", cwd=tmp_path)
    assert off.returncode == 0 and not list(tmp_path.glob("one-p*.png"))
    bad = mttd("viz", str(src), "--row-seconds", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "row length" in bad.stderr
