"""The suggested timeline `NAME.mtt.xml`: xmeml that Premiere, Resolve and FCP7 import.

For every sequence suggested for: the original sequence, then "<name> (mtt suggestions)" holding
the same edit plus the next and fill segments as clips of the timeline's own media (their scale,
position and crop as Basic Motion and Crop), and every review item as a marker whose comment says
what and why.

When the input is xmeml, the document is the input itself: every element of it stays as the
exporter wrote it (audio tracks, clip types, generators, effects, bins), and each suggestions
sequence is a copy of its original inserted right after it. In the copy, clip ids get a suffix
(links follow) and full `<file>`/nested `<sequence>` definitions become references to the
original's, so no id is defined twice (Resolve drops clips whose file is defined twice). Other
inputs (the plugins' JSON, FCPXML, Kdenlive) are written from the Timeline by
`model.timeline.xmeml_writer`, which knows video only.

A suggested clip goes on the track the suggestion names; when that track is disabled or already
holds an item at that time (a `next` started inside the sequence), it goes on the first free
enabled track above it, so no original item is cut or covered. Its out point never passes the
media's end (next and fill keep to the media: `model.suggest.programme`).
"""

from __future__ import annotations

import copy
from dataclasses import replace

from lxml import etree

from model.suggest.items import ClipSuggestion, ReviewItem, SequenceSuggestions
from model.timeline.safe_xml import parse_xml_bytes
from model.timeline.types import Crop, Item, Marker, Motion, Sequence, Timeline, Track, const
from model.timeline.xmeml import top_level_sequences
from model.timeline.xmeml_writer import PROLOG, item_element, marker_element, write_xmeml

SUFFIX = " (mtt suggestions)"
ID_SUFFIX = "-mtt"
ITEM_TAGS = ("clipitem", "generatoritem", "transitionitem")


def suggested_xmeml(timeline: Timeline, results: list[SequenceSuggestions], source_bytes: bytes | None = None) -> bytes:
    if timeline.format == "xmeml" and source_bytes:
        return _beside_the_input(timeline, results, source_bytes)
    sequences: list[Sequence] = []
    for r in results:
        sequences += [r.sequence, suggested_sequence(r)]
    return write_xmeml(Timeline(path=timeline.path, sequences=tuple(sequences), format="xmeml"))


# -- xmeml input: the input document, a suggestions copy after each sequence


def _beside_the_input(timeline: Timeline, results: list[SequenceSuggestions], data: bytes) -> bytes:
    root = parse_xml_bytes(data, timeline.path)
    elements = top_level_sequences(root)
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    for r in results:
        index = next(i for i, s in enumerate(timeline.sequences) if s is r.sequence)
        original = elements[index]
        original.addnext(_suggestions_copy(original, r, ids))
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8")
    return PROLOG.encode() + b"\n" + body + b"\n"


def _suggestions_copy(original: etree._Element, r: SequenceSuggestions, ids: set[str]) -> etree._Element:
    el = copy.deepcopy(original)
    el.tail = original.tail
    _unique_ids(el, ids)
    name = el.find("name")
    if name is None:
        name = etree.SubElement(el, "name")
    name.text = (name.text or r.sequence.name) + SUFFIX
    tracks = el.findall("media/video/track")
    video = el.find("media/video")
    rate = r.sequence.rate
    for kind, clip, t in _placed(r):
        while t >= len(tracks):
            track = etree.SubElement(video, "track")
            etree.SubElement(track, "enabled").text = "TRUE"
            etree.SubElement(track, "locked").text = "FALSE"
            tracks.append(track)
        item = item_element(_item(clip, kind), rate, _reference(clip))
        item.set("id", _fresh(f"clipitem{ID_SUFFIX}", ids))
        _insert_in_time_order(tracks[t], item)
    for item in r.review:
        el.append(marker_element(_marker(item)))
    return el


def _unique_ids(el: etree._Element, ids: set[str]) -> None:
    """Clip and sequence ids of the copy get a suffix; full definitions of files and nested
    sequences become references (`<file id/>`) to the original's."""
    renamed: dict[str, str] = {}
    if el.get("id"):
        el.set("id", _fresh(el.get("id"), ids))
    definitions = [n for n in el.iter("file", "sequence") if n is not el and n.get("id") and len(n)]
    for node in definitions:  # collected first: emptying a node while iterating would skip its siblings
        for child in list(node):
            node.remove(child)
        node.text = None
    for node in el.iter(*ITEM_TAGS):
        old = node.get("id")
        if old:
            renamed[old] = renamed.get(old) or _fresh(old, ids)
            node.set("id", renamed[old])
    for ref in el.iter("linkclipref"):
        if ref.text in renamed:
            ref.text = renamed[ref.text]


def _fresh(old: str, ids: set[str]) -> str:
    new, n = f"{old}{ID_SUFFIX}", 1
    while new in ids:
        n += 1
        new = f"{old}{ID_SUFFIX}{n}"
    ids.add(new)
    return new


def _reference(clip: ClipSuggestion) -> str | None:
    """The id of the definition a suggested clip's source refers to (None: define it)."""
    source = clip.source
    if source.kind == "sequence":
        return source.key.removeprefix("sequence:")
    if source.kind in ("file", "still"):
        return source.id
    return None


def _insert_in_time_order(track: etree._Element, item: etree._Element) -> None:
    """After the last item that starts at or before the new one (before `enabled`/`locked`), but
    never between a transition and the items it joins (a -1 start or end must stay next to it)."""
    start = int(item.findtext("start"))
    children = list(track)
    at = 0
    for i, child in enumerate(children):
        if child.tag in ITEM_TAGS:
            when = _int(child.findtext("start"))
            when = _int(child.findtext("end")) if when == -1 else when
            if when is not None and when <= start:
                at = i + 1
            elif at == 0:
                at = i

    def free(i: int) -> bool:
        before = children[i - 1] if i > 0 else None
        after = children[i] if i < len(children) else None
        joined_before = before is not None and (before.tag == "transitionitem" or _int(before.findtext("end")) == -1)
        joined_after = after is not None and (after.tag == "transitionitem" or _int(after.findtext("start")) == -1)
        return not (joined_before or joined_after)

    at = next((i for i in range(at, len(children) + 1) if free(i)), len(children))
    track.insert(at, item)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# -- the suggestions as items and markers


def _placed(r: SequenceSuggestions) -> list[tuple[str, ClipSuggestion, int]]:
    """(kind, clip, track index) of every next and fill clip, on a free enabled track."""
    tracks = [list(t.items) for t in r.sequence.video_tracks]
    enabled = [t.enabled for t in r.sequence.video_tracks]
    placed = []
    for kind, clips in (("next", r.next), ("fill", r.fill)):
        for clip in clips:
            t = _free_track(tracks, enabled, clip.track, clip.start_frame, clip.end_frame)
            tracks[t].append(_item(clip, kind))
            placed.append((kind, clip, t))
    return placed


def suggested_sequence(r: SequenceSuggestions) -> Sequence:
    """The suggestions sequence as a Timeline sequence (inputs that are not xmeml)."""
    tracks = [list(t.items) for t in r.sequence.video_tracks]
    for kind, clip, t in _placed(r):
        while t >= len(tracks):
            tracks.append([])
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
