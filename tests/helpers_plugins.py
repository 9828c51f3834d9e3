"""Shared by the plugin tests: run a scenario in real headless Blender, and a recording mtt-bridge.

The recording bridge is a real executable standing in for `mtt-bridge` at the process edge: it
logs its arguments and standard input and prints a prepared document, so the add-on's own
behaviour is checked against known suggestions (the real daemon's depend on the model).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

SCENARIO = REPO / "tests" / "plugins" / "blender_scenario.py"
ADDON_ROOT = REPO / "plugin_bridge" / "blender"
BLENDER_TIMEOUT_S = 180


def require_bpy() -> None:
    if importlib.util.find_spec("bpy") is None:
        pytest.fail("the Blender tests need bpy 4.5 in the test environment: pip install 'bpy==4.5.*'")


def blender_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Blender's user folders inside tmp_path, so no test reads or writes the real user's."""
    env = dict(os.environ)
    for name in ("CONFIG", "SCRIPTS", "DATAFILES", "EXTENSIONS", "RESOURCES"):
        folder = tmp_path / "blender-user" / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[f"BLENDER_USER_{name}"] = str(folder)
    env.update(extra or {})
    return env


def built_addon(tmp_path: Path) -> Path:
    """The add-on as its build makes it (with its copy of plugin_bridge/bridge_client.py), unpacked:
    the folder Blender's scripts/addons would hold."""
    from plugin_bridge.blender import build

    with zipfile.ZipFile(build.build_zip(tmp_path / "dist")) as archive:
        archive.extractall(tmp_path / "addon")
    return tmp_path / "addon"


def run_blender(tmp_path: Path, spec: dict, env: dict[str, str] | None = None) -> dict:
    """Run one scenario of tests/plugins/blender_scenario.py in its own Blender process, with the
    built add-on."""
    require_bpy()
    spec = {"media_dir": str(tmp_path / "media"), "addon_root": str(built_addon(tmp_path)), **spec}
    spec_file, out_file = tmp_path / "spec.json", tmp_path / "out.json"
    spec_file.write_text(json.dumps(spec))
    out_file.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, str(SCENARIO), str(spec_file), str(out_file)],
                          env=env or blender_env(tmp_path), capture_output=True, text=True, timeout=BLENDER_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert out_file.exists(), f"no result; stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    result = json.loads(out_file.read_text())
    assert "crash" not in result, result.get("crash")
    return result


FAKE_BRIDGE = '''#!{python}
import json, os, sys
with open(os.environ["FAKE_BRIDGE_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "stdin": "" if sys.stdin.isatty() else sys.stdin.read()}}) + "\\n")
if "status" in sys.argv:
    print(json.dumps({{"running": True, "pid": 4242, "model": {{"name": "fake"}}}}))
elif os.environ.get("FAKE_BRIDGE_FAIL"):  # as mtt-bridge fails: the error document, a line on stderr, exit 3
    message = os.environ["FAKE_BRIDGE_FAIL"]
    print(json.dumps({{"error": {{"code": "NOT_RUNNING", "message": message, "line": None}}}}))
    sys.stderr.write("mtt-bridge: " + message + "\\n")
    sys.exit(3)
else:
    sys.stdout.write(open(os.environ["FAKE_BRIDGE_DOC"]).read())
'''


def fake_bridge(tmp_path: Path, document: dict | None, fail: str = "") -> tuple[Path, dict[str, str]]:
    """An executable `mtt-bridge` that records its calls; returns it and the environment to use it."""
    tool = tmp_path / "bin" / "mtt-bridge"
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_text(FAKE_BRIDGE.format(python=sys.executable))
    tool.chmod(0o755)
    doc_file = tmp_path / "fake-document.json"
    doc_file.write_text(json.dumps(document))
    env = {"MTT_BRIDGE": str(tool), "FAKE_BRIDGE_LOG": str(tmp_path / "bridge-calls.jsonl"),
           "FAKE_BRIDGE_DOC": str(doc_file)}
    if fail:
        env["FAKE_BRIDGE_FAIL"] = fail
    return tool, env


FAKE_MTTD = '''#!{python}
# `mttd suggest FILE --out DIR`: records the call and writes DIR/NAME.mtt.xml
import json, os, sys
with open(os.environ["FAKE_BRIDGE_LOG"], "a") as log:
    log.write(json.dumps({{"argv": ["mttd", *sys.argv[1:]], "stdin": ""}}) + "\\n")
out = sys.argv[sys.argv.index("--out") + 1]
stem = os.path.basename(sys.argv[2]).rsplit(".", 1)[0]
open(os.path.join(out, stem + ".mtt.xml"), "w").write("<xmeml version='4'/>")
'''


def fake_mttd(tmp_path: Path) -> Path:
    """An executable `mttd` beside the recording bridge that writes NAME.mtt.xml for `suggest --out`."""
    tool = tmp_path / "bin" / "mttd"
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_text(FAKE_MTTD.format(python=sys.executable))
    tool.chmod(0o755)
    return tool


def bridge_calls(tmp_path: Path) -> list[dict]:
    log = tmp_path / "bridge-calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
