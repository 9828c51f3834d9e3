"""What each video track is for, as an editor would name it, so that review and fill treat it so.

- `copy`: the same sources and cuts as another track (a 50 % opacity twin of V3 on V4, a
  duplicate kept for a grade): review speaks of the pair once, on the lower track of the two;
- `reference`: one opaque full-frame clip as long as the sequence over other tracks (an exported
  master laid on top to compare with): one item says it hides everything below, nothing else;
- `overlay`: mostly titles, keyed or see-through graphics and pictures-in-picture: its
  empty stretches are on purpose (no "empty" review, no fill);
- `a-roll`: the track that carries the programme (the lowest one covering most of it);
- `b-roll`: any other track of pictures (cutaways); a sparse one (short clips, mostly empty) has
  its empty stretches on purpose too;
- `empty`: nothing enabled on it (or the track is disabled).
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass

import numpy as np

from model.suggest.visibility import covered_share, hides_below, opaque
from model.timeline.types import Item, Sequence, Track

ROLES = ("a-roll", "b-roll", "overlay", "copy", "reference", "empty")
COPY_FRAMES = 2  # starts, ends and source offsets this close (frames) are the same cut
COPY_SHARE = 0.8  # of a track's clip time matched by the other track's clips: a copy
REFERENCE_SHARE = 0.9  # of the sequence's length in one clip: a reference
GRAPHICS_SHARE = 0.5  # of a track's clips that are titles, stills, keyed or smaller than the frame
SPARSE_COVER = 0.35  # of the track's own span shown ...
SHORT_SECONDS = 10.0  # ... in clips of at most this median length: a sparse track
A_ROLL_COVER = 0.5  # of the sequence's length: a track that carries the programme
A_ROLL_MIN_COVER = 0.2  # ... else the picture track covering most of it, if it covers this much
PICTURE_SHARE = 0.7  # of the frame's area: a picture, not a picture-in-picture


@dataclass(frozen=True)
class TrackRole:
    role: str
    of: int = -1  # copy: the track it copies (0-based); reference: -1
    why: str = ""  # for messages and reports
    sparse: bool = False  # shows less than SPARSE_COVER of its own span

    @property
    def reviewed(self) -> bool:
        """Whether review looks at the track's own clips (copies speak through their original)."""
        return self.role not in ("copy", "reference", "empty")

    @property
    def gaps_matter(self) -> bool:
        """Whether an empty stretch inside the track is worth an item (or a fill): not on overlay
        tracks, nor on sparse cutaway tracks, whose empty stretches are the rule."""
        return self.role == "a-roll" or (self.role == "b-roll" and not self.sparse)


def _enabled(track: Track) -> list[Item]:
    return [it for it in track.items if it.enabled] if track.enabled else []


def same_cut(a: Item, b: Item) -> bool:
    """The same source, cut at the same frames (within COPY_FRAMES), in sync."""
    return (
        a.source.key == b.source.key
        and abs(a.start - b.start) <= COPY_FRAMES
        and abs(a.end - b.end) <= COPY_FRAMES
        and abs((a.in_frame - a.start) - (b.in_frame - b.start)) <= COPY_FRAMES
    )


def copy_share(items: Seq[Item], others: Seq[Item]) -> float:
    """The share of `items`' clip time that `others` repeat with the same source and cut."""
    total = sum(it.end - it.start for it in items)
    if total == 0:
        return 0.0
    starts = np.array([o.start for o in others], np.int64)
    matched = 0
    for it in items:
        lo = int(np.searchsorted(starts, it.start - COPY_FRAMES, side="left"))
        hi = int(np.searchsorted(starts, it.start + COPY_FRAMES, side="right"))
        if any(same_cut(it, others[k]) for k in range(lo, hi)):
            matched += it.end - it.start
    return matched / total


def is_graphic(item: Item, seq: Sequence) -> bool:
    """A title, a keyed, blended or see-through picture, or one that leaves much of the frame
    uncovered (a picture-in-picture; a letterboxed film still counts as the frame's picture)."""
    mid = np.array([(item.start + item.end) // 2])
    return not bool(opaque(item, mid)[0] and covered_share(item, seq, mid)[0] >= PICTURE_SHARE)


def track_roles(seq: Sequence) -> list[TrackRole]:
    """The role of every video track of the sequence, V1 first."""
    tracks = [_enabled(tr) for tr in seq.video_tracks]
    duration = seq.duration
    roles: list[TrackRole | None] = [None] * len(tracks)
    for t, items in enumerate(tracks):
        if not items:
            roles[t] = TrackRole("empty", why="no enabled clips")
    # Copies: the higher track of a matching pair copies the lower one.
    for t, items in enumerate(tracks):
        if roles[t] is not None:
            continue
        for u in range(t):
            if roles[u] is not None and roles[u].role in ("empty", "copy"):
                continue
            if copy_share(items, tracks[u]) >= COPY_SHARE and copy_share(tracks[u], items) >= COPY_SHARE:
                roles[t] = TrackRole("copy", u, f"the same {len(items)} clips and cuts as V{u + 1}")
                break
    for t, items in enumerate(tracks):
        if roles[t] is None:
            roles[t] = _own_role(seq, t, items, tracks, duration)
    a_roll = next((t for t, r in enumerate(roles) if r.role == "b-roll" and _cover(tracks[t]) >= A_ROLL_COVER * duration), None)
    if a_roll is None:  # else the track covering the most of the programme
        pictures = [t for t, r in enumerate(roles) if r.role == "b-roll"]
        a_roll = max(pictures, key=lambda t: (_cover(tracks[t]), -t), default=None)
        if a_roll is not None and _cover(tracks[a_roll]) < A_ROLL_MIN_COVER * duration:
            a_roll = None
    if a_roll is not None:
        roles[a_roll] = TrackRole("a-roll", why="carries the programme", sparse=roles[a_roll].sparse)
    return roles


def _cover(items: list[Item]) -> int:
    return sum(it.end - it.start for it in items)


def _own_role(seq: Sequence, t: int, items: list[Item], tracks: list[list[Item]], duration: int) -> TrackRole:
    longest = max(items, key=lambda it: it.end - it.start)
    below = any(tracks[u] for u in range(t))
    if below and len(items) <= 2 and longest.end - longest.start >= REFERENCE_SHARE * duration:
        frames = np.linspace(longest.start, longest.end - 1, 64).astype(np.int64)
        if hides_below(longest, seq, frames).mean() >= 0.9:
            return TrackRole("reference", why=f"'{longest.name or longest.source.name}' covers the whole sequence")
    graphics = sum(is_graphic(it, seq) for it in items) / len(items)
    if graphics >= GRAPHICS_SHARE:
        return TrackRole("overlay", why=f"{graphics:.0%} of its clips are titles, graphics or pictures-in-picture")
    span = max(1, items[-1].end - items[0].start)
    median = float(np.median([it.end - it.start for it in items])) / float(seq.rate.fps)
    sparse = len(items) >= 2 and _cover(items) < SPARSE_COVER * span and median <= SHORT_SECONDS
    return TrackRole("b-roll", why="sparse cutaways" if sparse else "", sparse=sparse)
