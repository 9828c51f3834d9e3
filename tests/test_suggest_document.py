"""`mttd suggest`: every document it prints or writes validates against the JSON Schema, error
documents included; human output, sidecars written atomically, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from model.inference.predictor import PersistencePredictor
from model.suggest.document import SCHEMA_FILE, document_for_file, suggestions_document, write_sidecars
from model.suggest.items import SuggestOptions
from model.timeline.kinds import sidecar_stem
from model.timeline.xmeml_writer import write_xmeml
from tests.helpers_suggest import as_timeline, interview, with_item

REPO = Path(__file__).resolve().parents[1]
CORPUS_SAMPLE = (
    "ccnmtl__xmeml/final_cut_pro.xml",
    "havardgulldahl__xmeml/BroShow ep Kriminalitet.xml",  # 23 minutes, 8 tracks, gaps to fill
    "havardgulldahl__xmeml/Multicam_Moser_1.xml",
    "OpenTimelineIO__otio-fcp-adapter/premiere_generators.xml",
    "mifi__lossless-cut/Final Cut Pro XMEML 2.xml",
    "KDE__kdenlive-opentimelineio/kdenlive_example_v191180.kdenlive",  # through OTIO
    "havardgulldahl__xmeml/EMPTY_SEQUENCE.xml",  # no sequence: an error document
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def mttd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "daemon", "suggest", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd)


@pytest.fixture()
def slipped_xml(tmp_path: Path) -> Path:
    seq = with_item(interview(60, gap=(20, 26)), 0, 9, enabled=False)
    path = tmp_path / "cut.v2.xml"
    path.write_bytes(write_xmeml(as_timeline(seq)))
    return path


def test_json_output_is_exactly_the_sidecar_document(slipped_xml, tmp_path, validator):
    out = tmp_path / "out"
    proc = mttd(str(slipped_xml), "--json", "--model", "persistence", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    validator.validate(printed)
    written = json.loads((out / "cut.v2.mtt.json").read_text())
    assert written == printed
    assert (out / "cut.v2.mtt.xml").read_bytes().startswith(b"<?xml")
    assert sorted(p.name for p in out.iterdir()) == ["cut.v2.mtt.json", "cut.v2.mtt.xml"]  # no temp files left
    seq = printed["sequences"][0]
    assert seq["review"] and seq["next"] and seq["fill"]
    assert seq["review"][0]["field"] == "active" and seq["review"][0]["track"] == 1
    assert printed["source"]["size"] == slipped_xml.stat().st_size
    assert set(printed["elapsed_ms"]) == {"read", "features", "predict", "review", "next", "fill", "total"}


def test_human_output_and_kinds(slipped_xml):
    proc = mttd(str(slipped_xml), "--model", "persistence", "--kinds", "next", "--horizon", "4")
    assert proc.returncode == 0, proc.stderr
    assert "review: none" in proc.stdout and "fill: none" in proc.stdout
    assert "next (" in proc.stdout and "'camB.mov'" in proc.stdout


def test_human_output_says_when_a_programme_looks_finished(corpus_dir):
    # Fin fredag ends on its end slate: no next, and the one line says why instead of a bare "none".
    proc = mttd(str(corpus_dir / "havardgulldahl__xmeml" / "msub20001812aa.xml"), "--model", "persistence", "--kinds", "next")
    assert proc.returncode == 0, proc.stderr
    assert "  next: none, the programme looks finished: it ends with closing material: 'sluttplak" in proc.stdout


@pytest.mark.parametrize("content", ["<xmeml><sequence><name>broken", "not xml at all", ""])
def test_unreadable_file_one_line_error_and_error_document(tmp_path, validator, content):
    bad = tmp_path / "bad.xml"
    bad.write_text(content)
    human = mttd(str(bad), "--model", "persistence")
    assert human.returncode == 1 and human.stdout == ""
    assert human.stderr.count("\n") == 1 and human.stderr.startswith(f"mttd: cannot read {bad}")
    as_json = mttd(str(bad), "--json", "--model", "persistence", "--out", str(tmp_path / "out"))
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    validator.validate(doc)
    assert doc["error"]["code"] == "invalid_timeline" and "sequences" not in doc
    assert json.loads((tmp_path / "out" / "bad.mtt.json").read_text())["error"] == doc["error"]
    assert not (tmp_path / "out" / "bad.mtt.xml").exists()


def test_missing_file_and_unknown_sequence(tmp_path, slipped_xml, validator):
    missing = mttd(str(tmp_path / "nope.xml"), "--json", "--model", "persistence")
    assert missing.returncode == 1
    doc = json.loads(missing.stdout)
    validator.validate(doc)
    assert doc["error"]["code"] == "not_found" and doc["source"]["sha256"] is None
    unknown = mttd(str(slipped_xml), "--sequence", "Other", "--model", "persistence")
    assert unknown.returncode == 1 and "no sequence named 'Other'" in unknown.stderr


def test_bad_options_are_usage_errors(slipped_xml):
    assert mttd(str(slipped_xml), "--kinds", "review,later").returncode == 2
    assert mttd(str(slipped_xml), "--horizon", "0").returncode == 2


@pytest.mark.parametrize("name", CORPUS_SAMPLE)
def test_corpus_documents_validate(corpus_dir, tmp_path, validator, name):
    src = tmp_path / Path(name).name
    shutil.copy(corpus_dir / name, src)
    doc = document_for_file(src, PersistencePredictor(), SuggestOptions())
    validator.validate(doc)
    written = write_sidecars(doc, None, tmp_path, sidecar_stem(src))
    assert json.loads(written[0].read_text()) == doc


def test_documents_for_timelines_without_a_file_validate(validator):
    seq = interview(30)
    doc = suggestions_document(None, b"{}", as_timeline(seq), PersistencePredictor(), SuggestOptions())
    validator.validate(doc)
    assert doc["source"] == {"path": None, "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2}


def test_drop_frame_sequences_get_drop_frame_timecodes(tmp_path, validator):
    from dataclasses import replace

    from model.timeline.types import Rate

    seq = replace(interview(70, rate=Rate(30, True)), drop_frame=True, timecode_start=107_892)  # 01:00:00;00
    doc = suggestions_document("df.xml", b"", as_timeline(seq), PersistencePredictor(), SuggestOptions(kinds=("next",)))
    validator.validate(doc)
    first = doc["sequences"][0]["next"][0]
    assert first["start_tc"].startswith("01:01:") and ";" in first["start_tc"]
    assert first["start_s"] == round(seq.duration / (30000 / 1001), 3)
