"""Checkpoints: weights in safetensors, everything else in a JSON file beside them. Never pickle.

`NAME.safetensors` holds the weights, `NAME.json` the model config, normalisation statistics, step
size, training history and the corpus manifest hash, and (for resuming) `NAME.optim.safetensors`
holds the optimizer state flattened into tensors, with its scalar settings in the JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.atomic import write_atomic
from model.inference.model_files import SCHEMA, ModelLoadError, first_line, meta_path, read_checkpoint_meta, sha256_file, weights_path


@dataclass
class Checkpoint:
    weights: dict[str, torch.Tensor]
    meta: dict
    path: Path  # the .safetensors file
    sha256: str


def optim_path(weights: Path) -> Path:
    return weights.with_suffix(".optim.safetensors")


def save(path: Path, model: torch.nn.Module, meta: dict, optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write NAME.safetensors (+ NAME.optim.safetensors) and NAME.json, each atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp)))
    meta = {**meta, "schema": SCHEMA, "weights_sha256": sha256_file(path)}
    if optimizer is not None:
        tensors, settings = flatten_optimizer(optimizer)
        write_atomic(optim_path(path), lambda tmp: save_file(tensors, str(tmp)))
        meta["optimizer"] = settings
    write_atomic(meta_path(path), json.dumps(meta, indent=1))
    return path


def load(path: str | Path) -> Checkpoint:
    """A .safetensors file, or a run folder's best checkpoint."""
    path = weights_path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file")
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelLoadError(f"{path}: not a readable safetensors file ({first_line(err)})") from None
    meta = read_checkpoint_meta(path)
    return Checkpoint(weights=weights, meta=meta, path=path, sha256=sha256_file(path))


def flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors as `state.<param>.<name>`; scalar state and param groups go to the JSON."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"state.{pid}.{name}"] = value.detach().contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(opt: torch.optim.Optimizer, ckpt: Checkpoint) -> None:
    path = optim_path(ckpt.path)
    if not path.is_file() or "optimizer" not in ckpt.meta:
        raise ModelLoadError(f"{ckpt.path}: no optimizer state beside it ({path.name}); cannot resume")
    tensors = load_file(str(path))
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    for key, value in ckpt.meta["optimizer"]["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": ckpt.meta["optimizer"]["param_groups"]})
