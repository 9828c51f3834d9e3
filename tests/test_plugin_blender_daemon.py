"""The Blender add-on against the real bridge and a real daemon in a temporary MTTD_HOME.

The add-on's Suggest starts the daemon through `mtt-bridge` (nothing runs before it); the
daemon uses the copy-previous-step baseline (`MTTD_MODEL=persistence`), whose continuation of
the scene is known: every track active at the end goes on with its source and values.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_plugins import blender_env, run_blender

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture()
def daemon_env(tmp_path):
    home = tmp_path / "mttd-home"
    home.mkdir(mode=0o700)
    env = blender_env(tmp_path, {"MTTD_HOME": str(home), "MTTD_MODEL": "persistence",
                                 "MTT_BRIDGE": str(BIN / "mtt-bridge"), "MTTD_BIN": str(BIN / "mttd")})
    yield env
    subprocess.run([str(BIN / "mttd"), "stop"], env=env, capture_output=True, timeout=60)
    after = subprocess.run([str(BIN / "mttd"), "status"], env=env, capture_output=True, timeout=30)
    assert after.returncode == 3, "the daemon is still running after `mttd stop`"


def mttd_status(env: dict[str, str]) -> int:
    return subprocess.run([str(BIN / "mttd"), "status"], env=env, capture_output=True, timeout=30).returncode


def test_suggest_and_apply_with_the_real_daemon(tmp_path, daemon_env):
    assert mttd_status(daemon_env) == 3  # not running: the add-on's Suggest starts it
    result = run_blender(tmp_path, {"scenario": "operators", "actions": ["suggest", "apply_next"]}, env=daemon_env)
    suggest, apply = result["steps"]
    assert suggest["result"] == ["FINISHED"], suggest
    assert mttd_status(daemon_env) == 0
    document = result["document"]
    assert document["schema"] == "mtt.suggestions/1" and document["model"]["name"] == "persistence"
    (sequence,) = document["sequences"]
    assert sequence["name"] == "Scene"
    # One marker per review item at its start frame (25 fps, scene starts at frame 1), next to the editor's own.
    expected = sorted([f"mtt: {r['field']} V{r['track']}", 1 + round(r["start_s"] * 25)] for r in sequence["review"])
    assert sorted(m for m in result["markers"] if m[0].startswith("mtt: ")) == expected
    assert ["mtt: active V1", 126] in expected  # the muted b.png among enabled clips, at 5 s
    assert ["cut here", 10] in result["markers"]
    # The baseline continues the tracks active at the end (frame 200): V1 shows b.png; V2's plain colour
    # matte is never suggested (a matte is no material to continue with).
    next_items = {item["track"]: item for item in sequence["next"]}
    assert set(next_items) == {1}, sequence["next"]
    assert next_items[1]["source"]["name"] == "b.png"
    assert apply["result"] == ["FINISHED"], apply
    added = result["added"]
    assert len(added) == len(sequence["next"]) + len(sequence["fill"])
    assert min(s["channel"] for s in added) == 5  # above the scene's channels 1-4
    b_strip = next(s for s in added if s["name"] == "mtt b.png")
    assert b_strip["type"] == "IMAGE" and b_strip["path"] == str(tmp_path / "media" / "b.png")
    assert b_strip["start"] == 1 + round(next_items[1]["start_s"] * 25)
    # No colour matte comes back as material (the picture-in-picture's pixel placement is converted in
    # test_plugin_blender.py from a given document).
    assert all(s["type"] != "COLOR" for s in added), added
    assert result["daemon_state"].startswith("running, pid")
    json.dumps(result)  # the stored document round-trips as JSON text
