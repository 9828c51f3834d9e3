"""The Blender add-on in real headless Blender (bpy 4.5), each scenario in its own process.

A recording `mtt-bridge` (tests/helpers_plugins.py) gives known suggestions, so markers, the
stored JSON and the added strips' transform and crop are checked exactly; the real daemon is
exercised in test_plugin_blender_daemon.py.
"""

from __future__ import annotations

import json
import zipfile

import pytest

from plugin_bridge.blender import build
from tests.helpers_plugins import ADDON_ROOT, blender_env, bridge_calls, fake_bridge, run_blender

pytestmark = pytest.mark.slow


def _document(media_dir: str, shift: float = 0.0) -> dict:
    def clip(track, start, end, name, path, **values):
        base = {"scale": 100.0, "pos_x": 0.0, "pos_y": 0.0, "crop_l": 0.0, "crop_r": 0.0, "crop_t": 0.0, "crop_b": 0.0}
        return {"track": track, "start_s": start, "end_s": end, "start_tc": "", "end_tc": "", "confidence": 0.8,
                "source": {"slot": 0, "name": name, "path": path}, **base, **values}

    review = [
        {"track": 1, "start_s": 2.0 + shift, "end_s": 4.0, "start_tc": "00:00:02:00", "end_tc": "00:00:04:00",
         "field": "scale", "current": 100.0, "suggested": 150.0, "confidence": 0.9, "reason": "scaled unlike its siblings"},
        {"track": 2, "start_s": 0.0, "end_s": 8.0, "start_tc": "00:00:00:00", "end_tc": "00:00:08:00",
         "field": "pos_x", "current": 0.25, "suggested": 0.0, "confidence": 0.6, "reason": "off its usual place"},
    ]
    return {"schema": "mtt.suggestions/1", "sequences": [{
        "name": "Scene", "step_seconds": 0.1, "steps": 80, "review": review,
        "next": [clip(1, 8.0, 10.0, "a.png", f"{media_dir}/a.png", scale=150.0, pos_x=0.25, pos_y=-0.25,
                      crop_l=10.0, crop_t=5.0),
                 clip(2, 8.0, 9.0, "gone.mov", "/nonexistent/gone.mov", scale=50.0, pos_x=0.1)],
        "fill": [clip(1, 10.0, 11.0, "b.png", f"{media_dir}/b.png"), clip(2, 10.0, 11.0, "Color", None, scale=25.0)],
    }]}


def test_strips_read_into_the_bridge_timeline(tmp_path):
    timeline = run_blender(tmp_path, {"scenario": "read"})["timeline"]
    assert timeline["fps"] == [25, 1] and (timeline["width"], timeline["height"]) == (1920, 1080)
    assert [t["enabled"] for t in timeline["tracks"]] == [True, True, True, False]
    v1, v2, v3, v4 = (t["items"] for t in timeline["tracks"])
    assert [(i["start"], i["end"], i["source"]["name"]) for i in v1] == [
        (25 * i, 25 * i + 25, "a.png" if i % 2 == 0 else "b.png") for i in range(8)]
    first = v1[4]
    assert first["source"] == {"key": str(tmp_path / "media" / "a.png"), "name": "a.png", "kind": "still",
                               "path": str(tmp_path / "media" / "a.png"), "width": 640, "height": 360}
    # Known strip: scale 1.5, offset (160, -90) px, crop l/r/b/t = 64/32/36/18 px of a 640x360 image.
    assert first["scale"] == pytest.approx(150.0)
    assert (first["pos_x"], first["pos_y"]) == pytest.approx((0.25, 0.25))
    assert (first["crop_l"], first["crop_r"], first["crop_t"], first["crop_b"]) == pytest.approx((10.0, 5.0, 5.0, 10.0))
    assert v1[1]["source"]["width"] == 320  # b.png's own size
    assert [i["enabled"] for i in v1] == [True] * 5 + [False] + [True] * 2
    pip = v2[0]
    assert pip["source"]["key"] == "generator:color" and pip["scale"] == pytest.approx(25.0)
    assert (pip["pos_x"], pip["pos_y"]) == pytest.approx((0.25, -0.25))  # scene size for generated strips
    assert v3[0]["enabled"] is False and v3[0]["source"]["key"] == "generator:text"
    assert (v3[0]["start"], v3[0]["end"]) == (25, 75)
    assert v4[0]["enabled"] is True  # the channel is muted, not the strip


