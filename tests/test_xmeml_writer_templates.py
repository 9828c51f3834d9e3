"""The xmeml writer's shortcuts: clips copied from cached templates, filters spliced in as bytes.

Nothing may leak from one clip, or one call, to another, and the output must be exactly what lxml
writes for the same elements.
"""

from __future__ import annotations

from lxml import etree

from model.timeline.types import (
    Crop,
    Item,
    Keyframe,
    Motion,
    Param,
    Rate,
    Sequence,
    Source,
    Timeline,
    Track,
)
from model.timeline.xmeml import read_xmeml_bytes
from model.timeline.xmeml_writer import _Writer, write_xmeml

A = Source("file:///media/a.mov", "a.mov", path="file:///media/a.mov", width=1280, height=720, duration=900)
B = Source("file:///media/b.mov", "b.mov", path="file:///media/b.mov", duration=500)
TITLE = Source("generator:Text", "Text", "generator")
NEST = Source("sequence:sequence-9", "Nest", "sequence", duration=300)
PAL = Rate(25)
KEYED = Motion(scale=Param(120.0, (Keyframe(0, 120.0), Keyframe(40, 80.0))), center_x=Param(0.25))
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>'


def _clips(*items: Item, rate: Rate = PAL) -> Timeline:
    return Timeline("t.xml", (Sequence("S", rate, (Track(items),)),))


def _clipitems(data: bytes) -> list[etree._Element]:
    return list(etree.fromstring(data).iter("clipitem", "generatoritem"))


def _param_values(data: bytes, pid: str) -> list[str | None]:
    return [c.findtext(f"filter/effect/parameter[parameterid='{pid}']/value") for c in _clipitems(data)]


def _as_lxml_writes_it(data: bytes) -> bytes:
    """`data` parsed and pretty-printed again by lxml, as the writer does with its own tree."""
    root = etree.fromstring(data, etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True, doctype=PROLOG)


def test_clips_with_different_motion_one_after_another_get_their_own_values():
    data = write_xmeml(_clips(
        Item(0, 10, A, motion=Motion(scale=Param(150.0))),
        Item(10, 20, A, motion=Motion(scale=Param(50.0))),
        Item(20, 30, A),
        Item(30, 40, A, motion=Motion(scale=Param(150.0)), crop=Crop(left=Param(10.0))),
        Item(40, 50, A, crop=Crop(left=Param(20.0))),
        Item(50, 60, TITLE, motion=Motion(scale=Param(50.0))),
    ))
    assert _param_values(data, "scale") == ["150", "50", None, "150", None, "50"]
    assert _param_values(data, "left") == [None, None, None, "10", "20", None]
    assert [len(c.findall("filter")) for c in _clipitems(data)] == [1, 1, 0, 2, 1, 1]


def test_one_motion_shared_by_clips_gives_separate_equal_subtrees():
    same_as_keyed = Motion(scale=Param(120.0, (Keyframe(0, 120.0), Keyframe(40, 80.0))), center_x=Param(0.25))
    data = write_xmeml(_clips(
        Item(0, 10, A, motion=KEYED),
        Item(10, 20, B, motion=same_as_keyed),
        Item(20, 30, A, motion=KEYED, name="third"),
    ))
    filters = [c.find("filter") for c in _clipitems(data)]
    assert len({etree.tostring(f) for f in filters}) == 1
    keys = [[k.findtext("value") for k in f.iterfind("effect/parameter[parameterid='scale']/keyframe")] for f in filters]
    assert keys == [["120", "80"]] * 3
    assert _param_values(data, "scale") == ["120"] * 3


def test_output_is_what_lxml_writes_for_the_same_elements():
    """The spliced filters sit at the right depth, indented as lxml would indent them."""
    tl = Timeline("t.xml", (
        Sequence("S", PAL, (
            Track((Item(0, 10, A, motion=KEYED, crop=Crop(top=Param(5.0, (Keyframe(3, 5.0), Keyframe(9, 0.0))))),
                   Item(10, 20, TITLE, crop=Crop(bottom=Param(1.5))))),
            Track((Item(5, 15, NEST, motion=Motion(center_y=Param(-0.5))),), enabled=False),
        )),
        Sequence("T", Rate(30, True), (Track((Item(0, 10, B, motion=KEYED),)),)),
    ))
    data = write_xmeml(tl)
    assert b"<!--" not in data
    assert _as_lxml_writes_it(data) == data


def test_names_that_look_like_markers_stay_text():
    tricky = "<!--mtt-filters-0-->"
    keyed = Source(f"{tricky}\n", "keyed.mov")  # written as a bare <file id>, its key in the attribute
    data = write_xmeml(_clips(
        Item(0, 10, A, motion=Motion(scale=Param(150.0)), name=tricky),
        Item(10, 20, keyed, motion=Motion(scale=Param(50.0)), name=f"  {tricky}\n{tricky}"),
    ))
    clips = _clipitems(data)
    assert [c.findtext("name") for c in clips] == [tricky, f"  {tricky}\n{tricky}"]
    assert clips[1].find("file").get("id") == f"{tricky}\n"
    assert _param_values(data, "scale") == ["150", "50"]
    assert _as_lxml_writes_it(data) == data


