"""Benchmark batch inference against one process per file, in one run (not collected by pytest).

    python tests/bench/bench_batch.py [--files 50] [--minutes 1-2] [--model SPEC]

Synthetic timelines from `mttd synth` go into a temporary folder. Then, side by side:
- batch: one `mttd suggest --no-daemon FOLDER --out DIR` process (the model loaded once);
- separate: one `mttd suggest --no-daemon FILE --out DIR` process per file (each imports torch
  and loads the model), the way a script calling mttd per file works.
Both write both sidecars of every file. Prints timelines per second for each and the ratio
(goal: the batch at least 5x the throughput of separate processes), and the split of the time per
file into work (the same either way) and start-up (what the batch saves), which bounds the ratio. The model is the `model`
setting or the bundled default (`--model persistence` measures start-up cost only).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--minutes", default="1-2", help="synthetic timeline length range, MIN-MAX (default 1-2)")
    parser.add_argument("--model", default=None, help="model spec for both sides (default: the configured or bundled model)")
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    with tempfile.TemporaryDirectory(prefix="mttd-bench-batch-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "MTTD_HOME": str(root / "home")}
        inputs = root / "timelines"
        mttd(env, "synth", "--out", str(inputs), "--count", str(args.files), "--minutes", args.minutes, "--seed", "7")
        files = sorted(inputs.glob("*.xml"))
        assert len(files) == args.files, f"synth wrote {len(files)} files"

        started = time.perf_counter()
        mttd(env, "suggest", "--no-daemon", str(inputs), "--out", str(root / "batch"), *model, check_code=False)
        batch_s = time.perf_counter() - started

        started = time.perf_counter()
        for path in files:
            mttd(env, "suggest", "--no-daemon", str(path), "--out", str(root / "separate"), *model)
        separate_s = time.perf_counter() - started

        written = {d: len(list((root / d).glob("*.mtt.xml"))) for d in ("batch", "separate")}
    batch_rate, separate_rate = args.files / batch_s, args.files / separate_s
    print(f"{args.files} synthetic timelines of {args.minutes} min, model {args.model or 'configured/bundled'}")
    print(f"  batch (1 process)      {batch_s:8.1f} s  {batch_rate:7.2f} timelines/s  ({written['batch']} suggested XML written)")
    print(f"  separate ({args.files} processes) {separate_s:8.1f} s  {separate_rate:7.2f} timelines/s  ({written['separate']} suggested XML written)")
    ratio = batch_rate / separate_rate
    print(f"  batch / separate       {ratio:8.1f}x  (goal >= 5x: {'met' if ratio >= 5 else 'NOT met'})")
    # What batching can save is the start-up of each process (interpreter, torch, model load);
    # the suggestion work itself is the same, so it bounds the ratio.
    work, startup = batch_s / args.files, (separate_s - batch_s) / args.files
    print(f"  per file: {work:.2f} s of work, {startup:.2f} s of process start-up and model load saved by the batch")
    return 0


def mttd(env: dict[str, str], *args: str, check_code: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "daemon", *args], env=env, cwd=REPO, capture_output=True, text=True)
    if check_code and done.returncode != 0:
        raise SystemExit(f"mttd {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done


if __name__ == "__main__":
    sys.exit(main())
