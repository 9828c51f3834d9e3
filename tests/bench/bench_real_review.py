"""Review on real exports (issue 19): slips planted in the shared corpus's real timelines, the rank
of the planted slip among the review items (top-3 rate) and the items per minute on the clean
exports, for this tree's review beside an older revision's measured in the same run on the same
plants (its tree is unpacked with `git archive`, it runs in a subprocess of its own).

    python tests/bench/bench_real_review.py [--baseline-rev REV | --no-baseline] [--backend onnx-int8] [--limit N] [--max-minutes M]

Goals: the planted slip in the top 3 in at least 60 % of plants; at most 0.2 items a minute on the
clean exports. The bundled calibration was fitted on these same productions (with other plants);
the figures of each production judged by a calibration that never saw it are in
model/suggest/review_calibration.json (`real_by_production`) and printed at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SLIPS_FILE = REPO / "model" / "suggest" / "slips.py"
DEFAULT_BASELINE = "3ec6a5b"  # main before issue 19's review work
SEED = 1919


def load_slips():
    """model/suggest/slips.py of this tree, whatever `model` package is on the path (it needs only
    the timeline types, which the older tree has too)."""
    if "bench_slips" in sys.modules:
        return sys.modules["bench_slips"]
    spec = importlib.util.spec_from_file_location("bench_slips", SLIPS_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_slips"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def plan(paths: list[str], reviewed: list[set[int]], sequences) -> list[dict]:
    """Per file and slip kind, where the slip goes: (track, item) and the seed of its planter."""
    slips = load_slips()
    plans = []
    for i, (path, seq, tracks) in enumerate(zip(paths, sequences, reviewed)):
        rng = np.random.default_rng([SEED, i])
        spots = slips.eligible(seq, tracks)
        for k, kind in enumerate(slips.SLIP_KINDS):
            for s in rng.permutation(len(spots)):
                t, j = spots[s]
                seed = [SEED, i, k, int(t), int(j)]
                if slips.PLANTERS[kind](seq, t, j, np.random.default_rng(seed)) is not None:
                    plans.append({"file": path, "kind": kind, "track": int(t), "item": int(j), "seed": seed})
                    break
    return plans


def variants(path: str, seq, plans: list[dict]):
    """The clean sequence (slip None) and each planned slipped copy of it."""
    slips = load_slips()
    yield seq, None
    for p in plans:
        if p["file"] == path:
            planted = slips.PLANTERS[p["kind"]](seq, p["track"], p["item"], np.random.default_rng(p["seed"]))
            yield planted


def run_review(plans: list[dict], paths: list[str], backend: str) -> list[dict]:
    """Review every variant with the `model` package on the path; one record per variant."""
    from model.inference.load import load_predictor
    from model.suggest.items import SuggestOptions
    from model.suggest.pipeline import suggest
    from model.timeline.formats import read_timeline
    from model.timeline.types import Timeline

    predictor = load_predictor(None, backend=backend)
    options = SuggestOptions(kinds=("review",))
    out = []
    for path in paths:
        seq = read_timeline(path).sequences[0]
        for variant, slip in variants(path, seq, plans):
            started = time.perf_counter()
            items = suggest(Timeline(path, (variant,)), predictor, options)[0].review
            out.append({
                "file": path,
                "minutes": float(variant.duration / variant.rate.fps) / 60.0,
                "slip": None if slip is None else {"kind": slip.kind, "track": slip.track, "start_frame": slip.start_frame,
                                                   "end_frame": slip.end_frame, "field": slip.field},
                "items": [{"track": r.track, "field": r.field, "start_frame": r.start_frame, "end_frame": r.end_frame}
                          for r in items],
                "seconds": time.perf_counter() - started,
            })
    return out


def summarise(records: list[dict]) -> dict:
    slips = load_slips()
    clean = [r for r in records if r["slip"] is None]
    planted = [r for r in records if r["slip"] is not None]
    ranks = {}
    for r in planted:
        slip = slips.Slip(**r["slip"])
        hit = [k for k, it in enumerate(r["items"]) if slips.hits(_Item(**it), slip)]
        ranks.setdefault(slip.kind, []).append(hit[0] + 1 if hit else None)
    all_ranks = [x for v in ranks.values() for x in v]
    minutes = sum(r["minutes"] for r in clean)
    return {
        "plants": len(all_ranks),
        "top3": round(sum(1 for x in all_ranks if x is not None and x <= 3) / max(1, len(all_ranks)), 4),
        "found": round(sum(1 for x in all_ranks if x is not None) / max(1, len(all_ranks)), 4),
        "top3_by_kind": {k: f"{sum(1 for x in v if x is not None and x <= 3)}/{len(v)}" for k, v in ranks.items()},
        "clean_items_per_min": round(sum(len(r["items"]) for r in clean) / minutes, 4) if minutes else None,
        "clean_minutes": round(minutes, 1),
        "seconds": round(sum(r["seconds"] for r in records), 1),
    }


class _Item:
    def __init__(self, track, field, start_frame, end_frame):
        self.track, self.field, self.start_frame, self.end_frame = track, field, start_frame, end_frame


def baseline(rev: str, plans: list[dict], paths: list[str], backend: str) -> dict:
    """The older revision's review on the same plants, in a subprocess with its tree on the path."""
    with tempfile.TemporaryDirectory(prefix="mttd-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
        tar_path = Path(tmp) / "tree.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(Path(tmp) / "tree", filter="data")
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"plans": plans, "paths": paths, "backend": backend}))
        env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "tree")}
        done = subprocess.run([sys.executable, __file__, "--worker", str(job)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"baseline worker failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-rev", default=DEFAULT_BASELINE)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--limit", type=int, default=0, help="only the first N real exports")
    ap.add_argument("--max-minutes", type=float, default=45.0, help="leave out longer exports (a 128-minute one has 9 clips)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:  # inside the baseline's subprocess: its `model` package, this tree's slips
        job = json.loads(Path(args.worker).read_text())
        print(json.dumps(run_review(job["plans"], job["paths"], job["backend"])))
        return 0
    sys.path.insert(0, str(REPO))
    from model.suggest.review_calibration import bundled_calibrations
    from model.suggest.review_eval import real_timelines
    from model.suggest.roles import track_roles

    timelines = [tl for tl in real_timelines() if tl.sequences[0].duration / tl.sequences[0].rate.fps <= args.max_minutes * 60]
    if args.limit:
        timelines = timelines[: args.limit]
    paths = [tl.path for tl in timelines]
    seqs = [tl.sequences[0] for tl in timelines]
    reviewed = [{t for t, r in enumerate(track_roles(s)) if r.reviewed} for s in seqs]
    plans = plan(paths, reviewed, seqs)
    print(f"{len(paths)} real exports, {len(plans)} planted slips, backend {args.backend}", flush=True)
    mine = summarise(run_review(plans, paths, args.backend))
    rows = [("this tree", mine)]
    if not args.no_baseline:
        rows.append((f"baseline {args.baseline_rev}", summarise(baseline(args.baseline_rev, plans, paths, args.backend))))
    print(f"{'review':>20} | plants | top-3 | found | clean items/min | clean min | seconds | top-3 by kind")
    for name, s in rows:
        print(f"{name:>20} | {s['plants']:6d} | {s['top3']:.3f} | {s['found']:.3f} | {s['clean_items_per_min']:15.3f} | "
              f"{s['clean_minutes']:9.1f} | {s['seconds']:7.1f} | {s['top3_by_kind']}")
    print("goals: top-3 >= 0.60 of plants; <= 0.2 items a minute on the clean exports")
    for doc in bundled_calibrations():
        cross = doc.get("real_by_production")
        if cross and doc["predictor"].get("sha256"):
            pooled = cross["pooled"]
            print(f"held-out productions (calibration fitted without them, {doc['predictor']['version']}): "
                  f"top-3 {pooled['top3']}, recall {pooled['recall']}, clean {pooled['clean_per_min']}/min "
                  f"over {pooled['clean_minutes']} min; recall by kind {pooled['recall_by_kind']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
