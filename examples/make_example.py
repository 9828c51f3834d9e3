"""Make examples/vlog.xml: a two-minute vlog cut from mttd's own synthesizer (no
one's footage or edit), with two things for `mttd suggest` to find:

- one slip, as review_eval plants them for the review figures: a clip whose scale breaks the
  pattern of its track;
- a hole: one V1 shot taken out, which `fill` proposes to fill.

Run from the checkout: `python examples/make_example.py` (the same file every time).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from model.suggest.review_eval import plant_slip
from model.timeline.xmeml_writer import write_xmeml
from model.training.synth import synthesize

OUT = Path(__file__).resolve().parent / "vlog.xml"
STYLE, SEED, INDEX, MINUTES = "vlog", 23, 0, (1.5, 2.0)
SLIP_SEED = 7
HOLE = 4  # the V1 shot taken out (0-based)


def make() -> bytes:
    timeline = synthesize(STYLE, SEED, INDEX, MINUTES)
    seq = timeline.sequences[0]
    planted = plant_slip(seq, "value", np.random.Generator(np.random.PCG64(SLIP_SEED)))
    if planted is None:
        raise SystemExit("no place for a slip in this edit: pick another SEED")
    seq, _ = planted
    v1 = seq.video_tracks[0]
    holed = replace(v1, items=v1.items[:HOLE] + v1.items[HOLE + 1:])
    seq = replace(seq, video_tracks=(holed, *seq.video_tracks[1:]))
    return write_xmeml(replace(timeline, path=OUT.name, sequences=(seq,)))


if __name__ == "__main__":
    OUT.write_bytes(make())
    print(f"wrote {OUT}", file=sys.stderr)
