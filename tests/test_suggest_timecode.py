"""Timecodes at the sequence's rate: 23.976, 24, 25, 29.97 DF/NDF, 59.94 DF, 60."""

from __future__ import annotations

import opentimelineio as otio
import pytest

from model.timeline.timecode import frames_to_timecode, timecode_to_frames
from model.timeline.types import Rate

NTSC24, PAL, NTSC30, NTSC60, P60 = Rate(24, True), Rate(25), Rate(30, True), Rate(60, True), Rate(60)


@pytest.mark.parametrize(
    ("frame", "rate", "drop", "text"),
    [
        (0, PAL, False, "00:00:00:00"),
        (90_000, PAL, False, "01:00:00:00"),
        (24, PAL, False, "00:00:00:24"),
        (86_400, NTSC24, False, "01:00:00:00"),  # 23.976 counts 24 labels a second
        (86_399, NTSC24, True, "00:59:59:23"),  # no drop-frame at 23.976: the flag is ignored
        (216_000, P60, False, "01:00:00:00"),
        (59, P60, False, "00:00:00:59"),
        (1799, NTSC30, True, "00:00:59;29"),
        (1800, NTSC30, True, "00:01:00;02"),  # ;00 and ;01 are skipped
        (17_982, NTSC30, True, "00:10:00;00"),  # ... except every tenth minute
        (107_892, NTSC30, True, "01:00:00;00"),
        (1800, NTSC30, False, "00:01:00:00"),
        (3600, NTSC60, True, "00:01:00;04"),
        (35_964, NTSC60, True, "00:10:00;00"),
        (-25, PAL, False, "-00:00:01:00"),
    ],
)
def test_known_timecodes(frame, rate, drop, text):
    assert frames_to_timecode(frame, rate, drop) == text
    if frame >= 0:
        assert timecode_to_frames(text, rate) == frame


@pytest.mark.parametrize(("rate", "fps"), [(NTSC30, 30000 / 1001), (NTSC60, 60000 / 1001)])
def test_drop_frame_agrees_with_opentimelineio_over_two_hours(rate, fps):
    for frame in list(range(0, 20_000, 7)) + list(range(400_000, 432_000, 97)):
        ours = frames_to_timecode(frame, rate, True)
        theirs = otio.opentime.to_timecode(otio.opentime.RationalTime(frame, fps), fps, True)
        assert ours == theirs, frame


@pytest.mark.parametrize("rate", [NTSC24, PAL, NTSC30, NTSC60, P60])
@pytest.mark.parametrize("drop", [False, True])
def test_round_trip(rate, drop):
    for frame in range(0, 600_000, 611):
        assert timecode_to_frames(frames_to_timecode(frame, rate, drop), rate, drop) == frame


def test_labels_that_drop_frame_skips_are_refused():
    with pytest.raises(ValueError, match="does not exist"):
        timecode_to_frames("00:01:00;01", NTSC30)
    assert timecode_to_frames("00:10:00;00", NTSC30) == 17_982
    with pytest.raises(ValueError, match="out of range"):
        timecode_to_frames("00:00:00:25", PAL)
