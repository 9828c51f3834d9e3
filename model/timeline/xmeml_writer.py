"""Write a Timeline as xmeml shaped like a Premiere Pro export (version 4, `<!DOCTYPE xmeml>`).

Readable by this project's reader (the same features come back) and by OpenTimelineIO's FCP7
adapter. Output is deterministic: ids are numbered in document order (sequence-N, clipitem-N,
file-N) and nothing depends on the clock. Basic Motion and Crop are written only when not default;
a file is fully defined on first use and referenced by `<file id/>` after; a nested sequence gets
one minimal definition and `<sequence id/>` references. Sources are written so that the reader
rebuilds their keys: files from `path` (else `name`), nested sequences, generators and master
clips from the id that follows the key's `sequence:`, `generator:` or `masterclip:` prefix.
Master-clip sources become clipitems with only a `<masterclipid>`, as Premiere writes multicam
clips; OpenTimelineIO cannot read those (their adapter skips them), everything else it reads.

Speed: a long timeline has thousands of clips but only a handful of distinct (kind, rate, Basic
Motion, Crop). Each clip is a copy of a template built once per such value, given its own id, texts
and source (lxml copies a subtree in C, several times faster than building it element by element
from Python). The filters, most of a filtered clip's elements, are not elements at all: they are
serialized once per template and spliced into the output bytes (`_FilterBlocks`). Templates never
enter the document, and copies are deep, so no element is ever in two places.
"""

from __future__ import annotations

import re
from decimal import Decimal
from itertools import count
from pathlib import Path

from lxml import etree

from model.atomic import write_atomic
from model.timeline.types import (
    Crop,
    Item,
    Marker,
    Motion,
    Param,
    Rate,
    Sequence,
    Source,
    Timeline,
    Track,
    Transition,
)
from model.timeline.xmeml import cut_point

E = etree.SubElement
# Premiere's prolog, double-quoted (lxml's own declaration uses single quotes). Given to `tostring` as
# its `doctype`, a plain string written before the tree, so that the bytes are built once, not
# concatenated afterwards (a second copy of a multi-megabyte document).
_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>'
PROLOG = _PROLOG
_FILTERS_MARKER = re.compile(rb"<!--mtt-filters-(\d+)-->")


def write_xmeml(timeline: Timeline) -> bytes:
    """The timeline as xmeml bytes (UTF-8, with declaration and DOCTYPE)."""
    writer = _Writer(timeline)
    root = writer.document()
    data = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True, doctype=_PROLOG)
    return writer.filters.splice(data)


def write_xmeml_file(timeline: Timeline, path: str | Path) -> None:
    """Write atomically: a temporary file beside `path`, then a rename."""
    write_atomic(path, write_xmeml(timeline))


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


class _FilterBlocks:
    """Basic Motion and Crop filters, serialized once per clip template and spliced into the output.

    Filters are most of a filtered clip's elements, and building, serializing and freeing them clip
    by clip took most of the writer's time. A clip holds the comment `<!--mtt-filters-N-->` instead,
    and `splice` puts block N in its place. Nothing else can write `<!--` into the output: texts and
    attribute values always have their `<` escaped.
    """

    def __init__(self) -> None:
        self.blocks: list[bytes] = []

    def marker(self, motion: Motion | None, crop: Crop | None, opacity: Param | None = None) -> etree._Element | None:
        """The comment that stands for these filters; None when none is written (absent or default)."""
        block = _filters_block(motion, crop, opacity)
        if not block:
            return None
        self.blocks.append(block)
        return etree.Comment(f"mtt-filters-{len(self.blocks) - 1}")

    def splice(self, data: bytes) -> bytes:
        """`data` with each marker replaced by its block, every line of it indented like the marker."""
        if not self.blocks:
            return data
        indented: dict[tuple[int, int], bytes] = {}

        def block(marker: re.Match[bytes]) -> bytes:
            at = marker.start()
            indent = at - data.rfind(b"\n", 0, at) - 1  # pretty-printed: only spaces precede it on its line
            key = (int(marker[1]), indent)
            if key not in indented:
                indented[key] = self.blocks[key[0]].replace(b"\n", b"\n" + b" " * indent)
            return indented[key]

        return _FILTERS_MARKER.sub(block, data)


