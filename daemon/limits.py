"""Bounds on what one call may ask for, checked at the boundary before any work is done.

A 44-byte request can name a two-hour sequence, a one-hour horizon or a 1e-9 s step; the
work (and memory) of a call grows with the steps it covers, so every size-like option is
bounded here and a call past a bound gets INVALID_ARGUMENT naming the limit (and the setting
that raises it, where there is one).
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Any

from daemon.errors import DaemonError

MAX_BATCH_FILES = 100_000  # files one SuggestBatch call may list from its folders
MAX_HORIZON_S = 300.0  # `next` rolls the edit forward step by step: 5 minutes is ~3,000 steps
MIN_STEP_S = Fraction(1, 1000)  # the features grid: finer than a frame at 1000 fps is meaningless
MAX_STEP_S = Fraction(60)


def horizon(value: float) -> float:
    """The `next` horizon in seconds: finite, positive and at most MAX_HORIZON_S."""
    if not math.isfinite(value) or value <= 0:
        raise DaemonError("INVALID_ARGUMENT", f"horizon_s {value!r}: must be a positive number of seconds")
    if value > MAX_HORIZON_S:
        raise DaemonError("INVALID_ARGUMENT", f"horizon_s {value:g}: more than the limit of {MAX_HORIZON_S:g} s")
    return value


def features_step(text: str) -> Fraction:
    """A features step given as seconds ("0.1" or "1/10"), between MIN_STEP_S and MAX_STEP_S."""
    try:
        step = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise DaemonError("INVALID_ARGUMENT", f"step {text!r}: give seconds as 0.1 or 1/10") from None
    if not MIN_STEP_S <= step <= MAX_STEP_S:
        raise DaemonError("INVALID_ARGUMENT", f"step {text!r}: must be between {float(MIN_STEP_S):g} and {float(MAX_STEP_S):g} s")
    return step


def path_text(text: str, what: str = "path") -> str:
    """A path from a call: no NUL (the OS would refuse it deep inside, as an internal error)."""
    if "\0" in text:
        raise DaemonError("INVALID_ARGUMENT", f"the {what} contains a NUL character")
    return text


def check_steps(timeline: Any, step: Fraction, sequence: str | None, max_steps: int) -> None:
    """Refuse a sequence longer than `max_steps` steps of `step` seconds, before featurizing it."""
    # numpy loads only when a call is checked, in the serve process
    from model.features.grid import step_count

    try:
        sequences = [timeline.sequence(sequence)] if sequence else list(timeline.sequences)
    except KeyError:
        return  # the call's own check names the unknown sequence
    for seq in sequences:
        steps = step_count(seq.duration, step * seq.rate.fps)
        if steps > max_steps:
            raise DaemonError(
                "INVALID_ARGUMENT",
                f"sequence {seq.name!r} is {steps} steps of {float(step):g} s, more than the limit of "
                f"max_steps = {max_steps} (a setting in config.toml)",
            )


def model_spec(spec: str) -> str:
    """A model a call names: "", "persistence", an existing .safetensors file or a run folder.
    Checked before the engine tries it: a bad name must not import torch (+170 MB kept)."""
    if spec in ("", "persistence"):
        return spec
    path_text(spec, "model path")
    path = os.path.normpath(spec)
    if not os.path.isabs(path):
        raise DaemonError("INVALID_ARGUMENT", f"model {spec}: give an absolute path (the daemon has no working directory of yours)")
    if os.path.isdir(path):
        return spec
    if not os.path.isfile(path):
        raise DaemonError("FAILED_PRECONDITION", f"cannot load model {spec}: no such file or folder")
    if not path.endswith(".safetensors"):
        raise DaemonError("FAILED_PRECONDITION", f"cannot load model {spec}: not a .safetensors file or a run folder")
    return spec
