"""Blender sequencer values <-> the bridge timeline JSON and the suggestions document.

Pure Python (no bpy), so the conversions are tested outside Blender. `scene_io.py` copies the
values out of bpy into the dataclasses below and applies the results back.

Units (docs/features.md; Blender's own units in brackets):
- scale: percent, 100 = native size [transform.scale_x, 1.0 = native].
- centre: fraction of the SOURCE image from the frame centre, +x right, +y down
  [transform.offset_x/offset_y: scene pixels from the centre, +y up]. xmeml multiplies the
  fraction by the source size to get sequence pixels, so pos_x = offset_x / source width.
- crop: percent of the source width (left, right) and height (top, bottom)
  [crop.min_x, max_x, min_y, max_y: source pixels from the left, right, bottom and top].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from urllib.parse import urlparse
from urllib.request import url2pathname

N_TRACKS = 20  # channels 1..20 are the model's tracks V1..V20
MAX_CHANNEL = 128  # Blender's sequencer has 128 channels
MARKER_PREFIX = "mtt: "
STRIP_PREFIX = "mtt "

# Strips that combine other strips (transitions, blends, effects on an input) are not sources,
# like xmeml transitions and filters; sound is not video.
NOT_VIDEO = {"SOUND"}
FILE_TYPES = {"MOVIE", "IMAGE", "MOVIECLIP"}
NESTED_TYPES = {"SCENE", "META"}
GENERATED_TYPES = {"COLOR", "TEXT", "ADJUSTMENT"}  # generators apply_next can recreate by type
VALUE_DEFAULTS = {"scale": 100.0, "pos_x": 0.0, "pos_y": 0.0, "crop_l": 0.0, "crop_r": 0.0, "crop_t": 0.0, "crop_b": 0.0}


@dataclass(frozen=True)
class SceneValues:
    name: str
    fps: Fraction
    width: int
    height: int
    frame_start: int  # scene frame shown as time 0


@dataclass(frozen=True)
class StripValues:
    """What the add-on reads from one sequencer strip."""

    name: str
    type: str  # Blender's strip type: MOVIE, IMAGE, COLOR, TEXT, SCENE, ADJUSTMENT, ...
    channel: int
    start: int  # frame_final_start (scene frames)
    end: int  # frame_final_end, exclusive
    offset_start: int = 0  # source frames trimmed off the head
    muted: bool = False  # the strip's own mute; a muted channel disables its whole track
    input_count: int = 0  # > 0 for effects applied to other strips
    path: str = ""  # absolute media path of movie and image strips
    frames: int = 1  # image elements: 1 = a still, more = an image sequence
    source_size: tuple[int, int] | None = None  # the media's own pixels, when Blender knows them
    nested_name: str = ""  # the scene of a scene strip
    scale_x: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)  # min_x, max_x, min_y, max_y


@dataclass(frozen=True)
class Transform:
    scale: float  # Blender's scale_x and scale_y
    offset_x: float
    offset_y: float
    crop: tuple[int, int, int, int]  # min_x, max_x, min_y, max_y


@dataclass(frozen=True)
class Placement:
    """A next or fill segment as a strip to add."""

    name: str
    channel: int
    frame_start: int
    frame_end: int  # exclusive
    path: str  # the source's media file ("" for generated sources)
    source_name: str
    kind: str  # "next" or "fill"
    track: int
    source_size: tuple[int, int]
    values: dict[str, float] = field(default_factory=dict)  # scale, pos_x, ... as in the document
    generated: str = ""  # a strip type (COLOR, TEXT, ADJUSTMENT) for a generated source without a file
    source_in: int = 0  # the source frame shown at frame_start (the document's source_in)
    source_out: int | None = None  # the source frame after the last one shown (exclusive), when given


def fps_fraction(fps: int, fps_base: float) -> Fraction:
    """Blender's fps / fps_base as an exact rate: 30 / 1.001 -> 30000/1001."""
    rate = Fraction(int(fps)) / Fraction(str(round(float(fps_base), 6)))
    ntsc = Fraction(round(rate * Fraction(1001, 1000)) * 1000, 1001)
    if rate.denominator != 1 and abs(rate - ntsc) < Fraction(1, 1000):
        return ntsc
    return rate


def offset_to_center(offset_x: float, offset_y: float, src_w: int, src_h: int) -> tuple[float, float]:
    """Scene pixels from the centre (+y up) -> xmeml centre (fraction of the source, +y down)."""
    return offset_x / src_w, -offset_y / src_h


def center_to_offset(pos_x: float, pos_y: float, src_w: int, src_h: int) -> tuple[float, float]:
    return pos_x * src_w, -pos_y * src_h


def crop_to_percent(crop: tuple[int, int, int, int], src_w: int, src_h: int) -> tuple[float, float, float, float]:
    """(min_x, max_x, min_y, max_y) source pixels -> (left, right, top, bottom) percent."""
    min_x, max_x, min_y, max_y = crop
    return 100 * min_x / src_w, 100 * max_x / src_w, 100 * max_y / src_h, 100 * min_y / src_h