def test_suggest_marks_stores_and_apply_adds_strips(tmp_path):
    media = str(tmp_path / "media")
    _, env = fake_bridge(tmp_path, _document(media))
    result = run_blender(tmp_path, {"scenario": "operators", "actions": ["suggest", "apply_next"]},
                         env=blender_env(tmp_path, env))
    suggest, apply = result["steps"]
    assert suggest["result"] == ["FINISHED"] and "2 to review" in suggest["message"]
    assert result["document"] == _document(media)
    assert result["markers"] == [["cut here", 10], ["mtt: pos_x V2", 1], ["mtt: scale V1", 51]]
    sent = json.loads(bridge_calls(tmp_path)[0]["stdin"])
    assert bridge_calls(tmp_path)[0]["argv"] == ["suggest", "-", "--json", "--name", "Scene"] and len(sent["tracks"]) == 4
    # Apply: tracks 1 and 2 go to the first free channels above channel 4, in track order.
    added = {s["name"]: s for s in result["added"]}
    assert set(added) == {"mtt a.png", "mtt gone.mov", "mtt b.png", "mtt Color"}
    real = added["mtt a.png"]
    assert (real["type"], real["kind"], real["channel"], real["start"], real["end"]) == ("IMAGE", "next", 5, 201, 251)
    assert real["path"] == f"{media}/a.png"
    assert real["scale"] == pytest.approx([1.5, 1.5])
    assert real["offset"] == pytest.approx([160.0, 90.0])  # 0.25 x 640 right, 0.25 x 360 up
    assert real["crop"] == [64, 0, 0, 18]  # left 10 % of 640, top 5 % of 360
    stand_in = added["mtt gone.mov"]
    assert (stand_in["type"], stand_in["channel"], stand_in["start"], stand_in["end"]) == ("COLOR", 6, 201, 226)
    assert stand_in["offset"] == pytest.approx([192.0, 0.0])  # scene width for a stand-in
    assert (added["mtt b.png"]["channel"], added["mtt b.png"]["kind"]) == (5, "fill")
    generated = added["mtt Color"]  # a generator is recreated by its type, not stood in for
    assert (generated["type"], generated["kind"], generated["channel"], generated["scale"]) == ("COLOR", "fill", 6, [0.25, 0.25])
    assert generated["color"] == pytest.approx([0.2, 0.75, 0.3])  # V2's own colour strip's colour
    assert apply["result"] == ["FINISHED"]
    assert apply["message"].endswith("; colour stand-ins where the source file is missing: gone.mov")
    assert result["daemon_state"].startswith("running, pid 4242")
    assert result["handlers"] == ["suggest_after_save"]  # registered while the add-on is on


def test_apply_starts_a_movie_at_the_suggested_in_point_and_stops_at_its_out_point(tmp_path):
    """A real 60-frame movie: the next segment shows source frames 20-31 (its out-point ends it
    before the segment's 2 s), a fill from frame 50 runs into the media's end after 10 frames, and
    an in-point past the media (a document that thought the file longer) shows its last frame."""
    media = str(tmp_path / "media")
    movie = f"{media}/clip.mp4"

    def segment(track, start, end, source_in, source_out):
        return {"track": track, "start_s": start, "end_s": end, "start_tc": "", "end_tc": "", "confidence": 0.7,
                "source": {"slot": 3, "name": "clip.mp4", "path": movie}, "source_in": source_in,
                "source_out": source_out, "scale": 100.0, "pos_x": 0.0, "pos_y": 0.0,
                "crop_l": 0.0, "crop_r": 0.0, "crop_t": 0.0, "crop_b": 0.0}

    document = {"schema": "mtt.suggestions/1", "sequences": [{
        "name": "Scene", "step_seconds": 0.1, "steps": 80, "review": [],
        "next": [segment(1, 8.0, 10.0, 20, 32)],
        "fill": [segment(2, 2.0, 3.0, 50, 75), segment(2, 4.0, 4.4, 70, 80)],
    }]}
    _, env = fake_bridge(tmp_path, document)
    result = run_blender(tmp_path, {"scenario": "operators", "actions": ["suggest", "apply_next"], "movie_frames": 60},
                         env=blender_env(tmp_path, env))
    assert [s.get("result") for s in result["steps"]] == [["FINISHED"], ["FINISHED"]], result["steps"]
    added = sorted(result["added"], key=lambda s: s["start"])
    assert [s["type"] for s in added] == ["MOVIE"] * 3 and all(s["path"] == movie for s in added)
    fill, past, nxt = added
    # scene frames start at 1: 8.0 s = frame 201; the out-point 32 ends it 12 frames later, not at 10 s
    assert (nxt["kind"], nxt["start"], nxt["end"], nxt["source_frame"]) == ("next", 201, 213, 20)
    assert (nxt["marked_in"], nxt["marked_out"]) == (20, 32)
    assert (fill["kind"], fill["start"], fill["end"], fill["source_frame"]) == ("fill", 51, 61, 50)  # media ends at 60
    assert (past["start"], past["end"], past["source_frame"]) == (101, 102, 59)  # its last frame, not frame 0
    assert "source in 20, out 32" in "\n".join(result["lines"])


