"""The Premiere Pro CEP panel: its JavaScript under Node, its fixture against the real schema, its files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from tests.conftest import REPO

PANEL = REPO / "plugin_bridge" / "premiere"
JS_TESTS = REPO / "tests" / "plugins"
SCHEMA = REPO / "model" / "schemas" / "mtt.suggestions-1.schema.json"


def test_panel_javascript_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.fail("the Premiere panel tests need Node.js 20+ (`node --test`) on PATH")
    done = subprocess.run([node, "--test", str(JS_TESTS)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = int(re.search(r"^# pass (\d+)$", done.stdout, re.M).group(1))
    assert passed >= 13 and re.search(r"^# fail 0$", done.stdout, re.M)


def test_the_js_fixture_is_a_valid_sidecar_document():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(json.loads((JS_TESTS / "sidecar_example.mtt.json").read_text()), schema)


def test_manifest_points_at_the_panel_files():
    root = ET.parse(PANEL / "CSXS" / "manifest.xml").getroot()
    assert root.get("ExtensionBundleId") == "org.mttd.suggestions"
    assert [h.get("Name") for h in root.iter("Host")] == ["PPRO"]
    for tag in ("MainPath", "ScriptPath"):
        target = PANEL / root.find(f".//{tag}").text
        assert target.is_file(), target
    scripts = re.findall(r'<script src="([^"]+)"', (PANEL / "index.html").read_text())
    assert scripts == ["js/mtt_logic.js", "js/main.js"] and all((PANEL / s).is_file() for s in scripts)
    assert root.find(".//CEFCommandLine") is None  # no --enable-nodejs: the panel needs no Node


def test_the_panel_neither_spawns_processes_nor_opens_connections():
    forbidden = re.compile(r"child_process|require\(|XMLHttpRequest|fetch\(|WebSocket|system\.callSystem|Socket\(")
    for source in [*(PANEL / "js").glob("*.js"), PANEL / "jsx" / "mtt.jsx", PANEL / "index.html"]:
        text = source.read_text()
        if source.name == "mtt_logic.js":  # its CommonJS export for Node's tests is not a require
            text = text.replace("module.exports", "")
        assert not forbidden.search(text), f"{source.name}: {forbidden.search(text).group(0)}"
