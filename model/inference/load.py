"""The one way to load a predictor: the persistence baseline, a torch checkpoint or an ONNX export.

Backends: `torch` runs the checkpoint in torch; `onnx` and `onnx-int8` run its exported graph
(exported once into `cache_dir` when none exists: that needs torch); `auto` takes onnx-int8, else
onnx, whose stored check says its evaluation metrics stay within one point of torch fp32 on the
held-out set (`mttd export --metrics`), else torch. Every failure is one ModelLoadError.
Torch is imported only on the paths that need it, so an ONNX start never loads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from model.inference import onnx_backend
from model.inference.decoding import Decoder
from model.inference.model_files import BACKENDS, ModelLoadError, read_checkpoint_meta, sha256_file, weights_path
from model.inference.predictor import PersistencePredictor, Predictor
from model.inference.torch_extra import have_torch, torch_missing

log = logging.getLogger(__name__)

PERSISTENCE = "persistence"  # the copy-previous-step baseline, usable as a model name

__all__ = ["BACKENDS", "PERSISTENCE", "ModelIdentity", "ModelLoadError", "load_predictor", "model_identity", "weights_path"]


@dataclass(frozen=True)
class ModelIdentity:
    """Who a loaded predictor would be (name, version, sha256), known without loading it."""

    name: str
    version: str
    sha256: str


def load_predictor(spec: str | Path | None = None, backend: str = "torch", cache_dir: Path | None = None,
                   threads: int | None = None) -> Predictor:
    """`persistence`, else the network from `spec` (a .safetensors file or a run folder; None or ""
    for the bundled default model) on `backend`. Its `backend` attribute says what runs it.
    ModelLoadError (one line naming the file and the reason) when it cannot be loaded."""
    if spec == PERSISTENCE:
        return PersistencePredictor()
    if backend not in BACKENDS:
        raise ModelLoadError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    weights = weights_path(spec)
    try:
        sha = sha256_file(weights) if weights.is_file() else None
    except OSError as err:
        raise ModelLoadError(f"{weights}: {err.strerror or err}") from None
    if backend == "auto":
        checked = _checked_export(weights, cache_dir, sha, threads)
        if checked is not None:
            return checked
        if not have_torch():
            raise ModelLoadError(str(torch_missing(f"{weights} has no ONNX export that passed its check, and running it in torch")))
        backend = "torch"
    if backend == "torch":
        if not have_torch():
            raise ModelLoadError(str(torch_missing("the torch backend")))
        return _torch_predictor(weights)
    if not onnx_backend.have_onnxruntime():
        raise ModelLoadError(f"the {backend} backend needs onnxruntime, which is not installed (pip install onnxruntime)")
    int8 = backend == "onnx-int8"
    found = onnx_backend.find_export(weights, int8, cache_dir, sha)
    if found is None:
        if cache_dir is None:
            command = f"mttd export --format onnx{' --int8' if int8 else ''} --model {weights}"
            raise ModelLoadError(f"{weights}: no {backend} export beside it (run `{command}`)")
        if not have_torch():
            raise ModelLoadError(str(torch_missing(f"{weights} has no {backend} export yet, and making one")))
        found = _export_to_cache(weights, int8, cache_dir)
    return onnx_backend.OnnxPredictor(found, threads)


def model_identity(spec: str | Path | None = None) -> ModelIdentity:
    """The name, version and sha256 `load_predictor(spec)` would report on any backend, from the
    checkpoint's JSON and hash alone (milliseconds, no torch): what an error document names when
    the timeline cannot be read, so a broken file never waits for the model. ModelLoadError as there."""
    if spec == PERSISTENCE:
        p = PersistencePredictor()
        return ModelIdentity(p.name, p.version, p.sha256)
    weights = weights_path(spec)
    if not weights.is_file():
        raise ModelLoadError(f"{weights}: no such model file")
    try:
        sha = sha256_file(weights)
    except OSError as err:
        raise ModelLoadError(f"{weights}: {err.strerror or err}") from None
    meta = read_checkpoint_meta(weights)
    return ModelIdentity(Decoder.name, str(meta.get("version", "unversioned")), sha)


def _checked_export(weights: Path, cache_dir: Path | None, sha: str | None, threads: int | None) -> Predictor | None:
    """The fastest export of these weights whose stored check passes; None when there is none."""
    for int8 in (True, False) if onnx_backend.have_onnxruntime() else ():
        found = onnx_backend.find_export(weights, int8, cache_dir, sha)
        if found is None or not onnx_backend.passes_check(found):
            continue
        try:
            return onnx_backend.OnnxPredictor(found, threads)
        except ModelLoadError as err:  # a damaged export must not cost the user their suggestions
            log.warning("%s; trying the next backend", err)
    return None


def _torch_predictor(weights: Path) -> Predictor:
    # Imported here: torch loads only when the torch backend runs.
    from model.inference.checkpoint import load
    from model.inference.network import predictor_from_checkpoint

    return predictor_from_checkpoint(load(weights))


def _export_to_cache(weights: Path, int8: bool, cache_dir: Path) -> Path:
    # Imported here: exporting needs torch and the exporter, which the ONNX path otherwise never loads.
    from model.inference.checkpoint import load
    from model.training.onnx_export import export

    ckpt = load(weights)
    out = onnx_backend.cached_name(cache_dir, ckpt.sha256, int8)
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to %s (once)", weights, out)
    export(ckpt, out, int8=int8, windows=2, window_steps=64)
    return out
