"""Documentary: interview A-roll on V1, B-roll cutaways on V2, lower-third titles on V3.

Drawn per timeline (uniform unless noted):
- interviewees: 2-4, one camera file each; two-camera interviews (p = 0.5) alternate the main
  and a tighter angle (its own file, framed at 100 % or pushed in 110-125 %) on every A-roll cut.
- bites: lognormal, mean 12-35 s, clipped to 4-90 s; the next speaker is drawn from the others,
  favouring the one before (p = 0.6); a bite is cut every 4-15 s (jump in the source).
- B-roll clusters on V2: the gap after one cluster is 3-20 s, each cluster 1-4 shots of 2.5-7 s,
  from a pool of 12-60 clips used without repeats until exhausted; archive stills (p = 0.15 per
  shot, 3000x2000) get a keyframed push-in (cover scale to 1.08-1.25 x). Dissolves inside
  clusters: p_dissolve 0-0.5 per cut, 10-20 frames.
- lower thirds on V3: 4-6 s starting 0.5-2 s into an interviewee's first bite (again on later
  bites with p = 0.2); generator Text (p = 0.6) or a transparent PNG; B-roll never covers them.
- an opening card: Color matte on V1 and a Text title on V2, 3-6 s (p = 0.5).
- rates: 23.976 (0.4), 25 (0.25), 24 (0.2), 29.97 (0.15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.timeline.types import Motion, Param, Sequence
from model.training.synth.common import (
    Canvas,
    MediaLibrary,
    TrackBuilder,
    cover_scale,
    finish_sequence,
    generator,
    lognormal_seconds,
    pick,
    punch_framing,
    ramp,
)

NAME = "documentary"
RATE_WEIGHTS = {"23.976": 0.4, "25": 0.25, "24": 0.2, "29.97": 0.15}
_SUBJECTS = ("Ruth", "Daniel", "Amara", "Kenji", "Sofia", "Omar", "Greta", "Luis", "Hana", "Peter")
_PLACES = ("harbour", "market", "mill", "orchard", "station", "glacier", "workshop", "ferry", "school", "bakery")


@dataclass(frozen=True)
class Params:
    subjects: int
    two_camera: bool
    tight_punch: float
    bite_mean_s: float
    broll_pool: int
    p_dissolve: float
    title_generator: bool
    opening: bool


def draw(rng: np.random.Generator, canvas: Canvas) -> Params:
    return Params(
        subjects=int(rng.integers(2, 5)),
        two_camera=bool(rng.random() < 0.5),
        tight_punch=float(pick(rng, (1.0, float(rng.uniform(1.10, 1.25))))),
        bite_mean_s=float(rng.uniform(12.0, 35.0)),
        broll_pool=int(rng.integers(12, 61)),
        p_dissolve=float(rng.uniform(0.0, 0.5)),
        title_generator=bool(rng.random() < 0.6),
        opening=bool(rng.random() < 0.5),
    )


def build(rng: np.random.Generator, canvas: Canvas, p: Params) -> Sequence:
    frame = (canvas.width, canvas.height)
    film = pick(rng, _PLACES)
    media = MediaLibrary(rng, f"doc_{film}")
    names = [str(n) for n in rng.choice(_SUBJECTS, size=p.subjects, replace=False)]
    main = [media.file("Interviews", f"INT_{n.upper()}_A.mov", *frame) for n in names]
    tight = [media.file("Interviews", f"INT_{n.upper()}_B.mov", *frame) for n in names]
    faces = [(float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.1, 0.0))) for _ in names]
    a_roll, b_roll, thirds = TrackBuilder(), TrackBuilder(), TrackBuilder()
    start = 0
    if p.opening:
        start = canvas.frames(float(rng.uniform(3.0, 6.0)))
        a_roll.add(0, start, generator("Color", "Color Matte"), name="Black")
        b_roll.add(0, start, generator("Text", "Text"), name=f"The {film.title()}")
    lower_windows = _a_roll(rng, canvas, p, media, a_roll, thirds, main, tight, faces, names, start)
    _b_roll(rng, canvas, p, media, b_roll, lower_windows, start)
    return finish_sequence(canvas, f"{film.title()} - fine cut v{int(rng.integers(2, 9))}", [a_roll, b_roll, thirds], rng)


def _a_roll(rng, canvas: Canvas, p: Params, media: MediaLibrary, a_roll, thirds, main, tight, faces, names, t: int) -> list[tuple[int, int]]:
    """Bites by alternating speakers; returns the lower-third windows (B-roll keeps clear of them)."""
    frame = (canvas.width, canvas.height)
    speaker, previous = 0, 1
    introduced: set[int] = set()
    windows = []
    source_t = {k: canvas.frames(float(rng.uniform(10.0, 120.0))) for k in range(p.subjects)}
    while t < canvas.total:
        bite_end = min(canvas.total, t + canvas.frames(lognormal_seconds(rng, p.bite_mean_s, 0.5, 4.0, 90.0)))
        angle, bite_start = 0, t
        if speaker not in introduced or rng.random() < 0.2:
            windows.append(_lower_third(rng, canvas, p, media, thirds, names[speaker], t, bite_end))
            introduced.add(speaker)
        while t < bite_end:
            length = min(canvas.frames(float(rng.uniform(4.0, 15.0))), bite_end - t)
            if angle == 0:
                a_roll.add(t, t + length, main[speaker], source_t[speaker])
            else:
                framing = punch_framing(frame, frame, 100.0, p.tight_punch, faces[speaker])
                a_roll.add(t, t + length, tight[speaker], source_t[speaker], motion=framing)
            source_t[speaker] += length + canvas.frames(float(rng.uniform(1.0, 20.0)))
            angle = 1 - angle if p.two_camera else 0
            t += length
        if rng.random() < 0.3:
            a_roll.dissolve(bite_start, int(rng.integers(12, 25)))
        others = [k for k in range(p.subjects) if k != speaker]
        nxt = previous if previous in others and rng.random() < 0.6 else int(pick(rng, others))
        speaker, previous = nxt, speaker
    return [w for w in windows if w is not None]


def _lower_third(rng, canvas: Canvas, p: Params, media: MediaLibrary, thirds, name: str, start: int, end: int) -> tuple[int, int] | None:
    lo = start + canvas.frames(float(rng.uniform(0.5, 2.0)))
    hi = min(end, lo + canvas.frames(float(rng.uniform(4.0, 6.0))))
    if hi - lo < canvas.frames(2.0):
        return None
    if p.title_generator:
        thirds.add(lo, hi, generator("Text", "Text"), name=f"{name} - lower third")
    else:
        thirds.add(lo, hi, media.file("Graphics", f"lower_third_{name.lower()}.png", canvas.width, canvas.height))
    return lo, hi


def _b_roll(rng, canvas: Canvas, p: Params, media: MediaLibrary, b_roll, avoid: list[tuple[int, int]], t: int) -> None:
    frame = (canvas.width, canvas.height)
    places = [str(x) for x in rng.choice(_PLACES, size=4)]
    pool = [media.file("B-roll", f"{places[k % 4]}_{k + 1:03d}.mov", *frame) for k in range(p.broll_pool)]
    order = list(rng.permutation(len(pool)))
    archive = (3000, 2000)
    t += canvas.frames(float(rng.uniform(3.0, 20.0)))
    while t < canvas.total:
        for _ in range(int(rng.integers(1, 5))):
            length = canvas.frames(float(rng.uniform(2.5, 7.0)))
            if t + length > canvas.total or any(lo < t + length and t < hi for lo, hi in avoid):
                break
            if rng.random() < 0.15:
                still = media.file("Archive", f"archive_{int(rng.integers(1950, 1999))}_{int(rng.integers(1, 99)):02d}.jpg", *archive)
                b_roll.add(t, t + length, still, 0, motion=_push_in(rng, archive, frame, length))
            else:
                if not order:
                    order = list(rng.permutation(len(pool)))
                b_roll.add(t, t + length, pool[order.pop()], canvas.frames(float(rng.uniform(0.0, 30.0))) + 30)
            if rng.random() < p.p_dissolve:
                b_roll.dissolve(t, int(rng.integers(10, 21)))
            t += length
        t += canvas.frames(float(rng.uniform(3.0, 20.0)))


def _push_in(rng, src: tuple[int, int], frame: tuple[int, int], length: int) -> Motion:
    start = cover_scale(src, frame)
    end = start * float(rng.uniform(1.08, 1.25))
    return Motion(ramp(0, length, start, end, 3), Param(0.0), Param(0.0))
