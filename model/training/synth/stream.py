"""Stream highlight: gameplay on V1, face-cam overlay, logo bug, stingers and titles on upper tracks.

Drawn per timeline (uniform unless noted):
- gameplay capture 1920x1080 (p = 0.6) or 2560x1440 (base scale 75 in HD); 1-2 recordings.
- highlights: lognormal, mean 12-25 s, clipped to 6-40 s; 10-300 s of stream skipped between them.
- HUD zooms: 1-2 zoom targets per timeline (kill feed top-right, minimap bottom-left, centre,
  scoreboard top); a highlight holds a 1-3 s zoom at 130-200 % with p_zoom 0.15-0.4.
- face-cam on V2: scale 20-35 %, crop left = right 5-25 %, top = bottom 0-8 %, corner (bl 0.4,
  br 0.3, tl 0.2, tr 0.1), margin 10-50 px; full-frame reaction of 2-4 s at the end of a
  highlight with p_react 0.1-0.25; the whole face-cam track is disabled with p = 0.1.
- logo bug on V3: a 512x512 PNG at 15-30 %, in the top corner on the other side from the
  face-cam, margin 20-40 px, for the whole length; its track disabled with p = 0.15.
- stingers on V4: 1.0-1.5 s centred on every highlight cut; each one disabled with p = 0.1.
- titles on V5 (generator Text): at a highlight start with p_title 0.3-0.6, 2-3 s.
- an old overlay on V6 for the whole length, on a disabled track: p = 0.5.
- rates: 60 (0.45), 30 (0.3), 29.97 (0.15), 24 (0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.timeline.types import Sequence
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
)

NAME = "stream"
RATE_WEIGHTS = {"60": 0.45, "30": 0.3, "29.97": 0.15, "24": 0.1}
HUD_TARGETS = ((0.35, -0.38), (-0.38, 0.33), (0.0, 0.0), (0.0, -0.4))
_GAMES = ("valorant", "apex", "rocketleague", "eldenring", "minecraft", "cs2")


@dataclass(frozen=True)
class Params:
    capture: tuple[int, int]
    recordings: int
    highlight_mean_s: float
    targets: tuple[int, ...]
    p_zoom: float
    cam_scale: float
    crop_lr: float
    crop_tb: float
    corner: str
    margin: float
    p_react: float
    cam_disabled: bool
    logo_scale: float
    logo_disabled: bool
    p_title: float
    old_overlay: bool


def draw(rng: np.random.Generator, canvas: Canvas) -> Params:
    n_targets = int(rng.integers(1, 3))
    return Params(
        capture=(1920, 1080) if rng.random() < 0.6 else (2560, 1440),
        recordings=int(rng.integers(1, 3)),
        highlight_mean_s=float(rng.uniform(12.0, 25.0)),
        targets=tuple(int(i) for i in rng.choice(len(HUD_TARGETS), size=n_targets, replace=False)),
        p_zoom=float(rng.uniform(0.15, 0.4)),
        cam_scale=float(rng.uniform(20.0, 35.0)),
        crop_lr=float(rng.uniform(5.0, 25.0)),
        crop_tb=float(rng.uniform(0.0, 8.0)),
        corner=pick(rng, ("bl", "br", "tl", "tr"), p=(0.4, 0.3, 0.2, 0.1)),
        margin=float(rng.uniform(10.0, 50.0)),
        p_react=float(rng.uniform(0.1, 0.25)),
        cam_disabled=bool(rng.random() < 0.1),
        logo_scale=float(rng.uniform(15.0, 30.0)),
        logo_disabled=bool(rng.random() < 0.15),
        p_title=float(rng.uniform(0.3, 0.6)),
        old_overlay=bool(rng.random() < 0.5),
    )


def build(rng: np.random.Generator, canvas: Canvas, p: Params) -> Sequence:
    frame = (canvas.width, canvas.height)
    game = pick(rng, _GAMES)
    media = MediaLibrary(rng, f"stream-{game}")
    day = f"2024-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
    captures = [media.file("OBS", f"{day} {20 + k}-{int(rng.integers(0, 60)):02d}-{int(rng.integers(0, 60)):02d}.mkv", *p.capture)
                for k in range(p.recordings)]
    cam = media.file("OBS", f"{day} facecam.mkv", *frame)
    base = 100.0 * canvas.width / p.capture[0]
    play, cams, logo, stingers, titles, old = (TrackBuilder() for _ in range(6))
    cams.enabled, logo.enabled, old.enabled = not p.cam_disabled, not p.logo_disabled, False
    stinger = media.file("Overlays", f"stinger_{game}.mov", *frame)
    pip = _pip(frame, p)
    cuts = _highlights(rng, canvas, p, play, cams, captures, cam, base, pip)
    for cut in cuts:
        half = canvas.frames(float(rng.uniform(1.0, 1.5))) // 2
        enabled = bool(rng.random() >= 0.1)
        if cut + half <= canvas.total:
            stingers.add(cut - half, cut + half, stinger, 0, enabled=enabled)
    for start in [0, *cuts]:
        if rng.random() < p.p_title:
            titles.add(start, min(canvas.total, start + canvas.frames(float(rng.uniform(2.0, 3.0)))), generator("Text", "Text"),
                       name=f"{game.upper()} highlight")
    bug = media.file("Overlays", "logo_bug.png", 512, 512)
    logo_corner = "t" + ("r" if p.corner[1] == "l" else "l")
    size = 512 * p.logo_scale / 100
    m, c = framing_for_rect((512, 512), frame, corner_rect(frame, (size, size), logo_corner, float(rng.uniform(20, 40))), p.logo_scale)
    logo.add(0, canvas.total, bug, 0, motion=m, crop=c)
    if p.old_overlay:
        old.add(0, canvas.total, media.file("Overlays", "webcam_greenscreen_old.mov", *frame), 0)
    else:
        old.enabled = True
    return finish_sequence(canvas, f"{game} highlights {day}", [play, cams, logo, stingers, titles, old], rng)


def _highlights(rng, canvas: Canvas, p: Params, play, cams, captures, cam, base: float, pip) -> list[int]:
    """Fill V1 with highlights (some with a HUD zoom) and V2 with the synced face-cam; return the cuts."""
    frame = (canvas.width, canvas.height)
    full = (motion(cover_scale(frame, frame)), None)
    t, cuts, offset = 0, [], int(rng.integers(0, canvas.frames(3.0)))
    source_t, rec = canvas.frames(float(rng.uniform(10.0, 300.0))), 0
    while t < canvas.total:
        length = min(canvas.frames(lognormal_seconds(rng, p.highlight_mean_s, 0.45, 6.0, 40.0)), canvas.total - t)
        for start, end, zoom in _split_zoom(rng, canvas, p, t, length):
            play.add(start, end, captures[rec], source_t + start - t, motion=_zoom_motion(p, base, zoom))
        react = canvas.frames(float(rng.uniform(2.0, 4.0))) if rng.random() < p.p_react else 0
        react = react if length > react + canvas.frames(3.0) else 0
        cams.add(t, t + length - react, cam, source_t + offset, motion=pip[0], crop=pip[1])
        cams.add(t + length - react, t + length, cam, source_t + offset + length - react, motion=full[0], crop=full[1])
        t += length
        if t < canvas.total:
            cuts.append(t)
        source_t += length + canvas.frames(float(rng.uniform(10.0, 300.0)))
        if rng.random() < 0.1 and rec + 1 < p.recordings:
            rec, source_t = rec + 1, canvas.frames(float(rng.uniform(10.0, 60.0)))
    return cuts


def _split_zoom(rng, canvas: Canvas, p: Params, t: int, length: int):
    """A highlight as one shot, or before / zoom / after when it holds a HUD zoom."""
    zoom_len = canvas.frames(float(rng.uniform(1.0, 3.0)))
    if rng.random() >= p.p_zoom or length < zoom_len + canvas.frames(4.0):
        return [(t, t + length, None)]
    at = t + int(rng.integers(canvas.frames(2.0), length - zoom_len - canvas.frames(1.0) + 1))
    target = HUD_TARGETS[int(pick(rng, p.targets))]
    factor = float(rng.uniform(1.3, 2.0))
    return [(t, at, None), (at, at + zoom_len, (factor, *target)), (at + zoom_len, t + length, None)]


def _zoom_motion(p: Params, base: float, zoom):
    if zoom is None:
        return motion(base)
    factor, x, y = zoom
    slack = (factor - 1) / 2
    return motion(base * factor, float(np.clip(-x * factor, -slack, slack)), float(np.clip(-y * factor, -slack, slack)))


def _pip(frame: tuple[int, int], p: Params):
    s = p.cam_scale / 100
    size = (frame[0] * s * (1 - 2 * p.crop_lr / 100), frame[1] * s * (1 - 2 * p.crop_tb / 100))
    return framing_for_rect(frame, frame, corner_rect(frame, size, p.corner, p.margin), p.cam_scale)
