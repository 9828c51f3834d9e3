"""The Resolve script end to end with the real bridge, a real daemon (temporary MTTD_HOME) and
the real `mttd suggest --out`; Resolve itself is the recording fake of test_plugin_resolve.py,
exporting a real Premiere/FCP7 timeline of the corpus that the baseline model reviews."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from plugin_bridge import bridge_client
from plugin_bridge.resolve.mtt_resolve import logic
from tests.conftest import REPO
from tests.test_plugin_resolve import built_entry, make_resolve

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
# The shipped example: 25 fps, with a planted scale slip and a lifted shot that the baseline reviews
# (the clean real programmes of the corpus now get no review items at all).
EXPORTED = REPO / "examples" / "vlog.xml"


@pytest.fixture()
def daemon(tmp_path, monkeypatch):
    home = tmp_path / "mttd-home"
    home.mkdir(mode=0o700)
    for key, value in {"MTTD_HOME": str(home), "MTTD_MODEL": "persistence", "MTT_BRIDGE": str(BIN / "mtt-bridge"),
                       "MTTD_BIN": str(BIN / "mttd")}.items():
        monkeypatch.setenv(key, value)
    yield home
    subprocess.run([str(BIN / "mttd"), "stop"], capture_output=True, timeout=60, env=dict(os.environ))
    after = subprocess.run([str(BIN / "mttd"), "status"], capture_output=True, timeout=30, env=dict(os.environ))
    assert after.returncode == 3, "the daemon is still running after `mttd stop`"


def test_menu_script_with_the_real_daemon(corpus_dir, daemon, tmp_path, monkeypatch, capsys):
    resolve, timeline, rec = make_resolve(corpus_dir, rate="25")
    timeline.corpus_file = str(EXPORTED)  # absolute: read from the checkout, not the corpus
    monkeypatch.setattr(sys, "argv", ["MTT Suggest.py", "--import"])
    runpy.run_path(str(built_entry(tmp_path)), init_globals={"resolve": resolve, "bmd": None}, run_name="__main__")
    printed = capsys.readouterr().out
    document = bridge_client.suggest_file(str(EXPORTED))  # the same file, asked again
    review = [item for seq in document["sequences"] for item in seq["review"]]
    assert len(review) >= 2 and document["model"]["name"] == "persistence"
    planned = logic.plan_markers(review, 25.0)
    added = [c for c in rec.calls if c[0] == "Timeline.AddMarker"]
    assert [(c[1], c[3], c[4]) for c in added] == [(m.frame, m.name, m.note) for m in planned]
    assert all(c[6] == "mtt" for c in added) and len(timeline.marker_table) == len(planned) >= 1
    summary = f"{len(review)} review suggestions as {len(planned)} markers on 'Cut 1'; imported 'Cut 1 (mtt suggestions)'"
    assert summary in printed
    imported = next(c for c in rec.calls if c[0] == "MediaPool.ImportTimelineFromFile")
    assert imported[1].endswith("/Cut 1.mtt.xml") and "(mtt suggestions)</name>" in imported[3]
    # The imported timeline is where Resolve gets the next and fill clips: each starts its media at
    # the suggestion's source in-point and ends at its out-point.
    segments = [i for seq in document["sequences"] for kind in ("next", "fill") for i in seq[kind]]
    assert segments, "the example should get next or fill segments from the baseline"
    placed = suggested_clips(imported[3])
    assert sorted(placed) == sorted((round(i["start_s"] * 25), i["source_in"], i["source_out"]) for i in segments)
    assert any(source_in > 0 for _, source_in, _ in placed)  # not every clip from the media's first frame


def suggested_clips(xml_text: str) -> list[tuple[int, int, int]]:
    """(start, in, out) of the clips the suggestions sequence adds ("mtt next: ...", "mtt fill: ...")."""
    root = ElementTree.fromstring(xml_text)  # our own output, read by the test
    seq = next(s for s in root.iter("sequence") if (s.findtext("name") or "").endswith("(mtt suggestions)"))
    return [(int(c.findtext("start")), int(c.findtext("in")), int(c.findtext("out")))
            for c in seq.iter("clipitem") if (c.findtext("name") or "").startswith(("mtt next:", "mtt fill:"))]
