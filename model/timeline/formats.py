"""Read any supported timeline file into a Timeline: xmeml natively, the rest through OpenTimelineIO.

FCPXML, `.otio` and Kdenlive need OpenTimelineIO and its adapters (dependencies of mttd); it keeps no
Basic Motion or Crop, so such timelines carry a note saying so. XML inputs go through the same
hardened parse as xmeml before OpenTimelineIO sees them.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from collections import Counter
from pathlib import Path

from model.timeline.errors import TimelineParseError
from model.timeline.kinds import BY_SUFFIX, ROOT_FORMATS
from model.timeline.safe_xml import DEFAULT_MAX_BYTES, parse_xml_bytes, problem_kind, read_capped
from model.timeline.types import Item, Marker, Rate, Sequence, Source, Timeline, Track
from model.timeline.xmeml import read_xmeml_tree

OTIO_NOTE = "motion and crop are not available through OpenTimelineIO"
EXTRA_HINT = "install mttd again (installer/install.sh), which brings it and its adapters"
# format name -> OpenTimelineIO adapter
OTIO_ADAPTERS = {"fcpxml": "fcpx_xml", "otio": "otio_json", "kdenlive": "kdenlive"}


def read_timeline(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Timeline:
    """Read a timeline file of any supported format. Raise TimelineParseError if it cannot be read."""
    return read_timeline_bytes(read_capped(path, max_bytes), str(path), max_bytes=max_bytes)


def read_timeline_bytes(data: bytes, path: str = "<bytes>", *, max_bytes: int = DEFAULT_MAX_BYTES) -> Timeline:
    """Read a timeline from memory; the format comes from `path`'s suffix, else from the content."""
    fmt = _format_of_suffix(path) or _sniff(data)
    if fmt == "otio":
        return _read_with_otio(data, path, fmt)
    root = parse_xml_bytes(data, path, max_bytes=max_bytes)
    fmt = ROOT_FORMATS.get(root.tag, fmt if fmt != "xml" else "xmeml")
    if fmt == "xmeml":
        return read_xmeml_tree(root, path)
    if fmt == "fcpxml" and root.find(".//sequence") is None:
        raise TimelineParseError(path, root.sourceline, "no sequence in this fcpxml file (only events or clips)")
    return _read_with_otio(data, path, fmt, _frame_size(root))


def _format_of_suffix(path: str) -> str | None:
    """The format a suffix names; `.xml` names none (any XML, or JSON, may hide behind it)."""
    kind = BY_SUFFIX.get(Path(path).suffix.lower())
    return kind.format if kind is not None and kind.needs_extra else None


def _sniff(data: bytes) -> str:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "otio" if head.startswith(b"{") else "xml"


def _frame_size(root) -> tuple[int, int] | None:
    """OTIO drops the frame size; Kdenlive keeps it on `<profile>`, FCPXML on its first `<format>`."""
    for el in (root.find("profile"), root.find("resources/format")):
        if el is not None and (el.get("width") or "").isdigit() and (el.get("height") or "").isdigit():
            return int(el.get("width")), int(el.get("height"))
    return None


