"""Frames <-> SMPTE timecode at a sequence's rate, drop-frame included.

Timecode counts frames at the nominal rate (the xmeml timebase: 24 for 23.976, 30 for 29.97).
Drop-frame (29.97 and 59.94 only) skips the first 2 (4 at 59.94) frame numbers of every minute
except each tenth, so the label stays close to wall-clock time; it never changes frame counts.
Drop-frame labels separate the frames with `;`, non-drop with `:`.
"""

from __future__ import annotations

import re

from model.timeline.types import Rate

_TC = re.compile(r"^(-?)(\d+):(\d{2}):(\d{2})([:;.,])(\d{2,})$")


def uses_drop_frame(rate: Rate, drop_frame: bool) -> bool:
    """Drop-frame exists only for NTSC 30 and 60; a DF flag on any other rate is ignored."""
    return drop_frame and rate.ntsc and rate.timebase in (30, 60)


def _drop_per_minute(timebase: int) -> int:
    return timebase // 15  # 2 labels at 30, 4 at 60


def frames_to_timecode(frame: int, rate: Rate, drop_frame: bool = False) -> str:
    """`HH:MM:SS:FF` (or `HH:MM:SS;FF` in drop-frame) for a frame count from zero."""
    sign = "-" if frame < 0 else ""
    frame = abs(int(frame))
    base = rate.timebase
    drop = uses_drop_frame(rate, drop_frame)
    if drop:
        frame = _df_label_number(frame, base)
    ff = frame % base
    total_seconds = frame // base
    hh, rest = divmod(total_seconds, 3600)
    mm, ss = divmod(rest, 60)
    sep = ";" if drop else ":"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"


def _df_label_number(frame: int, base: int) -> int:
    """The frame number a drop-frame label shows: real frames plus the skipped labels before it."""
    drop = _drop_per_minute(base)
    per_minute = base * 60 - drop
    per_ten_minutes = base * 600 - drop * 9
    tens, rest = divmod(frame, per_ten_minutes)
    skipped = drop * 9 * tens
    if rest >= drop:
        skipped += drop * ((rest - drop) // per_minute)
    return frame + skipped


def timecode_to_frames(text: str, rate: Rate, drop_frame: bool | None = None) -> int:
    """Parse a timecode; `;` (or `drop_frame=True`) means drop-frame where the rate allows it."""
    match = _TC.match(text.strip())
    if not match:
        raise ValueError(f"not a timecode: {text!r}")
    sign, hh, mm, ss, sep, ff = match.groups()
    hours, minutes, seconds, frames = int(hh), int(mm), int(ss), int(ff)
    base = rate.timebase
    if minutes > 59 or seconds > 59 or frames >= base:
        raise ValueError(f"timecode {text!r} out of range at {base} fps")
    wants_drop = (sep in ";," and drop_frame is None) or bool(drop_frame)
    count = ((hours * 60 + minutes) * 60 + seconds) * base + frames
    if uses_drop_frame(rate, wants_drop):
        drop = _drop_per_minute(base)
        if seconds == 0 and frames < drop and minutes % 10 != 0:
            raise ValueError(f"timecode {text!r} does not exist in drop-frame")
        total_minutes = hours * 60 + minutes
        count -= drop * (total_minutes - total_minutes // 10)
    return -count if sign else count