def test_templates_stay_outside_the_document():
    writer = _Writer(_clips(Item(0, 10, A, motion=KEYED), Item(10, 20, A, motion=KEYED), Item(20, 30, B)))
    writer.document()
    assert writer.clip_templates
    for template in writer.clip_templates.values():  # each the root of its own document, never moved into ours
        assert template.getparent() is None and template.getroottree().getroot() is template


def test_every_clip_gets_its_own_id_texts_and_source():
    tl = _clips(
        Item(0, 10, A, in_frame=5, motion=KEYED),
        Item(10, 25, B, in_frame=7, motion=KEYED, enabled=False, name="b one"),
        Item(25, 30, TITLE, motion=KEYED),
        Item(30, 40, NEST, motion=KEYED),
        Item(40, 50, A, in_frame=100, motion=KEYED),
        Item(50, 60, B, in_frame=1),
    )
    data = write_xmeml(tl)
    clips = _clipitems(data)
    assert [c.get("id") for c in clips] == [f"clipitem-{i}" for i in range(1, 7)]
    assert [c.tag for c in clips] == ["clipitem", "clipitem", "generatoritem", "clipitem", "clipitem", "clipitem"]
    rows = [[c.findtext(t) for t in ("name", "enabled", "duration", "start", "end", "in", "out")] for c in clips]
    assert rows == [
        ["a.mov", "TRUE", "900", "0", "10", "5", "15"],
        ["b one", "FALSE", "500", "10", "25", "7", "22"],
        ["Text", "TRUE", "5", "25", "30", "0", "5"],
        ["Nest", "TRUE", "300", "30", "40", "0", "10"],
        ["a.mov", "TRUE", "900", "40", "50", "100", "110"],
        ["b.mov", "TRUE", "500", "50", "60", "1", "11"],
    ]
    # the source sits right after `out`, before any filter: definitions, an effect, a nested sequence, references
    assert [[child.tag for child in c][7:] for c in clips] == [
        ["out", "file", "filter"], ["out", "file", "filter"], ["out", "effect", "filter"],
        ["out", "sequence", "filter"], ["out", "file", "filter"], ["out", "file"]]
    files = [c.find("file") for c in clips if c.find("file") is not None]
    assert [(f.get("id"), len(f) > 0) for f in files] == [
        ("file-1", True), ("file-2", True), ("file-1", False), ("file-2", False)]
    assert b'"?"' not in data and b">?<" not in data  # no placeholder left behind


def test_writing_twice_or_in_between_other_timelines_gives_identical_bytes():
    first = _clips(Item(0, 10, A, motion=KEYED), Item(10, 20, B, motion=Motion(scale=Param(150.0))), rate=Rate(30, True))
    other = _clips(Item(0, 10, B, motion=Motion(scale=Param(150.0))), Item(10, 20, A, crop=Crop(top=Param(5.0))))
    data = write_xmeml(first)
    assert write_xmeml(first) == data
    other_data = write_xmeml(other)
    assert write_xmeml(first) == data and write_xmeml(other) == other_data
    assert _param_values(other_data, "scale") == ["150", None]
    assert _param_values(other_data, "top") == [None, "5"]
    assert [c.findtext("rate/ntsc") for c in _clipitems(data) + _clipitems(other_data)] == ["TRUE"] * 2 + ["FALSE"] * 2


def test_equal_values_from_distinct_objects_write_the_same_and_differing_ones_do_not_share():
    """-0.0 == 0.0 may share a template, as both are written 0; 150 and 150.5 never."""
    data = write_xmeml(_clips(
        Item(0, 10, A, motion=Motion(scale=Param(150.0), center_x=Param(-0.0))),
        Item(10, 20, A, motion=Motion(scale=Param(150.0), center_x=Param(0.0))),
        Item(20, 30, A, motion=Motion(scale=Param(150.5), center_x=Param(0.0))),
    ))
    filters = [etree.tostring(c.find("filter")) for c in _clipitems(data)]
    assert filters[0] == filters[1] != filters[2]
    assert _param_values(data, "scale") == ["150", "150", "150.5"]


def test_opacity_is_written_when_it_is_not_full_and_reads_back():
    half = Param(40.0)
    keyed = Param(100.0, (Keyframe(0, 100.0), Keyframe(20, 0.0)))
    data = write_xmeml(_clips(
        Item(0, 10, A, opacity=half),
        Item(10, 20, A, opacity=Param(100.0)),
        Item(20, 30, A, opacity=keyed, motion=Motion(scale=Param(150.0))),
        Item(30, 40, A),
    ))
    assert _param_values(data, "opacity") == ["40", None, "100", None]
    back = read_xmeml_bytes(data, "t.xml").sequences[0].video_tracks[0].items
    assert [it.opacity for it in back] == [half, None, keyed, None]
