"""Split screen: 2-, 3- and 4-up layouts built with scale, position and crop, switching with full frame.

Drawn per timeline (uniform unless noted):
- participants: 2-4 (one recording each, on its own track, the same track in every layout);
  recordings in the frame size (p = 0.7) or 1280x720 (p = 0.3, base scale 150 in HD).
- margin (outer border and gap between cells): 0 px (p = 0.4) or 8-40 px; with a margin, a
  Color matte fills V1 underneath. Cells tile the frame; each participant fills its cell (cover
  scale), cropped to it, the crop shifted towards the subject (x -0.1..0.1 of the image).
- layouts: full frame of the current speaker; the all-up layout (2-up columns, 3-up as three
  columns or one large left cell with two stacked right cells (p = 0.5), 4-up as a 2x2 grid);
  with 3-4 participants also the 2-up of the current and the previous speaker (p = 0.3 of splits).
- the layout cycle: full -> split -> full (next speaker) -> split ..., followed with p_cycle
  0.6-0.9 (else full -> full); the next speaker is the one before with p = 0.6.
- segment length: full lognormal mean 3-8 s clipped to 2-20 s; split mean 6-15 s clipped to 3-30 s.
- rates: 29.97 (0.3), 30 (0.3), 25 (0.2), 23.976 (0.1), 60 (0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.timeline.types import Sequence
from model.training.synth.common import (
    Canvas,
    MediaLibrary,
    Rect,
    TrackBuilder,
    cover_scale,
    finish_sequence,
    framing_for_rect,
    generator,
    lognormal_seconds,
    pick,
)

NAME = "splitscreen"
RATE_WEIGHTS = {"29.97": 0.3, "30": 0.3, "25": 0.2, "23.976": 0.1, "60": 0.1}
_NAMES = ("anna", "ben", "chloe", "dev", "emma", "farid", "gina", "hugo")


@dataclass(frozen=True)
class Params:
    participants: int
    small_sources: bool
    margin: float  # pixels
    three_up: str  # "columns" | "big_left"
    p_cycle: float
    p_pair: float
    full_mean_s: float
    split_mean_s: float


def draw(rng: np.random.Generator, canvas: Canvas) -> Params:
    return Params(
        participants=int(rng.integers(2, 5)),
        small_sources=bool(rng.random() < 0.3),
        margin=0.0 if rng.random() < 0.4 else float(rng.uniform(8.0, 40.0)),
        three_up=pick(rng, ("columns", "big_left")),
        p_cycle=float(rng.uniform(0.6, 0.9)),
        p_pair=0.3,
        full_mean_s=float(rng.uniform(3.0, 8.0)),
        split_mean_s=float(rng.uniform(6.0, 15.0)),
    )


def layout_cells(frame: tuple[int, int], count: int, margin: float, three_up: str) -> list[Rect]:
    """Cells for `count` pictures, left to right then top to bottom, `margin` apart and from the edges."""
    w, h, m = frame[0], frame[1], margin
    if count == 1:
        return [Rect(0, 0, w, h)]
    if count == 2 or (count == 3 and three_up == "columns"):
        cw = (w - (count + 1) * m) / count
        return [Rect(m + i * (cw + m), m, m + i * (cw + m) + cw, h - m) for i in range(count)]
    half_w, half_h = (w - 3 * m) / 2, (h - 3 * m) / 2
    if count == 3:
        return [Rect(m, m, m + half_w, h - m), Rect(2 * m + half_w, m, w - m, m + half_h),
                Rect(2 * m + half_w, 2 * m + half_h, w - m, h - m)]
    return [Rect(m + i * (half_w + m), m + j * (half_h + m), m + i * (half_w + m) + half_w, m + j * (half_h + m) + half_h)
            for j in range(2) for i in range(2)]


def segments(rng: np.random.Generator, p: Params, canvas: Canvas) -> list[tuple[tuple[int, ...], int, int]]:
    """(participants shown, start, end): full frame shows one, splits show two or all."""
    out = []
    t, speaker, previous, in_split = 0, 0, 1, False
    everyone = tuple(range(p.participants))
    while t < canvas.total:
        if in_split:
            pair = p.participants > 2 and rng.random() < p.p_pair
            shown = tuple(sorted({speaker, previous})) if pair else everyone
            length = canvas.frames(lognormal_seconds(rng, p.split_mean_s, 0.4, 3.0, 30.0))
        else:
            shown = (speaker,)
            length = canvas.frames(lognormal_seconds(rng, p.full_mean_s, 0.4, 2.0, 20.0))
        out.append((shown, t, min(canvas.total, t + length)))
        t += length
        if in_split or rng.random() >= p.p_cycle:
            others = [k for k in everyone if k != speaker]
            nxt = previous if previous in others and rng.random() < 0.6 else int(pick(rng, others))
            speaker, previous = nxt, speaker
            in_split = False
        else:
            in_split = True
    return out


def build(rng: np.random.Generator, canvas: Canvas, p: Params) -> Sequence:
    frame = (canvas.width, canvas.height)
    src = (1280, 720) if p.small_sources else frame
    names = [str(n) for n in rng.choice(_NAMES, size=p.participants, replace=False)]
    media = MediaLibrary(rng, f"roundtable_{int(rng.integers(1, 60)):02d}")
    sources = [media.file("ISO", f"{n}_iso.mp4", *src) for n in names]
    subjects = [(float(rng.uniform(-0.1, 0.1)), 0.0) for _ in names]
    offsets = [int(rng.integers(0, canvas.frames(10.0))) for _ in names]
    first = 1 if p.margin > 0 else 0
    tracks = [TrackBuilder() for _ in range(first + p.participants)]
    if p.margin > 0:
        tracks[0].add(0, canvas.total, generator("Color", "Color Matte"), name="Background")
    for shown, start, end in segments(rng, p, canvas):
        cells = layout_cells(frame, len(shown), p.margin, p.three_up)
        for k, cell in zip(shown, cells):
            scale = cover_scale(src, (cell.width, cell.height))
            m, c = framing_for_rect(src, frame, cell, scale, subjects[k])
            tracks[first + k].add(start, end, sources[k], start + offsets[k], motion=m, crop=c)
    return finish_sequence(canvas, f"{media.root.rsplit('/', 1)[-1]} split", tracks, rng)