def test_a_second_suggest_replaces_only_its_own_markers(tmp_path):
    media = str(tmp_path / "media")
    _, env = fake_bridge(tmp_path, _document(media, shift=1.0))
    result = run_blender(tmp_path, {"scenario": "operators", "actions": ["suggest", "suggest"]},
                         env=blender_env(tmp_path, env))
    assert [s["result"] for s in result["steps"]] == [["FINISHED"], ["FINISHED"]]
    assert result["markers"] == [["cut here", 10], ["mtt: pos_x V2", 1], ["mtt: scale V1", 76]]


def test_suggest_on_save_asks_a_running_daemon_only(tmp_path):
    _, env = fake_bridge(tmp_path, _document(str(tmp_path / "media")))
    result = run_blender(tmp_path, {"scenario": "operators", "actions": ["save"]}, env=blender_env(tmp_path, env))
    assert "(after save)" in result["steps"][0]["message"]
    assert ["mtt: scale V1", 51] in result["markers"]
    assert bridge_calls(tmp_path)[0]["argv"] == ["--no-start", "suggest", "-", "--json", "--name", "Scene"]


def test_clear_errors_without_a_bridge_without_strips_and_before_suggest(tmp_path):
    env = blender_env(tmp_path, {"MTT_BRIDGE": str(tmp_path / "nothing-here")})
    result = run_blender(tmp_path, {"scenario": "operators", "actions": ["apply_next", "suggest"]}, env=env)
    apply, suggest = result["steps"]
    assert "click Suggest first" in apply["error"]
    assert "mttd could not answer: mtt-bridge not found" in suggest["error"]
    assert result["markers"] == [["cut here", 10]] and result["document"] is None
    assert result["daemon_state"].startswith("unavailable")
    empty = run_blender(tmp_path, {"scenario": "operators", "strips": False, "actions": ["suggest"]}, env=env)
    assert "no video strips" in empty["steps"][0]["error"]


def test_a_daemon_that_cannot_start_is_reported(tmp_path):
    _, env = fake_bridge(tmp_path, None, fail="the daemon did not become ready within 30 s; see mttd logs")
    result = run_blender(tmp_path, {"scenario": "operators", "actions": ["suggest"]}, env=blender_env(tmp_path, env))
    assert "did not become ready within 30 s" in result["steps"][0]["error"]


def test_the_built_zip_installs_and_enables(tmp_path):
    archive = build.build_zip(tmp_path / "dist")
    names = zipfile.ZipFile(archive).namelist()
    assert "mtt_blender/__init__.py" in names and "mtt_blender/bridge_client.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    env = blender_env(tmp_path)
    result = run_blender(tmp_path, {"scenario": "install", "zip": str(archive)}, env=env)
    assert result["installed"] and result["enabled"] and result["operators"] == [True, True, True]
    assert result["panel_registered"]
    assert result["module_file"].startswith(env["BLENDER_USER_SCRIPTS"])  # loaded from the installed copy
    assert result["after_disable"] == {"panel_registered": False, "handlers": 0}


def test_the_zip_is_reproducible(tmp_path):
    first = build.build_zip(tmp_path / "one").read_bytes()
    assert build.build_zip(tmp_path / "two").read_bytes() == first
    assert ADDON_ROOT.joinpath("mtt_blender", "__init__.py").read_text().count("bl_info") >= 1
