"""What the programme itself allows a next or fill clip: its media's length, the framings in use,
and whether it has already ended.

- Media: a clip's in and out points lie inside the media. A file's length is its `<file><duration>`
  or the longest use the timeline makes of it, whichever is longer (real exports write in/out past a
  `<duration>` given at another rate). Stills and generators have no length.
- In-points: a clip that continues the item it follows goes on from that item's out point; any
  other clip takes material the programme has not used yet, just after the last use before it
  where that fits (an editor works through a rush in order), never a range already on the
  timeline when an unused one is long enough. A clip that continues its shot past the media's end
  stops there.
- Framings: scale, position and crop come from a framing some item uses, on the same track with
  the same source if any, then the same source, then the same track, then anywhere: never a size
  no clip uses (a rollout's regression head lands between framings).
- Closing: the programme looks finished when its last picture is an end slate, credits, a short
  ident played in full, a plain matte alone (black, a colour), or a reference master played to
  its last frame; `next` says so
  instead of holding the last shot after the end.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

import numpy as np

from model.timeline.types import Item, Sequence, Source

# Names of closing material in the corpus and common English ones (NRK: sluttplakat = end slate,
# rulletekst = credits; FCP7's credits generator is "Scrolling Text").
CLOSING_WORDS = re.compile(
    r"slutt|rulletekst|credit|end[ _-]?(slate|card|board|title|screen)|endslate|outro|closing|scrolling text|the end",
    re.IGNORECASE,
)
PLAIN_GENERATORS = frozenset({"generator:color", "generator:slug", "generator:colorsolid", "generator:matte"})
IDENT_MAX_S = 15  # a source this short played to its last frame at the very end is a closing ident or slate
REFERENCE_SHARE = 0.9  # one item covering this share of the sequence is a reference master
FULL_FRAME = (100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
BOUNDED_KINDS = ("file", "sequence", "masterclip")  # stills and generators last as long as asked


def item_values(item: Item) -> tuple[float, ...]:
    """An item's framing at its first frame, in VALUE_FIELDS order."""
    at = item.in_frame
    m, c = item.motion, item.crop
    motion = (m.scale.at(at), m.center_x.at(at), m.center_y.at(at)) if m is not None else FULL_FRAME[:3]
    crop = (c.left.at(at), c.right.at(at), c.top.at(at), c.bottom.at(at)) if c is not None else FULL_FRAME[3:]
    return tuple(round(float(v), 4) for v in (*motion, *crop))