def _read_with_otio(data: bytes, path: str, fmt: str, frame_size: tuple[int, int] | None = None) -> Timeline:
    otio = _import_otio(path, fmt)
    try:
        text = data.decode("utf-8-sig")
        if fmt == "otio":
            json.loads(text)  # a clear error for broken JSON before OTIO's own
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the Kdenlive adapter prints a deprecation banner
            result = otio.adapters.read_from_string(text, adapter_name=OTIO_ADAPTERS[fmt])
        sequences = tuple(_sequence(otio, tl, frame_size or (1920, 1080)) for tl in _timelines(otio, result))
    except TimelineParseError:
        raise
    except Exception as err:  # third-party code: whatever it raises is a file it cannot read
        line = getattr(err, "lineno", 0) or 0
        # Its messages quote names and values from the file, over several lines: keep the kind.
        kind = problem_kind(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
        raise TimelineParseError(path, line, f"OpenTimelineIO cannot read this {fmt} file: {kind}") from None
    if not sequences:
        raise TimelineParseError(path, 0, f"no timeline in this {fmt} file")
    return Timeline(path=path, sequences=sequences, format=fmt, notes=(OTIO_NOTE,))


def _import_otio(path: str, fmt: str):
    try:
        import opentimelineio as otio

        otio.adapters.from_name(OTIO_ADAPTERS[fmt])
    except Exception:
        raise TimelineParseError(path, 0, f"reading {fmt} files needs OpenTimelineIO: {EXTRA_HINT}") from None
    return otio


def _timelines(otio, result) -> list:
    if isinstance(result, otio.schema.Timeline):
        return [result]
    return list(result.find_children(descended_from_type=otio.schema.Timeline))


def _sequence(otio, tl, frame_size: tuple[int, int]) -> Sequence:
    rate = _rate(_timeline_fps(otio, tl))
    fps = rate.fps
    tracks = []
    for track in tl.video_tracks():
        ranges = track.range_of_all_children()
        items = [
            _item(otio, child, ranges[child], float(fps))
            for child in track
            if isinstance(child, (otio.schema.Clip, otio.schema.Stack))
        ]
        tracks.append(Track(items=tuple(items), enabled=bool(getattr(track, "enabled", True))))
    markers = tuple(_marker(m, float(fps)) for m in tl.tracks.markers)
    start = tl.global_start_time
    return Sequence(
        name=tl.name or "",
        rate=rate,
        video_tracks=tuple(tracks),
        width=frame_size[0],
        height=frame_size[1],
        timecode_start=_frames(start, float(fps)) if start is not None else 0,
        markers=markers,
    )


def _timeline_fps(otio, tl) -> float:
    """The timeline's own rate when OTIO kept one, else the rate most of its clips use."""
    if tl.global_start_time is not None:
        return tl.global_start_time.rate
    rates = Counter(c.source_range.duration.rate for c in tl.find_clips() if c.source_range is not None)
    return rates.most_common(1)[0][0] if rates else 24.0


def _rate(fps: float) -> Rate:
    """OTIO's float rates back to xmeml's timebase + NTSC flag (29.97... -> 30, NTSC)."""
    rounded = max(1, round(fps))
    if not math.isclose(fps, rounded, abs_tol=1e-6) and math.isclose(fps, rounded * 1000 / 1001, abs_tol=1e-3):
        return Rate(rounded, True)
    return Rate(rounded, False)


def _item(otio, child, rng, fps: float) -> Item:
    start = _frames(rng.start_time, fps)
    end = start + _frames(rng.duration, fps)
    source = _source(otio, child)
    return Item(
        start=start,
        end=end,
        source=source,
        in_frame=_in_frame(otio, child, fps),
        enabled=bool(getattr(child, "enabled", True)),
        name=child.name or "",
        kind="generator" if source.kind == "generator" else "clip",
    )


def _in_frame(otio, child, fps: float) -> int:
    """OTIO source times count from the media's timecode; xmeml's `in` counts from its first frame."""
    if not isinstance(child, otio.schema.Clip) or child.source_range is None:
        return 0
    start = child.source_range.start_time
    ref = child.media_reference
    if ref is not None and ref.available_range is not None:
        start = start - ref.available_range.start_time
    return max(_frames(start, fps), 0)


def _source(otio, child) -> Source:
    if isinstance(child, otio.schema.Stack):
        return Source(f"sequence:{child.name}", child.name or "", "sequence")
    ref = child.media_reference
    if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
        url = ref.target_url
        name = ref.name or child.name or ""
        return Source(url, name, Source.kind_for_path(url, name), path=url)
    if isinstance(ref, otio.schema.GeneratorReference):
        kind = ref.generator_kind or ref.name or "generator"
        return Source(f"generator:{kind}", ref.name or kind, "generator")
    name = (ref.name if ref is not None else "") or child.name or ""
    return Source(name, name, Source.kind_for_path(None, name))


def _marker(marker, fps: float) -> Marker:
    rng = marker.marked_range
    start = _frames(rng.start_time, fps)
    length = _frames(rng.duration, fps)
    return Marker(name=marker.name or "", frame=start, comment=marker.comment or "", end=start + length if length else None)


def _frames(time, fps: float) -> int:
    return int(math.floor(time.value_rescaled_to(fps) + 1e-6))
