"""The ONNX predictor against the torch predictor on a real timeline, without torch, and the backend choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.features.grid import featurize_timeline
from model.inference import checkpoint
from model.inference.load import ModelLoadError, load_predictor
from model.inference.network import predictor_from_checkpoint
from model.inference.onnx_backend import OnnxPredictor, meta_path
from model.timeline.formats import read_timeline
from tests.helpers_onnx import CONTEXT, copy_model, tiny_checkpoint, tiny_exports

REPO = Path(__file__).resolve().parents[1]
CORPUS_FILE = "OpenTimelineIO__otio-fcp-adapter/premiere_example.xml"  # 416 steps on 4 tracks


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_exports(tmp_path_factory)[0]


@pytest.fixture(scope="module")
def feats(corpus_dir):
    """A real Premiere timeline, several chunks of the tiny model's context long."""
    seq = featurize_timeline(read_timeline(corpus_dir / CORPUS_FILE))[0]
    assert seq.steps > 3 * CONTEXT
    return seq


def test_predict_agrees_with_torch_on_a_corpus_timeline(model_dir, feats):
    torch_pred = predictor_from_checkpoint(checkpoint.load(model_dir / "tiny.safetensors"))
    onnx_pred = OnnxPredictor(model_dir / "tiny.onnx")
    a, b = torch_pred.predict(feats), onnx_pred.predict(feats)
    for field in ("p_active", "asset_probs", "p_change"):
        np.testing.assert_allclose(getattr(b, field), getattr(a, field), atol=1e-4)
    np.testing.assert_allclose(b.values, a.values, atol=1e-3, rtol=1e-4)  # physical units, scale in %
    fa, fb = torch_pred.forecast(feats), onnx_pred.forecast(feats)
    np.testing.assert_allclose(fb.values_change, fa.values_change, atol=1e-3, rtol=1e-4)
    assert onnx_pred.sha256 == torch_pred.sha256 and onnx_pred.version == torch_pred.version


@pytest.mark.parametrize("sample", [True, False])
def test_rollout_agrees_with_torch(model_dir, feats, sample):
    torch_pred = predictor_from_checkpoint(checkpoint.load(model_dir / "tiny.safetensors"))
    onnx_pred = OnnxPredictor(model_dir / "tiny.onnx")
    start = feats.steps // 2
    a = torch_pred.rollout(feats, start, 60, seed=4, sample=sample)
    b = onnx_pred.rollout(feats, start, 60, seed=4, sample=sample)
    np.testing.assert_array_equal(b.source_index, a.source_index)
    np.testing.assert_allclose(b.grid, a.grid, atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-4)


def test_primed_rollouts_agree_with_torch(model_dir, feats):
    """The review's pass primes the rollouts the same way on both backends (chunk boundaries
    included), and the ONNX cache cut back only every few steps changes nothing."""
    torch_pred = predictor_from_checkpoint(checkpoint.load(model_dir / "tiny.safetensors"))
    onnx_pred = OnnxPredictor(model_dir / "tiny.onnx")
    starts = (CONTEXT, feats.steps // 2, feats.steps)
    pa, primed_a = torch_pred.predict_primed(feats, starts)
    pb, primed_b = onnx_pred.predict_primed(feats, starts)
    np.testing.assert_allclose(pb.p_active, pa.p_active, atol=1e-4)
    for s in starts:
        a = torch_pred.rollout(feats, s, 50, seed=2, primed=primed_a[s])
        b = onnx_pred.rollout(feats, s, 50, seed=2, primed=primed_b[s])
        np.testing.assert_array_equal(b.source_index, a.source_index, err_msg=f"start {s}")
        np.testing.assert_allclose(b.grid, a.grid, atol=1e-3, rtol=1e-4)


def test_onnx_predictor_never_imports_torch(model_dir, corpus_dir):
    code = f"""
import sys
from model.timeline.formats import read_timeline
from model.features.grid import featurize_timeline
from model.inference.load import load_predictor
pred = load_predictor({str(model_dir / 'tiny.safetensors')!r}, 'onnx-int8')
backend = pred.backend
feats = featurize_timeline(read_timeline({str(corpus_dir / CORPUS_FILE)!r}))[0]
p = pred.predict(feats)
r = pred.rollout(feats, feats.steps, 5)
assert backend == 'onnx-int8' and p.p_active.shape == (feats.steps, 20) and r.grid.shape == (5, 20, 9)
print('torch' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_auto_takes_int8_only_when_its_check_passed(model_dir, tmp_path):
    weights = copy_model(model_dir, tmp_path)
    model_dir = tmp_path
    assert load_predictor(weights, "auto").backend == "torch"  # exports without a metrics check are not trusted by auto
    for name, ok in (("tiny.int8.onnx", True), ("tiny.onnx", True)):
        meta = json.loads(meta_path(model_dir / name).read_text())
        meta["check"]["metrics"] = {"within_1_point": ok}
        meta_path(model_dir / name).write_text(json.dumps(meta))
    pred = load_predictor(weights, "auto")
    assert pred.backend == "onnx-int8" and isinstance(pred, OnnxPredictor)
    meta = json.loads(meta_path(model_dir / "tiny.int8.onnx").read_text())
    meta["check"]["metrics"]["within_1_point"] = False
    meta_path(model_dir / "tiny.int8.onnx").write_text(json.dumps(meta))
    assert load_predictor(weights, "auto").backend == "onnx"
    (model_dir / "tiny.onnx").write_bytes(b"damaged")
    assert load_predictor(weights, "auto").backend == "torch"  # a damaged export falls back, with a warning


def test_an_export_of_other_weights_is_ignored_and_missing_ones_are_named(model_dir, tmp_path):
    other = tiny_checkpoint(tmp_path, seed=1)
    for name in ("tiny.onnx", "tiny.onnx.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    with pytest.raises(ModelLoadError, match="no onnx export beside it"):
        load_predictor(other, "onnx")
    with pytest.raises(ModelLoadError, match="unknown backend"):
        load_predictor(other, "tensorrt")


def test_the_onnx_backend_leaves_nothing_in_the_users_home(tmp_path):
    """ONNX Runtime writes a telemetry device id into ~/.cache/Microsoft unless told not to."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / ".cache"))
    code = "from model.inference.load import load_predictor as l; print(l(None, 'onnx-int8').backend)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "onnx-int8"
    assert list(tmp_path.rglob("*")) == []
