"""The Premiere panel's Suggest flow under Node with the real folder watcher of a real daemon
(temporary MTTD_HOME): the panel exports into the watched folder, waits for the sidecar made
from that export and marks its suggestions. Premiere is the recording fake of fake_premiere.js."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
FLOW = REPO / "tests" / "plugins" / "premiere_flow.js"
# The shipped example: 25 fps, with a planted scale slip and a lifted shot that the baseline reviews
# (the clean real programmes of the corpus now get no review items at all).
EXPORTED = REPO / "examples" / "vlog.xml"


@pytest.fixture()
def watched(tmp_path, monkeypatch):
    home = tmp_path / "mttd-home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("MTTD_HOME", str(home))
    monkeypatch.setenv("MTTD_MODEL", "persistence")
    folder = tmp_path / "watched"
    folder.mkdir()
    try:
        subprocess.run([str(BIN / "mttd"), "start"], check=True, capture_output=True, timeout=90)
        subprocess.run([str(BIN / "mttd"), "watch", "add", str(folder)], check=True, capture_output=True, timeout=30)
        yield folder
    finally:
        subprocess.run([str(BIN / "mttd"), "stop"], capture_output=True, timeout=60)
    assert subprocess.run([str(BIN / "mttd"), "status"], capture_output=True, timeout=30).returncode == 3


def test_panel_flow_with_the_real_watcher(corpus_dir, watched):
    node = shutil.which("node")
    if node is None:
        pytest.fail("the Premiere panel tests need Node.js 20+ on PATH")
    done = subprocess.run([node, str(FLOW), str(watched), str(EXPORTED)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    exported = watched / "Cut.xml"
    sidecar = json.loads((watched / "Cut.mtt.json").read_text())
    assert sidecar["source"]["sha256"] == hashlib.sha256(exported.read_bytes()).hexdigest()
    assert exported.read_bytes() == EXPORTED.read_bytes()  # the watcher never touches the export
    assert result["paths"]["suggestedXml"] == str(watched / "Cut.mtt.xml") and (watched / "Cut.mtt.xml").is_file()
    (sequence,) = sidecar["sequences"]
    review = [f"mtt: {r['field']} V{r['track']}" for r in sequence["review"]]
    segments = [f"mtt {kind}: {item['source']['name'] or '?'} V{item['track']}"
                for kind in ("next", "fill") for item in sequence[kind]]
    assert len(review) >= 2
    assert [m["name"] for m in result["markers"]] == ["editor's", *review, *segments]
    assert all(m["comments"].endswith("[mtt]") for m in result["markers"][1:])
    assert result["rows"] == len(review) + len(segments)
