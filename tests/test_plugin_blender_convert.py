"""The Blender add-on's pure conversions (no bpy): strips -> bridge JSON, document -> markers and strips."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from model.timeline.timeline_json import timeline_from_dict
from plugin_bridge.blender.mtt_blender import convert
from plugin_bridge.blender.mtt_blender.convert import SceneValues, StripValues

SCENE = SceneValues(name="Edit", fps=Fraction(25), width=1920, height=1080, frame_start=1)


def test_fps_from_blender_presets():
    assert convert.fps_fraction(25, 1.0) == 25
    assert convert.fps_fraction(24, 1.001) == Fraction(24000, 1001)
    assert convert.fps_fraction(30, 1.0010000467300415) == Fraction(30000, 1001)  # fps_base is a float32
    assert convert.fps_fraction(60, 1.001) == Fraction(60000, 1001)
    assert convert.fps_fraction(50, 2.0) == 25


def test_offset_is_a_fraction_of_the_source_with_y_down():
    # 100 px right and 90 px up on a 640x360 source: xmeml horiz 100/640, vert -90/360.
    assert convert.offset_to_center(100, 90, 640, 360) == (0.15625, -0.25)
    assert convert.center_to_offset(0.15625, -0.25, 640, 360) == (100, 90)


def test_crop_pixels_left_right_bottom_top_to_percent():
    # min_x=64 (left), max_x=32 (right), min_y=36 (bottom), max_y=18 (top) on 640x360.
    assert convert.crop_to_percent((64, 32, 36, 18), 640, 360) == (10.0, 5.0, 5.0, 10.0)
    assert convert.percent_to_crop(10.0, 5.0, 5.0, 10.0, 640, 360) == (64, 32, 36, 18)
    assert convert.percent_to_crop(-1.0, 0.1, 0, 0, 640, 360) == (0, 1, 0, 0)


def test_values_to_transform_inverts_the_reading():
    strip = StripValues(name="a", type="IMAGE", channel=2, start=1, end=51, path="/m/a.png", source_size=(640, 360),
                        scale_x=1.5, offset_x=-160, offset_y=45, crop=(64, 0, 0, 36))
    item = convert.strip_item(strip, SCENE)
    back = convert.values_to_transform(item, 640, 360)
    assert back == convert.Transform(scale=1.5, offset_x=-160, offset_y=45, crop=(64, 0, 0, 36))


def test_generated_strips_use_the_scene_size_and_their_type():
    color = StripValues(name="matte", type="COLOR", channel=1, start=1, end=26, offset_x=192, crop=(192, 0, 0, 0),
                        source_size=(640, 360))
    item = convert.strip_item(color, SCENE)
    assert item["source"] == {"key": "generator:color", "name": "Color", "kind": "generator", "path": "",
                              "width": 1920, "height": 1080}
    assert (item["pos_x"], item["crop_l"]) == (0.1, 10.0)
    scene_strip = StripValues(name="s", type="SCENE", channel=1, start=1, end=5, nested_name="Intro")
    assert convert.strip_item(scene_strip, SCENE)["source"]["key"] == "sequence:Intro"


def test_movie_without_known_size_falls_back_to_the_scene():
    movie = StripValues(name="m", type="MOVIE", channel=1, start=1, end=5, path="/m/a.mov", source_size=(0, 0),
                        offset_x=192)
    item = convert.strip_item(movie, SCENE)
    assert item["source"]["kind"] == "file" and item["source"]["width"] == 1920
    assert item["pos_x"] == 0.1


def test_timeline_json_channels_mutes_and_times():
    strips = [
        StripValues(name="a", type="IMAGE", channel=1, start=1, end=51, path="/m/a.png", source_size=(640, 360)),
        StripValues(name="b", type="IMAGE", channel=1, start=51, end=101, path="/m/b.png", muted=True),
        StripValues(name="c", type="COLOR", channel=3, start=11, end=31),
        StripValues(name="fx", type="CROSS", channel=4, start=40, end=60, input_count=2),  # a transition
        StripValues(name="snd", type="SOUND", channel=5, start=1, end=100),
        StripValues(name="early", type="COLOR", channel=2, start=-9, end=11),  # starts before the scene
        StripValues(name="gone", type="COLOR", channel=2, start=-20, end=0),  # ends before it
        StripValues(name="high", type="COLOR", channel=21, start=1, end=5),  # above the 20 tracks
    ]
    timeline = convert.timeline_json(SCENE, strips, {3: True})
    assert [t["enabled"] for t in timeline["tracks"]] == [True, True, False]
    v1, v2, v3 = (t["items"] for t in timeline["tracks"])
    assert [(i["start"], i["end"], i["enabled"]) for i in v1] == [(0, 50, True), (50, 100, False)]
    assert v1[1]["source"]["kind"] == "still" and v1[1]["source"]["key"] == "/m/b.png"
    assert [(i["start"], i["end"], i["in"]) for i in v2] == [(0, 10, 10)]
    assert [(i["start"], i["end"]) for i in v3] == [(10, 30)]
    assert timeline["fps"] == [25, 1] and (timeline["width"], timeline["height"]) == (1920, 1080)
    assert convert.count_items(timeline) == 4
    # The daemon's reader accepts it as it is.
    seq = timeline_from_dict(json.loads(json.dumps(timeline))).sequences[0]
    assert len(seq.video_tracks) == 3 and not seq.video_tracks[2].enabled
    assert seq.video_tracks[0].items[1].enabled is False


DOCUMENT = {
    "schema": "mtt.suggestions/1",
    "sequences": [{
        "name": "Edit", "step_seconds": 0.1, "steps": 40,
        "review": [
            {"track": 2, "start_s": 1.0, "end_s": 2.0, "start_tc": "00:00:01:00", "end_tc": "00:00:02:00",
             "field": "scale", "current": 180.0, "suggested": 100.0, "confidence": 0.91, "reason": "scaled unlike its siblings"},
            {"track": 1, "start_s": 0.52, "end_s": 1.0, "start_tc": "00:00:00:13", "end_tc": "00:00:01:00",
             "field": "asset", "current": {"slot": 1, "name": "b.png"}, "suggested": {"slot": 0, "name": "a.png"},
             "confidence": 0.7, "reason": "breaks the alternation"},
        ],
        "next": [
            {"track": 1, "start_s": 4.0, "end_s": 5.0, "start_tc": "", "end_tc": "", "confidence": 0.8,
             "source": {"slot": 0, "name": "a.png", "path": "/m/a.png"},
             "scale": 150.0, "pos_x": 0.25, "pos_y": -0.1, "crop_l": 10.0, "crop_r": 0.0, "crop_t": 5.0, "crop_b": 0.0},
            {"track": 3, "start_s": 4.0, "end_s": 4.0, "start_tc": "", "end_tc": "", "confidence": 0.5,
             "source": {"slot": 9, "name": None, "path": None},
             "scale": 100.0, "pos_x": 0.0, "pos_y": 0.0, "crop_l": 0.0, "crop_r": 0.0, "crop_t": 0.0, "crop_b": 0.0},
        ],
        "fill": [
            {"track": 1, "start_s": 2.0, "end_s": 3.0, "start_tc": "", "end_tc": "", "confidence": 0.6,
             "source": {"slot": 1, "name": "b.png", "path": "/m/b.png"},
             "scale": 100.0, "pos_x": 0.0, "pos_y": 0.0, "crop_l": 0.0, "crop_r": 0.0, "crop_t": 0.0, "crop_b": 0.0},
        ],
    }],
}


def test_review_markers_at_each_items_start():
    assert convert.review_markers(DOCUMENT, Fraction(25), 1) == [("mtt: scale V2", 26), ("mtt: asset V1", 14)]
    assert convert.review_markers(DOCUMENT, Fraction(30000, 1001), 0)[0] == ("mtt: scale V2", 30)


def test_placements_on_free_channels_in_track_order():
    places = convert.placements(DOCUMENT, Fraction(25), 1, {1, 2, 5}, {"/m/a.png": (640, 360)}, (1920, 1080))
    assert [(p.name, p.channel, p.frame_start, p.frame_end, p.kind) for p in places] == [
        ("mtt a.png", 6, 101, 126, "next"),
        ("mtt source", 7, 101, 102, "next"),  # an empty segment still gets one frame; no name -> "source"
        ("mtt b.png", 6, 51, 76, "fill"),
    ]
    first = places[0]
    assert first.source_size == (640, 360) and places[2].source_size == (1920, 1080)
    transform = convert.values_to_transform(first.values, *first.source_size)
    assert transform == convert.Transform(scale=1.5, offset_x=160.0, offset_y=36.0, crop=(64, 0, 0, 18))


def test_no_free_channel_left_is_an_error():
    with pytest.raises(convert.DocumentError, match="free channels"):
        convert.placements(DOCUMENT, Fraction(25), 1, {127}, {}, (1920, 1080))


def test_error_documents_and_garbage_are_refused():
    with pytest.raises(convert.DocumentError, match="line 3: bad"):
        convert.sequences_of({"error": {"code": "parse", "message": "line 3: bad", "line": 3}})
    with pytest.raises(convert.DocumentError):
        convert.sequences_of({"schema": "x"})
    with pytest.raises(convert.DocumentError):
        convert.sequences_of([])  # type: ignore[arg-type]


def test_panel_lines_and_counts():
    lines = convert.suggestion_lines(DOCUMENT)
    assert lines[0] == ("00:00:01:00 V2 scale: 180 -> 100 (91%)", "scaled unlike its siblings")
    assert lines[1][0] == "00:00:00:13 V1 asset: b.png -> a.png (70%)"
    assert lines[3][0].endswith("V3 next: ? (50%)")
    assert convert.counts(DOCUMENT) == {"review": 2, "next": 2, "fill": 1}


def test_sources_given_as_xmeml_file_urls_are_local_paths():
    assert convert.local_path("file://localhost/media/My%20Clip.mov") == "/media/My Clip.mov"
    assert convert.local_path("file:///media/a.png") == "/media/a.png"
    assert convert.local_path("/media/a.png") == "/media/a.png"
    doc = {"sequences": [{"next": [dict(DOCUMENT["sequences"][0]["next"][0],
                                        source={"slot": 0, "name": "a.png", "path": "file://localhost/m/a.png"})]}]}
    place = convert.placements(doc, Fraction(25), 1, set(), {"/m/a.png": (640, 360)}, (1920, 1080))[0]
    assert (place.path, place.source_size) == ("/m/a.png", (640, 360))


def test_placements_carry_the_source_in_point_and_end_at_the_out_point():
    base = DOCUMENT["sequences"][0]["next"][0]  # 4.0-5.0 s = frames 101-126 at 25 fps from frame 1
    doc = {"sequences": [{"next": [dict(base, source_in=480, source_out=492)],  # 12 frames of media left
                          "fill": [dict(base, track=2, source_in=7, source_out=200)]}]}
    short, long = convert.placements(doc, Fraction(25), 1, set(), {}, (1920, 1080))
    assert (short.source_in, short.source_out, short.frame_start, short.frame_end) == (480, 492, 101, 113)
    assert (long.source_in, long.source_out, long.frame_start, long.frame_end) == (7, 200, 101, 126)
    older = convert.placements({"sequences": [{"next": [base]}]}, Fraction(25), 1, set(), {}, (1920, 1080))[0]
    assert (older.source_in, older.source_out, older.frame_end) == (0, None, 126)  # a document without them
    line = convert.suggestion_lines(doc)[0][1]
    assert line.endswith("source in 480, out 492")
