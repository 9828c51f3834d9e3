"""Stills slideshow with Ken Burns moves: keyframed scale and position on every photo.

Drawn per timeline (uniform unless noted):
- camera (photo size): 6000x4000, 4032x3024, 5472x3648, 3000x2000 or 1920x1080; each photo is
  portrait (the size turned) with p_portrait 0-0.25; names IMG_/DSC_/scan_ numbered in order.
- slide length: mean 3-8 s, each slide within +-25 % of it.
- Ken Burns: from the cover scale c (the photo just fills the frame) the slide zooms in
  (c x 1.00-1.05 -> c x 1.12-1.35) or out (the reverse); directions alternate with p_alternate
  0.6-0.95; the centre pans from one point to another within what the zoom leaves spare
  (pans run left to right or back, turning with the zoom direction).
- dissolves between slides: all cuts (p = 0.6 of timelines, 0.5-1.5 s) or none.
- an opening title (generator Text on V2) for the first 3-6 s: p = 0.6; a closing Color matte
  of 2-4 s: p = 0.4.
- rates: 25 (0.3), 29.97 (0.25), 30 (0.2), 24 (0.15), 23.976 (0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.timeline.types import Motion, Sequence
from model.training.synth.common import (
    Canvas,
    MediaLibrary,
    TrackBuilder,
    cover_scale,
    finish_sequence,
    generator,
    pick,
    ramp,
)

NAME = "slideshow"
RATE_WEIGHTS = {"25": 0.3, "29.97": 0.25, "30": 0.2, "24": 0.15, "23.976": 0.1}
_CAMERAS = ((6000, 4000), (4032, 3024), (5472, 3648), (3000, 2000), (1920, 1080))
HANDLE = 60  # source frames before a still's in point, so that dissolves have material
_NAMES = ("IMG_{n:04d}.JPG", "DSC_{n:04d}.jpg", "scan_{n:03d}.png", "P{n:07d}.JPG")


@dataclass(frozen=True)
class Params:
    camera: tuple[int, int]
    p_portrait: float
    slide_mean_s: float
    zoom: tuple[float, float]  # near and far factors over the cover scale
    p_alternate: float
    dissolve_s: float  # 0 = straight cuts
    title: bool
    closing: bool


def draw(rng: np.random.Generator, canvas: Canvas) -> Params:
    return Params(
        camera=pick(rng, _CAMERAS),
        p_portrait=float(rng.uniform(0.0, 0.25)),
        slide_mean_s=float(rng.uniform(3.0, 8.0)),
        zoom=(float(rng.uniform(1.0, 1.05)), float(rng.uniform(1.12, 1.35))),
        p_alternate=float(rng.uniform(0.6, 0.95)),
        dissolve_s=float(rng.uniform(0.5, 1.5)) if rng.random() < 0.6 else 0.0,
        title=bool(rng.random() < 0.6),
        closing=bool(rng.random() < 0.4),
    )


def build(rng: np.random.Generator, canvas: Canvas, p: Params) -> Sequence:
    frame = (canvas.width, canvas.height)
    album = f"{pick(rng, ('wedding', 'trip', 'family', 'graduation', 'archive'))}_{int(rng.integers(2005, 2025))}"
    media = MediaLibrary(rng, album)
    pattern, number = pick(rng, _NAMES), int(rng.integers(1, 5000))
    slides, overlay = TrackBuilder(), TrackBuilder()
    end = canvas.total - (canvas.frames(float(rng.uniform(2.0, 4.0))) if p.closing else 0)
    t, zoom_in, pan_sign = 0, True, 1.0
    while t < end:
        length = min(canvas.frames(p.slide_mean_s * float(rng.uniform(0.75, 1.25))), end - t)
        size = p.camera[::-1] if rng.random() < p.p_portrait else p.camera
        photo = media.file("Photos", pattern.format(n=number), *size)
        number += int(rng.integers(1, 4))
        slides.add(t, t + length, photo, HANDLE, motion=_ken_burns(rng, p, size, frame, length, zoom_in, pan_sign))
        if t > 0 and p.dissolve_s > 0:
            slides.dissolve(t, canvas.frames(p.dissolve_s))
        t += length
        if rng.random() < p.p_alternate:
            zoom_in, pan_sign = not zoom_in, -pan_sign
    if p.closing and end < canvas.total:
        slides.add(end, canvas.total, generator("Color", "Color Matte"), name="Black")
    if p.title:
        overlay.add(0, canvas.frames(float(rng.uniform(3.0, 6.0))), generator("Text", "Text"), name=album.replace("_", " "))
    return finish_sequence(canvas, f"{album} slideshow", [slides, overlay], rng)


def _ken_burns(rng, p: Params, size: tuple[int, int], frame: tuple[int, int], length: int, zoom_in: bool, pan_sign: float) -> Motion:
    cover = cover_scale(size, frame)
    near, far = cover * p.zoom[0], cover * p.zoom[1]
    s0, s1 = (near, far) if zoom_in else (far, near)
    # Each end of the pan stays inside what its own scale leaves spare; the straight path between
    # two covering framings covers too (the covering set is convex in scale and centre).
    x0, x1 = (pan_sign * _spare(size[0], frame[0], s) * float(rng.uniform(0.3, 0.9)) * side for s, side in ((s0, -1), (s1, 1)))
    y0, y1 = (_spare(size[1], frame[1], s) * float(rng.uniform(-0.9, 0.9)) for s in (s0, s1))
    keys = (HANDLE, HANDLE + length)
    return Motion(ramp(*keys, s0, s1, 3), ramp(*keys, x0, x1, 6), ramp(*keys, y0, y1, 6))


def _spare(image: int, frame: int, scale: float) -> float:
    """How far (in image fractions) the centre may move either way with the frame still covered."""
    return max(0.0, (image * scale / 100 - frame) / 2) / image
