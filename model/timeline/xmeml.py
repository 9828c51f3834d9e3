"""Read FCP7 XML ("xmeml") from Premiere Pro, DaVinci Resolve and Final Cut Pro 7 into a Timeline.

Every quirk handled here is one that real exporters write (tests/test_reader_*.py hold an example of each). Parsing goes
through model.timeline.safe_xml (no entities, no DTD, no network, a size cap, bounded depth), and whatever
is wrong with the input comes out as one TimelineParseError naming the file, the line and the reason.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from lxml import etree

from model.timeline.errors import TimelineParseError
from model.timeline.safe_xml import DEFAULT_MAX_BYTES, parse_xml_bytes, read_capped
from model.timeline.types import (
    Crop,
    Item,
    Keyframe,
    Marker,
    Motion,
    Param,
    Rate,
    Sequence,
    Source,
    Timeline,
    Track,
    Transition,
    const,
)

MAX_FRAME = 10**9  # any frame count beyond this is a broken file, not a long edit
ITEM_TAGS = ("clipitem", "generatoritem", "transitionitem")
GENERATOR_MEDIA_SOURCES = ("slug", "graphicandtype")  # Premiere's synthetic media on clipitems


def read_xmeml(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Timeline:
    """Read an xmeml file. Raise TimelineParseError if it cannot be read, whatever the reason."""
    return read_xmeml_bytes(read_capped(path, max_bytes), str(path), max_bytes=max_bytes)


def read_xmeml_bytes(data: bytes, path: str = "<bytes>", *, max_bytes: int = DEFAULT_MAX_BYTES) -> Timeline:
    """Read xmeml from memory; `path` only names the document in errors and in the Timeline."""
    return read_xmeml_tree(parse_xml_bytes(data, path, max_bytes=max_bytes), path)


def read_xmeml_tree(root: etree._Element, path: str = "<bytes>") -> Timeline:
    """Read an xmeml document already parsed by `safe_xml.parse_xml_bytes` (a file is parsed once)."""
    if root.tag != "xmeml":
        raise TimelineParseError(path, root.sourceline, "not an xmeml document (its root element is not <xmeml>)")
    reader = _Reader(root, path)
    try:
        return reader.timeline()
    except TimelineParseError:
        raise
    except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError, RecursionError) as err:
        raise TimelineParseError(path, reader.line, f"unreadable xmeml ({type(err).__name__})") from None


def top_level_sequences(root: etree._Element) -> list[etree._Element]:
    """The sequences OTIO calls top-level (`./sequence`, `.//children/sequence` outside clipitems).

    Definitions only (empty `<sequence id/>` references are skipped), in document order.
    """
    return [
        seq
        for seq in root.iter("sequence")
        if len(seq)
        and (seq.getparent() is root or seq.getparent().tag == "children")
        and not _inside_clipitem(seq)
    ]


def _inside_clipitem(el: etree._Element) -> bool:
    return any(a.tag in ("clipitem", "generatoritem") for a in el.iterancestors())


def definitions(root: etree._Element) -> dict[str, dict[str, etree._Element]]:
    """Per tag (`file`, `sequence`), the first non-empty element per id over the whole document.

    Empty elements with an id are references; one may come before its definition (Premiere writes them so).
    """
    defs: dict[str, dict[str, etree._Element]] = {"file": {}, "sequence": {}}
    for el in root.iter("file", "sequence"):
        ident = el.get("id")
        if ident is not None and len(el):
            defs[el.tag].setdefault(ident, el)
    return defs


class _Reader:
    """One pass over a parsed document; `line` tracks where we are for error messages."""

    def __init__(self, root: etree._Element, path: str) -> None:
        self.root = root
        self.path = path
        self.line = root.sourceline or 0
        defs = definitions(root)
        self.files, self.sequences = defs["file"], defs["sequence"]
        self.sources: dict[str, Source] = {}
        self.file_refs: dict[str, Source] = {}  # empty `<file id/>` references, resolved once

    def fail(self, el: etree._Element | None, reason: str) -> TimelineParseError:
        line = el.sourceline if el is not None and el.sourceline else self.line
        return TimelineParseError(self.path, line, reason)

    def timeline(self) -> Timeline:
        seqs = top_level_sequences(self.root)
        if not seqs:
            raise self.fail(self.root, "no sequence in the document (only bins or clips)")
        return Timeline(path=self.path, sequences=tuple(self.sequence(s) for s in seqs), format="xmeml")

    # -- sequences and tracks --------------------------------------------------------------

    def sequence(self, el: etree._Element) -> Sequence:
        self.line = el.sourceline or 0
        video = el.find("media/video")
        chars = video.find("format/samplecharacteristics") if video is not None else None
        timecode = el.find("timecode")
        tracks = tuple(self.track(t) for t in video.iterfind("track")) if video is not None else ()
        return Sequence(
            name=_text(el, "name"),
            rate=self.rate(el, fallback=chars),
            video_tracks=tracks,
            width=self.integer(chars, "width", 1920),
            height=self.integer(chars, "height", 1080),
            id=el.get("id"),
            drop_frame=timecode is not None and _text(timecode, "displayformat").upper() == "DF",
            timecode_start=self.integer(timecode, "frame", 0),
            markers=tuple(self.marker(m) for m in el.iterfind("marker")),
            line=el.sourceline or 0,
        )

    def rate(self, el: etree._Element, fallback: etree._Element | None = None) -> Rate:
        rate = el.find("rate")
        if rate is None and fallback is not None:
            rate = fallback.find("rate")
        if rate is None:
            raise self.fail(el, f"<{el.tag}> has no <rate>")
        timebase, ntsc = self.timebase(rate)
        return Rate(timebase, ntsc or self.boolean(rate, "ntsc", False))

    def timebase(self, rate: etree._Element) -> tuple[int, bool]:
        """An integer timebase; 29.97-style values become (30, ntsc) rather than a float rate."""
        text = _text(rate, "timebase")
        value = self.number(rate, text, "timebase")
        if value.is_integer() and 0 < value <= 1000:
            return int(value), False
        rounded = round(value)
        if 0 < rounded <= 1000 and abs(value - rounded * 1000 / 1001) < 0.005:
            return rounded, True
        raise self.fail(rate, "<timebase> is not a frame rate (1 to 1000 fps, or an NTSC rate)")

    def track(self, el: etree._Element) -> Track:
        nodes = [c for c in el if c.tag in ITEM_TAGS]
        transitions = {i: self.transition(n) for i, n in enumerate(nodes) if n.tag == "transitionitem"}
        items = []
        head: Transition | None = None
        for i, node in enumerate(nodes):
            if node.tag == "transitionitem":
                head = transitions[i]
                continue
            items.append(self.item(node, head, transitions.get(i + 1)))
        return Track(
            items=tuple(items),
            enabled=self.boolean(el, "enabled", True),
            transitions=tuple(transitions.values()),
        )

    def transition(self, el: etree._Element) -> Transition:
        self.line = el.sourceline or self.line
        effect_name = _text(el, "effect/name")
        return Transition(
            start=self.frame(el, "start"),
            end=self.frame(el, "end"),
            alignment=_text(el, "alignment").lower() or "center",
            name=effect_name or "Cross Dissolve",
        )

    def marker(self, el: etree._Element) -> Marker:
        out = self.frame(el, "out", -1)
        return Marker(
            name=_text(el, "name"),
            frame=self.frame(el, "in", 0),
            comment=_text(el, "comment"),
            end=out if out >= 0 else None,
        )

    # -- items -----------------------------------------------------------------------------

    def item(self, el: etree._Element, head: Transition | None, tail: Transition | None) -> Item:
        """A clipitem or generatoritem, its -1 start/end resolved through the adjacent transitions."""
        self.line = el.sourceline or self.line
        kids, filters = _children(el)
        start, end = self.required(kids, el, "start"), self.required(kids, el, "end")
        in_frame = max(self.int_of(kids.get("in"), 0), 0)
        if start == -1:
            if head is None:
                raise self.fail(el, f"<{el.tag}> starts at -1 but no transitionitem precedes it")
            start = cut_point(head)
            in_frame += start - head.start  # `in` sits at the transition's start (APL p.39-40)
        if end == -1:
            if tail is None:
                raise self.fail(el, f"<{el.tag}> ends at -1 but no transitionitem follows it")
            end = cut_point(tail)
        if end < start:
            raise self.fail(el, f"<{el.tag}> ends ({end}) before it starts ({start})")
        name = _str(kids.get("name"))
        source = self.source(el, kids, name)
        motion, crop, opacity = self.effects(filters)
        return Item(
            start=start,
            end=end,
            source=source,
            in_frame=in_frame,
            enabled=self.bool_of(kids.get("enabled"), True),
            motion=motion,
            crop=crop,
            name=name,
            opacity=opacity,
            alpha=_str(kids.get("alphatype")).lower(),
            composite=_str(kids.get("compositemode")).lower(),
            kind="generator" if source.kind == "generator" else "clip",
            id=el.get("id"),
            line=el.sourceline or 0,
        )

    def source(self, el: etree._Element, kids: dict[str, etree._Element], name: str) -> Source:
        if el.tag == "generatoritem":
            return self.generator_source(kids.get("effect"), name)
        if "file" in kids:
            return self.file_source(kids["file"], name)
        if "sequence" in kids:
            return self.nested_source(kids["sequence"], name)
        master = _str(kids.get("masterclipid"))
        if master:
            return self.intern(Source(f"masterclip:{master}", name or master, "masterclip", id=master))
        raise self.fail(el, "clipitem has no <file>, <sequence> or <masterclipid>")

    def generator_source(self, effect: etree._Element | None, clip_name: str) -> Source:
        effect_id = _text(effect, "effectid") if effect is not None else ""
        effect_name = _text(effect, "name") if effect is not None else ""
        kind = effect_id or effect_name or "generator"
        return self.intern(Source(f"generator:{kind}", effect_name or clip_name or kind, "generator"))

    def file_source(self, file_el: etree._Element, clip_name: str) -> Source:
        """A file's key: the full definition's pathurl, else its name, else its id (docs/features.md)."""
        ident = file_el.get("id")
        if not len(file_el) and ident in self.file_refs:
            return self.file_refs[ident]
        full = file_el if len(file_el) else self.files.get(ident or "")
        source = self.file_definition(full, ident, clip_name)
        if not len(file_el) and ident is not None:
            self.file_refs[ident] = source
        return source

    def file_definition(self, full: etree._Element | None, ident: str | None, clip_name: str) -> Source:
        if full is None:
            return self.intern(Source(ident or "", clip_name or ident or "", "file", id=ident))
        kids, _ = _children(full)
        pathurl, name, media_source = (_str(kids.get(t)) for t in ("pathurl", "name", "mediaSource"))
        if not pathurl and media_source.lower() in GENERATOR_MEDIA_SOURCES:
            return self.intern(Source(f"generator:{media_source}", name or media_source, "generator", id=ident))
        chars = full.find("media/video/samplecharacteristics")
        return self.intern(
            Source(
                key=pathurl or name or ident or "",
                name=name or clip_name,
                kind=Source.kind_for_path(pathurl, name),
                path=pathurl or None,
                width=self.integer(chars, "width", None),
                height=self.integer(chars, "height", None),
                duration=self.int_of(kids.get("duration"), None),
                id=ident,
            )
        )

    def nested_source(self, seq_el: etree._Element, clip_name: str) -> Source:
        """A nested sequence is one source, defined once and referenced by `<sequence id/>` later."""
        ident = seq_el.get("id")
        full = seq_el if len(seq_el) else self.sequences.get(ident or "")
        name = _text(full, "name") if full is not None else ""
        chars = full.find("media/video/format/samplecharacteristics") if full is not None else None
        return self.intern(
            Source(
                key=f"sequence:{ident or name or clip_name}",
                name=name or clip_name,
                kind="sequence",
                width=self.integer(chars, "width", None),
                height=self.integer(chars, "height", None),
                duration=self.integer(full, "duration", None),
                id=ident,
            )
        )

    def intern(self, source: Source) -> Source:
        """One Source object per key, the first one seen."""
        return self.sources.setdefault(source.key, source)

    # -- Basic Motion and Crop -------------------------------------------------------------

    def effects(self, filters: list[etree._Element]) -> tuple[Motion | None, Crop | None, Param | None]:
        """The first enabled Basic Motion, Crop and Opacity filters, matched by effectid, never by name."""
        motion: Motion | None = None
        crop: Crop | None = None
        opacity: Param | None = None
        for filt in filters:
            kids, _ = _children(filt)
            effect = kids.get("effect")
            if effect is None or not self.bool_of(kids.get("enabled"), True):
                continue
            effect_id, params = _effect_parts(effect)
            if effect_id == "basic" and motion is None:
                center_x, center_y = self.params(params.get("center"), 0.0, ("horiz", "vert"))
                motion = Motion(self.param(params.get("scale"), 100.0), center_x, center_y)
            elif effect_id == "crop" and crop is None:
                crop = Crop(*(self.param(params.get(side), 0.0) for side in ("left", "right", "top", "bottom")))
            elif effect_id == "opacity" and opacity is None:
                opacity = self.param(params.get("opacity"), 100.0)
        return motion, crop, opacity

    def param(self, el: etree._Element | None, default: float) -> Param:
        return self.params(el, default, (None,))[0]

    def params(self, el: etree._Element | None, default: float, components: tuple) -> list[Param]:
        """A static `<value>` and/or `<keyframe>`s (Premiere writes both; keyframes win).

        `components` names the parts of a point value (`horiz`, `vert`), or is `(None,)` for a scalar.
        """
        if el is None:
            return [_static(default)] * len(components)
        statics: list[float | None] | None = None
        keys: list[list[Keyframe]] = [[] for _ in components]
        for child in el:
            if child.tag == "value" and statics is None:
                statics = [self.value(child, c) for c in components]
            elif child.tag == "keyframe":
                kids, _ = _children(child)
                value_el, when = kids.get("value"), None
                for i, component in enumerate(components):
                    value = self.value(value_el, component)
                    if value is not None:
                        when = self.when(kids.get("when"), child) if when is None else when
                        keys[i].append(Keyframe(when, value))
        statics = statics or [None] * len(components)
        return [_param(static, default, k) for static, k in zip(statics, keys)]

    def value(self, el: etree._Element | None, component: str | None) -> float | None:
        if el is not None and component is not None:
            el = _child(el, component)
        text = _str(el)
        return self.number(el, text, el.tag) if text else None

    def when(self, when_el: etree._Element | None, key: etree._Element) -> int | float:
        if when_el is None:
            raise self.fail(key, "<keyframe> has no <when>")
        value = self.number(when_el, _str(when_el), "when")
        return int(value) if value.is_integer() else value

    # -- scalars ---------------------------------------------------------------------------

    def number(self, el: etree._Element, text: str, what: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise self.fail(el, f"<{what}> is not a number") from None
        if not math.isfinite(value) or abs(value) > 1e15:
            raise self.fail(el, f"<{what}> is out of range")
        return value

    def frame(self, el: etree._Element, tag: str, default: int | None = None) -> int:
        """An integer frame count (`12` or `12.0`); required when no default is given."""
        value = self.integer(el, tag, default)
        if value is None:
            raise self.fail(el, f"<{el.tag}> has no <{tag}>")
        return value

    def required(self, kids: dict[str, etree._Element], el: etree._Element, tag: str) -> int:
        value = self.int_of(kids.get(tag), None)
        if value is None:
            raise self.fail(el, f"<{el.tag}> has no <{tag}>")
        return value

    def integer(self, el: etree._Element | None, tag: str, default: int | None) -> int | None:
        return self.int_of(el.find(tag) if el is not None else None, default)

    def int_of(self, child: etree._Element | None, default: int | None) -> int | None:
        """An integer element (`12` or `12.0`, floored), or `default` when absent or empty."""
        text = _str(child)
        if not text:
            return default
        value = self.number(child, text, child.tag)
        if abs(value) > MAX_FRAME:
            raise self.fail(child, f"<{child.tag}> is out of range")
        return math.floor(value)

    def boolean(self, el: etree._Element, tag: str, default: bool) -> bool:
        return self.bool_of(el.find(tag), default)

    def bool_of(self, child: etree._Element | None, default: bool) -> bool:
        """TRUE/FALSE in any case (NRK's tool writes `False`); absent or empty = default."""
        text = _str(child).lower()
        if not text:
            return default
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise self.fail(child, f"<{child.tag}> is neither TRUE nor FALSE")


def cut_point(t: Transition) -> int:
    """Where a transition cuts: its start, its end, or the floor of its middle (docs/features.md)."""
    if t.alignment in ("start", "start-black"):
        return t.start
    if t.alignment in ("end", "end-black"):
        return t.end
    return (t.start + t.end) // 2


def _children(el: etree._Element) -> tuple[dict[str, etree._Element], list[etree._Element]]:
    """One pass over the children: the first of each tag, and all `<filter>`s (lxml's find is slow)."""
    first: dict[str, etree._Element] = {}
    filters = []
    for child in el:
        tag = child.tag
        if tag == "filter":
            filters.append(child)
        elif tag not in first:
            first[tag] = child
    return first, filters


def _effect_parts(effect: etree._Element) -> tuple[str, dict[str, etree._Element]]:
    """An effect's lower-case effectid and its parameters by lower-case parameterid (first wins)."""
    effect_id = ""
    params: dict[str, etree._Element] = {}
    for child in effect:
        if child.tag == "effectid" and not effect_id:
            effect_id = _str(child).lower()
        elif child.tag == "parameter":
            params.setdefault(_str(_child(child, "parameterid")).lower(), child)
    return effect_id, params


def _param(static: float | None, default: float, keys: list[Keyframe]) -> Param:
    if not keys:
        return _static(default if static is None else static)
    keys.sort(key=lambda k: k.when)
    return Param(keys[0].value if static is None else static, tuple(keys))


def _child(el: etree._Element, tag: str) -> etree._Element | None:
    """The first child with this tag; a loop beats lxml's find on these short child lists."""
    for child in el:
        if child.tag == tag:
            return child
    return None


@functools.lru_cache(maxsize=4096)
def _static(value: float) -> Param:
    """Static parameters repeat (100, 0, 150 ...): share one frozen Param per value."""
    return const(value)


def _str(el: etree._Element | None) -> str:
    text = el.text if el is not None else None
    return text.strip() if text else ""


def _text(el: etree._Element, path: str) -> str:
    found = el.findtext(path)
    return found.strip() if found else ""