def percent_to_crop(left: float, right: float, top: float, bottom: float, src_w: int,
                    src_h: int) -> tuple[int, int, int, int]:
    """The inverse of crop_to_percent, rounded to Blender's whole pixels and never negative."""
    pixels = (left * src_w, right * src_w, bottom * src_h, top * src_h)
    return tuple(max(0, round(p / 100)) for p in pixels)  # type: ignore[return-value]


def values_to_transform(values: dict[str, float], src_w: int, src_h: int) -> Transform:
    offset_x, offset_y = center_to_offset(values.get("pos_x", 0.0), values.get("pos_y", 0.0), src_w, src_h)
    crop = percent_to_crop(*(values.get(k, 0.0) for k in ("crop_l", "crop_r", "crop_t", "crop_b")), src_w, src_h)
    return Transform(scale=values.get("scale", 100.0) / 100, offset_x=offset_x, offset_y=offset_y, crop=crop)


def source_size(strip: StripValues, scene: SceneValues) -> tuple[int, int]:
    """The media's pixels for movie and image strips when known; generated strips fill the scene."""
    if strip.type in FILE_TYPES and strip.source_size and min(strip.source_size) > 0:
        return strip.source_size
    return scene.width, scene.height


def strip_source(strip: StripValues, scene: SceneValues) -> dict:
    """The bridge JSON `source`: a file by its path, a nested scene by name, else the strip type."""
    width, height = source_size(strip, scene)
    if strip.type in FILE_TYPES and strip.path:
        kind = "still" if strip.type == "IMAGE" and strip.frames == 1 else "file"
        name = strip.path.replace("\\", "/").rsplit("/", 1)[-1]
        return {"key": strip.path, "name": name, "kind": kind, "path": strip.path, "width": width, "height": height}
    if strip.type in NESTED_TYPES:
        nested = strip.nested_name or strip.name
        return {"key": f"sequence:{nested}", "name": nested, "kind": "sequence", "path": "",
                "width": width, "height": height}
    kind_name = strip.type.lower()
    return {"key": f"generator:{kind_name}", "name": kind_name.title(), "kind": "generator", "path": "",
            "width": width, "height": height}


def strip_item(strip: StripValues, scene: SceneValues) -> dict | None:
    """One bridge JSON item, or None when the strip is not a video item inside the timeline."""
    start = strip.start - scene.frame_start
    end = strip.end - scene.frame_start
    if end <= 0 or end <= max(start, 0):
        return None
    src_w, src_h = source_size(strip, scene)
    pos_x, pos_y = offset_to_center(strip.offset_x, strip.offset_y, src_w, src_h)
    crop_l, crop_r, crop_t, crop_b = crop_to_percent(strip.crop, src_w, src_h)
    head_cut = max(0, -start)  # a strip starting before the scene start is cut there
    return {
        "start": max(start, 0), "end": end, "in": max(0, strip.offset_start) + head_cut,
        "enabled": not strip.muted, "name": strip.name, "source": strip_source(strip, scene),
        "scale": strip.scale_x * 100, "pos_x": pos_x, "pos_y": pos_y,
        "crop_l": crop_l, "crop_r": crop_r, "crop_t": crop_t, "crop_b": crop_b,
    }


def is_video_item(strip: StripValues) -> bool:
    return 1 <= strip.channel <= N_TRACKS and strip.type not in NOT_VIDEO and strip.input_count == 0


def timeline_json(scene: SceneValues, strips: list[StripValues], channel_muted: dict[int, bool]) -> dict:
    """The bridge timeline JSON: channel N = track VN, up to the highest channel with a video strip."""
    video = [s for s in strips if is_video_item(s)]
    n_tracks = max((s.channel for s in video), default=0)
    tracks = [{"enabled": not channel_muted.get(c, False), "items": []} for c in range(1, n_tracks + 1)]
    for strip in sorted(video, key=lambda s: (s.channel, s.start)):
        item = strip_item(strip, scene)
        if item is not None:
            tracks[strip.channel - 1]["items"].append(item)
    return {
        "name": scene.name, "fps": [scene.fps.numerator, scene.fps.denominator],
        "width": scene.width, "height": scene.height, "drop_frame": False, "tracks": tracks,
    }


def count_items(timeline: dict) -> int:
    return sum(len(t["items"]) for t in timeline["tracks"])


# ---- the suggestions document -> markers, strips and panel lines ----


class DocumentError(ValueError):
    """The daemon answered with an error document, or with something that is not one."""


def sequences_of(document: dict) -> list[dict]:
    if not isinstance(document, dict):
        raise DocumentError("the daemon's answer is not a suggestions document")
    if "error" in document:
        error = document["error"] or {}
        raise DocumentError(f"the daemon could not read the timeline: {error.get('message', error)}")
    sequences = document.get("sequences")
    if not isinstance(sequences, list):
        raise DocumentError("the suggestions document has no sequences")
    return sequences


