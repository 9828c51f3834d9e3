"""In-process suggestion time with a loaded model: 2- and 10-minute 20-track timelines, each kind
alone and all three together, beside the same engine on the persistence baseline (what the
engine itself costs) and the bare model forward pass.

    python tests/bench/bench_suggest.py [--model M] [--backend auto|torch|onnx|onnx-int8] [--repeat N]

Goal (issue 5): all three kinds for 10 minutes under 1 s; next alone under 300 ms. Each timed call is
a first pass (a new file name; see FirstPass); the last line per length is a re-save of the same file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from model.features.grid import featurize  # noqa: E402
from model.inference.predictor import PersistencePredictor  # noqa: E402
from model.suggest.items import SuggestOptions
from model.suggest.pipeline import suggest  # noqa: E402
from model.timeline.types import Crop, Item, Motion, Rate, Sequence, Source, Timeline, Track, const  # noqa: E402

KINDS = {"review": ("review",), "next": ("next",), "fill": ("fill",), "all": ("review", "next", "fill")}


def timeline(minutes: float, tracks: int = 20, seed: int = 0) -> Timeline:
    """20 busy tracks: 2-8 s shots from 40 sources, some punched in or cropped, a few gaps, and
    three 2-second stretches with nothing on any track (so `fill` has work)."""
    rng = np.random.default_rng(seed)
    fps = 25
    total = int(minutes * 60 * fps)
    holes = [(int(total * f), int(total * f) + 2 * fps) for f in (0.25, 0.5, 0.75)]
    sources = [Source(f"file:///m/s{i}.mov", f"s{i}.mov", "file", f"file:///m/s{i}.mov", 1920, 1080, total) for i in range(40)]
    out = []
    for t in range(tracks):
        items, start = [], 0
        while start < total:
            end = min(total, start + int(rng.integers(2 * fps, 8 * fps)))
            for lo, hi in holes:
                if start < hi and lo < end:
                    end = lo if start < lo else hi
                    break
            if not any(lo <= start < hi for lo, hi in holes) and rng.random() > 0.1:
                motion = Motion(const(float(rng.choice([100, 100, 120, 50])))) if t else None
                crop = Crop(const(float(rng.choice([0, 0, 10])))) if t > 1 else None
                items.append(Item(start, end, sources[int(rng.integers(40))], start, motion=motion, crop=crop))
            start = end
        out.append(Track(tuple(items)))
    seq = Sequence("bench", Rate(fps), tuple(out))
    return Timeline("bench.xml", (seq,))


class FirstPass:
    """Calls `suggest` on the timeline under a new file name each time: a network predictor keeps
    its last pass per file and sequence, so the same name again would time a re-save of an
    unchanged file instead of a first pass."""

    def __init__(self, tl: Timeline):
        self.tl, self.calls = tl, 0

    def __call__(self, predictor, options: SuggestOptions):
        self.calls += 1
        return suggest(replace(self.tl, path=f"bench-{self.calls}.xml"), predictor, options)


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx", "onnx-int8"),
                    help="how the network runs (default auto, as the daemon and `mttd suggest`)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from model.inference.load import load_predictor

    network, how = load_predictor(args.model, args.backend), f"backend {args.backend}"
    baseline = PersistencePredictor()
    print(f"model: {network.name} {network.version} ({how}); baseline: persistence (engine cost alone)")
    print(f"{'timeline':>10} {'kind':>7} {'model ms':>10} {'persistence ms':>15}")
    for minutes in (2, 10):
        tl = timeline(minutes)
        feats = featurize(tl.sequences[0], network.step_seconds)
        forward = median_ms(lambda: network.predict(feats), args.repeat)
        print(f"{minutes:>8} m {'forward':>7} {forward:>10.1f} {'':>15}   ({feats.steps} steps, predict() alone)")
        first_pass = FirstPass(tl)
        for name, kinds in KINDS.items():
            options = SuggestOptions(kinds=kinds)
            model_ms = median_ms(lambda: first_pass(network, options), args.repeat)
            base_ms = median_ms(lambda: first_pass(baseline, options), args.repeat)
            print(f"{minutes:>8} m {name:>7} {model_ms:>10.1f} {base_ms:>15.1f}")
        options = SuggestOptions(kinds=KINDS["all"])
        suggest(tl, network, options)
        resave_ms = median_ms(lambda: suggest(tl, network, options), args.repeat)
        print(f"{minutes:>8} m {'resave':>7} {resave_ms:>10.1f} {'':>15}   (all kinds again on the unchanged file: the kept pass)")
    print("goal: all kinds, 10 min < 1000 ms; next alone < 300 ms")


if __name__ == "__main__":
    main()
