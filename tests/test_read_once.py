"""Each file is read once: one XML parse per `mttd features` and `mttd suggest` run, and the parse
comes before the model loads, so a broken file fails without waiting for the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

import model.inference.load as load_module
from daemon.cli import main
from tests.conftest import CORPUS

SAMPLE = CORPUS / "OpenTimelineIO__otio-fcp-adapter" / "premiere_example.xml"


@pytest.fixture()
def events(monkeypatch, mttd_home) -> list[str]:
    """'parse' for every XML document lxml builds, 'load' for every model load, in order."""
    seen: list[str] = []
    fromstring, load_predictor = etree.fromstring, load_module.load_predictor

    def counted_parse(*args, **kwargs):
        seen.append("parse")
        return fromstring(*args, **kwargs)

    def counted_load(*args, **kwargs):
        seen.append("load")
        return load_predictor(*args, **kwargs)

    monkeypatch.setattr(etree, "fromstring", counted_parse)
    monkeypatch.setattr(load_module, "load_predictor", counted_load)
    monkeypatch.setenv("MTTD_MODEL", "persistence")  # the order is what matters, not the network
    return seen


def test_mttd_features_parses_the_file_once(events, corpus_dir, capsys) -> None:
    assert main(["features", str(SAMPLE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert events == ["parse"]


def test_mttd_suggest_parses_the_file_once_then_loads_the_model(events, corpus_dir, capsys) -> None:
    assert main(["suggest", str(SAMPLE), "--no-daemon", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sequences"]
    assert events == ["parse", "load"]


def test_a_broken_file_fails_before_the_model_loads(events, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<xmeml>\n<sequence>\n</xmeml>")
    assert main(["suggest", str(broken), "--no-daemon"]) == 1
    assert capsys.readouterr().err.startswith(f"mttd: cannot read {broken}:3:")
    assert main(["suggest", str(broken), "--no-daemon", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["line"] == 3 and doc["model"]["name"] == "persistence"
    assert events == ["parse", "parse"]  # no model was loaded for either


def test_the_error_document_names_the_model_that_would_have_run(events, tmp_path: Path, capsys, monkeypatch) -> None:
    """Without loading it, the bundled model is named exactly as a loaded one names itself."""
    monkeypatch.delenv("MTTD_MODEL")
    broken = tmp_path / "broken.xml"
    shutil.copyfile(SAMPLE, broken)
    broken.write_bytes(broken.read_bytes()[:200])
    assert main(["suggest", str(broken), "--no-daemon", "--json", "--backend", "torch"]) == 1
    named = json.loads(capsys.readouterr().out)["model"]
    loaded = load_module.load_predictor(None, "torch")
    assert named == {"name": loaded.name, "version": loaded.version, "sha256": loaded.sha256}
    assert events == ["parse", "load"]  # the load is the test's own, after the command