@dataclass
class Programme:
    """Facts of one sequence that next and fill clips must respect; `claim` records a suggested
    clip's media so that the next suggestion does not reuse it."""

    seq: Sequence
    length: dict[str, int | None] = field(default_factory=dict)  # source key -> media frames (None: unbounded)
    used: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # source key -> sorted (in, out)
    last_in: dict[str, int] = field(default_factory=dict)  # source key -> in point of its latest use
    uses: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # source key -> (sequence end, out) by end
    framings: dict[tuple, dict[tuple, int]] = field(default_factory=dict)  # scope -> framing -> uses

    @classmethod
    def of(cls, seq: Sequence) -> Programme:
        p = cls(seq)
        longest: dict[str, int] = {}
        for t, track in enumerate(seq.video_tracks):
            for item in track.items:
                if not item.enabled or item.end <= item.start:
                    continue
                key = item.source.key
                out = item.in_frame + (item.end - item.start)
                longest[key] = max(longest.get(key, 0), out)
                p.used.setdefault(key, []).append((item.in_frame, out))
                p.uses.setdefault(key, []).append((item.end, out))
                p.last_in[key] = item.in_frame
                values = item_values(item)
                for scope in ((t, key), ("source", key), (t,), ()):
                    counts = p.framings.setdefault(scope, {})
                    counts[values] = counts.get(values, 0) + 1
                p.length.setdefault(key, None)
                if item.source.kind in BOUNDED_KINDS:
                    p.length[key] = max(item.source.duration or 0, longest[key])
        for ranges in p.used.values():
            ranges.sort()
        for ends in p.uses.values():
            ends.sort()
        return p

    def media_length(self, source: Source) -> int | None:
        if source.kind not in BOUNDED_KINDS:
            return None
        known = self.length.get(source.key)
        return known if known is not None else source.duration

    # -- in points

    def place(self, source: Source, track: int, start: int, frames: int) -> tuple[int, int]:
        """(in point, frames) of a clip of `source` at sequence frame `start` on `track`: inside the
        media, shortened to what the media has when it is shorter than asked."""
        limit = self.media_length(source)
        follows = self._continued(source, track, start)
        if limit is None:
            return (follows if follows is not None else self.last_in.get(source.key, 0)), frames
        if follows is not None:  # goes on in the shot it follows, up to the media's end (maybe nothing left)
            return follows, max(0, min(frames, limit - follows))
        return self._unused(source.key, limit, start, frames)

    def continues(self, source: Source, track: int, start: int) -> bool:
        """A clip of `source` at `start` on `track` would go on in the shot that ends there."""
        return self._continued(source, track, start) is not None

    def fresh(self, source: Source, start: int, frames: int) -> tuple[int, int]:
        """Like `place` for a clip that does not continue its shot: unused material."""
        limit = self.media_length(source)
        if limit is None:
            return self.last_in.get(source.key, 0), frames
        return self._unused(source.key, limit, start, frames)

    def claim(self, source: Source, in_frame: int, frames: int) -> None:
        ranges = self.used.setdefault(source.key, [])
        bisect.insort(ranges, (in_frame, in_frame + frames))

    def _continued(self, source: Source, track: int, start: int) -> int | None:
        """The out point of the item this clip continues (same source, ending where it starts)."""
        if track >= len(self.seq.video_tracks):
            return None
        for item in self.seq.video_tracks[track].items:
            if item.enabled and item.source.key == source.key and item.start < start <= item.end:
                return item.in_frame + (start - item.start)
        return None

    def _unused(self, key: str, limit: int, start: int, frames: int) -> tuple[int, int]:
        """Unused material: from the out point of the latest use ending before `start` if it fits,
        else the first unused stretch long enough, else the longest unused one (the clip shortens),
        else from the start again (all of it is used: a recurring sting or graphic)."""
        holes, at = [], 0
        for lo, hi in self.used.get(key, []):
            if lo > at:
                holes.append((at, lo))
            at = max(at, hi)
        if at < limit:
            holes.append((at, limit))
        uses = self.uses.get(key, [])
        before = bisect.bisect_right(uses, (start, float("inf")))
        after = uses[before - 1][1] if before else 0
        fitting = [(lo, hi) for lo, hi in holes if hi - max(lo, after) >= frames and hi > after]
        if fitting:
            return max(fitting[0][0], after), frames
        fitting = [(lo, hi) for lo, hi in holes if hi - lo >= frames]
        if fitting:
            return fitting[0][0], frames
        if holes:
            lo, hi = max(holes, key=lambda h: h[1] - h[0])
            return lo, hi - lo
        return 0, min(frames, limit)

    # -- framings

    def framing(self, source: Source, track: int, values: tuple[float, ...]) -> tuple[float, ...]:
        """The framing in use nearest to `values`, from the narrowest scope that has one."""
        for scope in ((track, source.key), ("source", source.key), (track,), ()):
            counts = self.framings.get(scope)
            if counts:
                return _nearest(values, counts)
        return FULL_FRAME

    # -- the end

    def finished(self) -> str | None:
        """Why the programme looks finished at its end (None: it does not)."""
        seq = self.seq
        end = seq.duration
        if end <= 0:
            return None
        fps = float(seq.rate.fps)
        last = [(t, it) for t, tr in enumerate(seq.video_tracks) if tr.enabled
                for it in tr.items if it.enabled and it.end == end]
        if last and all(_plain_matte(it, fps) for _, it in last):
            return f"it ends on a plain {last[0][1].source.key.split(':', 1)[1].lower()} matte (black or a colour to close on)"
        for t, item in sorted(last, key=lambda x: -x[0]):
            name = item.name or item.source.name
            for text in (item.name, item.source.name):
                if text and CLOSING_WORDS.search(text):
                    return f"it ends with closing material: {name!r} on V{t + 1}"
            # Only a length the file states: the longest use of an unknown file always "reaches its end".
            limit = item.source.duration if item.source.kind in BOUNDED_KINDS else None
            out = item.in_frame + (item.end - item.start)
            if limit is None or out < limit:
                continue
            if item.end - item.start >= REFERENCE_SHARE * end:
                return f"the reference {name!r} on V{t + 1} reaches its last frame here"
            if limit <= IDENT_MAX_S * fps and item.in_frame == 0:
                return f"{name!r} on V{t + 1} plays in full, to its last frame, at the end (a closing ident or slate)"
        return None


# How far apart two framings are, per field: scale in 10 %, positions in 0.1 of the frame, crops in 10 %.
FRAMING_UNITS = np.array([10.0, 0.1, 0.1, 10.0, 10.0, 10.0, 10.0])


def _plain_matte(item: Item, fps: float) -> bool:
    """A colour matte or black slug of at least a second (Premiere's slugs also stand for
    transparent video and adjustment layers, which close nothing)."""
    names = f"{item.name} {item.source.name}".lower()
    return (item.source.key.lower() in PLAIN_GENERATORS and item.end - item.start >= fps
            and "adjust" not in names and "transparent" not in names)


def _nearest(values: tuple[float, ...], counts: dict[tuple, int]) -> tuple[float, ...]:
    cands = np.array(list(counts), np.float64)
    dist = np.abs((cands - np.asarray(values, np.float64)) / FRAMING_UNITS).sum(-1)
    uses = np.array(list(counts.values()))
    best = np.lexsort((-uses, dist))[0]  # nearest, the most used on ties
    return tuple(float(v) for v in cands[best])
