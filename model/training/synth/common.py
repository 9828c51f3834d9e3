"""Machinery shared by the styles: the canvas, media naming, track building and framing geometry.

Units follow docs/features.md: scale in percent of the source's native size, centre in
fractions of the *source* image (0,0 = frame centre, +y down), crop in percent of the source image.
Items carry resolved cut points; a dissolve is a `Transition` beside them on the same track.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np

from model.timeline.types import Crop, Item, Keyframe, Marker, Motion, Param, Rate, Sequence, Source, Track, Transition

# (rate, weight) for each style's draw; all six rates of the brief appear somewhere.
RATES = {
    "23.976": Rate(24, True),
    "24": Rate(24, False),
    "25": Rate(25, False),
    "29.97": Rate(30, True),
    "30": Rate(30, False),
    "60": Rate(60, False),
}
FRAME_SIZES = ((1920, 1080), (3840, 2160), (1280, 720))
FRAME_SIZE_WEIGHTS = (0.85, 0.10, 0.05)

_USERS = ("alex", "maria", "jkim", "sam.taylor", "editor", "lucas", "priya", "tom", "nadia", "chris")
_DRIVES = ("T7 Shield", "Media", "RAID", "SSD2", "Footage")


@dataclass(frozen=True)
class Canvas:
    """The sequence being built: rate, frame size and length in frames."""

    rate: Rate
    width: int
    height: int
    total: int

    @property
    def fps(self) -> float:
        return float(self.rate.fps)

    def frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))

    def seconds(self, frames: int) -> float:
        return frames / self.fps


def draw_rate(rng: np.random.Generator, weights: dict[str, float]) -> Rate:
    names = list(weights)
    p = np.array([weights[n] for n in names], float)
    return RATES[names[int(rng.choice(len(names), p=p / p.sum()))]]


def draw_canvas(rng: np.random.Generator, minutes: tuple[float, float], rate_weights: dict[str, float]) -> Canvas:
    rate = draw_rate(rng, rate_weights)
    w, h = FRAME_SIZES[int(rng.choice(len(FRAME_SIZES), p=FRAME_SIZE_WEIGHTS))]
    seconds = float(rng.uniform(minutes[0], minutes[1])) * 60.0
    return Canvas(rate, w, h, max(1, int(round(seconds * float(rate.fps)))))


def pick(rng: np.random.Generator, options, p=None):
    """One element of a sequence (numpy's choice would turn tuples into arrays)."""
    if p is not None:
        p = np.asarray(p, float)
        p = p / p.sum()
    return options[int(rng.choice(len(options), p=p))]


def lognormal_seconds(rng: np.random.Generator, mean: float, sigma: float, lo: float, hi: float) -> float:
    """A skewed duration with the given mean, clipped to [lo, hi] (shot lengths are right-skewed)."""
    mu = np.log(mean) - sigma * sigma / 2
    return float(np.clip(rng.lognormal(mu, sigma), lo, hi))


class MediaLibrary:
    """Plausible media paths for one project, one `Source` per distinct file."""

    def __init__(self, rng: np.random.Generator, project: str) -> None:
        user = pick(rng, _USERS)
        drive = pick(rng, _DRIVES)
        roots = (
            f"file://localhost/Users/{user}/Movies/{project}",
            f"file://localhost/Volumes/{quote(drive)}/{project}",
            f"file://localhost/D%3a/Projects/{project}",
            f"file:///Volumes/{quote(drive)}/{project}",
        )
        self.root = pick(rng, roots, p=(0.5, 0.25, 0.15, 0.10))
        self._sources: dict[str, Source] = {}

    def __len__(self) -> int:
        """Distinct files so far."""
        return len(self._sources)

    def file(self, folder: str, filename: str, width: int, height: int) -> Source:
        path = f"{self.root}/{quote(folder)}/{quote(filename)}"
        if path not in self._sources:
            kind = Source.kind_for_path(filename)
            self._sources[path] = Source(
                key=path, name=filename, kind=kind, path=path, width=width, height=height,
                id=f"file-{len(self._sources) + 1}",
            )
        return self._sources[path]


def generator(effectid: str, name: str) -> Source:
    """A generator source: titles (Text), mattes (Color); identified by `generator:` + effectid."""
    return Source(key=f"generator:{effectid}", name=name, kind="generator")


def motion(scale: float = 100.0, x: float = 0.0, y: float = 0.0) -> Motion | None:
    """Basic Motion only when it differs from the default, like Premiere's export."""
    m = Motion(Param(round(float(scale), 3)), Param(round(float(x), 6)), Param(round(float(y), 6)))
    return None if m.is_default else m


def crop(left: float = 0.0, right: float = 0.0, top: float = 0.0, bottom: float = 0.0) -> Crop | None:
    c = Crop(*(Param(round(max(0.0, float(v)), 3)) for v in (left, right, top, bottom)))
    return None if c.is_default else c


def ramp(when0: int, when1: int, v0: float, v1: float, digits: int) -> Param:
    """A two-keyframe linear ramp on the source-frame axis (Ken Burns, slow push-ins)."""
    a, b = round(float(v0), digits), round(float(v1), digits)
    return Param(a, (Keyframe(when0, a), Keyframe(when1, b)))


# --- geometry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    """A rectangle in sequence pixels, origin at the top-left corner of the frame."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def visible_rect(
    src: tuple[int, int], frame: tuple[int, int], scale: float, pos_x: float, pos_y: float,
    crop_l: float = 0.0, crop_r: float = 0.0, crop_t: float = 0.0, crop_b: float = 0.0,
) -> Rect:
    """Where a clip's cropped image lands: crop in % of the image, centre offset in source widths."""
    w, h = src[0] * scale / 100, src[1] * scale / 100
    cx = frame[0] / 2 + pos_x * src[0]
    cy = frame[1] / 2 + pos_y * src[1]
    return Rect(
        cx - w / 2 + w * crop_l / 100, cy - h / 2 + h * crop_t / 100,
        cx + w / 2 - w * crop_r / 100, cy + h / 2 - h * crop_b / 100,
    )


