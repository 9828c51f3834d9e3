"""Every corpus file is read, or fails with TimelineParseError for the reason listed here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import opentimelineio as otio
import pytest

from model.features.grid import featurize_timeline
from model.timeline.errors import TimelineParseError
from model.timeline.formats import OTIO_NOTE, read_timeline
from model.timeline.xmeml import read_xmeml, read_xmeml_bytes
from model.timeline.xmeml_writer import write_xmeml
from tests.conftest import CORPUS
from tests.helpers_reader import same_features

CORPUS_FILES = sorted(p for p in CORPUS.glob("*/*") if p.is_file())
HAVE_OTIO_FORMATS = all(importlib.util.find_spec(m) for m in ("otio_fcpx_xml_adapter", "otio_kdenlive_adapter"))
# relative path -> (line, reason pattern, whether OpenTimelineIO is needed to get that far)
EXPECTED_FAILURES = {
    "MarcusNewman__xmeml/xmeml.xml": (3, r"no sequence in the document", False),  # Premiere bin export: master clips only
    "havardgulldahl__xmeml/EMPTY_SEQUENCE.xml": (3, r"no sequence in the document", False),  # a project with one clip
    "havardgulldahl__xmeml/Selvika 1. juni 2013.fcpxml": (38, r"not well-formed XML", False),  # a path pasted into an attribute
    "havardgulldahl__xmeml/New Event 2.06.13.fcpxml": (4, r"no sequence in this fcpxml file", False),  # an event, 2 clips
    "OpenTimelineIO__otio-fcpx-xml-adapter/fcpx_clips.fcpxml": (0, r"no timeline in this fcpxml file", True),  # clips only
}
OTIO_SUFFIXES = {".fcpxml", ".kdenlive"}


def _rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def test_the_corpus_is_all_there(corpus_dir):
    assert len(CORPUS_FILES) == 79  # PROVENANCE.md lists 79 files


@pytest.mark.parametrize("path", CORPUS_FILES, ids=_rel)
def test_corpus_file_reads_or_fails_for_its_reason(path: Path, corpus_dir):
    rel = _rel(path)
    needs_otio = path.suffix in OTIO_SUFFIXES and EXPECTED_FAILURES.get(rel, (0, "", True))[2]
    if needs_otio and not HAVE_OTIO_FORMATS:
        with pytest.raises(TimelineParseError, match=re.escape("installer/install.sh")):
            read_timeline(path)
        return
    if rel in EXPECTED_FAILURES:
        line, reason, _ = EXPECTED_FAILURES[rel]
        with pytest.raises(TimelineParseError, match=reason) as caught:
            read_timeline(path)
        assert caught.value.line == line and caught.value.path == str(path)
        return
    timeline = read_timeline(path)
    assert timeline.sequences and timeline.path == str(path)
    assert (OTIO_NOTE in timeline.notes) == needs_otio
    for feats in featurize_timeline(timeline):
        assert feats.grid.shape[1:] == (20, 9)
        assert feats.tracks_total == len(timeline.sequence(feats.name).video_tracks)


XMEML_FILES = [p for p in CORPUS_FILES if p.suffix == ".xml" and _rel(p) not in EXPECTED_FAILURES]


@pytest.mark.parametrize("path", XMEML_FILES, ids=_rel)
def test_writer_round_trips_corpus_features_and_opentimelineio_reads_it(path: Path, corpus_dir):
    original = read_xmeml(path)
    written = write_xmeml(original)
    back = read_xmeml_bytes(written, "written.xml")
    for a, b in zip(featurize_timeline(original), featurize_timeline(back), strict=True):
        assert same_features(a, b)
    if not any(it.source.kind == "masterclip" for s in original.sequences for t in s.video_tracks for it in t.items):
        result = otio.adapters.read_from_string(written.decode(), adapter_name="fcp_xml")
        assert result is not None
