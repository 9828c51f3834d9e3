"""Read the bridge timeline JSON (plugins without an XML file) into a Timeline.

The format (documented for plugin authors in plugin_bridge/README.md):

    {"name", "fps": [num, den], "width", "height", "drop_frame": false,
     "tracks": [{"enabled": true, "items": [{"start", "end" (frames, end exclusive), "in": 0,
        "enabled": true, "name", "source": {"key", "name", "kind", "path", "width", "height"},
        "scale": 100, "pos_x": 0, "pos_y": 0, "crop_l": 0, "crop_r": 0, "crop_t": 0,
        "crop_b": 0}]}]}

Tracks are V1 first; values are static, in the feature contract's units. Anything malformed
raises TimelineParseError naming the JSON path of the bad value (and the line for bad syntax).
"""

from __future__ import annotations

import json
import math
from typing import Any

from model.timeline.errors import TimelineParseError
from model.timeline.types import SOURCE_KINDS, Crop, Item, Motion, Rate, Sequence, Source, Timeline, Track, const

MAX_TRACKS = 1000
MAX_ITEMS = 1_000_000
MAX_FRAME = 2**31 - 1
VALUE_DEFAULTS = {"scale": 100.0, "pos_x": 0.0, "pos_y": 0.0, "crop_l": 0.0, "crop_r": 0.0, "crop_t": 0.0, "crop_b": 0.0}


def read_timeline_json(text: str | bytes, path: str = "<json>") -> Timeline:
    """Parse JSON text (or UTF-8 bytes) in the bridge format."""
    try:
        data = json.loads(text)
    except UnicodeDecodeError as err:
        raise TimelineParseError(path, 0, f"not UTF-8 JSON: {err.reason}") from None
    except json.JSONDecodeError as err:
        raise TimelineParseError(path, err.lineno, f"invalid JSON: {err.msg}") from None
    except RecursionError:
        raise TimelineParseError(path, 0, "invalid JSON: nested too deeply") from None
    return timeline_from_dict(data, path)


