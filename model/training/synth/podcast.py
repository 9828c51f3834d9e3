"""Multicam podcast / interview: speaker turns cut between synced angles, reactions, wide shots, punch-ins.

Drawn per timeline (uniform unless noted):
- speakers (one camera angle each): 2-4 (weights 0.4/0.35/0.25); a wide shot: p = 0.85.
- minimum shot 1.5-3.0 s; maximum shot 8-15 s; every shot but the last lies in [min, max].
- mean speaker-shot length: min + 25-60 % of (max - min) (lognormal, sigma 0.45, clipped to [min, max]).
- speaker turn length: lognormal, mean 6-25 s; the next speaker is the one before the current with
  p = 0.5-0.8 (ping-pong between two people), else another; with two speakers turns alternate A/B.
- between two shots of the same turn: a reaction of the previous speaker with p_react 0.15-0.4,
  the wide with p_wide 0.15-0.45 (if there is one), else a punch-in cut on the same angle; the
  shot after a cutaway returns to the speaker (so what follows the wide depends on who talks).
- cutaway length: [min, min + 35 % of (max - min)].
- punch-in: 110-130 % of the base framing, re-centred on the subject's face (per angle offset
  x -0.12..0.12, y -0.12..-0.02 of the image); each angle alternates base / punch on every use.
- layout: one track (p = 0.5), or stacked (wide on V1 for the whole length, angle k on V(k+2));
  stacked timelines leave unused stretches either cut out or as disabled clips (p = 0.5 each).
- camera files in the sequence's frame size (p = 0.8) or UHD in an HD sequence (base scale 50).
- dissolves at turn changes: in 25 % of one-track timelines, each turn change with p = 0.3, 8-20 frames.
- an opening title (generator Text) on the top track: p = 0.6, 3-6 s.
- rates: 29.97 (0.35), 30 (0.15), 25 (0.2), 23.976 (0.2), 24 (0.05), 60 (0.05).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.timeline.types import Marker, Motion, Sequence, Source
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

NAME = "podcast"
RATE_WEIGHTS = {"29.97": 0.35, "30": 0.15, "25": 0.2, "23.976": 0.2, "24": 0.05, "60": 0.05}
WIDE = -1
_SHOWS = ("TheLongTable", "BuildInPublic", "NightShiftPod", "CoffeeAndCode", "FieldNotes", "TwoMics", "Offset")


@dataclass(frozen=True)
class Params:
    speakers: int
    has_wide: bool
    min_shot: int  # frames
    max_shot: int  # frames
    shot_mean_s: float
    turn_mean_s: float
    p_back: float
    p_react: float
    p_wide: float
    punch: float  # factor over the base framing, 1.10-1.30
    layout: str  # "single" | "stacked"
    disable_unused: bool
    dissolves: bool
    title: bool


def draw(rng: np.random.Generator, canvas: Canvas) -> Params:
    speakers = int(pick(rng, (2, 3, 4), p=(0.4, 0.35, 0.25)))
    has_wide = bool(rng.random() < 0.85)
    min_s, max_s = float(rng.uniform(1.5, 3.0)), float(rng.uniform(8.0, 15.0))
    layout = "stacked" if has_wide and rng.random() < 0.5 else "single"
    return Params(
        speakers=speakers,
        has_wide=has_wide,
        min_shot=canvas.frames(min_s),
        max_shot=canvas.frames(max_s),
        shot_mean_s=min_s + float(rng.uniform(0.25, 0.6)) * (max_s - min_s),
        turn_mean_s=float(rng.uniform(6.0, 25.0)),
        p_back=float(rng.uniform(0.5, 0.8)),
        p_react=float(rng.uniform(0.15, 0.4)),
        p_wide=float(rng.uniform(0.15, 0.45)) if has_wide else 0.0,
        punch=float(rng.uniform(1.10, 1.30)),
        layout=layout,
        disable_unused=bool(rng.random() < 0.5),
        dissolves=layout == "single" and bool(rng.random() < 0.25),
        title=bool(rng.random() < 0.6),
    )


def program(rng: np.random.Generator, p: Params, canvas: Canvas) -> tuple[list[tuple[int, int, int]], list[int]]:
    """The cut: (camera, start, end) shots (camera WIDE for the wide) and the frames where turns change."""
    shots: list[tuple[int, int, int]] = []
    turn_starts: list[int] = []
    t, speaker, previous = 0, 0, 1
    cutaway_max = p.min_shot + int(0.35 * (p.max_shot - p.min_shot))
    while t < canvas.total:
        turn_starts.append(t)
        turn_end = t + canvas.frames(lognormal_seconds(rng, p.turn_mean_s, 0.6, 1.0, 120.0))
        first = True
        while t < turn_end and t < canvas.total:
            if not first:
                cam = _cutaway(rng, p, previous)
                if cam is not None:
                    length = int(rng.integers(p.min_shot, cutaway_max + 1))
                    shots.append((cam, t, t + length))
                    t += length
            length = canvas.frames(lognormal_seconds(rng, p.shot_mean_s, 0.45, 0.0, 1e9))
            length = int(np.clip(length, p.min_shot, p.max_shot))
            if turn_end - (t + length) < 2 * p.min_shot:
                length = int(np.clip(turn_end - t, p.min_shot, p.max_shot))
            shots.append((speaker, t, t + length))
            t += length
            first = False
        speaker, previous = _next_speaker(rng, p, speaker, previous), speaker
    shots = [(c, s, min(e, canvas.total)) for c, s, e in shots if s < canvas.total]
    return shots, turn_starts


def _cutaway(rng: np.random.Generator, p: Params, previous: int) -> int | None:
    """Between two shots of one speaker: a reaction of whoever spoke last, the wide, or None (punch cut)."""
    u = rng.random()
    if u < p.p_react:
        return previous
    if u < p.p_react + p.p_wide:
        return WIDE
    return None


def _next_speaker(rng: np.random.Generator, p: Params, speaker: int, previous: int) -> int:
    others = [s for s in range(p.speakers) if s != speaker]
    if previous in others and rng.random() < p.p_back:
        return previous
    return int(pick(rng, others))


def build(rng: np.random.Generator, canvas: Canvas, p: Params) -> Sequence:
    show = pick(rng, _SHOWS)
    episode = int(rng.integers(1, 240))
    media = MediaLibrary(rng, f"{show}_E{episode:03d}")
    frame = (canvas.width, canvas.height)
    src = (3840, 2160) if canvas.width == 1920 and rng.random() < 0.2 else frame
    base = 100.0 * canvas.width / src[0]
    cams = [media.file("Footage", f"{show}_E{episode:03d}_CAM{chr(65 + k)}.mov", *src) for k in range(p.speakers)]
    wide = media.file("Footage", f"{show}_E{episode:03d}_WIDE.mov", *src)
    offsets = {k: int(rng.integers(canvas.frames(1.0), canvas.frames(30.0))) for k in [*range(p.speakers), WIDE]}
    subjects = {k: (float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.12, -0.02))) for k in range(p.speakers)}
    framings = {k: (motion(base), punch_framing(src, frame, base, p.punch, subjects[k])) for k in range(p.speakers)}
    shots, turn_starts = program(rng, p, canvas)
    uses = {k: 0 for k in range(p.speakers)}

    def place(tb: TrackBuilder, cam: int, start: int, end: int) -> None:
        if cam == WIDE:
            tb.add(start, end, wide, start + offsets[WIDE], motion=motion(base))
            return
        tb.add(start, end, cams[cam], start + offsets[cam], motion=framings[cam][uses[cam] % 2])
        uses[cam] += 1

    if p.layout == "single":
        tracks = [TrackBuilder()]
        for cam, start, end in shots:
            place(tracks[0], cam, start, end)
        _add_dissolves(rng, canvas, p, tracks[0], set(turn_starts))
    else:
        tracks = [TrackBuilder()] + [TrackBuilder() for _ in range(p.speakers)]
        tracks[0].add(0, canvas.total, wide, offsets[WIDE], motion=motion(base))
        for cam, start, end in shots:
            if cam != WIDE:
                place(tracks[cam + 1], cam, start, end)
        if p.disable_unused:
            for k in range(p.speakers):
                _fill_disabled(tracks[k + 1], cams[k], offsets[k], canvas.total, framings[k][0])
    if p.title:
        title = TrackBuilder()
        title.add(0, canvas.frames(float(rng.uniform(3.0, 6.0))), generator("Text", "Text"), name=f"{show} #{episode}")
        tracks.append(title)
    markers = tuple(Marker(f"Chapter {i + 1}", f) for i, f in enumerate(turn_starts[:: max(1, len(turn_starts) // 4)]))
    return finish_sequence(canvas, f"{show} E{episode:03d} - multicam", tracks, rng, markers)


def _add_dissolves(rng: np.random.Generator, canvas: Canvas, p: Params, tb: TrackBuilder, turns: set[int]) -> None:
    if not p.dissolves:
        return
    for _before, after in zip(tb.items, tb.items[1:]):
        if after.start in turns and rng.random() < 0.3:
            tb.dissolve(after.start, int(rng.integers(8, 21)))


def _fill_disabled(tb: TrackBuilder, source: Source, offset: int, total: int, framing: Motion | None) -> None:
    """AutoCut-style: the angle's unused stretches stay on the track as disabled clips."""
    shown = sorted(tb.items, key=lambda it: it.start)
    tb.items = []
    t = 0
    for it in shown:
        tb.add(t, it.start, source, t + offset, motion=framing, enabled=False)
        tb.items.append(it)
        t = it.end
    tb.add(t, total, source, t + offset, motion=framing, enabled=False)
