"""Review's unit: a segment, a run of steps on one track showing one item (a clip, a disabled
clip) or nothing, and every shown use of each source across the edit."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from model.features.grid import N_TRACKS, SequenceFeatures, step_frames
from model.timeline.types import Item, Sequence

# What a visible difference is, per value field: scale and crop in percent, position in xmeml
# units (0.5 = half the image). Deviations are measured in these units before calibration.
VALUE_UNITS = np.array([10.0, 0.1, 0.1, 5.0, 5.0, 5.0, 5.0])
SAME = 0.25  # two values within a quarter unit are the same setting


@dataclass
class Segment:
    track: int
    start: int  # first step
    end: int  # step after the last
    item: Item | None  # the item painted there (may be disabled); None for an empty stretch
    active: bool
    source_index: int
    values: np.ndarray  # (7,) median over the segment, VALUE_FIELDS order
    start_frame: int
    end_frame: int


def track_segments(seq: Sequence, feats: SequenceFeatures) -> list[list[Segment]]:
    """Per kept track, its runs of one painted item (or none); disabled tracks give no runs."""
    frames = step_frames(seq, feats.step_seconds)
    per_step = feats.frames_per_step
    duration = seq.duration
    out: list[list[Segment]] = []
    for t, track in enumerate(seq.video_tracks[:N_TRACKS]):
        if not track.enabled or feats.steps == 0:
            out.append([])
            continue
        ids = np.full(feats.steps, -1, np.int64)
        for i, item in enumerate(track.items):
            lo, hi = np.searchsorted(frames, [item.start, item.end], side="left")
            ids[lo:hi] = i
        cells = feats.grid[:, t]
        moved = np.concatenate([[0], np.cumsum(np.any(cells[1:, 2:] != cells[:-1, 2:], axis=1))])
        cuts = np.flatnonzero(np.diff(ids)) + 1
        bounds = [0, *cuts.tolist(), feats.steps]
        segs = []
        for a, b in itertools.pairwise(bounds):
            item = track.items[ids[a]] if ids[a] >= 0 else None
            active = bool(cells[a, 0] > 0.5)
            if not active:
                values = np.zeros(7)
            elif moved[b - 1] == moved[a]:  # constant: most clips
                values = cells[a, 2:].astype(np.float64)
            else:  # keyframed
                values = np.median(cells[a:b, 2:], axis=0).astype(np.float64)
            lo_f = item.start if item is not None else math.ceil(a * per_step)
            hi_f = item.end if item is not None else min(duration, math.ceil(b * per_step))
            segs.append(Segment(t, a, b, item, active, int(feats.source_index[a, t]), values, lo_f, hi_f))
        _snap_empty_segments(segs)
        out.append(segs)
    return out


def _snap_empty_segments(segs: list[Segment]) -> None:
    """An empty stretch spans exactly from the item before it to the item after it."""
    for i, seg in enumerate(segs):
        if seg.item is not None:
            continue
        if i > 0 and segs[i - 1].item is not None:
            seg.start_frame = segs[i - 1].item.end
        if i + 1 < len(segs) and segs[i + 1].item is not None:
            seg.end_frame = segs[i + 1].item.start


class SourceUses:
    """Every shown segment of each source, with what asset evidence asks of them."""

    def __init__(self, segments: list[list[Segment]]) -> None:
        self.segments: dict[int, list[Segment]] = {}
        for segs in segments:
            for s in segs:
                if s.active:
                    self.segments.setdefault(s.source_index, []).append(s)
        offsets = {k: Counter(o for o in map(_offset, v) if o is not None) for k, v in self.segments.items()}
        # Each source's two most used offsets, as (uses, offset): the most used one once a clip
        # leaves itself out is one of them.
        self.top_offsets = {k: sorted(((c, o) for o, c in counts.items()), reverse=True)[:2] for k, counts in offsets.items()}
        self.ranges = {k: np.array([_source_range(s) for s in v], np.int64).reshape(-1, 2) for k, v in self.segments.items()}
        self.items = {k: np.array([id(s.item) for s in v]) for k, v in self.segments.items()}

    def count(self, source: int) -> int:
        return len(self.segments[source])

    def sync_break(self, seg: Segment) -> float:
        """1 when the source is otherwise used in sync (two or more other uses share one offset of
        source to sequence time, as multicam angles do) and this clip is not: a clip swapped in
        keeps the in point of the angle it replaced."""
        mine = _offset(seg)
        if mine is None:
            return 0.0
        others = [(c - (o == mine), o) for c, o in self.top_offsets[seg.source_index]]
        uses, offset = max(others)
        return float(uses >= 2 and abs(offset - mine) > 1)

    def in_sync_count(self, seg: Segment) -> int:
        """How many other uses of the source share its most used offset (the in-sync uses)."""
        mine = _offset(seg)
        if mine is None:
            return 0
        return max((c - (o == mine) for c, o in self.top_offsets[seg.source_index]), default=0)

    def shown_before(self, seg: Segment) -> float:
        """The share of this clip's source frames that another clip of the edit shows too."""
        if seg.item is None or seg.item.source.kind not in ("file", "sequence"):
            return 0.0
        lo, hi = _source_range(seg)
        ranges = self.ranges[seg.source_index]
        overlap = np.minimum(hi, ranges[:, 1]) - np.maximum(lo, ranges[:, 0])
        overlap[self.items[seg.source_index] == id(seg.item)] = 0  # its own item, maybe split in two
        return max(0, int(overlap.max(initial=0))) / max(1, hi - lo)


def _offset(seg: Segment) -> int | None:
    return None if seg.item is None else seg.item.in_frame - seg.item.start


def _source_range(seg: Segment) -> tuple[int, int]:
    if seg.item is None:
        return (0, 0)
    return seg.item.in_frame, seg.item.in_frame + (seg.item.end - seg.item.start)

