"""What the viewer sees: per sampled frame, which tracks' pictures are seen and which are hidden.

NLE compositing puts higher tracks over lower ones (V1 at the bottom). A clip hides everything
below it where its picture is opaque and covers the whole frame: enabled on an enabled track,
at full opacity, with no alpha channel the exporter names (`<alphatype>` straight, black ...), in
normal composite mode, and with Basic Motion and Crop leaving no part of the frame uncovered.
Anything less (a picture-in-picture, a title, a 68 % opacity copy, a keyed graphic) lets the
picture below show through, so the tracks below stay visible.

Geometry follows shared/docs/xmeml.md section 6: scale in percent of the source's own size,
center in fractions of the source's size from the frame centre, crop in percent of the source's
own width and height. A source whose frame size the export does not give is taken to be the
sequence's size (most media in an edit are).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from model.features.grid import _evaluate
from model.timeline.types import Item, Param, Sequence

OPAQUE_OPACITY = 99.0  # percent: an editor cannot tell 99 % from 100 %
TRANSPARENT_OPACITY = 1.0  # percent: at or below it a clip shows nothing
EDGE_TOLERANCE = 0.005  # of the frame's width or height: a 1080-line frame may be missed by 5 lines
# Generators whose picture fills the frame (a colour matte, Premiere's Black Video and bars slugs);
# titles, text and graphics generators are drawn over what lies below.
OPAQUE_GENERATORS = frozenset({"generator:color", "generator:slug", "generator:colorsolid", "generator:matte"})


def _values(param: Param | None, default: float, source_frames: np.ndarray) -> np.ndarray | float:
    """The parameter per source frame; a plain number when it cannot vary (most clips: review and fill
    ask this of every clip, and per-frame arrays of a constant were most of the work)."""
    if param is None:
        return default
    if not param.is_keyframed:
        return float(param.value)
    return np.asarray(_evaluate(param, source_frames), np.float64)


def source_size(item: Item, seq: Sequence) -> tuple[int, int]:
    """The item's own frame size in pixels, else the sequence's."""
    src = item.source
    if src.width and src.height:
        return src.width, src.height
    return seq.width, seq.height


def picture_rect(item: Item, seq: Sequence, frames: np.ndarray) -> tuple[np.ndarray | float, ...]:
    """Per sequence frame in `frames`: the item's picture after motion and crop, as (x0, x1, y0, y1)
    in sequence pixels from the frame's centre (+y down); plain numbers where nothing is keyframed."""
    s = item.in_frame + (np.asarray(frames, np.int64) - item.start)
    sw, sh = source_size(item, seq)
    motion, crop = item.motion, item.crop
    scale = _values(motion.scale if motion else None, 100.0, s) / 100.0
    cx = _values(motion.center_x if motion else None, 0.0, s) * sw
    cy = _values(motion.center_y if motion else None, 0.0, s) * sh
    left, right, top, bottom = (
        _values(getattr(crop, side) if crop else None, 0.0, s) / 100.0 for side in ("left", "right", "top", "bottom")
    )
    x0 = cx + scale * sw * (left - 0.5)
    x1 = cx + scale * sw * (0.5 - right)
    y0 = cy + scale * sh * (top - 0.5)
    y1 = cy + scale * sh * (0.5 - bottom)
    return x0, x1, y0, y1


def covers_frame(item: Item, seq: Sequence, frames: np.ndarray) -> np.ndarray:
    """Per sequence frame in `frames`: whether the item's picture covers the whole sequence frame."""
    x0, x1, y0, y1 = picture_rect(item, seq, frames)
    w, h = seq.width / 2.0, seq.height / 2.0
    tw, th = EDGE_TOLERANCE * seq.width, EDGE_TOLERANCE * seq.height
    covers = (x0 <= -w + tw) & (x1 >= w - tw) & (y0 <= -h + th) & (y1 >= h - th)
    return np.broadcast_to(covers, np.shape(frames))


def covered_share(item: Item, seq: Sequence, frames: np.ndarray) -> np.ndarray:
    """Per sequence frame in `frames`: the share of the sequence frame's area the picture covers."""
    x0, x1, y0, y1 = picture_rect(item, seq, frames)
    w, h = seq.width / 2.0, seq.height / 2.0
    width = np.clip(np.minimum(x1, w) - np.maximum(x0, -w), 0.0, None)
    height = np.clip(np.minimum(y1, h) - np.maximum(y0, -h), 0.0, None)
    return np.broadcast_to(width * height / float(seq.width * seq.height), np.shape(frames))


def opacity(item: Item, frames: np.ndarray) -> np.ndarray:
    """Per frame: the item's opacity in percent (100 without an Opacity filter)."""
    s = item.in_frame + (np.asarray(frames, np.int64) - item.start)
    return np.broadcast_to(_values(item.opacity, 100.0, s), s.shape)


def opaque(item: Item, frames: np.ndarray) -> np.ndarray:
    """Per frame: whether the item's picture is opaque (says nothing about where it lies)."""
    n = len(frames)
    if not item.enabled or item.has_alpha or item.blends:
        return np.zeros(n, bool)
    if item.kind == "generator" and item.source.key.lower() not in OPAQUE_GENERATORS:
        return np.zeros(n, bool)
    return opacity(item, frames) >= OPAQUE_OPACITY