class _Writer:
    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        sources = [it.source for seq in timeline.sequences for tr in seq.video_tracks for it in tr.items]
        self.ids = _Ids({_key_id(s) for s in sources if s.kind in ("sequence", "masterclip") or _keyed_by_id(s)})
        self.file_ids: dict[str, str] = {}  # source key -> file id written
        self.nested_written: set[str] = set()
        self.clip_templates: dict[tuple, etree._Element] = {}  # only ever copied, never put in the document
        self.filters = _FilterBlocks()

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
        file_ref = self.file_reference(item.source)
        el = _copy(self.clip_template(item, seq.rate, file_ref is not None))
        parent.append(el)
        el.set("id", self.ids.next("clipitem"))
        name, enabled, duration, _, start_el, end_el, in_el, out_el = el[:_CLIP_HEAD]
        out = item.in_frame + (item.end - item.start)
        name.text = str(item.name or item.source.name)
        enabled.text = _bool(item.enabled)
        duration.text = str(item.source.duration if item.source.duration is not None else out)
        start_el.text, end_el.text, in_el.text, out_el.text = str(start), str(end), str(in_value), str(out)
        if file_ref is not None:
            el[_CLIP_HEAD].set("id", file_ref)
        else:
            self.source(el, item.source, seq.rate)
            el.insert(_CLIP_HEAD, el[-1])  # the source's one element goes after `out`, before the filters' marker

    def clip_template(self, item: Item, rate: Rate, file_ref: bool) -> etree._Element:
        """What a clip shares with others of the same kind, rate, Motion and Crop (see `_clip_template`).

        A long timeline has thousands of clips but only a handful of these, so each is built once
        per writer and copied for each clip.
        """
        key = (item.source.kind == "generator", rate, item.motion, item.crop, item.opacity, file_ref)
        template = self.clip_templates.get(key)
        if template is None:
            filters = self.filters.marker(item.motion, item.crop, item.opacity)
            template = self.clip_templates[key] = _clip_template(key[0], rate, file_ref, filters)
        return template

    def source(self, el: etree._Element, source: Source, rate: Rate) -> None:
        if source.kind == "generator":
            _generator_effect(el, source)
        elif source.kind == "sequence":
            self.nested(el, source, rate)
        elif source.kind == "masterclip":
            _text(el, "masterclipid", _key_id(source))
        else:
            self.file(el, source, rate)

    def file_reference(self, source: Source) -> str | None:
        """The id of the bare `<file id/>` that stands for `source`: a file written before, or one known
        only by id. None for other kinds and for a file still to define."""
        if source.kind in ("generator", "sequence", "masterclip"):
            return None
        known = self.file_ids.get(source.key)
        if known is None and _keyed_by_id(source):
            return source.key
        return known

    def file(self, parent: etree._Element, source: Source, rate: Rate) -> None:
        """Full definition on first use, `<file id/>` after; a file known only by id stays a bare reference."""
        reference = self.file_reference(source)
        if reference is not None:
            E(parent, "file", id=reference)
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


