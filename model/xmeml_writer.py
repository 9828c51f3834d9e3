"""Write a Timeline as xmeml shaped like a Premiere Pro export (version 4, `<!DOCTYPE xmeml>`).

Readable by this project's reader (the same features come back) and by OpenTimelineIO's FCP7
adapter. Output is deterministic: ids are numbered in document order (sequence-N, clipitem-N,
file-N) and nothing depends on the clock. Basic Motion and Crop are written only when not default;
a file is fully defined on first use and referenced by `<file id/>` after; a nested sequence gets
one minimal definition and `<sequence id/>` references. Sources are written so that the reader
rebuilds their keys: files from `path` (else `name`), nested sequences, generators and master
clips from the id that follows the key's `sequence:`, `generator:` or `masterclip:` prefix.
Master-clip sources become clipitems with only a `<masterclipid>`, as Premiere writes multicam
clips; OpenTimelineIO cannot read those (xmeml.md 12), everything else it reads.
"""

from __future__ import annotations

import os
from decimal import Decimal
from itertools import count
from pathlib import Path

from lxml import etree

from model.timeline import Crop, Item, Marker, Motion, Param, Rate, Sequence, Source, Timeline, Track, Transition
from model.xmeml import cut_point

E = etree.SubElement


def write_xmeml(timeline: Timeline) -> bytes:
    """The timeline as xmeml bytes (UTF-8, with declaration and DOCTYPE)."""
    root = _Writer(timeline).document()
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + body


def write_xmeml_file(timeline: Timeline, path: str | Path) -> None:
    """Write atomically: a temporary file beside `path`, then a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(write_xmeml(timeline))
    os.replace(tmp, path)


class _Ids:
    """`prefix-N` ids in order of use, skipping ids that sources already own."""

    def __init__(self, reserved: set[str]) -> None:
        self.reserved = reserved
        self.counters: dict[str, count] = {}

    def next(self, prefix: str) -> str:
        counter = self.counters.setdefault(prefix, count(1))
        while (ident := f"{prefix}-{next(counter)}") in self.reserved:
            pass
        return ident


class _Writer:
    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        sources = [it.source for seq in timeline.sequences for tr in seq.video_tracks for it in tr.items]
        self.ids = _Ids({_key_id(s) for s in sources if s.kind in ("sequence", "masterclip") or _keyed_by_id(s)})
        self.file_ids: dict[str, str] = {}  # source key -> file id written
        self.nested_written: set[str] = set()

    def document(self) -> etree._Element:
        root = etree.Element("xmeml", version="4")
        for seq in self.timeline.sequences:
            self.sequence(root, seq)
        return root

    def sequence(self, parent: etree._Element, seq: Sequence) -> None:
        el = E(parent, "sequence", id=self.ids.next("sequence"))
        _text(el, "duration", seq.duration)
        _rate(el, seq.rate)
        _text(el, "name", seq.name)
        video = E(E(el, "media"), "video")
        chars = E(E(video, "format"), "samplecharacteristics")
        _rate(chars, seq.rate)
        _text(chars, "width", seq.width)
        _text(chars, "height", seq.height)
        _text(chars, "anamorphic", "FALSE")
        _text(chars, "pixelaspectratio", "square")
        _text(chars, "fielddominance", "none")
        for track in seq.video_tracks:
            self.track(video, track, seq)
        _timecode(el, seq)
        for marker in seq.markers:
            _marker(el, marker)

    def track(self, parent: etree._Element, track: Track, seq: Sequence) -> None:
        el = E(parent, "track")
        nodes = _document_order(track)
        for i, node in enumerate(nodes):
            if isinstance(node, Transition):
                _transition(el, node, seq.rate)
                continue
            head = nodes[i - 1] if i > 0 and isinstance(nodes[i - 1], Transition) else None
            tail = nodes[i + 1] if i + 1 < len(nodes) and isinstance(nodes[i + 1], Transition) else None
            self.item(el, node, seq, head, tail)
        _text(el, "enabled", _bool(track.enabled))
        _text(el, "locked", "FALSE")

    def item(self, parent: etree._Element, item: Item, seq: Sequence, head, tail) -> None:
        """Premiere writes -1 for a start or end that sits on an adjacent transition's cut."""
        start, end, in_value = str(item.start), str(item.end), item.in_frame
        if head is not None and cut_point(head) == item.start and item.in_frame - (item.start - head.start) >= 0:
            start, in_value = "-1", item.in_frame - (item.start - head.start)
        if tail is not None and cut_point(tail) == item.end:
            end = "-1"
        generator = item.source.kind == "generator"
        el = E(parent, "generatoritem" if generator else "clipitem", id=self.ids.next("clipitem"))
        _text(el, "name", item.name or item.source.name)
        _text(el, "enabled", _bool(item.enabled))
        out = item.in_frame + (item.end - item.start)
        _text(el, "duration", item.source.duration if item.source.duration is not None else out)
        _rate(el, seq.rate)
        for tag, value in (("start", start), ("end", end), ("in", in_value), ("out", out)):
            _text(el, tag, value)
        self.source(el, item.source, seq.rate)
        if item.motion is not None and not item.motion.is_default:
            _motion(el, item.motion)
        if item.crop is not None and not item.crop.is_default:
            _crop(el, item.crop)

    def source(self, el: etree._Element, source: Source, rate: Rate) -> None:
        if source.kind == "generator":
            _generator_effect(el, source)
        elif source.kind == "sequence":
            self.nested(el, source, rate)
        elif source.kind == "masterclip":
            _text(el, "masterclipid", _key_id(source))
        else:
            self.file(el, source, rate)

    def file(self, parent: etree._Element, source: Source, rate: Rate) -> None:
        """Full definition on first use, `<file id/>` after; a file known only by id stays a bare reference."""
        known = self.file_ids.get(source.key)
        if known is not None or _keyed_by_id(source):
            E(parent, "file", id=known or source.key)
            return
        ident = self.ids.next("file")
        self.file_ids[source.key] = ident
        el = E(parent, "file", id=ident)
        _text(el, "name", source.name)
        if source.path:
            _text(el, "pathurl", source.path)
        _rate(el, rate)
        if source.duration is not None:
            _text(el, "duration", source.duration)
        if source.width is not None and source.height is not None:
            chars = E(E(E(el, "media"), "video"), "samplecharacteristics")
            _text(chars, "width", source.width)
            _text(chars, "height", source.height)

    def nested(self, parent: etree._Element, source: Source, rate: Rate) -> None:
        ident = _key_id(source)
        el = E(parent, "sequence", id=ident)
        if source.key in self.nested_written:
            return
        self.nested_written.add(source.key)
        _text(el, "duration", source.duration or 0)
        _rate(el, rate)
        _text(el, "name", source.name)
        video = E(E(el, "media"), "video")
        if source.width is not None and source.height is not None:
            chars = E(E(video, "format"), "samplecharacteristics")
            _text(chars, "width", source.width)
            _text(chars, "height", source.height)


