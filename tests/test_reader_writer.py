"""The xmeml writer: Premiere's shape, deterministic bytes, and read back by us and by OpenTimelineIO."""

from __future__ import annotations

import opentimelineio as otio
from lxml import etree

from model.features.grid import featurize
from model.timeline.types import Crop, Item, Keyframe, Marker, Motion, Param, Rate, Sequence, Source, Timeline, Track, Transition
from model.timeline.xmeml import read_xmeml, read_xmeml_bytes
from model.timeline.xmeml_writer import timecode_string, write_xmeml, write_xmeml_file
from tests.helpers_reader import build_timeline, same_features

A = Source("file://localhost/media/a.mov", "a.mov", path="file://localhost/media/a.mov", width=1280, height=720, duration=900)
B = Source("file://localhost/media/b.png", "b.png", "still", path="file://localhost/media/b.png")
TITLE = Source("generator:Text", "Text", "generator")
NEST = Source("sequence:sequence-9", "Nest", "sequence", width=1920, height=1080, duration=300)
MULTICAM = Source("masterclip:masterclip-4", "Multicam", "masterclip")


def _timeline() -> Timeline:
    v1 = Track(
        (
            Item(0, 100, A, in_frame=20, motion=Motion(scale=Param(150.0))),
            Item(100, 200, B, in_frame=30, crop=Crop(left=Param(0.0, (Keyframe(30, 0.0), Keyframe(60, 40.0))))),
            Item(200, 260, A, in_frame=0, motion=Motion(), crop=Crop()),
            Item(260, 300, NEST),
            Item(300, 340, NEST, enabled=False),
        ),
        transitions=(Transition(90, 110, "center"),),
    )
    v2 = Track((Item(50, 120, TITLE, kind="generator", motion=Motion(center_y=Param(0.3))),), enabled=False)
    seq = Sequence("Main", Rate(30, True), (v1, v2), width=1920, height=1080, drop_frame=True,
                   timecode_start=107892, markers=(Marker("look", 40, "here", 60), Marker("b", 70)))
    return Timeline("t.xml", (seq,))