def seconds_to_frame(seconds: float, fps: Fraction, frame_start: int) -> int:
    return frame_start + round(Fraction(seconds).limit_denominator(1_000_000) * fps)


def marker_name(item: dict) -> str:
    return f"{MARKER_PREFIX}{item['field']} V{item['track']}"


def review_markers(document: dict, fps: Fraction, frame_start: int) -> list[tuple[str, int]]:
    """(name, frame) of a marker per review item, at the item's start."""
    return [
        (marker_name(item), seconds_to_frame(item["start_s"], fps, frame_start))
        for seq in sequences_of(document)
        for item in seq.get("review", [])
    ]


def local_path(path: str) -> str:
    """A source path as documents give it (a plain path, or an xmeml `file://localhost/...` URL)."""
    if not path.lower().startswith("file:"):
        return path
    return url2pathname(urlparse(path).path)


def free_channels(used: set[int], count: int) -> list[int]:
    """The lowest `count` channels above every used one (so the new strips stack in track order)."""
    first = max(used, default=0) + 1
    if first + count - 1 > MAX_CHANNEL:
        raise DocumentError(f"not enough free channels: {count} needed above channel {first - 1}")
    return list(range(first, first + count))


def placements(document: dict, fps: Fraction, frame_start: int, used_channels: set[int],
               sizes_by_path: dict[str, tuple[int, int]], scene_size: tuple[int, int]) -> list[Placement]:
    """Next and fill segments as strips: one free channel per suggested track, in track order."""
    segments = [(kind, item) for seq in sequences_of(document)
                for kind in ("next", "fill") for item in seq.get(kind, [])]
    tracks = sorted({item["track"] for _, item in segments})
    channel_of = dict(zip(tracks, free_channels(used_channels, len(tracks))))
    result = []
    for kind, item in segments:
        source = item.get("source") or {}
        path = local_path(source.get("path") or "")
        start = seconds_to_frame(item["start_s"], fps, frame_start)
        end = max(start + 1, seconds_to_frame(item["end_s"], fps, frame_start))
        source_in, source_out = source_range(item)
        if source_out is not None:  # never past the out-point the daemon kept inside the media
            end = max(start + 1, min(end, start + source_out - source_in))
        values = {k: float(item.get(k, d)) for k, d in VALUE_DEFAULTS.items()}
        name = source.get("name") or path.replace("\\", "/").rsplit("/", 1)[-1] or "source"
        generated = name.upper() if not path and name.upper() in GENERATED_TYPES else ""
        result.append(Placement(
            name=f"{STRIP_PREFIX}{name}", channel=channel_of[item["track"]], frame_start=start, frame_end=end,
            path=path, source_name=name, kind=kind, track=item["track"],
            source_size=sizes_by_path.get(path, scene_size), values=values, generated=generated,
            source_in=source_in, source_out=source_out,
        ))
    return result


def source_range(item: dict) -> tuple[int, int | None]:
    """(in, out) source frames of a next or fill item: `source_in`/`source_out` of docs/sidecar.md
    (out exclusive), in the frames the add-on sent as `in`; (0, None) when a document has none."""
    source_in = item.get("source_in")
    source_out = item.get("source_out")
    first = max(0, int(source_in)) if isinstance(source_in, (int, float)) else 0
    if not isinstance(source_out, (int, float)) or int(source_out) <= first:
        return first, None
    return first, int(source_out)


def _value_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return str(value.get("name") or value.get("slot") or value)
    return str(value)


def suggestion_lines(document: dict) -> list[tuple[str, str]]:
    """(headline, reason) per suggestion, for the panel and the reports."""
    lines = []
    for seq in sequences_of(document):
        for item in seq.get("review", []):
            head = (f"{item.get('start_tc', '')} V{item['track']} {item['field']}: "
                    f"{_value_text(item.get('current'))} -> {_value_text(item.get('suggested'))} "
                    f"({item.get('confidence', 0):.0%})")
            lines.append((head, str(item.get("reason", ""))))
        for kind in ("next", "fill"):
            for item in seq.get(kind, []):
                name = (item.get("source") or {}).get("name") or "?"
                head = f"{item.get('start_tc', '')} V{item['track']} {kind}: {name} ({item.get('confidence', 0):.0%})"
                first, last = source_range(item)
                media = f", source in {first}" + (f", out {last}" if last is not None else "")
                lines.append((head, f"{kind} segment {item.get('start_tc', '')}-{item.get('end_tc', '')}{media}"))
    return lines


def counts(document: dict) -> dict[str, int]:
    totals = {"review": 0, "next": 0, "fill": 0}
    for seq in sequences_of(document):
        for kind in totals:
            totals[kind] += len(seq.get(kind, []))
    return totals