def _document_order(track: Track) -> list:
    """Items in their own order; each transition just before the first item starting at or after its cut."""
    nodes: list = list(track.items)
    for t in sorted(track.transitions, key=cut_point, reverse=True):
        cut = cut_point(t)
        at = next((i for i, n in enumerate(nodes) if isinstance(n, Item) and n.start >= cut), len(nodes))
        nodes.insert(at, t)
    return nodes


def _keyed_by_id(source: Source) -> bool:
    """A file whose definition the exporter never wrote: its key is the bare `<file id>`."""
    return source.kind in ("file", "still") and not source.path and source.key != source.name


def _key_id(source: Source) -> str:
    prefix = f"{source.kind}:"
    return source.key[len(prefix) :] if source.key.startswith(prefix) else source.key


def _generator_effect(parent: etree._Element, source: Source) -> None:
    effect_id = _key_id(source)
    effect = E(parent, "effect")
    _text(effect, "name", source.name or effect_id)
    _text(effect, "effectid", effect_id)
    _text(effect, "effectcategory", "Matte")
    _text(effect, "effecttype", "generator")
    _text(effect, "mediatype", "video")


def _motion(parent: etree._Element, motion: Motion) -> None:
    effect = _filter_effect(parent, "Basic Motion", "basic")
    _param(effect, "scale", "Scale", motion.scale, (0, 1000))
    _param(effect, "rotation", "Rotation", Param(0.0), (-8640, 8640))
    _center(effect, "center", "Center", motion.center_x, motion.center_y)
    _center(effect, "centerOffset", "Anchor Point", Param(0.0), Param(0.0))


def _crop(parent: etree._Element, crop: Crop) -> None:
    effect = _filter_effect(parent, "Crop", "crop")
    for pid, name, param in (
        ("left", "Left", crop.left),
        ("right", "Right", crop.right),
        ("top", "Top", crop.top),
        ("bottom", "Bottom", crop.bottom),
    ):
        _param(effect, pid, name, param, (0, 100))