def timeline_from_dict(data: Any, path: str = "<json>") -> Timeline:
    """Build a one-sequence Timeline from the decoded JSON document."""
    reader = _Reader(path)
    return Timeline(path=path, sequences=(reader.sequence(data),), format="bridge-json")


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.items_seen = 0

    def fail(self, where: str, reason: str) -> TimelineParseError:
        return TimelineParseError(self.path, 0, f"{where}: {reason}")

    def sequence(self, data: Any) -> Sequence:
        obj = self.object(data, "timeline")
        tracks = self.list(obj.get("tracks", []), "tracks")
        if len(tracks) > MAX_TRACKS:
            raise self.fail("tracks", f"{len(tracks)} tracks, at most {MAX_TRACKS}")
        return Sequence(
            name=self.text(obj.get("name", ""), "name") or "Sequence",
            rate=self.rate(obj.get("fps"), "fps"),
            video_tracks=tuple(self.track(t, f"tracks[{i}]") for i, t in enumerate(tracks)),
            width=self.dimension(obj.get("width"), "width") or 1920,
            height=self.dimension(obj.get("height"), "height") or 1080,
            drop_frame=self.flag(obj.get("drop_frame", False), "drop_frame"),
        )

    def rate(self, value: Any, where: str) -> Rate:
        """[num, den] as an xmeml rate: integer frames per second, or N*1000/1001 (NTSC)."""
        if value is None:
            raise self.fail(where, "missing; give the frame rate as [numerator, denominator]")
        pair = self.list(value, where)
        if len(pair) != 2:
            raise self.fail(where, "must be [numerator, denominator]")
        num = self.integer(pair[0], f"{where}[0]")
        den = self.integer(pair[1], f"{where}[1]")
        if num <= 0 or den <= 0:
            raise self.fail(where, "numerator and denominator must be positive")
        if den == 1001 and num % 1000 == 0:
            return Rate(num // 1000, ntsc=True)
        if num % den == 0:
            return Rate(num // den)
        raise self.fail(where, f"{num}/{den} is neither a whole rate nor an NTSC rate (N*1000/1001)")

    def track(self, data: Any, where: str) -> Track:
        obj = self.object(data, where)
        items = self.list(obj.get("items", []), f"{where}.items")
        self.items_seen += len(items)
        if self.items_seen > MAX_ITEMS:
            raise self.fail(where, f"more than {MAX_ITEMS} items")
        return Track(
            items=tuple(self.item(it, f"{where}.items[{i}]") for i, it in enumerate(items)),
            enabled=self.flag(obj.get("enabled", True), f"{where}.enabled"),
        )

    def item(self, data: Any, where: str) -> Item:
        obj = self.object(data, where)
        start = self.frame(obj.get("start"), f"{where}.start")
        end = self.frame(obj.get("end"), f"{where}.end")
        if end <= start:
            raise self.fail(where, f"end {end} must be greater than start {start}")
        source = self.source(obj.get("source"), f"{where}.source")
        values = {k: self.number(obj.get(k, d), f"{where}.{k}") for k, d in VALUE_DEFAULTS.items()}
        return Item(
            start=start,
            end=end,
            source=source,
            in_frame=max(0, self.integer(obj.get("in", 0), f"{where}.in")),
            enabled=self.flag(obj.get("enabled", True), f"{where}.enabled"),
            motion=_motion(values),
            crop=_crop(values),
            name=self.text(obj.get("name", ""), f"{where}.name") or source.name,
            kind="generator" if source.kind == "generator" else "clip",
        )

    def source(self, data: Any, where: str) -> Source:
        obj = self.object(data, where)
        name = self.text(obj.get("name", ""), f"{where}.name")
        path = self.text(obj.get("path", ""), f"{where}.path") or None
        key = self.text(obj.get("key", ""), f"{where}.key") or path or name
        if not key:
            raise self.fail(where, "needs a key, a path or a name")
        kind = self.text(obj.get("kind", ""), f"{where}.kind") or Source.kind_for_path(path, name)
        if kind not in SOURCE_KINDS:
            raise self.fail(f"{where}.kind", f"{kind!r} is not one of {', '.join(SOURCE_KINDS)}")
        return Source(
            key=key,
            name=name or key,
            kind=kind,  # type: ignore[arg-type]
            path=path,
            width=self.dimension(obj.get("width"), f"{where}.width"),
            height=self.dimension(obj.get("height"), f"{where}.height"),
        )

    def object(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        return value

    def list(self, value: Any, where: str) -> list:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {_kind(value)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {_kind(value)}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_kind(value)}")
        return value

    def integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a whole number, got {_kind(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise self.fail(where, f"expected a whole number, got {value}")
        if abs(value) > MAX_FRAME:
            raise self.fail(where, f"{value} is out of range")
        return int(value)

    def frame(self, value: Any, where: str) -> int:
        if value is None:
            raise self.fail(where, "missing")
        frame = self.integer(value, where)
        if frame < 0:
            raise self.fail(where, f"frames start at 0, got {frame}")
        return frame

    def dimension(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        size = self.integer(value, where)
        if size < 0:
            raise self.fail(where, f"must not be negative, got {size}")
        return size or None

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {_kind(value)}")
        return float(value)


def _motion(values: dict[str, float]) -> Motion | None:
    if (values["scale"], values["pos_x"], values["pos_y"]) == (100.0, 0.0, 0.0):
        return None
    return Motion(scale=const(values["scale"]), center_x=const(values["pos_x"]), center_y=const(values["pos_y"]))


def _crop(values: dict[str, float]) -> Crop | None:
    sides = (values["crop_l"], values["crop_r"], values["crop_t"], values["crop_b"])
    if sides == (0.0, 0.0, 0.0, 0.0):
        return None
    return Crop(*(const(v) for v in sides))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
