"""The Resolve script against a recording fake of exactly the Resolve scripting calls it uses.

The fake implements only the documented calls of Resolve's scripting README that the script
needs (anything else raises AttributeError), keeps markers the way Resolve does (one per frame)
and exports a real Resolve xmeml from the corpus. The bridge is a recording `mtt-bridge`
executable; the real daemon is exercised in test_plugin_resolve_daemon.py.
"""

from __future__ import annotations

import runpy
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from plugin_bridge import bridge_client
from plugin_bridge.resolve.mtt_resolve import host, logic, suggested
from tests.conftest import REPO
from tests.helpers_plugins import bridge_calls, fake_bridge, fake_mttd

RESOLVE_EXPORT = "nick-animation-studio__fcp7xml-to-unreal/test_XML_export_resolve.xml"


def built_entry(tmp_path: Path) -> Path:
    """`MTT Suggest.py` as plugin_bridge/resolve/build.py makes it, beside its mtt_resolve/."""
    from plugin_bridge.resolve import build

    return build.build_folder(tmp_path / "resolve-scripts") / build.SCRIPT


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeTimeline:
    def __init__(self, rec: Recorder, corpus: Path, name: str = "Cut 1", rate: str = "24", export_ok: bool = True):
        self.rec, self.corpus, self.name, self.rate, self.export_ok = rec, corpus, name, rate, export_ok
        self.corpus_file = RESOLVE_EXPORT  # what Export writes: a real export from the corpus
        self.marker_table: dict[float, dict] = {}

    def GetName(self):
        self.rec.calls.append(("Timeline.GetName",))
        return self.name

    def GetSetting(self, name):
        self.rec.calls.append(("Timeline.GetSetting", name))
        return {"timelineFrameRate": self.rate}.get(name, "")

    def Export(self, path, export_type, subtype):
        self.rec.calls.append(("Timeline.Export", path, export_type, subtype))
        if export_type != FakeResolve.EXPORT_FCP_7_XML or not self.export_ok:
            return False
        shutil.copyfile(self.corpus / self.corpus_file, path)
        return True

    def GetMarkers(self):
        self.rec.calls.append(("Timeline.GetMarkers",))
        return {frame: dict(info) for frame, info in self.marker_table.items()}

    def DeleteMarkerAtFrame(self, frame):
        self.rec.calls.append(("Timeline.DeleteMarkerAtFrame", frame))
        return self.marker_table.pop(float(frame), None) is not None

    def AddMarker(self, frame, color, name, note, duration, custom_data=""):
        self.rec.calls.append(("Timeline.AddMarker", frame, color, name, note, duration, custom_data))
        if float(frame) in self.marker_table:  # Resolve refuses a second marker on a frame
            return False
        self.marker_table[float(frame)] = {"color": color, "duration": float(duration), "note": note, "name": name,
                                           "customData": custom_data}
        return True


class FakeMediaPool:
    def __init__(self, rec: Recorder):
        self.rec = rec

    def ImportTimelineFromFile(self, path, options):
        self.rec.calls.append(("MediaPool.ImportTimelineFromFile", path, dict(options), Path(path).read_text()))
        return object()


class FakeProject:
    def __init__(self, rec: Recorder, timeline: FakeTimeline | None):
        self.rec, self.timeline, self.pool = rec, timeline, FakeMediaPool(rec)

    def GetCurrentTimeline(self):
        self.rec.calls.append(("Project.GetCurrentTimeline",))
        return self.timeline

    def GetMediaPool(self):
        self.rec.calls.append(("Project.GetMediaPool",))
        return self.pool

    def GetSetting(self, name):
        self.rec.calls.append(("Project.GetSetting", name))
        return {"timelineFrameRate": "25"}.get(name, "")


class FakeProjectManager:
    def __init__(self, project: FakeProject):
        self.project = project

    def GetCurrentProject(self):
        self.project.rec.calls.append(("ProjectManager.GetCurrentProject",))
        return self.project


class FakeResolve:
    EXPORT_FCP_7_XML = "EXPORT_FCP_7_XML"
    EXPORT_NONE = "EXPORT_NONE"

    def __init__(self, project: FakeProject):
        self.manager = FakeProjectManager(project)

    def GetProjectManager(self):
        self.manager.project.rec.calls.append(("Resolve.GetProjectManager",))
        return self.manager