def cover_scale(src: tuple[int, int], size: tuple[float, float]) -> float:
    """The scale (percent) at which the source just covers a box of `size` pixels."""
    return 100.0 * max(size[0] / src[0], size[1] / src[1])


def framing_for_rect(
    src: tuple[int, int], frame: tuple[int, int], rect: Rect, scale: float, subject: tuple[float, float] = (0.0, 0.0)
) -> tuple[Motion | None, Crop | None]:
    """Scale, centre and crop that show the source inside `rect`, trimming the excess.

    `subject` is a point of the image (fractions of its size from its centre) to bring as near to
    the rectangle's centre as the image allows; the crop takes whatever sticks out on each side.
    """
    w, h = src[0] * scale / 100, src[1] * scale / 100
    cx = _centre_on_subject((rect.x0 + rect.x1) / 2, rect.width, w, subject[0])
    cy = _centre_on_subject((rect.y0 + rect.y1) / 2, rect.height, h, subject[1])
    left = 100 * (rect.x0 - (cx - w / 2)) / w
    right = 100 * ((cx + w / 2) - rect.x1) / w
    top = 100 * (rect.y0 - (cy - h / 2)) / h
    bottom = 100 * ((cy + h / 2) - rect.y1) / h
    pos_x, pos_y = (cx - frame[0] / 2) / src[0], (cy - frame[1] / 2) / src[1]
    return motion(scale, pos_x, pos_y), crop(left, right, top, bottom)


def _centre_on_subject(target: float, box: float, image: float, subject: float) -> float:
    """Image centre placing `subject` (fraction of the image from its centre) at `target`, staying covering."""
    slack = max(0.0, (image - box) / 2)
    return target + float(np.clip(-subject * image, -slack, slack))


