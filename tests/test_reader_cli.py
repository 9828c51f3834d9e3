"""`mttd features`: the JSON document, the summary, one-line errors, and no torch on this path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.features.grid import features_document
from model.timeline.formats import read_timeline
from tests.conftest import CORPUS, REPO

EXAMPLE = CORPUS / "OpenTimelineIO__otio-fcp-adapter" / "premiere_example.xml"
TWO_SEQUENCES = Path(__file__).parent / "data" / "golden" / "project_two_sequences.xml"


def mttd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_json_is_the_feature_document(corpus_dir):
    run = mttd("features", str(EXAMPLE), "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc == json.loads(json.dumps(features_document(read_timeline(EXAMPLE))))
    seq = doc["sequences"][0]
    # 1,246 frames at 30 fps: 415.3 steps of 3 frames; a 416th would sample frame 1,246, past the end.
    assert (seq["name"], seq["rate"], seq["frame_size"], seq["steps"]) == ("sc01_sh010_layerA", {"timebase": 30, "ntsc": False}, [1280, 720], 415)
    assert len(seq["features"]) == 415 and len(seq["features"][0]) == 20 and len(seq["features"][0][0]) == 9
    assert seq["assets"][1] == {"slot": 1, "key": "generator:Slug", "name": "test_title"}


def test_summary_names_sequences_steps_tracks_sources_and_activity():
    run = mttd("features", str(TWO_SEQUENCES))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "sequence 'Edit A'" in out and "sequence 'Edit B'" in out
    assert "67 steps of 0.1 s" in out and "29.97 fps (30/TRUE), 1280x720" in out
    assert "1 video tracks (1 kept), 1 sources" in out
    assert "40 of 80 track-steps active" in out  # Edit B: V1 for 40 steps, V2 disabled


def test_sequence_and_step_options():
    run = mttd("features", str(TWO_SEQUENCES), "--sequence", "Edit B", "--step", "0.5", "--json")
    doc = json.loads(run.stdout)
    assert [s["name"] for s in doc["sequences"]] == ["Edit B"]
    assert doc["sequences"][0]["steps"] == 8 and doc["sequences"][0]["step_seconds"] == 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["features", "{bad}"], "mttd: cannot read {bad}:3: not well-formed XML"),
        (["features", "{missing}"], "mttd: cannot read {missing}: cannot open"),
        (["features", "{good}", "--sequence", "Nope"], "no sequence named 'Nope'"),
        (["features", "{good}", "--step", "-1"], "--step must be a positive number of seconds"),
        (["features", "{good}", "--step", "0.000001"], "limit 2000000"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, args, message):
    bad = tmp_path / "bad.xml"
    bad.write_text("<xmeml>\n<sequence>\n<name>x</nam></sequence></xmeml>")
    names = {"bad": str(bad), "missing": str(tmp_path / "missing.xml"), "good": str(TWO_SEQUENCES)}
    run = mttd(*(a.format(**names) for a in args))
    assert run.returncode == 1 and run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and message.format(**names) in lines[0], run.stderr
    assert "Traceback" not in run.stderr


def test_reading_and_featurizing_never_import_torch(corpus_dir):
    code = (
        "import sys, model.timeline.formats, model.features.grid, daemon.commands.features\n"
        f"tl = model.timeline.formats.read_timeline({str(EXAMPLE)!r})\n"
        "model.features.grid.features_document(tl)\n"
        "heavy = [m for m in ('torch', 'grpc', 'opentimelineio') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
