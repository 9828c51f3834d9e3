"""Whether torch is here, and the one line that says how to add it.

The default install suggests on ONNX Runtime and leaves torch out (a quarter of the size): torch
is the `train` extra, for `mttd train`, `mttd export`, `mttd eval` and `--backend torch`. Asking
for one of them without torch ends in `TorchMissing`, whose message names the installer option
and the pip command for the Python in use.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shlex
import sys

# PyPI's Linux wheels of torch are multi-GB CUDA builds; PyTorch's own index has the CPU ones.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


class TorchMissing(RuntimeError):
    """Something that needs torch was asked for in an install without it."""


def have_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def torch_pin() -> str:
    """`torch==V` as the installed mttd's `train` extra pins it; plain `torch` when unknown."""
    try:
        requires = importlib.metadata.requires("mttd") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    for req in requires:
        spec = req.partition(";")[0]  # `torch==V; extra == "train"`
        if re.fullmatch(r"torch\s*==\s*[\w.+]+", spec.strip()):
            return spec.replace(" ", "")
    return "torch"


def how_to_add_torch() -> str:
    pip = f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(torch_pin())}"
    if sys.platform.startswith("linux"):
        pip += f" --index-url {TORCH_CPU_INDEX}"
    return f"installer/install.sh --with-training, or {pip}"


def torch_missing(what: str) -> TorchMissing:
    return TorchMissing(f"{what} needs torch, which this install leaves out; add it with {how_to_add_torch()}")


def require_torch(what: str) -> None:
    """Raise TorchMissing (one line) unless torch can be imported."""
    if not have_torch():
        raise torch_missing(what)
