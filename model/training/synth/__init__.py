"""Synthetic edits: seven editing styles, each a real pattern with parameters drawn per timeline,
and opt-in styles that only a named choice (`mttd synth --styles broadcast`) writes.

Every timeline has its own generator, `PCG64(SeedSequence([seed, index, style number]))`, so the same seed gives
the same timelines whatever the order or the number of worker processes. The style of timeline
`index` is `styles[index % len(styles)]`; each style module documents its drawn ranges.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from model.timeline.types import Timeline
from model.training.synth.common import draw_canvas

# The default set: documented `mttd synth` commands reproduce their corpora with it, so it never changes.
STYLES = ("podcast", "tutorial", "vlog", "documentary", "splitscreen", "slideshow", "stream")
# Written only when named; appended so that every style keeps its number (and its timelines).
OPT_IN_STYLES = ("broadcast",)
ALL_STYLES = STYLES + OPT_IN_STYLES
DEFAULT_MINUTES = (2.0, 6.0)


def style_module(style: str) -> ModuleType:
    if style not in ALL_STYLES:
        raise ValueError(f"unknown style {style!r} (styles: {', '.join(ALL_STYLES)})")
    return importlib.import_module(f"model.training.synth.{style}")


def timeline_rng(seed: int, index: int, style: str) -> np.random.Generator:
    entropy = [int(seed), int(index), ALL_STYLES.index(style)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def style_for_index(index: int, styles: tuple[str, ...] = STYLES) -> str:
    return styles[index % len(styles)]


def file_name(style: str, index: int) -> str:
    return f"{style}-{index:05d}.xml"


def style_from_file_name(name: str) -> str | None:
    """The style of a synthesized file (`podcast-00012.xml` -> podcast), else None."""
    head = name.rsplit("/", 1)[-1].split("-", 1)[0]
    return head if head in ALL_STYLES and "-" in name else None


def synthesize_with_params(
    style: str, seed: int, index: int, minutes: tuple[float, float] = DEFAULT_MINUTES
) -> tuple[Timeline, Any]:
    """One timeline of `style` and the parameters drawn for it (tests check the signature against them)."""
    module = style_module(style)
    rng = timeline_rng(seed, index, style)
    canvas = draw_canvas(rng, minutes, module.RATE_WEIGHTS)
    params = module.draw(rng, canvas)
    sequence = module.build(rng, canvas, params)
    return Timeline(path=file_name(style, index), sequences=(sequence,)), params


def synthesize(style: str, seed: int, index: int, minutes: tuple[float, float] = DEFAULT_MINUTES) -> Timeline:
    return synthesize_with_params(style, seed, index, minutes)[0]
