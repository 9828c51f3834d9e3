"""Screen-recording tutorial: jump-cut screen capture on V1, a face-cam picture-in-picture on V2.

Drawn per timeline (uniform unless noted):
- screen capture size: 1920x1080 (0.5), 2560x1440 (0.3), 3840x2160 (0.2), shown fitted to the
  frame (base scale = 100 x frame width / capture width); 1-3 recordings used in order.
- screen shot length: lognormal, mean 6-20 s, clipped to 2-45 s; each cut skips 0.5-10 s of dead time.
- zoom on the screen: each shot with p_zoom 0.1-0.35 at 150-250 % of the base, centred on a
  point of the screen (x, y in -0.3..0.3 of the image); a third of the zooms are keyframed push-ins.
- face-cam: scale 20-35 % (same for the whole timeline), crop left = right 0-28 %, top = bottom
  0-10 %, in a corner (br 0.5, bl 0.2, tr 0.2, tl 0.1) with a margin of 20-60 px; it jumps to the
  opposite side while a zoom looks at that corner's quarter.
- full-frame face-cam (scale to fill, no crop): the opening 5-15 s with p = 0.7, the closing
  5-15 s with p = 0.5, and each middle shot with p_full 0.03-0.12.
- chapter titles (generator Text on V3) at a cut with p = 0.12, 2-4 s.
- rates: 30 (0.35), 29.97 (0.2), 60 (0.2), 25 (0.1), 24 (0.1), 23.976 (0.05).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.timeline.types import Motion, Sequence
from model.training.synth.common import (
    Canvas,
    MediaLibrary,
    TrackBuilder,
    corner_rect,
    cover_scale,
    finish_sequence,
    framing_for_rect,
    generator,
    lognormal_seconds,
    motion,
    pick,
    ramp,
)

NAME = "tutorial"
RATE_WEIGHTS = {"30": 0.35, "29.97": 0.2, "60": 0.2, "25": 0.1, "24": 0.1, "23.976": 0.05}
CORNERS = ("br", "bl", "tr", "tl")
_TOPICS = ("blender-modifiers", "excel-pivot", "react-hooks", "resolve-color", "git-rebase", "figma-autolayout")


@dataclass(frozen=True)
class Params:
    capture: tuple[int, int]
    recordings: int
    shot_mean_s: float
    p_zoom: float
    zoom_range: tuple[float, float]
    cam_scale: float  # percent, 20-35
    crop_lr: float
    crop_tb: float
    corner: str
    margin: float  # pixels
    intro_full: bool
    outro_full: bool
    p_full: float


def draw(rng: np.random.Generator, canvas: Canvas) -> Params:
    return Params(
        capture=pick(rng, ((1920, 1080), (2560, 1440), (3840, 2160)), p=(0.5, 0.3, 0.2)),
        recordings=int(rng.integers(1, 4)),
        shot_mean_s=float(rng.uniform(6.0, 20.0)),
        p_zoom=float(rng.uniform(0.1, 0.35)),
        zoom_range=(1.5, 2.5),
        cam_scale=float(rng.uniform(20.0, 35.0)),
        crop_lr=float(rng.uniform(0.0, 28.0)),
        crop_tb=float(rng.uniform(0.0, 10.0)),
        corner=pick(rng, CORNERS, p=(0.5, 0.2, 0.2, 0.1)),
        margin=float(rng.uniform(20.0, 60.0)),
        intro_full=bool(rng.random() < 0.7),
        outro_full=bool(rng.random() < 0.5),
        p_full=float(rng.uniform(0.03, 0.12)),
    )


def build(rng: np.random.Generator, canvas: Canvas, p: Params) -> Sequence:
    topic = pick(rng, _TOPICS)
    media = MediaLibrary(rng, f"tutorial-{topic}")
    frame = (canvas.width, canvas.height)
    day = int(rng.integers(1, 28))
    screens = [
        media.file("Recordings", f"Screen Recording 2024-03-{day:02d} at 10.{41 + k:02d}.{int(rng.integers(10, 60))}.mov", *p.capture)
        for k in range(p.recordings)
    ]
    cam_src = frame
    cam = media.file("Recordings", f"facecam_{topic}.mov", *cam_src)
    base = 100.0 * canvas.width / p.capture[0]
    screen, cams, titles = TrackBuilder(), TrackBuilder(), TrackBuilder()
    cam_offset = int(rng.integers(0, canvas.frames(5.0)))
    t, source_t, rec = 0, canvas.frames(float(rng.uniform(1.0, 8.0))), 0
    shot = 0
    while t < canvas.total:
        length = min(canvas.frames(lognormal_seconds(rng, p.shot_mean_s, 0.5, 2.0, 45.0)), canvas.total - t)
        full = _full_frame(rng, p, canvas, t, length)
        zoom = None if full or shot == 0 else _zoom(rng, p)
        screen.add(t, t + length, screens[rec], source_t, motion=_screen_motion(rng, p, base, zoom, source_t, length))
        corner = _avoid(p.corner, zoom)
        framing = _full_cam(cam_src, frame) if full else _pip(cam_src, frame, p, corner)
        cams.add(t, t + length, cam, source_t + cam_offset, motion=framing[0], crop=framing[1])
        if shot > 0 and rng.random() < 0.12:
            titles.add(t, t + min(length, canvas.frames(float(rng.uniform(2.0, 4.0)))), generator("Text", "Text"), name=f"Step {shot}")
        t += length
        source_t += length + canvas.frames(float(rng.uniform(0.5, 10.0)))
        if rng.random() < 0.08 and rec + 1 < p.recordings:
            rec, source_t = rec + 1, canvas.frames(float(rng.uniform(1.0, 8.0)))
        shot += 1
    return finish_sequence(canvas, f"{topic} tutorial", [screen, cams, titles], rng)


def _full_frame(rng: np.random.Generator, p: Params, canvas: Canvas, t: int, length: int) -> bool:
    if t == 0:
        return p.intro_full
    if t + length >= canvas.total:
        return p.outro_full
    return bool(rng.random() < p.p_full)


def _zoom(rng: np.random.Generator, p: Params) -> tuple[float, float, float, bool] | None:
    """(factor, x, y, keyframed) of a zoom on part of the screen, or None."""
    if rng.random() >= p.p_zoom:
        return None
    x, y = float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3))
    return float(rng.uniform(*p.zoom_range)), x, y, bool(rng.random() < 1 / 3)


def _screen_motion(rng, p: Params, base: float, zoom, source_t: int, length: int) -> Motion | None:
    if zoom is None:
        return motion(base)
    factor, x, y, keyframed = zoom
    scale = base * factor
    # Centre so that the point (x, y) of the capture sits in the middle, without showing past the edge.
    slack = (factor - 1) / 2
    cx, cy = float(np.clip(-x * factor, -slack, slack)), float(np.clip(-y * factor, -slack, slack))
    if not keyframed:
        return motion(scale, cx, cy)
    ramp_end = source_t + max(1, min(length, int(length * rng.uniform(0.3, 0.8))))
    return Motion(ramp(source_t, ramp_end, base, scale, 3), ramp(source_t, ramp_end, 0, cx, 6), ramp(source_t, ramp_end, 0, cy, 6))


def _avoid(corner: str, zoom) -> str:
    """Move the face-cam to the other side while a zoom looks at the quarter it covers."""
    if zoom is None:
        return corner
    _, x, y, _ = zoom
    covered = ("t" if y < 0 else "b") + ("l" if x < 0 else "r")
    if covered != corner:
        return corner
    return corner[0] + ("l" if corner[1] == "r" else "r")


def _pip(src: tuple[int, int], frame: tuple[int, int], p: Params, corner: str):
    s = p.cam_scale / 100
    size = (src[0] * s * (1 - 2 * p.crop_lr / 100), src[1] * s * (1 - 2 * p.crop_tb / 100))
    return framing_for_rect(src, frame, corner_rect(frame, size, corner, p.margin), p.cam_scale)


def _full_cam(src: tuple[int, int], frame: tuple[int, int]):
    return motion(cover_scale(src, frame)), None
