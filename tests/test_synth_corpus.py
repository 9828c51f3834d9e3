"""Synthetic files: same seed same bytes, read back by our reader and by OpenTimelineIO, `mttd synth`."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from model.features.grid import featurize
from model.timeline.xmeml import read_xmeml_bytes
from model.timeline.xmeml_writer import write_xmeml
from model.training.synth import ALL_STYLES, STYLES, synthesize, synthesize_with_params

SHORT = (0.5, 1.0)


def mttd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("style", ALL_STYLES)
def test_same_seed_same_bytes_and_another_seed_another_timeline(style):
    first = write_xmeml(synthesize(style, 3, 5, SHORT))
    assert write_xmeml(synthesize(style, 3, 5, SHORT)) == first
    assert write_xmeml(synthesize(style, 4, 5, SHORT)) != first
    assert write_xmeml(synthesize(style, 3, 6, SHORT)) != first


@pytest.mark.parametrize("style", ALL_STYLES)
def test_our_reader_gets_back_the_features_of_the_generated_timeline(style):
    timeline = synthesize(style, 0, 1, SHORT)
    back = read_xmeml_bytes(write_xmeml(timeline), "synth.xml")
    made, read = featurize(timeline.sequences[0]), featurize(back.sequences[0])
    assert made.steps > 0
    np.testing.assert_array_equal(read.grid, made.grid)
    np.testing.assert_array_equal(read.source_index, made.source_index)


@pytest.mark.parametrize("style", ALL_STYLES)
def test_opentimelineio_fcp7_adapter_reads_every_style(style):
    otio = pytest.importorskip("opentimelineio")
    timeline = synthesize(style, 0, 2, SHORT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = otio.adapters.read_from_string(write_xmeml(timeline).decode(), "fcp_xml")
    clips = [c for tr in result.video_tracks() for c in tr if isinstance(c, otio.schema.Clip)]
    ours = [it for tr in timeline.sequences[0].video_tracks for it in tr.items]
    assert len(clips) == len(ours)
    assert result.duration().to_frames() >= timeline.sequences[0].duration - 1


def test_mttd_synth_writes_named_files_identically_with_any_number_of_workers(tmp_path: Path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert mttd("synth", "--out", str(one), "--count", "16", "--seed", "9", "--minutes", "0.3-0.6", "--jobs", "1").returncode == 0
    run = mttd("synth", "--out", str(two), "--count", "16", "--seed", "9", "--minutes", "0.3-0.6", "--jobs", "2")
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    assert names[:3] == ["documentary-00003.xml", "documentary-00010.xml", "podcast-00000.xml"]
    assert all((one / n).read_bytes() == (two / n).read_bytes() for n in names)
    assert "16/16" in run.stderr


def test_mttd_synth_restricts_styles_and_rejects_bad_arguments(tmp_path: Path):
    run = mttd("synth", "--out", str(tmp_path), "--count", "3", "--styles", "vlog,stream", "--minutes", "0.2-0.3")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream-00001.xml", "vlog-00000.xml", "vlog-00002.xml"]
    bad = mttd("synth", "--out", str(tmp_path), "--count", "3", "--styles", "opera")
    assert bad.returncode == 2 and bad.stderr.startswith("mttd: unknown style opera")
    bad = mttd("synth", "--out", str(tmp_path), "--count", "3", "--minutes", "6-2")
    assert bad.returncode == 2 and "--minutes" in bad.stderr and "Traceback" not in bad.stderr


def test_opt_in_styles_keep_the_default_styles_and_their_numbers():
    assert STYLES == ("podcast", "tutorial", "vlog", "documentary", "splitscreen", "slideshow", "stream")
    assert ALL_STYLES[: len(STYLES)] == STYLES and "broadcast" in ALL_STYLES[len(STYLES):]


def test_mttd_synth_writes_the_opt_in_broadcast_style_only_when_named(tmp_path: Path):
    run = mttd("synth", "--out", str(tmp_path / "b"), "--count", "2", "--seed", "21", "--styles", "broadcast", "--minutes", "2-3")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["broadcast-00000.xml", "broadcast-00001.xml"]
    written = read_xmeml_bytes((tmp_path / "b" / "broadcast-00001.xml").read_bytes(), "b.xml")
    assert written.sequences[0].name == synthesize("broadcast", 21, 1, (2.0, 3.0)).sequences[0].name
    run = mttd("synth", "--out", str(tmp_path / "d"), "--count", "8", "--minutes", "0.2-0.3", "--jobs", "1")
    assert run.returncode == 0, run.stderr
    assert not any(p.name.startswith("broadcast") for p in (tmp_path / "d").iterdir())


def test_a_broadcast_copy_track_keeps_its_opacity_through_the_file():
    timeline = next(tl for tl, p in (synthesize_with_params("broadcast", 5, i, SHORT) for i in range(40)) if p.copy_track)
    copy = timeline.sequences[0].video_tracks[2]
    back = read_xmeml_bytes(write_xmeml(timeline), "synth.xml").sequences[0].video_tracks[2]
    assert [it.opacity for it in back.items] == [it.opacity for it in copy.items]
    assert 20.0 <= back.items[0].opacity.value <= 70.0