def make_resolve(corpus_dir: Path, **timeline_args) -> tuple[FakeResolve, FakeTimeline, Recorder]:
    rec = Recorder()
    timeline = FakeTimeline(rec, corpus_dir, **timeline_args)
    return FakeResolve(FakeProject(rec, timeline)), timeline, rec


def review(track, start, end, field, reason, confidence=0.8):
    return {"track": track, "start_s": start, "end_s": end, "start_tc": "", "end_tc": "", "field": field,
            "current": 100.0, "suggested": 150.0, "confidence": confidence, "reason": reason}


DOCUMENT = {"schema": "mtt.suggestions/1", "sequences": [{"name": "Cut 1", "review": [
    review(1, 1.0, 2.0, "scale", "scaled unlike its siblings", 0.9),
    review(2, 1.0, 1.5, "crop_l", "cropped unlike the rest", 0.6),  # same start: shares the marker
    review(1, 5.0, 5.5, "active", "a disabled clip among enabled ones"),
    review(3, 10.0, 10.0, "pos_y", "placed unlike the rest"),
], "next": [], "fill": []}]}


def run(resolve, ask):
    """The script's logic through the Resolve-facing host, the bridge and `mttd suggest --out`."""
    return logic.run(host.ResolveHost(resolve), bridge_client.suggest_file, suggested.write_suggested_timeline, ask)


@pytest.fixture()
def bridge_env(tmp_path, monkeypatch):
    _, env = fake_bridge(tmp_path, DOCUMENT)
    fake_mttd(tmp_path)  # found beside the bridge
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MTTD_BIN", raising=False)
    return env


def test_export_markers_and_import(corpus_dir, tmp_path, bridge_env):
    resolve, timeline, rec = make_resolve(corpus_dir)
    timeline.marker_table[120.0] = {"name": "editor's own", "customData": "", "color": "Blue", "note": "", "duration": 1.0}
    timeline.marker_table[240.0] = {"name": "editor's too", "customData": "", "color": "Blue", "note": "", "duration": 1.0}
    timeline.marker_table[300.0] = {"name": "mtt: old run", "customData": "mtt", "color": "Red", "note": "", "duration": 1.0}
    asked = []
    outcome = run(resolve, lambda summary: asked.append(summary) or True)
    assert outcome.ok, outcome.message
    export = next(c for c in rec.calls if c[0] == "Timeline.Export")
    assert export[2:] == ("EXPORT_FCP_7_XML", "EXPORT_NONE") and export[1].endswith("/Cut 1.xml")
    bridge, mttd = bridge_calls(tmp_path)
    assert bridge["argv"] == ["suggest", export[1], "--json"]
    assert mttd["argv"] == ["mttd", "suggest", export[1], "--out", str(Path(export[1]).parent)]
    # The old mtt marker is gone, the editor's stay; 5 s (frame 120) is the editor's: the next free frame,
    # within the suggestion's duration; 10 s (frame 240) has a one-frame suggestion and no free frame.
    assert ("Timeline.DeleteMarkerAtFrame", 300.0) in rec.calls
    added = [c for c in rec.calls if c[0] == "Timeline.AddMarker"]
    assert [(c[1], c[2], c[3], c[5], c[6]) for c in added] == [
        (24, "Yellow", "mtt: scale V1, crop_l V2", 24, "mtt"),
        (121, "Red", "mtt: active V1", 12, "mtt"),
    ]
    first = timeline.marker_table[24.0]
    assert first["note"].splitlines() == ["scale V1: 100 -> 150 (90%) scaled unlike its siblings",
                                          "crop_l V2: 100 -> 150 (60%) cropped unlike the rest"]
    assert timeline.marker_table[120.0]["name"] == "editor's own" and timeline.marker_table[240.0]["name"] == "editor's too"
    assert outcome.skipped == 1 and "1 skipped" in outcome.message
    assert len(asked) == 1 and "4 review suggestions as 2 markers" in asked[0]
    imported = next(c for c in rec.calls if c[0] == "MediaPool.ImportTimelineFromFile")
    assert imported[1].endswith("/Cut 1.mtt.xml") and imported[2] == {"timelineName": "Cut 1 (mtt suggestions)"}
    assert imported[3] == "<xmeml version='4'/>"
    assert outcome.imported == "Cut 1 (mtt suggestions)"
    assert not Path(export[1]).exists()  # the temporary export is cleaned up


