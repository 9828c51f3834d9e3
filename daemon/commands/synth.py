"""`mttd synth`: write a synthetic corpus of edited timelines (xmeml), same seed same bytes."""

from __future__ import annotations

import argparse
import os
import sys
import time

from daemon.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="write synthetic edited timelines (FCP7 XML) for training")
    p.add_argument("--out", required=True, help="folder to write {style}-{index:05d}.xml into")
    p.add_argument("--count", type=int, required=True, help="number of timelines")
    p.add_argument("--seed", type=int, default=0, help="global seed (default 0)")
    p.add_argument("--styles", default=None, help="comma-separated styles (default: the seven default ones, in turn; "
                   "opt-in: broadcast, best with --minutes 20-60)")
    p.add_argument("--minutes", default="2-6", help="length range in minutes, MIN-MAX (default 2-6)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default 2)")
    p.set_defaults(run=run)


def parse_minutes(text: str) -> tuple[float, float]:
    """`2-6` -> (2.0, 6.0); `5` -> (5.0, 5.0). Raise ValueError on anything else."""
    parts = text.split("-")
    if len(parts) not in (1, 2):
        raise ValueError(text)
    lo, hi = float(parts[0]), float(parts[-1])
    if not 0 < lo <= hi:
        raise ValueError(text)
    return lo, hi


def run(args: argparse.Namespace) -> int:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.training.synth import ALL_STYLES, STYLES
    from model.training.synth.corpus import write_corpus

    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip()) if args.styles else STYLES
    unknown = [s for s in styles if s not in ALL_STYLES]
    if unknown or not styles:
        raise UsageError(f"unknown style {', '.join(unknown) or '(none)'}; styles: {', '.join(ALL_STYLES)}")
    try:
        minutes = parse_minutes(args.minutes)
    except ValueError:
        raise UsageError(f"--minutes wants MIN-MAX with 0 < MIN <= MAX, got {args.minutes!r}") from None
    if args.count < 0:
        raise UsageError("--count must not be negative")
    bar = ProgressLine("synth", "timelines")
    size = write_corpus(args.out, args.count, args.seed, styles=styles, minutes=minutes, jobs=max(1, args.jobs), progress=bar)
    bar.close()
    print(f"wrote {args.count} timelines ({size / 1e6:.1f} MB) to {args.out}", file=sys.stderr)
    return 0


class ProgressLine:
    """A one-line progress bar on stderr: redrawn in place on a terminal, every 10 % otherwise."""

    def __init__(self, label: str, unit: str) -> None:
        self.label, self.unit = label, unit
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.last_tenth = -1
        self.tty = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        tenth = (10 * done) // max(1, total)
        if self.tty and now - self.last_draw < 0.1 and done < total:
            return
        if not self.tty and tenth == self.last_tenth and done < total:
            return
        self.last_draw, self.last_tenth = now, tenth
        elapsed = max(1e-9, now - self.start)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * done / max(1, total))
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {self.unit} "
                f"{rate:.1f}/s eta {eta:.0f}s")
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.tty and self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
