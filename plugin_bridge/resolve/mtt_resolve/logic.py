"""What the Resolve script does, independent of Resolve: export, ask, mark, offer the import.

`run()` drives a `Host` (host.ResolveHost in Resolve, a recording fake in the tests), a
`suggest` function (the bridge: the suggestions document) and a `make_suggested` function
(NAME.mtt.xml, built only when the editor accepts the import). Standard library only: Resolve
runs scripts in its own Python.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

MARKER_DATA = "mtt"  # customData of the markers this script adds, so the next run replaces them
FIELD_COLORS = {"active": "Red", "asset": "Purple", "scale": "Yellow", "pos_x": "Cyan", "pos_y": "Cyan"}
CROP_COLOR = "Green"


class Host(Protocol):
    def timeline_name(self) -> str | None: ...
    def frame_rate(self) -> float: ...
    def export_fcp7(self, path: str) -> bool: ...
    def markers(self) -> dict[float, dict]: ...
    def delete_marker(self, frame: float) -> bool: ...
    def add_marker(self, frame: int, color: str, name: str, note: str, duration: int) -> bool: ...
    def import_timeline(self, path: str, name: str) -> bool: ...


SuggestFn = Callable[[str], dict]  # timeline file -> suggestions document
MakeSuggestedFn = Callable[[str, str], str]  # (timeline file, folder) -> the NAME.mtt.xml written there
AskFn = Callable[[str], bool]  # summary -> import the suggested timeline?


@dataclass(frozen=True)
class Marker:
    frame: int
    color: str
    name: str
    note: str
    duration: int


@dataclass
class Outcome:
    ok: bool
    message: str
    markers: list[Marker] = field(default_factory=list)
    skipped: int = 0
    imported: str = ""


def safe_name(name: str) -> str:
    """A file name for the exported timeline: the timeline name without path or odd characters."""
    cleaned = re.sub(r"[^\w.() -]+", "_", name).strip(" .")
    return cleaned or "timeline"


def review_items(document: dict) -> list[dict]:
    if "error" in document:
        raise ValueError(f"the daemon could not read the export: {(document['error'] or {}).get('message', '?')}")
    return [item for seq in document.get("sequences", []) for item in seq.get("review", [])]


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return str(value.get("name") or value.get("slot"))
    return str(value)


def plan_markers(items: list[dict], fps: float) -> list[Marker]:
    """One marker per start frame (Resolve keeps one marker per frame): the items starting there
    share it, their fields in the name and their reasons in the note."""
    by_frame: dict[int, list[dict]] = {}
    for item in items:
        by_frame.setdefault(round(item["start_s"] * fps), []).append(item)
    markers = []
    for frame, group in sorted(by_frame.items()):
        group.sort(key=lambda i: -i.get("confidence", 0))
        first = group[0]
        fields = ", ".join(f"{i['field']} V{i['track']}" for i in group)
        note = "\n".join(
            f"{i['field']} V{i['track']}: {_value(i.get('current'))} -> {_value(i.get('suggested'))} "
            f"({i.get('confidence', 0):.0%}) {i.get('reason', '')}".rstrip()
            for i in group
        )
        duration = max(1, round((first["end_s"] - first["start_s"]) * fps))
        color = FIELD_COLORS.get(first["field"], CROP_COLOR)
        markers.append(Marker(frame=frame, color=color, name=f"mtt: {fields}", note=note, duration=duration))
    return markers


def replace_markers(host: Host, planned: list[Marker]) -> tuple[list[Marker], int]:
    """Delete this script's previous markers, add the planned ones on free frames (the editor's
    own markers stay); returns the markers added and how many found no free frame."""
    for frame, info in list(host.markers().items()):
        if info.get("customData") == MARKER_DATA:
            host.delete_marker(frame)
    taken = {int(frame) for frame in host.markers()}
    added, skipped = [], 0
    for marker in planned:
        frame = next((f for f in range(marker.frame, marker.frame + marker.duration) if f not in taken), None)
        if frame is None or not host.add_marker(frame, marker.color, marker.name, marker.note, marker.duration):
            skipped += 1
            continue
        taken.add(frame)
        added.append(Marker(frame, marker.color, marker.name, marker.note, marker.duration))
    return added, skipped


def run(host: Host, suggest: SuggestFn, make_suggested: MakeSuggestedFn, ask: AskFn) -> Outcome:
    """Export the current timeline, get suggestions, mark them, offer to import NAME.mtt.xml."""
    name = host.timeline_name()
    if not name:
        return Outcome(False, "Open a timeline first: the script works on the current timeline.")
    folder = Path(tempfile.mkdtemp(prefix="mtt-resolve-"))
    try:
        return _run_in(folder, name, host, suggest, make_suggested, ask)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_in(folder: Path, name: str, host: Host, suggest: SuggestFn, make_suggested: MakeSuggestedFn,
            ask: AskFn) -> Outcome:
    export = folder / f"{safe_name(name)}.xml"
    if not host.export_fcp7(str(export)) or not export.is_file():
        return Outcome(False, f"Resolve could not export the timeline {name!r} as FCP 7 XML to {export}.")
    try:
        items = review_items(suggest(str(export)))
    except (RuntimeError, ValueError, OSError) as err:  # bridge errors are RuntimeErrors
        return Outcome(False, f"mttd could not answer: {err}")
    markers, skipped = replace_markers(host, plan_markers(items, host.frame_rate()))
    message = f"mtt: {len(items)} review suggestions as {len(markers)} markers on {name!r}"
    if skipped:
        message += f" ({skipped} skipped: no free frame)"
    outcome = Outcome(True, message, markers, skipped)
    if ask(message):
        _import_suggested(host, make_suggested, export, name, outcome)
    return outcome


def _import_suggested(host: Host, make_suggested: MakeSuggestedFn, export: Path, name: str, outcome: Outcome) -> None:
    try:
        suggested = make_suggested(str(export), str(export.parent))
    except (RuntimeError, OSError) as err:
        outcome.message += f"; no suggested timeline: {err}"
        return
    timeline_name = f"{name} (mtt suggestions)"
    if host.import_timeline(suggested, timeline_name):
        outcome.imported = timeline_name
        outcome.message += f"; imported {timeline_name!r}"
    else:
        outcome.message += f"; Resolve could not import {suggested}"
