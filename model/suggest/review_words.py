"""Review's words: where an item is (track and the NLE's timecode) and reasons written for editors.

A reason names the place, says what the clip does, and what the rest of the edit does instead,
with the count it rests on ("... where the same source is at 150 % the 6 other times"). It never
quotes a pattern seen fewer than MIN_SUPPORT times, never suggests what is already there, and says
when the clip is hidden under another track's picture.
"""

from __future__ import annotations

import re

from model.timeline.timecode import frames_to_timecode
from model.timeline.types import Sequence

MIN_SUPPORT = 3  # other occurrences a pattern needs before breaking it is worth an item

VALUE_WORDS = {
    "scale": ("at scale {v} %", "at {v} %"),
    "crop_l": ("cropped {v} % on the left", "cropped {v} % on the left"),
    "crop_r": ("cropped {v} % on the right", "cropped {v} % on the right"),
    "crop_t": ("cropped {v} % at the top", "cropped {v} % at the top"),
    "crop_b": ("cropped {v} % at the bottom", "cropped {v} % at the bottom"),
}


def number(value: float) -> str:
    """3 significant digits, no trailing zeros: 150, 93.8, 0.05."""
    text = f"{value:.3g}"
    return text if "e" not in text else f"{value:.2f}"


def track_name(track: int) -> str:
    return f"V{track + 1}"


def timecode(seq: Sequence, frame: int) -> str:
    """The NLE's timecode of a sequence frame (the sequence's start timecode included)."""
    return frames_to_timecode(frame + seq.timecode_start, seq.rate, seq.drop_frame)


def place(seq: Sequence, track: int, frame: int) -> str:
    return f"{track_name(track)} {timecode(seq, frame)}"


def times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _position(field: str, value: float, seq: Sequence) -> str:
    """A centre offset in xmeml units as sequence pixels from the frame's centre (+y is down)."""
    size = seq.width if field == "pos_x" else seq.height
    pixels = round(value * size)
    if pixels == 0:
        return "centred" if field == "pos_x" else "centred vertically"
    side = ("right" if pixels > 0 else "left") if field == "pos_x" else ("below" if pixels > 0 else "above")
    return f"{abs(pixels)} px {side} centre" if field == "pos_y" else f"{abs(pixels)} px {side} of centre"


def value_phrase(field: str, value: float, seq: Sequence) -> str:
    if field in ("pos_x", "pos_y"):
        return "placed " + _position(field, value, seq)
    return VALUE_WORDS[field][0].format(v=number(value))


def other_value_phrase(field: str, value: float, seq: Sequence) -> str:
    if field in ("pos_x", "pos_y"):
        return _position(field, value, seq)
    return VALUE_WORDS[field][1].format(v=number(value))


def hidden_note(hidden_by: int) -> str:
    return f"; it is hidden under {track_name(hidden_by)} here, so the viewer does not see it" if hidden_by >= 0 else ""


def copy_note(copies: list[int]) -> str:
    if not copies:
        return ""
    names = ", ".join(track_name(t) for t in copies)
    return f" (and on its copy {names})"


# --- the property every reason must have -----------------------------------------------------

_QUOTED = re.compile(r"'([^']*)'")


def contradiction(reason: str, current: object, suggested: object) -> str | None:
    """Why a reason contradicts itself, or None: a suggestion equal to what is there, "after 'X' it
    goes to 'X'", "expects 'X'" where X is the current source, or a pattern seen once ("1 of 1")."""
    if current is not None and current == suggested:
        return "suggests what is already there"
    m = re.search(r"after '([^']*)' it goes to '([^']*)'", reason)
    if m and m.group(1) == m.group(2):
        return "after X it goes to X"
    if isinstance(current, dict) and current.get("name"):
        if f"expects '{current['name']}'" in reason:
            return "expects the source that is there"
    m = re.search(r"\b(\d+) of (\d+)\b", reason)
    if m and int(m.group(2)) < MIN_SUPPORT:
        return f"a pattern of {m.group(2)}"
    m = re.search(r"the (\d+) other", reason)
    if m and int(m.group(1)) < MIN_SUPPORT:
        return f"a pattern of {m.group(1)}"
    return None
