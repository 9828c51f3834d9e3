"""`mttd features FILE`: the feature grid of docs/features.md as JSON (`--json`) or a short summary.

`--json` at the default step comes from the running daemon when one serves (its result cache
answers repeated calls), else from this process; `--no-daemon` forces this process. The document
is the same either way; a file the daemon refuses is read again here, for the same message. The
summary shows the reader's notes and format, which the document does not carry, so it is always
made here (reading needs no model).
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction

from daemon.client import try_daemon_features
from daemon.errors import MttdError
from model.timeline.errors import TimelineParseError

MAX_STEPS = 2_000_000  # 55 hours at 0.1 s; more is a broken file or a typo in --step


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features",
        help="print the feature grid of a timeline file",
        description="Read a timeline (xmeml, FCPXML, .otio or Kdenlive) and "
        "print its steps x 20 tracks x 9 values feature grid.",
    )
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--sequence", metavar="NAME", help="only the top-level sequence of this name")
    parser.add_argument("--step", metavar="SECONDS", default="0.1", help="step length in seconds (default 0.1)")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of a summary")
    parser.add_argument("--no-daemon", action="store_true", help="work in this process even when the daemon runs")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.features.grid import (
        DEFAULT_STEP,
        as_step,
        features_document,
        featurize_timeline,
    )
    from model.timeline.formats import read_timeline

    try:
        step = as_step(Fraction(args.step))
    except (ValueError, ZeroDivisionError):
        raise MttdError(f"--step must be a positive number of seconds, not {args.step!r}") from None
    if args.json and not args.no_daemon and step == DEFAULT_STEP:
        doc = _from_daemon(args.file, args.sequence)
        if doc is not None:
            _print_json(doc)
            return 0
    timeline = read_timeline(args.file)
    names = [s.name for s in timeline.sequences]
    if args.sequence is not None and args.sequence not in names:
        raise MttdError(f"{args.file}: no sequence named {args.sequence!r} (sequences: {', '.join(map(repr, names))})")
    too_long = _too_many_steps(timeline, step, args.sequence)
    if too_long:
        raise MttdError(f"{args.file}: {too_long}")
    if args.json:
        _print_json(features_document(timeline, step, args.sequence))
    else:
        _print_summary(timeline, featurize_timeline(timeline, step, args.sequence))
    return 0


def _from_daemon(path: str, sequence: str | None) -> dict | None:
    """The daemon's document at the default step, or None: no daemon, or a file it refuses."""
    try:
        return try_daemon_features(path, None, sequence)
    except TimelineParseError:
        return None


def _print_json(doc: dict) -> None:
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")


def _too_many_steps(timeline, step: Fraction, only: str | None) -> str:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.features.grid import step_count

    for seq in timeline.sequences:
        if only is not None and seq.name != only:
            continue
        steps = step_count(seq.duration, step * seq.rate.fps)
        if steps > MAX_STEPS:
            return f"sequence {seq.name!r} would have {steps} steps of {float(step)} s (limit {MAX_STEPS})"
    return ""


def _print_summary(timeline, features) -> None:
    print(f"{timeline.path} ({timeline.format})")
    for note in timeline.notes:
        print(f"  note: {note}")
    for f in features:
        rate = f.rate
        seconds = float(f.steps * f.step_seconds)
        kept = min(f.tracks_total, f.grid.shape[1])
        active = int(f.grid[:, :, 0].sum())
        print(f"sequence {f.name!r}")
        print(
            f"  {float(rate.fps):g} fps ({rate.timebase}/{'TRUE' if rate.ntsc else 'FALSE'}), "
            f"{f.frame_size[0]}x{f.frame_size[1]}"
        )
        print(f"  {f.steps} steps of {float(f.step_seconds):g} s ({_clock(seconds)})")
        print(f"  {f.tracks_total} video tracks ({kept} kept), {len(f.sources)} sources")
        print(f"  {active} of {f.steps * kept} track-steps active")
        for asset in f.assets()[:10]:
            more = "+" if asset["slot"] == 9 and len(f.sources) > 10 else ""
            print(f"    slot {asset['slot']}{more}: {asset['name'] or asset['key']}")


def _clock(seconds: float) -> str:
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{sec:04.1f}" if hours else f"{minutes}:{sec:04.1f}"
