"""Other formats through OpenTimelineIO (the `formats` extra), and the one-line error without it."""

from __future__ import annotations

import subprocess
import sys

import opentimelineio as otio
import pytest

from model.timeline.errors import TimelineParseError
from model.timeline.formats import OTIO_NOTE, read_timeline, read_timeline_bytes
from tests.conftest import CORPUS, REPO

FCPXML = CORPUS / "OpenTimelineIO__otio-fcpx-xml-adapter" / "fcpx_project.fcpxml"
KDENLIVE = CORPUS / "KDE__kdenlive-opentimelineio" / "kdenlive_example_v221170.kdenlive"
XMEML = CORPUS / "OpenTimelineIO__otio-fcp-adapter" / "premiere_example.xml"

pytest.importorskip("otio_fcpx_xml_adapter", reason="the formats extra is not installed")
pytest.importorskip("otio_kdenlive_adapter", reason="the formats extra is not installed")


def test_fcpxml_reads_with_a_note_about_motion_and_crop(corpus_dir):
    tl = read_timeline(FCPXML)
    assert tl.format == "fcpxml" and tl.notes == (OTIO_NOTE,)
    seq = tl.sequences[0]
    assert seq.name == "OpenTimeline_Project" and seq.rate.fps == 30 and (seq.width, seq.height) == (1920, 1080)
    assert len(seq.video_tracks) == 3 and all(it.motion is None and it.crop is None for t in seq.video_tracks for it in t.items)


def test_kdenlive_reads_with_its_profile_frame_size(corpus_dir):
    tl = read_timeline(KDENLIVE)
    assert tl.format == "kdenlive" and OTIO_NOTE in tl.notes
    seq = tl.sequences[0]
    assert (seq.width, seq.height, seq.rate.fps) == (720, 576, 25)
    assert sum(len(t.items) for t in seq.video_tracks) > 0


def test_otio_json_reads_and_keeps_the_cuts(tmp_path, corpus_dir):
    source = otio.adapters.read_from_file(str(XMEML), adapter_name="fcp_xml")
    path = tmp_path / "example.otio"
    otio.adapters.write_to_file(source, str(path))
    tl = read_timeline(path)
    assert tl.format == "otio"
    xmeml = read_timeline(XMEML)
    cuts = lambda t: [[(it.start, it.end) for it in tr.items] for tr in t.sequences[0].video_tracks]  # noqa: E731
    assert cuts(tl) == cuts(xmeml)


def test_content_decides_when_the_suffix_does_not(corpus_dir):
    assert read_timeline_bytes(FCPXML.read_bytes(), "export.xml").format == "fcpxml"
    assert read_timeline_bytes(XMEML.read_bytes(), "no-suffix").format == "xmeml"


def test_hostile_xml_is_refused_before_opentimelineio_sees_it(tmp_path):
    doc = b'<!DOCTYPE fcpxml [<!ENTITY e SYSTEM "file:///etc/passwd">]><fcpxml version="1.8">&e;</fcpxml>'
    with pytest.raises(TimelineParseError, match="declares entities"):
        read_timeline_bytes(doc, "x.fcpxml")


def test_without_opentimelineio_the_error_names_the_extra(corpus_dir):
    code = (
        "import sys; sys.modules['opentimelineio'] = None\n"
        "from daemon.cli import main\n"
        f"sys.exit(main(['features', {str(FCPXML)!r}]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    hint = "install mttd again (installer/install.sh), which brings it and its adapters"
    assert run.stderr.splitlines() == [f"mttd: cannot read {FCPXML}: reading fcpxml files needs OpenTimelineIO: {hint}"]
