"""One table of timeline kinds: a suffix is a timeline for the reader, the watcher, the daemon's
input check and the dataset builder alike, and mttd's own sidecars are one for none of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from daemon.engine import input_from_path
from daemon.watch import files as watch_files
from model.timeline.formats import read_timeline
from model.timeline.kinds import KINDS, kind_of, sidecar_stem, timeline_kinds
from model.training.dataset import find_timeline_files
from tests.conftest import CORPUS

otio = pytest.importorskip("opentimelineio", reason="the formats extra is not installed")

XMEML = CORPUS / "OpenTimelineIO__otio-fcp-adapter" / "premiere_example.xml"
SAMPLES = {
    ".xml": XMEML,
    ".fcpxml": CORPUS / "OpenTimelineIO__otio-fcpx-xml-adapter" / "fcpx_project.fcpxml",
    ".kdenlive": CORPUS / "KDE__kdenlive-opentimelineio" / "kdenlive_example_v221170.kdenlive",
    ".mlt": CORPUS / "KDE__kdenlive-opentimelineio" / "kdenlive_example_v221170.kdenlive",  # Kdenlive's MLT XML
}


def _sample(folder: Path, suffix: str) -> Path:
    path = folder / f"cut{suffix}"
    if suffix == ".otio":
        timeline = otio.adapters.read_from_file(str(XMEML), adapter_name="fcp_xml")
        path.write_text(otio.adapters.write_to_string(timeline, "otio_json"), encoding="utf-8")
    else:
        shutil.copyfile(SAMPLES[suffix], path)
    return path


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.suffix)
def test_every_kind_is_a_timeline_everywhere(tmp_path: Path, corpus_dir, kind) -> None:
    path = _sample(tmp_path, kind.suffix)
    assert read_timeline(path).format == kind.format
    assert watch_files.candidate_kind(path, tmp_path, timeline_kinds()) == kind
    assert watch_files.sniff(path, kind) and watch_files.scan_file(path, kind).complete
    assert input_from_path(str(path)).parse().sequences  # the daemon refused .mlt before the table
    assert find_timeline_files([tmp_path]) == [path.resolve()]


def test_sidecars_are_inputs_for_nobody(tmp_path: Path) -> None:
    for name in ("cut.mtt.xml", "cut.MTT.json", "cut.mtt.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"<xmeml/>")
        assert kind_of(tmp_path / name) is None
        assert watch_files.candidate_kind(tmp_path / name, tmp_path, timeline_kinds()) is None
    assert find_timeline_files([tmp_path]) == []


def test_the_sidecar_stem_drops_the_last_suffix_only() -> None:
    assert sidecar_stem("/x/cut.v2.xml") == "cut.v2"
    assert sidecar_stem(Path("cut")) == "cut"
    assert watch_files.sidecar_json_path(Path("/x/cut.v2.xml")) == Path("/x/cut.v2.mtt.json")