def _root(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def test_output_is_shaped_like_a_premiere_export():
    data = write_xmeml(_timeline())
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n<xmeml version="4">')
    root = _root(data)
    seq = root.find("sequence")
    assert seq.get("id") == "sequence-1"
    chars = seq.find("media/video/format/samplecharacteristics")
    assert (chars.findtext("width"), chars.findtext("height")) == ("1920", "1080")
    assert (seq.findtext("rate/timebase"), seq.findtext("rate/ntsc")) == ("30", "TRUE")
    assert (seq.findtext("timecode/string"), seq.findtext("timecode/displayformat")) == ("01;00;00;00", "DF")
    ids = [el.get("id") for el in root.iter("clipitem", "generatoritem")]
    assert ids == [f"clipitem-{i}" for i in range(1, 7)]


def test_a_file_is_defined_once_then_referenced():
    root = _root(write_xmeml(_timeline()))
    files = [f for f in root.iter("file") if f.get("id") == "file-1"]
    assert [len(f) > 0 for f in files] == [True, False]
    assert files[0].findtext("pathurl") == A.path
    assert files[0].findtext("media/video/samplecharacteristics/width") == "1280"
    nests = [s for s in root.iter("sequence") if s.get("id") == "sequence-9"]
    assert [len(s) > 0 for s in nests] == [True, False]


def test_motion_and_crop_are_written_only_when_not_default():
    items = list(_root(write_xmeml(_timeline())).iter("clipitem"))
    effect_ids = [[f.findtext("effect/effectid") for f in it.iterfind("filter")] for it in items]
    assert effect_ids[:3] == [["basic"], ["crop"], []]
    keys = items[1].findall("filter/effect/parameter/keyframe")
    assert [(k.findtext("when"), k.findtext("value")) for k in keys] == [("30", "0"), ("60", "40")]


def test_transitions_disabled_flags_generators_and_markers():
    root = _root(write_xmeml(_timeline()))
    v1, v2 = root.iterfind("sequence/media/video/track")
    kinds = [c.tag for c in v1 if c.tag in ("clipitem", "transitionitem")]
    assert kinds == ["clipitem", "transitionitem", "clipitem", "clipitem", "clipitem", "clipitem"]
    first, second = v1.findall("clipitem")[:2]
    assert (first.findtext("end"), second.findtext("start"), second.findtext("in")) == ("-1", "-1", "20")
    assert v1.findall("clipitem")[-1].findtext("enabled") == "FALSE"
    assert v2.findtext("enabled") == "FALSE"
    gen = v2.find("generatoritem")
    assert (gen.findtext("effect/effectid"), gen.findtext("effect/effecttype")) == ("Text", "generator")
    markers = [(m.findtext("name"), m.findtext("in"), m.findtext("out")) for m in root.iterfind("sequence/marker")]
    assert markers == [("look", "40", "60"), ("b", "70", "-1")]


def test_reading_back_gives_the_same_timeline_features():
    tl = _timeline()
    back = read_xmeml_bytes(write_xmeml(tl))
    assert same_features(featurize(tl.sequences[0]), featurize(back.sequences[0]))
    seq = back.sequences[0]
    assert (seq.drop_frame, seq.timecode_start, seq.markers) == (True, 107892, tl.sequences[0].markers)
    assert seq.video_tracks[0].items[1].in_frame == 30  # -1 start at the cut, `in` moved back by 10
    assert seq.video_tracks[0].items[2].motion is None  # default motion is not written


def test_output_is_deterministic(tmp_path):
    tl = build_timeline(4, 60, seed=11)
    assert write_xmeml(tl) == write_xmeml(build_timeline(4, 60, seed=11))
    write_xmeml_file(tl, tmp_path / "out.xml")
    assert (tmp_path / "out.xml").read_bytes() == write_xmeml(tl)
    assert [p.name for p in tmp_path.iterdir()] == ["out.xml"]
    assert same_features(featurize(tl.sequences[0]), featurize(read_xmeml(tmp_path / "out.xml").sequences[0]))


def test_masterclip_sources_round_trip_through_their_id():
    tl = Timeline("m.xml", (Sequence("M", Rate(25), (Track((Item(0, 10, MULTICAM, name="Multicam"),)),)),))
    clip = _root(write_xmeml(tl)).find(".//clipitem")
    assert clip.findtext("masterclipid") == "masterclip-4" and clip.find("file") is None
    assert read_xmeml_bytes(write_xmeml(tl)).sequences[0].video_tracks[0].items[0].source.key == MULTICAM.key


def test_opentimelineio_reads_the_output_with_the_same_cuts():
    tl = _timeline()
    result = otio.adapters.read_from_string(write_xmeml(tl).decode(), adapter_name="fcp_xml")
    assert isinstance(result, otio.schema.Timeline) and result.name == "Main"
    v1, v2 = result.video_tracks()
    ranges = v1.range_of_all_children()
    clips = [c for c in v1 if isinstance(c, (otio.schema.Clip, otio.schema.Stack))]
    fps = 30000 / 1001
    cuts = [(round(ranges[c].start_time.value_rescaled_to(fps)), round(ranges[c].end_time_exclusive().value_rescaled_to(fps))) for c in clips]
    assert cuts == [(it.start, it.end) for it in tl.sequences[0].video_tracks[0].items]
    assert isinstance(clips[3], otio.schema.Stack)
    assert clips[0].media_reference.target_url == A.path
    assert len([c for c in v1 if isinstance(c, otio.schema.Transition)]) == 1
    generator = next(iter(v2.find_clips()))
    assert generator.media_reference.generator_kind == "Text"


def test_timecode_strings():
    assert timecode_string(107892, Rate(30, True), True) == "01;00;00;00"
    assert timecode_string(1800, Rate(30, True), True) == "00;01;00;02"  # frames 0 and 1 of minute 1 are dropped
    assert timecode_string(17982, Rate(30, True), True) == "00;10;00;00"
    assert timecode_string(90000, Rate(25), False) == "01:00:00:00"
