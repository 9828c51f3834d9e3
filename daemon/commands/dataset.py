"""`mttd dataset build` (timelines -> training shards) and `mttd dataset stats` (what the corpus holds)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from daemon.commands.synth import ProgressLine
from daemon.errors import MttdError, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dataset", help="build training shards from timelines; corpus statistics")
    sub = p.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="read folders of timelines into train/val shards")
    b.add_argument("sources", nargs="+", metavar="SRC", help="timeline files or folders (searched recursively)")
    b.add_argument("--out", required=True, help="dataset folder (manifest.json, train/, val/)")
    b.add_argument("--step", default="0.1", help="step length in seconds (default 0.1)")
    b.add_argument("--window", type=int, default=256, help="window length in steps (default 256)")
    b.add_argument("--stride", type=int, default=128, help="window stride in steps (default 128)")
    b.add_argument("--val", type=float, default=0.1, help="validation fraction of the files (default 0.1)")
    b.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    b.add_argument("--jitter", type=int, default=0, help="sub-step phase-shifted copies per training timeline")
    b.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="reader processes (default 2)")
    b.set_defaults(run=run_build)
    s = sub.add_parser("stats", help="change rates, shot lengths, active tracks and value histograms")
    s.add_argument("data", help="dataset folder")
    s.add_argument("--json", action="store_true", help="print JSON instead of tables")
    s.set_defaults(run=run_stats)


def run_build(args: argparse.Namespace) -> int:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.features.grid import as_step
    from model.training.dataset import BuildOptions, build_dataset, find_timeline_files

    try:
        step = as_step(args.step)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--step wants a positive number of seconds, got {args.step!r}") from None
    if args.window < 2 or args.stride < 1 or not 0 <= args.val < 1 or args.jitter < 0:
        raise UsageError("need --window >= 2, --stride >= 1, 0 <= --val < 1 and --jitter >= 0")
    missing = [s for s in args.sources if not Path(s).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {missing[0]}")
    if not find_timeline_files(args.sources):
        raise UsageError(f"no timeline files in {', '.join(args.sources)}")
    options = BuildOptions(step, args.window, args.stride, args.val, args.seed, max(1, args.jobs), args.jitter)
    bar = ProgressLine("dataset", "files")
    manifest = build_dataset(args.sources, args.out, options, progress=bar)
    bar.close()
    for failed in manifest["failed"]:
        print(f"mttd: skipped {failed['error']}", file=sys.stderr)
    c = manifest["counts"]
    print(f"{c['files']} files, {c['failed']} failed; train {c['train']['timelines']} timelines "
          f"{c['train']['steps']} steps {c['train']['windows']} windows; val {c['val']['timelines']} timelines "
          f"{c['val']['steps']} steps {c['val']['windows']} windows -> {args.out}")
    if c["failed"] == c["files"]:
        raise MttdError("no file could be read")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.training.dataset_stats import dataset_stats, format_stats

    if not (Path(args.data) / "manifest.json").is_file():
        raise UsageError(f"{args.data}: not a dataset folder (no manifest.json)")
    stats = dataset_stats(args.data)
    print(json.dumps(stats, indent=1) if args.json else format_stats(stats))
    return 0
