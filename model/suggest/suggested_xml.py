"""The suggested timeline `NAME.mtt.xml`: xmeml that Premiere, Resolve and FCP7 import.

For every sequence suggested for: the original sequence as read, then "<name> (mtt suggestions)"
holding the same edit plus the next and fill segments as clips of the timeline's own media (their
scale, position and crop as Basic Motion and Crop), and every review item as a marker whose
comment says what and why. Both are written from the Timeline by `model.timeline.xmeml_writer` (the
original is re-written, not byte-copied: it reads back to the same features, but exporter-only
details such as audio tracks and unknown filters are not carried over).

A suggested clip goes on the track the suggestion names; when that track is disabled or already
holds an item at that time (a `next` started inside the sequence), it goes on the first free
enabled track above it, so no original item is cut or covered.
"""

from __future__ import annotations

from dataclasses import replace

from model.suggest.items import ClipSuggestion, ReviewItem, SequenceSuggestions
from model.timeline.types import Crop, Item, Marker, Motion, Sequence, Timeline, Track, const
from model.timeline.xmeml_writer import write_xmeml

SUFFIX = " (mtt suggestions)"


def suggested_xmeml(timeline: Timeline, results: list[SequenceSuggestions]) -> bytes:
    sequences: list[Sequence] = []
    for r in results:
        sequences += [r.sequence, suggested_sequence(r)]
    return write_xmeml(Timeline(path=timeline.path, sequences=tuple(sequences), format="xmeml"))


def suggested_sequence(r: SequenceSuggestions) -> Sequence:
    tracks = [list(t.items) for t in r.sequence.video_tracks]
    enabled = [t.enabled for t in r.sequence.video_tracks]
    for kind, clips in (("next", r.next), ("fill", r.fill)):
        for clip in clips:
            t = _free_track(tracks, enabled, clip.track, clip.start_frame, clip.end_frame)
            tracks[t].append(_item(clip, kind))
    originals = r.sequence.video_tracks
    video_tracks = tuple(
        replace(originals[i], items=tuple(items)) if i < len(originals) else Track(items=tuple(items))
        for i, items in enumerate(tracks)
    )
    markers = r.sequence.markers + tuple(_marker(item) for item in r.review)
    return replace(r.sequence, name=r.sequence.name + SUFFIX, video_tracks=video_tracks, markers=markers, id=None)


def _free_track(tracks: list[list[Item]], enabled: list[bool], wanted: int, start: int, end: int) -> int:
    t = wanted
    while True:
        while t >= len(tracks):
            tracks.append([])
            enabled.append(True)
        if enabled[t] and not any(it.start < end and start < it.end for it in tracks[t]):
            return t
        t += 1


def _item(clip: ClipSuggestion, kind: str) -> Item:
    scale, pos_x, pos_y, left, right, top, bottom = clip.values
    motion = Motion(const(scale), const(pos_x), const(pos_y))
    crop = Crop(const(left), const(right), const(top), const(bottom))
    return Item(
        start=clip.start_frame,
        end=clip.end_frame,
        source=clip.source,
        in_frame=clip.in_frame,
        motion=None if motion.is_default else motion,
        crop=None if crop.is_default else crop,
        name=f"mtt {kind}: {clip.source.name}",
        kind="generator" if clip.source.kind == "generator" else "clip",
    )


def _marker(item: ReviewItem) -> Marker:
    what = f"V{item.track + 1} {item.field}: {_show(item.current)} -> {_show(item.suggested)}"
    why = f"{item.reason} (confidence {item.confidence:.2f})"
    return Marker(name=f"mtt review: {what}", frame=item.start_frame, comment=why, end=item.end_frame)


def _show(value) -> str:
    if isinstance(value, dict):
        return value["name"] or f"slot {value['slot']}"
    return "?" if value is None else f"{value:g}"
