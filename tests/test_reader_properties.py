"""Hypothesis: writer -> reader keeps the features; arbitrary and mutated bytes raise only TimelineParseError."""

from __future__ import annotations

import opentimelineio as otio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.timeline.errors import TimelineParseError
from model.timeline.formats import read_timeline_bytes
from model.timeline.types import Timeline
from model.timeline.xmeml import read_xmeml_bytes
from model.timeline.xmeml_writer import write_xmeml
from tests.helpers_reader import build_timeline, features_of, same_features, timelines

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEED_DOCUMENT = write_xmeml(build_timeline(3, 12, seed=3))
HOSTILE_SNIPPETS = [
    b"-1", b"<", b">", b"&", b"&amp;", b"&bogus;", b"]]>", b"<![CDATA[x]]>", b"nan", b"1e308", b"-99999999999",
    b"<sequence/>", b"</clipitem>", b"<clipitem>", b"<transitionitem>", b"<!DOCTYPE x [<!ENTITY e 'v'>]>",
    b"\x00", b"\xff\xfe", b"TRUE", b"maybe", b"<file id=\"file-1\"/>", b"<keyframe><when>x</when></keyframe>",
]


@SETTINGS
@given(timelines())
def test_written_timeline_reads_back_with_the_same_features(tl: Timeline):
    back = read_xmeml_bytes(write_xmeml(tl), "roundtrip.xml")
    assert len(back.sequences) == len(tl.sequences)
    for a, b in zip(features_of(tl), features_of(back)):
        assert same_features(a, b)
    for sa, sb in zip(tl.sequences, back.sequences):
        assert (sa.timecode_start, sa.drop_frame, sa.markers) == (sb.timecode_start, sb.drop_frame, sb.markers)
        assert [tr.transitions for tr in sa.video_tracks] == [tr.transitions for tr in sb.video_tracks]


@settings(max_examples=25, deadline=None)
@given(timelines(kinds=("file", "still", "generator", "sequence")))
def test_written_timeline_reads_in_opentimelineio(tl: Timeline):
    result = otio.adapters.read_from_string(write_xmeml(tl).decode(), adapter_name="fcp_xml")
    found = [result] if isinstance(result, otio.schema.Timeline) else list(result.find_children(descended_from_type=otio.schema.Timeline))
    assert [t.name for t in found] == [s.name for s in tl.sequences]
    for t, seq in zip(found, tl.sequences):
        assert len(t.video_tracks()) == len(seq.video_tracks)


def _only_parse_errors(data: bytes, path: str = "fuzz.xml") -> None:
    for read in (read_xmeml_bytes, read_timeline_bytes):
        try:
            read(data, path)
        except TimelineParseError as err:
            assert err.path == path and err.reason


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes):
    _only_parse_errors(data)


@SETTINGS
@given(st.data())
def test_mutated_documents_raise_only_parse_errors(data):
    doc = bytearray(SEED_DOCUMENT)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(doc)))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "replace-number"]))
        if action == "flip" and at < len(doc):
            doc[at] ^= data.draw(st.integers(1, 255))
        elif action == "delete":
            del doc[at : at + data.draw(st.integers(1, 40))]
        elif action == "insert":
            doc[at:at] = data.draw(st.sampled_from(HOSTILE_SNIPPETS))
        else:
            start = doc.find(b"<start>", at)
            if start >= 0:
                doc[start + 7 : start + 8] = data.draw(st.sampled_from([b"-1", b"x", b"", b"9" * 30, b"1.5"]))
    _only_parse_errors(bytes(doc))


@pytest.mark.parametrize("path", ["x.xml", "x.fcpxml", "x.kdenlive", "x.otio", "noext"])
def test_garbage_in_every_format_is_a_parse_error(path: str):
    with pytest.raises(TimelineParseError):
        read_timeline_bytes(b"\x00garbage{<", path)