def item_element(item: Item, rate: Rate, reference: str | None = None) -> etree._Element:
    """One clip as a standalone `<clipitem>` (or `<generatoritem>`), for a document written by
    someone else: its source is `<file id=reference/>` (or `<sequence id/>`) when the document
    defines it, else defined in place. No id: the caller gives one that is unique there."""
    source = item.source
    el = etree.Element("generatoritem" if source.kind == "generator" else "clipitem")
    out = item.in_frame + (item.end - item.start)
    _text(el, "name", item.name or source.name)
    _text(el, "enabled", _bool(item.enabled))
    _text(el, "duration", max(source.duration or 0, out))
    _rate(el, rate)
    for tag, value in (("start", item.start), ("end", item.end), ("in", item.in_frame), ("out", out)):
        _text(el, tag, value)
    if source.kind == "generator":
        _generator_effect(el, source)
    elif source.kind == "masterclip":
        _text(el, "masterclipid", _key_id(source))
    elif reference is not None:
        E(el, "sequence" if source.kind == "sequence" else "file", id=reference)
    else:
        file = E(el, "file")
        _text(file, "name", source.name)
        if source.path:
            _text(file, "pathurl", source.path)
        _rate(file, rate)
        if source.duration is not None:
            _text(file, "duration", source.duration)
    if item.motion is not None and not item.motion.is_default:
        _motion(el, item.motion)
    if item.crop is not None and not item.crop.is_default:
        _crop(el, item.crop)
    return el


def marker_element(marker: Marker) -> etree._Element:
    """A `<marker>` to append to a sequence element."""
    holder = etree.Element("holder")
    _marker(holder, marker)
    el = holder[0]
    holder.remove(el)
    return el


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
    return source.key.removeprefix(prefix)


def _generator_effect(parent: etree._Element, source: Source) -> None:
    effect_id = _key_id(source)
    effect = E(parent, "effect")
    _text(effect, "name", source.name or effect_id)
    _text(effect, "effectid", effect_id)
    _text(effect, "effectcategory", "Matte")
    _text(effect, "effecttype", "generator")
    _text(effect, "mediatype", "video")


def _copy(template: etree._Element) -> etree._Element:
    """A deep copy of `template`, in no tree yet (lxml's `__copy__` is deep and runs in C; `copy.deepcopy`
    calls the same thing with Python overhead on top)."""
    return template.__copy__()


_CLIP_HEAD = 8  # a clip's children before its source: name enabled duration rate start end in out
# Stands for the id and the texts that differ per clip; `_Writer.item` overwrites every one. Writing
# them into the template (not leaving them empty) makes each copy allocate those nodes together, in
# document order, which `tostring` and freeing the tree walk measurably faster.
_PLACEHOLDER = "?"


def _clip_template(generator: bool, rate: Rate, file_ref: bool, filters: etree._Element | None) -> etree._Element:
    """A clipitem or generatoritem as `_Writer.item` copies it: placeholders for its id and its first
    `_CLIP_HEAD` children's texts (but the rate's); a `<file>` with a placeholder id when the source is
    a file reference; then the filters' marker if any."""
    el = etree.Element("generatoritem" if generator else "clipitem", id=_PLACEHOLDER)
    for child in ("name", "enabled", "duration"):
        _text(el, child, _PLACEHOLDER)
    _rate(el, rate)
    for child in ("start", "end", "in", "out"):
        _text(el, child, _PLACEHOLDER)
    if file_ref:
        E(el, "file", id=_PLACEHOLDER)
    if filters is not None:
        el.append(filters)
    return el


def _filters_block(motion: Motion | None, crop: Crop | None, opacity: Param | None = None) -> bytes:
    """The Basic Motion, Crop and Opacity filters that are not default, as `tostring` pretty-prints them
    at the top level but without the last newline: put where a marker was, only the lines after the
    first lack the marker's indentation. Empty when there are none."""
    holder = etree.Element("filters")
    if motion is not None and not motion.is_default:
        _motion(holder, motion)
    if crop is not None and not crop.is_default:
        _crop(holder, crop)
    if opacity is not None and (opacity.is_keyframed or opacity.value != 100.0):
        _opacity(holder, opacity)
    serialized = (etree.tostring(f, xml_declaration=False, encoding="UTF-8", pretty_print=True) for f in holder)
    return b"".join(serialized).removesuffix(b"\n")


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


def _opacity(parent: etree._Element, opacity: Param) -> None:
    _param(_filter_effect(parent, "Opacity", "opacity"), "opacity", "opacity", opacity, (0, 100))


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
