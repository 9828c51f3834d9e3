"""The ONNX export of a tiny network: dynamic steps and cache, fp32 and int8 against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.inference import checkpoint
from model.inference.load import ModelLoadError
from model.inference.network import model_from_checkpoint
from model.inference.onnx_backend import OnnxPredictor, read_meta
from model.training.onnx_export import INPUTS, ExportStep, example_feeds
from tests.helpers_onnx import tiny_exports

FP32_ATOL = 1e-4  # float32 graph against eager torch, head logits of order 1-10
INT8_REL = 0.15  # int8 weights: largest error at most 15 % of the largest |logit|


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder, fp32, int8 = tiny_exports(tmp_path_factory)
    return checkpoint.load(folder / "tiny.safetensors"), fp32, int8


def _both(ckpt, path, steps: int, past: int):
    import onnxruntime as ort

    model, _ = model_from_checkpoint(ckpt)
    feeds = example_feeds(model, steps, past, seed=steps + past)
    with torch.inference_mode():
        ref = ExportStep(model)(*(torch.from_numpy(feeds[n]) for n in (*INPUTS, "pos", "past_k", "past_v")))
    got = ort.InferenceSession(str(path)).run(None, feeds)
    return [r.numpy() for r in ref], got


@pytest.mark.parametrize(("steps", "past"), [(9, 0), (70, 0), (1, 31), (20, 12)])
def test_fp32_graph_runs_at_any_length_and_cache_as_torch(exported, steps, past):
    ckpt, fp32, _ = exported
    ref, got = _both(ckpt, fp32.path, steps, past)
    assert got[0].shape == (1, steps, 20, ref[0].shape[-1])
    assert got[1].shape[3] == past + steps  # the cache grows by the new steps
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, atol=FP32_ATOL, rtol=0)


def test_int8_graph_is_smaller_and_close(exported):
    ckpt, fp32, int8 = exported
    ref, got = _both(ckpt, int8.path, 70, 0)
    err = np.abs(got[0] - ref[0]).max()
    assert 0 < err <= INT8_REL * np.abs(ref[0]).max()
    assert int8.path.stat().st_size < fp32.path.stat().st_size


def test_export_records_its_check_and_source(exported):
    ckpt, fp32, int8 = exported
    meta = read_meta(fp32.path)
    assert meta["source_sha256"] == ckpt.sha256 and meta["int8"] is False and read_meta(int8.path)["int8"] is True
    diff = meta["check"]["torch_difference"]
    assert diff["windows"] >= 1 and 0 <= diff["mean_abs"] <= diff["max_abs"] <= FP32_ATOL
    assert fp32.difference.max_abs == diff["max_abs"]


def test_a_corrupt_onnx_file_is_a_one_line_error(exported, tmp_path):
    _, fp32, _ = exported
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf graph" * 10)
    bad.with_name("bad.onnx.json").write_text(fp32.path.with_name("tiny.onnx.json").read_text())
    with pytest.raises(ModelLoadError) as err:
        OnnxPredictor(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    bad.with_name("bad.onnx.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        OnnxPredictor(bad)
