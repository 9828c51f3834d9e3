"""What a model file and the JSON beside it share, torch-free: where the bundled model is, the
file's hash, reading the JSON with one-line errors, and the one error a model load raises. The
torch checkpoint and the ONNX export each bring their own schema; the daemon's ONNX path must not
import torch to read them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

SCHEMA = "mtt.checkpoint/1"  # of the JSON beside a checkpoint's .safetensors
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "default.safetensors"
BACKENDS = ("torch", "onnx", "onnx-int8", "auto")  # what runs a model: see model.inference.load


class ModelLoadError(Exception):
    """A model (checkpoint or ONNX export) that cannot be used; the message is one line naming the
    file and the reason."""


def weights_path(spec: str | Path | None) -> Path:
    """The .safetensors file of a model spec: None or "" the bundled default, a run folder its best."""
    if not spec:
        return DEFAULT_WEIGHTS
    path = Path(spec)
    if path.is_dir():
        best = path / "best.safetensors"
        if not best.is_file():
            raise ModelLoadError(f"{path}: a run folder without best.safetensors")
        return best
    return path


def meta_path(weights: Path) -> Path:
    """The JSON beside a checkpoint: NAME.safetensors -> NAME.json."""
    return weights.with_suffix(".json")


def read_checkpoint_meta(weights: Path) -> dict:
    return read_meta_json(weights, meta_path(weights), SCHEMA)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_meta_json(model: Path, meta: Path, schema: str, missing_hint: str = "") -> dict:
    """The JSON `meta` beside `model`, of the given schema; ModelLoadError naming the file and the
    reason when it is missing, unreadable or not ours."""
    try:
        doc = json.loads(meta.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"{model}: its metadata {meta.name} is missing{missing_hint}") from None
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{meta}: not valid JSON ({first_line(err)})") from None
    found = doc.get("schema") if isinstance(doc, dict) else None
    if found != schema:
        raise ModelLoadError(f"{meta}: schema {found!r}, expected {schema!r}")
    return doc
