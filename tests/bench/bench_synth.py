"""Benchmark: synthesize 1,000 five-minute timelines and build their dataset on two cores.

Goals (issue 3): synthesis >= 20 timelines/s, dataset build >= 100,000 steps/s. Printed side by
side with single-process baselines measured in the same run (the machine is shared and noisy):
synthesis with one worker, and a bare read + featurize loop with no shards written.

    python tests/bench/bench_synth.py [--count 1000] [--minutes 5] [--jobs 2] [--keep DIR]
    python tests/bench/bench_synth.py --styles broadcast --count 40 --minutes 40 --baseline-count 10
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from model.features.grid import DEFAULT_STEP
from model.training.dataset import BuildOptions, build_dataset, find_timeline_files, read_features
from model.training.synth import STYLES
from model.training.synth.corpus import write_corpus


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline-count", type=int, default=150)
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    parser.add_argument("--styles", default=",".join(STYLES), help="comma-separated styles (default: the seven default ones)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_synth_"))
    minutes = (args.minutes, args.minutes)
    styles = tuple(args.styles.split(","))
    print(f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}; {args.count} timelines x {args.minutes:g} min "
          f"({', '.join(styles)}), jobs {args.jobs}")
    try:
        _, wall, cpu = timed(lambda: write_corpus(work / "xml", args.count, 0, styles=styles, minutes=minutes, jobs=args.jobs))
        _, b_wall, _ = timed(lambda: write_corpus(work / "base", args.baseline_count, 0, styles=styles, minutes=minutes, jobs=1))
        print(f"synth   {args.count / wall:8.1f} timelines/s  ({wall:.1f} s wall, {cpu:.1f} s cpu)   "
              f"baseline 1 worker: {args.baseline_count / b_wall:.1f} timelines/s   goal >= 20")
        options = BuildOptions(jobs=args.jobs)
        manifest, wall, cpu = timed(lambda: build_dataset([work / "xml"], work / "data", options))
        steps = manifest["counts"]["train"]["steps"] + manifest["counts"]["val"]["steps"]
        files = find_timeline_files([work / "base"])
        base_steps, b_wall, _ = timed(lambda: sum(s.steps for f in files for s in read_features(str(f), DEFAULT_STEP).sequences))
        size = sum(p.stat().st_size for p in (work / "data").rglob("*.npz")) / 1e9
        print(f"build   {steps / wall:8.0f} steps/s      ({steps} steps, {wall:.1f} s wall, {cpu:.1f} s cpu, {size:.2f} GB)   "
              f"baseline read+featurize+pack 1 process, no shards: {base_steps / b_wall:.0f} steps/s   goal >= 100000")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
