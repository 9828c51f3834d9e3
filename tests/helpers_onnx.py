"""A tiny checkpoint on disk and its ONNX exports, for the ONNX backend tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from model.inference import checkpoint
from model.inference.network import FORMAT, MultiTrackTransformer, NetConfig, Norm
from tests.helpers_ml import TINY

CONTEXT = 32  # short, so that a corpus timeline runs in several chunks through the cache


def tiny_checkpoint(folder: Path, seed: int = 0) -> Path:
    """tiny.safetensors + tiny.json: random weights larger than the init, so that differences show."""
    torch.manual_seed(seed)
    model = MultiTrackTransformer(NetConfig(**TINY, context=CONTEXT)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    norm = Norm(mean=[90.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0], std=[40.0, 0.5, 0.3, 6.0, 6.0, 6.0, 6.0],
                delta=[0.2, 0.001, 0.001, 17.0, 17.0, 17.0, 17.0], delta_log=True)
    meta = {"format": FORMAT, "config": dataclasses.asdict(model.cfg), "norm": dataclasses.asdict(norm),
            "step_seconds": "1/10", "version": "tiny-1", "event_prior_shift": 0.3}
    return checkpoint.save(folder / "tiny.safetensors", model, meta)


_EXPORTS: dict[int, tuple[Path, object, object]] = {}


def tiny_exports(tmp_path_factory) -> tuple[Path, object, object]:
    """(folder, fp32 ExportResult, int8 ExportResult) of the tiny checkpoint, exported once per session."""
    key = id(tmp_path_factory)
    if key not in _EXPORTS:
        from model.training.onnx_export import export

        folder = tmp_path_factory.mktemp("onnx-tiny")
        ckpt = checkpoint.load(tiny_checkpoint(folder))
        fp32 = export(ckpt, folder / "tiny.onnx", windows=2, window_steps=80)
        int8 = export(ckpt, folder / "tiny.int8.onnx", int8=True, windows=2, window_steps=80)
        _EXPORTS[key] = (folder, fp32, int8)
    return _EXPORTS[key]


def copy_model(src: Path, dst: Path, names=("tiny.safetensors", "tiny.json", "tiny.onnx", "tiny.onnx.json",
                                            "tiny.int8.onnx", "tiny.int8.onnx.json")) -> Path:
    """The tiny checkpoint and the named exports in a folder of the test's own; returns the weights."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        (dst / name).write_bytes((src / name).read_bytes())
    return dst / "tiny.safetensors"
