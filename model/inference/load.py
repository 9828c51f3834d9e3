"""The one way to load a predictor: the persistence baseline, a torch checkpoint or an ONNX export."""

from __future__ import annotations

from pathlib import Path

from model.inference.predictor import Predictor


def load_predictor(spec: str | None, backend: str = "torch", cache_dir: Path | None = None) -> Predictor:
    """`persistence` (the copy-previous-step baseline), else the network from `spec` (a
    .safetensors file or a run folder), else the bundled default model, on `backend` (torch,
    onnx, onnx-int8 or auto: see model.inference.onnx_backend). ValueError when it cannot be loaded."""
    if spec == "persistence":
        from model.inference.predictor import PersistencePredictor

        return PersistencePredictor()
    if backend != "torch":
        from model.inference.onnx_backend import load_predictor_with_backend, model_errors

        try:
            return load_predictor_with_backend(spec, backend, cache_dir=cache_dir)[0]
        except model_errors() as err:
            raise ValueError(str(err)) from None
    from model.inference.checkpoint import ModelLoadError
    from model.inference.network import load_predictor as load

    try:
        return load(spec)
    except ModelLoadError as err:
        raise ValueError(str(err)) from None
