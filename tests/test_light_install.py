"""The light default install: suggesting, drawing, reading and watching never import torch, and
what needs torch says in one line how to add it when it is missing (as in a default install).

torch is installed in the test environment, so "never imports" is checked on sys.modules after
the work, and "missing" is made by `sys.modules['torch'] = None`, which makes `import torch`
fail and importlib find no torch, as in a venv without it. The real default install (no torch
at all in the venv) is in test_installer_e2e.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "vlog.xml"
HIDE_TORCH = "import sys; sys.modules['torch'] = None\n"


def run_python(code: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(MTTD_HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], cwd=home, capture_output=True, text=True, timeout=timeout, env=env)


def test_suggest_viz_features_and_the_watcher_never_import_torch(tmp_path):
    watched = tmp_path / "watched"
    watched.mkdir()
    (watched / "cut.xml").write_bytes(EXAMPLE.read_bytes())
    code = f"""
import sys
from pathlib import Path
from daemon.cli import main
assert main(['suggest', '--no-daemon', {str(EXAMPLE)!r}]) == 0
assert main(['features', {str(EXAMPLE)!r}]) == 0
assert main(['viz', {str(EXAMPLE)!r}, '--out', {str(tmp_path / 'cut.png')!r}]) == 0
from daemon.engine import load_model
predictor, path = load_model('', fall_back=False, backend='auto')  # what the daemon does with the defaults
backend = predictor.backend
from daemon.watch.process import make_processor
result = make_processor(lambda: predictor)(Path({str(watched / 'cut.xml')!r}))
assert result.ok, result.error
print('BACKEND', backend)
print('TORCH', sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))
"""
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "BACKEND onnx-int8" in lines
    assert lines[-1] == "TORCH []"
    assert (watched / "cut.mtt.json").is_file() and (tmp_path / "cut.png").is_file()


def test_the_example_gets_readable_suggestions_without_torch(tmp_path):
    code = HIDE_TORCH + f"from daemon.cli import main; sys.exit(main(['suggest', '--no-daemon', {str(EXAMPLE)!r}]))\n"
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "sequence 'vlog 2024-05-26 FINAL': 115.9 s" in out
    # the slip planted in it (examples/make_example.py), the hole, and what comes next
    assert "scale 240.363 -> 133.535" in out and "V1 00:00:09:22-00:00:11:15  active 0 -> 1" in out
    assert "  next (1):" in out and "  fill (1):" in out


@pytest.mark.parametrize(("argv", "what"), [
    (["train", "--data", "d", "--out", "o"], "training"),
    (["export", "--format", "onnx"], "exporting"),
    (["eval", "--data", "d"], "mttd eval"),
    (["suggest", "--no-daemon", "--backend", "torch", str(EXAMPLE)], "the torch backend"),
])
def test_without_torch_what_needs_it_says_how_to_add_it_in_one_line(tmp_path, argv, what):
    code = HIDE_TORCH + f"from daemon.cli import main; sys.exit(main({argv!r}))\n"
    done = run_python(code, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{what} needs torch, which this install leaves out; add it with installer/install.sh --with-training, or " in lines[0]
    assert f"{sys.executable} -m pip install torch==2.13.0" in lines[0]
