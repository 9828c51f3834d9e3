"""The in-memory edit: sequences, video tracks, items, sources, Basic Motion and Crop.

Readers produce these frozen dataclasses, features and writers consume them. Times are integer
frames at the sequence rate with `-1` starts and ends already resolved through transitions;
rates are exact rationals (24/TRUE is 24000/1001, never 23.976).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

SourceKind = Literal["file", "still", "sequence", "generator", "masterclip"]
SOURCE_KINDS: tuple[str, ...] = ("file", "still", "sequence", "generator", "masterclip")

STILL_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".psd", ".ai", ".exr", ".dpx", ".tga", ".webp"}
)


@dataclass(frozen=True)
class Rate:
    """An xmeml `<rate>`: integer timebase, NTSC flag applies the 1000/1001 pull-down."""

    timebase: int
    ntsc: bool = False

    @property
    def fps(self) -> Fraction:
        return Fraction(self.timebase * 1000, 1001) if self.ntsc else Fraction(self.timebase)


@dataclass(frozen=True)
class Keyframe:
    when: int  # source-media frame, the same axis as `in`; Premiere's huge negative sentinel allowed
    value: float


@dataclass(frozen=True)
class Param:
    """A scalar effect parameter: a static value, or keyframes evaluated on the source-frame axis."""

    value: float
    keyframes: tuple[Keyframe, ...] = ()

    @property
    def is_keyframed(self) -> bool:
        return len(self.keyframes) > 0

    def at(self, source_frame: float) -> float:
        """Linear between keyframes, held before the first and after the last.

        A keyframe with a negative `when` (Premiere's "start of time") simply holds its value
        until the next one, which linear interpolation over an extremely long span would not do.
        """
        keys = self.keyframes
        if not keys:
            return self.value
        whens = [k.when for k in keys]
        i = bisect.bisect_right(whens, source_frame)
        if i == 0:
            return keys[0].value
        if i == len(keys):
            return keys[-1].value
        a, b = keys[i - 1], keys[i]
        if a.when < 0 or b.when == a.when:
            return a.value
        t = (source_frame - a.when) / (b.when - a.when)
        return a.value + t * (b.value - a.value)


def const(value: float) -> Param:
    return Param(float(value))


@dataclass(frozen=True)
class Motion:
    """Basic Motion: scale in percent; centre in xmeml units (0,0 = frame centre, +y down)."""

    scale: Param = field(default_factory=lambda: const(100.0))
    center_x: Param = field(default_factory=lambda: const(0.0))
    center_y: Param = field(default_factory=lambda: const(0.0))

    @property
    def is_default(self) -> bool:
        return _all_const(self, scale=100.0, center_x=0.0, center_y=0.0)


@dataclass(frozen=True)
class Crop:
    """Crop in percent of the clip's own image (left/right of width, top/bottom of height)."""

    left: Param = field(default_factory=lambda: const(0.0))
    right: Param = field(default_factory=lambda: const(0.0))
    top: Param = field(default_factory=lambda: const(0.0))
    bottom: Param = field(default_factory=lambda: const(0.0))

    @property
    def is_default(self) -> bool:
        return _all_const(self, left=0.0, right=0.0, top=0.0, bottom=0.0)


def _all_const(obj: object, **defaults: float) -> bool:
    for name, default in defaults.items():
        p: Param = getattr(obj, name)
        if p.is_keyframed or p.value != default:
            return False
    return True


@dataclass(frozen=True)
class Source:
    """What an item shows. `key` identifies it across the document (see docs/features.md, sources and slots)."""

    key: str  # pathurl, else file name, else id; "sequence:ID", "generator:EFFECTID", "masterclip:ID"
    name: str
    kind: SourceKind = "file"
    path: str | None = None  # the pathurl as written, for files
    width: int | None = None
    height: int | None = None
    duration: int | None = None  # media length in frames, when known
    id: str | None = None  # the exporter's id (file-3, sequence-2, ...), for writers

    @staticmethod
    def kind_for_path(path: str | None, name: str = "") -> SourceKind:
        text = (path or name or "").lower()
        dot = text.rfind(".")
        return "still" if dot >= 0 and text[dot:] in STILL_EXTENSIONS else "file"


@dataclass(frozen=True)
class Item:
    """A clipitem or generatoritem on a video track; start/end are resolved, end exclusive."""

    start: int
    end: int
    source: Source
    in_frame: int = 0  # source frame shown at `start`; 0 when missing or negative
    enabled: bool = True
    motion: Motion | None = None  # None = no (enabled) Basic Motion filter
    crop: Crop | None = None  # None = no (enabled) Crop filter
    name: str = ""
    kind: Literal["clip", "generator"] = "clip"
    id: str | None = None
    line: int = 0  # source line of the element, for messages
    opacity: Param | None = None  # percent; None = no (enabled) Opacity filter, fully opaque
    alpha: str = ""  # the clipitem's <alphatype> (none, straight, black ...); "" when not written
    composite: str = ""  # the clipitem's <compositemode> (normal, add, screen, texturize ...); "" = normal

    def source_frame(self, frame: float) -> float:
        return self.in_frame + (frame - self.start)

    @property
    def has_alpha(self) -> bool:
        """The exporter says the picture carries an alpha channel (titles, keyed graphics)."""
        return self.alpha not in ("", "none")

    @property
    def blends(self) -> bool:
        """A composite mode other than normal mixes the picture with what lies below."""
        return self.composite not in ("", "normal")


@dataclass(frozen=True)
class Transition:
    """A transitionitem, kept so that writers can round-trip it; never an item on its own."""

    start: int
    end: int
    alignment: str = "center"
    name: str = "Cross Dissolve"


@dataclass(frozen=True)
class Track:
    items: tuple[Item, ...] = ()
    enabled: bool = True
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True)
class Marker:
    name: str
    frame: int
    comment: str = ""
    end: int | None = None


@dataclass(frozen=True)
class Sequence:
    name: str
    rate: Rate
    video_tracks: tuple[Track, ...]
    width: int = 1920
    height: int = 1080
    id: str | None = None
    drop_frame: bool = False  # timecode display only; never changes frame counts
    timecode_start: int = 0  # frame number of the sequence's first frame, for timecode display
    markers: tuple[Marker, ...] = ()
    line: int = 0

    @property
    def duration(self) -> int:
        """The largest resolved `end` of any video item (0 when there is no video)."""
        return max((it.end for tr in self.video_tracks for it in tr.items), default=0)


@dataclass(frozen=True)
class Timeline:
    path: str
    sequences: tuple[Sequence, ...]
    format: str = "xmeml"
    notes: tuple[str, ...] = ()  # e.g. "motion and crop not available from OTIO"

    def sequence(self, name: str | None) -> Sequence:
        if name is None:
            return self.sequences[0]
        for seq in self.sequences:
            if seq.name == name:
                return seq
        raise KeyError(name)
