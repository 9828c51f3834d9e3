"""Slips planted in a timeline to measure review: one per copy, each on a clip among others.

- `value`: the clip's scale (x 0.5/0.7/1.4/1.8) or one crop side (+15..35 %) set off its pattern;
- `disable`: the clip disabled (not the first or last of its track);
- `swap`: the clip shows another of the timeline's sources, not one of its neighbours';
- `blackout`: 1-3 s cut out of the track inside its covered span;
- `gap`: the clip starts 2-6 frames late where it touched the clip before;
- `repeat`: the clip shows media another clip of its track already shows;
- `lowres`: a source two thirds of the frame's size left at 100 % where its other clips fill the
  frame at 150 %.
A review item finds a slip when it is on the same track, overlaps it in time and names the right
field. This module needs only the timeline types and numpy, so that a benchmark can plant the same
slips for an older review (tests/bench/bench_real_review.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from model.timeline.types import Crop, Item, Keyframe, Motion, Param, Sequence

N_TRACKS = 20
SLIP_KINDS = ("value", "disable", "swap", "blackout", "gap", "repeat", "lowres")
FIELD_OF_KIND = {"disable": "active", "blackout": "active", "swap": "asset", "gap": "active", "repeat": "asset", "lowres": "scale"}


@dataclass(frozen=True)
class Slip:
    kind: str
    track: int  # 0-based
    start_frame: int
    end_frame: int
    field: str


# --- planting slips ------------------------------------------------------------------------


def plant_slip(seq: Sequence, kind: str, rng: np.random.Generator, tracks: set[int] | None = None) -> tuple[Sequence, Slip] | None:
    """A copy of `seq` with one slip of `kind` on one of `tracks` (default: any), or None when the
    edit has no place for it."""
    spots = eligible(seq, tracks)
    if not spots:
        return None
    order = rng.permutation(len(spots))
    for i in order:
        t, j = spots[i]
        planted = PLANTERS[kind](seq, t, j, rng)
        if planted is not None:
            return planted
    return None


def eligible(seq: Sequence, tracks: set[int] | None = None) -> list[tuple[int, int]]:
    """(track, item) of enabled clips with an enabled clip before and after them on an enabled track
    (of `tracks`, if given)."""
    out = []
    for t, track in enumerate(seq.video_tracks[:N_TRACKS]):
        if not track.enabled or (tracks is not None and t not in tracks):
            continue
        on = [j for j, it in enumerate(track.items) if it.enabled]
        out += [(t, j) for j in on[1:-1]]
    return out


def _with_item(seq: Sequence, t: int, j: int, item: Item | list[Item]) -> Sequence:
    track = seq.video_tracks[t]
    items = list(track.items)
    items[j : j + 1] = item if isinstance(item, list) else [item]
    tracks = list(seq.video_tracks)
    tracks[t] = replace(track, items=tuple(items))
    return replace(seq, video_tracks=tuple(tracks))


def _scaled(param: Param, factor: float) -> Param:
    return Param(param.value * factor, tuple(Keyframe(k.when, k.value * factor) for k in param.keyframes))


def _shifted(param: Param, delta: float) -> Param:
    return Param(min(95.0, param.value + delta), tuple(Keyframe(k.when, min(95.0, k.value + delta)) for k in param.keyframes))


def _plant_value(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    item = seq.video_tracks[t].items[j]
    if item.kind == "generator":
        return None
    if rng.random() < 0.5:
        motion = item.motion or Motion()
        factor = float(rng.choice([0.5, 0.7, 1.4, 1.8]))
        new = replace(item, motion=replace(motion, scale=_scaled(motion.scale, factor)))
        field = "scale"
    else:
        crop = item.crop or Crop()
        side = int(rng.integers(4))
        name = ("left", "right", "top", "bottom")[side]
        new = replace(item, crop=replace(crop, **{name: _shifted(getattr(crop, name), float(rng.uniform(15, 35)))}))
        field = ("crop_l", "crop_r", "crop_t", "crop_b")[side]
    return _with_item(seq, t, j, new), Slip("value", t, item.start, item.end, field)


def _plant_disable(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    item = seq.video_tracks[t].items[j]
    return _with_item(seq, t, j, replace(item, enabled=False)), Slip("disable", t, item.start, item.end, "active")


def _plant_swap(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    items = seq.video_tracks[t].items
    item = items[j]
    neighbours = {it.source.key for it in items[max(0, j - 1) : j + 2]}
    pool = {}
    for track in seq.video_tracks[:N_TRACKS]:
        for it in track.items:
            if it.source.key not in neighbours and it.source.kind == item.source.kind:
                pool[it.source.key] = it.source
    if not pool:
        return None
    keys = sorted(pool)
    source = pool[keys[int(rng.integers(len(keys)))]]
    return _with_item(seq, t, j, replace(item, source=source, name=source.name)), Slip("swap", t, item.start, item.end, "asset")


def _plant_blackout(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    item = seq.video_tracks[t].items[j]
    fps = seq.rate.fps
    length = math.ceil(Fraction(str(round(float(rng.uniform(1.0, 3.0)), 2))) * fps)
    if item.end - item.start < length + 2:
        return None
    start = item.start + int(rng.integers(1, item.end - item.start - length))
    end = start + length
    head = replace(item, end=start)
    tail = replace(item, start=end, in_frame=item.in_frame + (end - item.start), id=None)
    return _with_item(seq, t, j, [head, tail]), Slip("blackout", t, start, end, "active")


def _plant_gap(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    """The clip starts 2-6 frames late where it touched the clip before: a flash between them."""
    items = seq.video_tracks[t].items
    item, before = items[j], items[j - 1]
    frames = int(rng.integers(2, 7))
    if before.end != item.start or item.end - item.start < 3 * frames:
        return None
    new = replace(item, start=item.start + frames, in_frame=item.in_frame + frames)
    return _with_item(seq, t, j, new), Slip("gap", t, item.start, item.start + frames, "active")


def _plant_repeat(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    """The clip shows frames another clip of the edit (on another stretch of time) already shows."""
    item = seq.video_tracks[t].items[j]
    if item.kind == "generator":
        return None
    pool = [it for k, it in enumerate(seq.video_tracks[t].items) if k != j and it.enabled
            and it.source.kind in ("file", "sequence") and it.source.key != item.source.key
            and (it.end <= item.start or it.start >= item.end) and it.end - it.start >= 8]
    if not pool:
        return None
    other = pool[int(rng.integers(len(pool)))]
    new = replace(item, source=other.source, name=other.name, in_frame=other.in_frame)
    return _with_item(seq, t, j, new), Slip("repeat", t, item.start, item.end, "asset")


def _plant_lowres(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    """A source two thirds of the frame's size, scaled to 150 % to fill the frame on every clip of
    it on the track but this one, left at 100 % (where a source is already that small and filled
    that way, only the clip's scale is reset)."""
    items = seq.video_tracks[t].items
    item = items[j]
    if item.kind == "generator" or item.source.kind not in ("file", "sequence"):
        return None
    same = [k for k, it in enumerate(items) if it.source.key == item.source.key and it.enabled]
    if len(same) < 4:
        return None
    width, height = seq.width * 2 // 3, seq.height * 2 // 3
    small = replace(item.source, key=item.source.key + "#small", width=width, height=height)
    tracks = list(seq.video_tracks)
    new_items = list(items)
    for k in same:
        it = new_items[k]
        motion = it.motion or Motion()
        new_items[k] = replace(it, source=small, motion=replace(motion, scale=Param(150.0), center_x=Param(0.0), center_y=Param(0.0)))
    new_items[j] = replace(new_items[j], motion=None)
    tracks[t] = replace(tracks[t], items=tuple(new_items))
    return replace(seq, video_tracks=tuple(tracks)), Slip("lowres", t, item.start, item.end, "scale")


PLANTERS = {"value": _plant_value, "disable": _plant_disable, "swap": _plant_swap, "blackout": _plant_blackout,
             "gap": _plant_gap, "repeat": _plant_repeat, "lowres": _plant_lowres}


def hits(item, slip: Slip) -> bool:
    """Whether a review item (anything with track, field, start_frame, end_frame) finds the slip."""
    return (
        item.track == slip.track
        and item.field == slip.field
        and item.start_frame < slip.end_frame
        and slip.start_frame < item.end_frame
    )