def test_declining_the_import_imports_nothing(corpus_dir, tmp_path, bridge_env):
    resolve, _, rec = make_resolve(corpus_dir, rate="29.97 DF")
    outcome = run(resolve, lambda summary: False)
    assert outcome.ok and "MediaPool.ImportTimelineFromFile" not in rec.names()
    assert [c["argv"][0] for c in bridge_calls(tmp_path)] == ["suggest"]  # no mttd run for a declined import
    assert [m.frame for m in outcome.markers] == [30, 150, 300]  # round(s x 29.97)


def test_no_timeline_export_failure_and_bridge_failure(corpus_dir, tmp_path, monkeypatch):
    rec = Recorder()
    no_timeline = FakeResolve(FakeProject(rec, None))
    outcome = run(no_timeline, lambda summary: True)
    assert not outcome.ok and "Open a timeline first" in outcome.message
    resolve, _, rec = make_resolve(corpus_dir, export_ok=False)
    outcome = run(resolve, lambda summary: True)
    assert not outcome.ok and "could not export" in outcome.message and "Timeline.AddMarker" not in rec.names()
    _, env = fake_bridge(tmp_path, None, fail="cannot start the daemon: see mttd logs")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resolve, _, rec = make_resolve(corpus_dir)
    outcome = run(resolve, lambda summary: True)
    assert outcome.message == "mttd could not answer: cannot start the daemon: see mttd logs"
    assert "Timeline.AddMarker" not in rec.names()


def test_an_error_document_is_reported(corpus_dir, tmp_path, monkeypatch):
    _, env = fake_bridge(tmp_path, {"schema": "mtt.suggestions/1", "error": {"code": "parse", "message": "x.xml line 4: bad", "line": 4}})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resolve, _, _ = make_resolve(corpus_dir)
    outcome = run(resolve, lambda summary: True)
    assert not outcome.ok and "x.xml line 4: bad" in outcome.message


def test_the_menu_script_runs_with_resolves_globals(corpus_dir, tmp_path, bridge_env, monkeypatch, capsys):
    resolve, timeline, rec = make_resolve(corpus_dir, name="Reel/2: final")
    monkeypatch.setattr(sys, "argv", ["MTT Suggest.py", "--import"])
    runpy.run_path(str(built_entry(tmp_path)), init_globals={"resolve": resolve, "bmd": None}, run_name="__main__")
    printed = capsys.readouterr().out
    assert "imported 'Reel/2: final (mtt suggestions)'" in printed
    export = next(c for c in rec.calls if c[0] == "Timeline.Export")
    assert Path(export[1]).name == "Reel_2_ final.xml"  # no path separators from the timeline name
    assert sorted(timeline.marker_table) == [24.0, 120.0, 240.0]


def test_a_failing_mttd_leaves_the_markers_and_says_why(corpus_dir, tmp_path, bridge_env, monkeypatch):
    monkeypatch.setenv("MTTD_BIN", str(tmp_path / "no-mttd-here"))
    resolve, timeline, rec = make_resolve(corpus_dir)
    outcome = run(resolve, lambda summary: True)
    assert outcome.ok and len(timeline.marker_table) == 3
    assert "no suggested timeline: cannot run" in outcome.message
    assert "MediaPool.ImportTimelineFromFile" not in rec.names()


def test_each_plugin_build_carries_the_one_bridge_client(tmp_path):
    """plugin_bridge/bridge_client.py is kept once; the Blender zip and the Resolve folder get it
    from their builds (and the installer places what the builds make)."""
    from plugin_bridge.blender import build as blender_build
    from plugin_bridge.resolve import build as resolve_build

    source = Path(bridge_client.__file__).read_bytes()
    with zipfile.ZipFile(blender_build.build_zip(tmp_path / "blender")) as archive:
        assert archive.read("mtt_blender/bridge_client.py") == source
    folder = resolve_build.build_folder(tmp_path / "resolve")
    assert (folder / "mtt_resolve" / "bridge_client.py").read_bytes() == source
    assert (folder / "MTT Suggest.py").is_file() and not (folder / "mtt_resolve" / "__init__.py").exists()
    assert not list(REPO.glob("plugin_bridge/*/*/bridge_client.py"))  # no copy kept by hand