def hides_below(item: Item, seq: Sequence, frames: np.ndarray) -> np.ndarray:
    """Per frame: whether the item hides every track below it there."""
    return opaque(item, frames) & covers_frame(item, seq, frames)


@dataclass(frozen=True)
class Visibility:
    """The picture at sampled frames `frames` (S,) over the sequence's video tracks (T)."""

    frames: np.ndarray  # (S,) sequence frames
    painted: np.ndarray  # (S, T) an enabled item on an enabled track, not fully transparent
    hides: np.ndarray  # (S, T) that item hides everything below it
    hidden_by: np.ndarray  # (S, T) the nearest track above that hides this one there, else -1

    @cached_property  # asked once per reviewed clip: made once
    def visible(self) -> np.ndarray:
        """(S, T): the track's picture is seen (at least in part)."""
        return self.painted & (self.hidden_by < 0)

    @cached_property
    def top(self) -> np.ndarray:
        """(S,): the highest track whose picture is seen, -1 where nothing is."""
        vis = self.visible
        highest = vis.shape[1] - 1 - np.argmax(vis[:, ::-1], axis=1)
        return np.where(vis.any(axis=1), highest, -1)

    @cached_property
    def hole(self) -> np.ndarray:
        """(S,): no opaque full-frame picture there, so black (or nothing) shows somewhere."""
        return ~self.hides.any(axis=1)

    def hidden_share(self, track: int, lo: int, hi: int) -> tuple[float, int]:
        """Over samples [lo, hi) of `track`: the share hidden and the track hiding most of it (-1)."""
        by = self.hidden_by[lo:hi, track]
        if len(by) == 0:
            return 0.0, -1
        hidden = by[by >= 0]
        if len(hidden) == 0:
            return 0.0, -1
        values, counts = np.unique(hidden, return_counts=True)
        return len(hidden) / len(by), int(values[np.argmax(counts)])


class Pictures:
    """Per item of one sequence: whether its picture is painted and whether it hides what lies
    below, as plain booleans where nothing of it is keyframed (most clips), worked out once for
    every `visibility` of a pass (review's steps, fill's stretches and the gap check each ask)."""

    def __init__(self, seq: Sequence) -> None:
        self.seq = seq
        self._facts: dict[int, tuple[bool, bool] | None] = {}  # id(item) -> facts; the sequence keeps its items alive

    def facts(self, item: Item) -> tuple[bool, bool] | None:
        """(painted, hides below) the same at every frame, or None where a parameter is keyframed."""
        key = id(item)
        if key not in self._facts:
            self._facts[key] = None if _keyframed(item) else self._at_one_frame(item)
        return self._facts[key]

    def _at_one_frame(self, item: Item) -> tuple[bool, bool]:
        frame = np.array([item.start])
        return bool(opacity(item, frame)[0] > TRANSPARENT_OPACITY), bool(hides_below(item, self.seq, frame)[0])


def _keyframed(item: Item) -> bool:
    params = [item.opacity]
    if item.motion is not None:
        params += [item.motion.scale, item.motion.center_x, item.motion.center_y]
    if item.crop is not None:
        params += [item.crop.left, item.crop.right, item.crop.top, item.crop.bottom]
    return any(p is not None and p.is_keyframed for p in params)


def visibility(seq: Sequence, frames: np.ndarray, pictures: Pictures | None = None) -> Visibility:
    """Who is seen at each of `frames` (sorted sequence frames), over all the sequence's video tracks
    (`pictures`: the sequence's item facts, when the caller keeps them for several calls)."""
    frames = np.asarray(frames, np.int64)
    n_tracks = len(seq.video_tracks)
    painted = np.zeros((len(frames), n_tracks), bool)
    hides = np.zeros((len(frames), n_tracks), bool)
    for t, track in enumerate(seq.video_tracks):
        if not track.enabled:
            continue
        for item in track.items:
            if not item.enabled:
                continue
            lo, hi = np.searchsorted(frames, [item.start, item.end], side="left")
            if hi <= lo:
                continue
            facts = pictures.facts(item) if pictures is not None else None
            if facts is not None:
                painted[lo:hi, t], hides[lo:hi, t] = facts
                continue
            painted[lo:hi, t] = opacity(item, frames[lo:hi]) > TRANSPARENT_OPACITY
            hides[lo:hi, t] = hides_below(item, seq, frames[lo:hi])
    hidden_by = np.full((len(frames), n_tracks), -1, np.int64)
    nearest = np.full(len(frames), -1, np.int64)
    for t in range(n_tracks - 1, -1, -1):
        hidden_by[:, t] = nearest
        nearest = np.where(hides[:, t], t, nearest)
    return Visibility(frames, painted, hides, hidden_by)


def item_hidden_by(vis: Visibility, track: int, item: Item) -> tuple[float, int]:
    """The share of an item's sampled frames hidden by a track above it, and that track (-1)."""
    lo, hi = np.searchsorted(vis.frames, [item.start, item.end], side="left")
    return vis.hidden_share(track, int(lo), int(hi))
