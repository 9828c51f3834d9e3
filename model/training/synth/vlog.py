"""Vlog jump cuts: one talking-head source per location, cut every 1-6 s, punch-ins alternating.

Drawn per timeline (uniform unless noted):
- locations (one camera file each, used in order): 1-4; camera files in the frame size (p = 0.7)
  or UHD in an HD sequence (base scale 50).
- jump-cut shot length: lognormal, mean 1.5-4 s, clipped to 1-6 s; each cut skips 0.3-3 s.
- punch-in factor 1.10-1.40 over the base; consecutive shots alternate base / punch-in with
  p_alternate 0.75-0.95 (else the framing repeats), re-centred on the subject (per location,
  x -0.15..0.15, y -0.12..0.0 of the image) as far as the frame stays covered.
- B-roll cutaways on V2 over the talking head: after a cut with p_broll 0.04-0.15, 2-4 s, from
  a pool of 3-10 clips.
- an opening title (generator Text on V3): p = 0.5, 2-4 s; dissolves between locations: p = 0.5.
- rates: 29.97 (0.3), 23.976 (0.25), 30 (0.15), 24 (0.1), 25 (0.1), 60 (0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.timeline.types import Sequence
from model.training.synth.common import (
    Canvas,
    MediaLibrary,
    TrackBuilder,
    finish_sequence,
    generator,
    lognormal_seconds,
    motion,
    pick,
    punch_framing,
)

NAME = "vlog"
RATE_WEIGHTS = {"29.97": 0.3, "23.976": 0.25, "30": 0.15, "24": 0.1, "25": 0.1, "60": 0.1}
_CAMERA_NAMES = ("C{n:04d}.MP4", "IMG_{n:04d}.MOV", "GX01{n:04d}.MP4", "DJI_{n:04d}.MP4")


@dataclass(frozen=True)
class Params:
    locations: int
    uhd: bool
    shot_mean_s: float
    punch: float
    p_alternate: float
    p_broll: float
    broll_pool: int
    title: bool
    dissolve_locations: bool


def draw(rng: np.random.Generator, canvas: Canvas) -> Params:
    return Params(
        locations=int(rng.integers(1, 5)),
        uhd=canvas.width == 1920 and bool(rng.random() < 0.3),
        shot_mean_s=float(rng.uniform(1.5, 4.0)),
        punch=float(rng.uniform(1.10, 1.40)),
        p_alternate=float(rng.uniform(0.75, 0.95)),
        p_broll=float(rng.uniform(0.04, 0.15)),
        broll_pool=int(rng.integers(3, 11)),
        title=bool(rng.random() < 0.5),
        dissolve_locations=bool(rng.random() < 0.5),
    )


def build(rng: np.random.Generator, canvas: Canvas, p: Params) -> Sequence:
    frame = (canvas.width, canvas.height)
    src = (3840, 2160) if p.uhd else frame
    base = 100.0 * canvas.width / src[0]
    day = f"2024-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
    media = MediaLibrary(rng, f"vlog_{day}")
    pattern = pick(rng, _CAMERA_NAMES)
    first = int(rng.integers(1, 9000))
    heads = [media.file("A-cam", pattern.format(n=first + k), *src) for k in range(p.locations)]
    brolls = [media.file("B-roll", pattern.format(n=first + 100 + k), *src) for k in range(p.broll_pool)]
    subjects = [(float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.12, 0.0))) for _ in range(p.locations)]
    talk, cutaways, titles = TrackBuilder(), TrackBuilder(), TrackBuilder()
    bounds = np.linspace(0, canvas.total, p.locations + 1).astype(int)
    for loc in range(p.locations):
        framings = (motion(base), punch_framing(src, frame, base, p.punch, subjects[loc]))
        _location(rng, canvas, p, talk, cutaways, heads[loc], framings, brolls, int(bounds[loc]), int(bounds[loc + 1]))
        if loc > 0 and p.dissolve_locations:
            talk.dissolve(int(bounds[loc]), int(rng.integers(10, 25)))
    if p.title:
        titles.add(0, canvas.frames(float(rng.uniform(2.0, 4.0))), generator("Text", "Text"), name=f"vlog {day}")
    return finish_sequence(canvas, f"vlog {day} FINAL", [talk, cutaways, titles], rng)


def _location(rng, canvas: Canvas, p: Params, talk, cutaways, head, framings, brolls, start: int, end: int) -> None:
    t, source_t, framing = start, canvas.frames(float(rng.uniform(1.0, 5.0))), 0
    while t < end:
        length = min(canvas.frames(lognormal_seconds(rng, p.shot_mean_s, 0.4, 1.0, 6.0)), end - t)
        talk.add(t, t + length, head, source_t, motion=framings[framing])
        if t > start and t >= cutaways.end and rng.random() < p.p_broll:
            b_len = min(canvas.frames(float(rng.uniform(2.0, 4.0))), end - t)
            cutaways.add(t, t + b_len, pick(rng, brolls), int(rng.integers(0, canvas.frames(20.0))), motion=framings[0])
        t += length
        source_t += length + canvas.frames(float(rng.uniform(0.3, 3.0)))
        if rng.random() < p.p_alternate:
            framing = 1 - framing