def _filter_effect(parent: etree._Element, name: str, effect_id: str) -> etree._Element:
    effect = E(E(parent, "filter"), "effect")
    _text(effect, "name", name)
    _text(effect, "effectid", effect_id)
    _text(effect, "effectcategory", "motion")
    _text(effect, "effecttype", "motion")
    _text(effect, "mediatype", "video")
    return effect


def _param(effect: etree._Element, pid: str, name: str, param: Param, bounds: tuple[int, int]) -> None:
    el = E(effect, "parameter", authoringApp="PremierePro")
    _text(el, "parameterid", pid)
    _text(el, "name", name)
    _text(el, "valuemin", bounds[0])
    _text(el, "valuemax", bounds[1])
    _text(el, "value", _num(param.value))
    for key in param.keyframes:
        kf = E(el, "keyframe")
        _text(kf, "when", _num(key.when))
        _text(kf, "value", _num(key.value))


def _center(effect: etree._Element, pid: str, name: str, x: Param, y: Param) -> None:
    """One xmeml parameter holds both axes; keys of either axis become keys of both."""
    el = E(effect, "parameter", authoringApp="PremierePro")
    _text(el, "parameterid", pid)
    _text(el, "name", name)
    _point(el, "value", x.value, y.value)
    whens = sorted({k.when for k in x.keyframes} | {k.when for k in y.keyframes})
    for when in whens:
        kf = E(el, "keyframe")
        _text(kf, "when", _num(when))
        _point(kf, "value", x.at(when), y.at(when))


def _point(parent: etree._Element, tag: str, horiz: float, vert: float) -> None:
    value = E(parent, tag)
    _text(value, "horiz", _num(horiz))
    _text(value, "vert", _num(vert))


def _transition(parent: etree._Element, t: Transition, rate: Rate) -> None:
    el = E(parent, "transitionitem")
    _text(el, "start", t.start)
    _text(el, "end", t.end)
    _text(el, "alignment", t.alignment)
    _rate(el, rate)
    effect = E(el, "effect")
    _text(effect, "name", t.name)
    _text(effect, "effectid", t.name)
    _text(effect, "effectcategory", "Dissolve")
    _text(effect, "effecttype", "transition")
    _text(effect, "mediatype", "video")


def _timecode(parent: etree._Element, seq: Sequence) -> None:
    el = E(parent, "timecode")
    _rate(el, seq.rate)
    _text(el, "string", timecode_string(seq.timecode_start, seq.rate, seq.drop_frame))
    _text(el, "frame", seq.timecode_start)
    _text(el, "displayformat", "DF" if seq.drop_frame else "NDF")


def _marker(parent: etree._Element, marker: Marker) -> None:
    el = E(parent, "marker")
    _text(el, "name", marker.name)
    _text(el, "comment", marker.comment)
    _text(el, "in", marker.frame)
    _text(el, "out", marker.end if marker.end is not None else -1)


def timecode_string(frame: int, rate: Rate, drop_frame: bool) -> str:
    """HH:MM:SS:FF, or HH;MM;SS;FF with the SMPTE drop-frame count for 30/60 NTSC rates."""
    fps = rate.timebase
    drop = drop_frame and rate.ntsc and fps % 30 == 0
    if drop:
        skip = 2 * (fps // 30)
        per_min = fps * 60 - skip
        per_10min = per_min * 10 + skip
        tens, rest = divmod(frame, per_10min)
        frame += skip * 9 * tens + (skip * ((rest - skip) // per_min) if rest > skip else 0)
    sign = "-" if frame < 0 else ""
    frame = abs(frame)
    ff, seconds = frame % fps, frame // fps
    sep = ";" if drop else ":"
    return f"{sign}{seconds // 3600:02d}{sep}{seconds // 60 % 60:02d}{sep}{seconds % 60:02d}{sep}{ff:02d}"


def _rate(parent: etree._Element, rate: Rate) -> None:
    el = E(parent, "rate")
    _text(el, "timebase", rate.timebase)
    _text(el, "ntsc", _bool(rate.ntsc))


def _text(parent: etree._Element, tag: str, value: object) -> etree._Element:
    el = E(parent, tag)
    el.text = str(value)
    return el


def _bool(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def _num(value: float) -> str:
    """Shortest exact decimal, without exponent (`150`, `0.0462963`, `0.00001`)."""
    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")