def corner_rect(frame: tuple[int, int], size: tuple[float, float], corner: str, margin: float) -> Rect:
    """A box of `size` in a frame corner ("tl", "tr", "bl", "br"), `margin` pixels from both edges."""
    x0 = margin if corner[1] == "l" else frame[0] - margin - size[0]
    y0 = margin if corner[0] == "t" else frame[1] - margin - size[1]
    return Rect(x0, y0, x0 + size[0], y0 + size[1])


def punch_framing(
    src: tuple[int, int], frame: tuple[int, int], base: float, factor: float, subject: tuple[float, float]
) -> Motion | None:
    """A punch-in: scale by `factor` over the base framing, re-centred on the subject while covering the frame."""
    scale = base * factor
    w, h = src[0] * scale / 100, src[1] * scale / 100
    cx = _centre_on_subject(frame[0] / 2, frame[0], w, subject[0])
    cy = _centre_on_subject(frame[1] / 2, frame[1], h, subject[1])
    return motion(scale, (cx - frame[0] / 2) / src[0], (cy - frame[1] / 2) / src[1])


# --- building tracks -----------------------------------------------------------------------


@dataclass
class TrackBuilder:
    """Items of one video track in time order, plus dissolves at some of their cuts."""

    enabled: bool = True
    items: list[Item] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)

    def add(
        self, start: int, end: int, source: Source, in_frame: int = 0, *, motion: Motion | None = None,
        crop: Crop | None = None, name: str | None = None, enabled: bool = True,
    ) -> None:
        if end <= start:
            return
        kind = "generator" if source.kind == "generator" else "clip"
        self.items.append(
            Item(start, end, source, max(0, int(in_frame)), enabled, motion, crop, name or source.name, kind)
        )

    def dissolve(self, cut: int, length: int) -> bool:
        """A centred cross dissolve on the cut at `cut`, when items meet there and both outlast it."""
        half = max(1, length // 2)
        before = [it for it in self.items if it.end == cut]
        after = [it for it in self.items if it.start == cut]
        if not before or not after or min(before[-1].end - before[-1].start, after[0].end - after[0].start) <= 2 * half:
            return False
        if after[0].in_frame < half:
            return False  # no handle to dissolve from
        self.transitions.append(Transition(cut - half, cut + half, "center", "Cross Dissolve"))
        return True

    @property
    def end(self) -> int:
        return self.items[-1].end if self.items else 0


def finish_sequence(
    canvas: Canvas, name: str, tracks: list[TrackBuilder], rng: np.random.Generator, markers: tuple[Marker, ...] = ()
) -> Sequence:
    """Freeze the tracks: give media their lengths, items Premiere-like ids, drop empty top tracks."""
    while tracks and not tracks[-1].items:
        tracks.pop()
    lengths = _media_lengths(tracks, rng)
    counter = 0
    frozen = []
    for tb in tracks:
        items = []
        for it in tb.items:
            counter += 1
            source = it.source
            if source.kind != "generator":
                source = dataclasses.replace(source, duration=lengths[source.key])
            items.append(dataclasses.replace(it, source=source, id=f"clipitem-{counter}"))
        frozen.append(Track(tuple(items), tb.enabled, tuple(sorted(tb.transitions, key=lambda t: t.start))))
    ntsc_df = canvas.rate.ntsc and canvas.rate.timebase in (30, 60) and bool(rng.random() < 0.5)
    tc_start = int(3600 * canvas.rate.timebase) if rng.random() < 0.6 else 0
    return Sequence(
        name=name, rate=canvas.rate, video_tracks=tuple(frozen), width=canvas.width, height=canvas.height,
        id="sequence-1", drop_frame=ntsc_df, timecode_start=tc_start, markers=markers,
    )


def _media_lengths(tracks: list[TrackBuilder], rng: np.random.Generator) -> dict[str, int]:
    """Each file is longer than every range used from it (plus handles for dissolves)."""
    used: dict[str, int] = {}
    for tb in tracks:
        for it in tb.items:
            need = it.in_frame + (it.end - it.start)
            used[it.source.key] = max(used.get(it.source.key, 0), need)
    return {key: need + int(rng.integers(60, 1800)) for key, need in used.items()}
