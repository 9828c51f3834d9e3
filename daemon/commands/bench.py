"""`mttd bench [--json]`: inference speed of every backend on this machine, and their metric deltas.

For torch fp32, ONNX fp32 and ONNX int8 in one run: the network time of the predictor's
teacher-forced pass over 128, 256, 512 and 1,024 steps (chunks of the model's context through the
key/value cache, as `predict` runs it; inputs encoded beforehand, median of `--repeats`, best of two
rounds), and a 100-step rollout; then each ONNX backend's evaluation metrics on the held-out set
against torch fp32, in points (see model/training/onnx_export.py metric_delta). ONNX files come from beside
the weights or the daemon's cache; missing ones are exported into a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from daemon.commands import need_torch
from daemon.paths import resolve

STEPS = (128, 256, 512, 1024)
ROLLOUT_STEPS = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="forward and rollout latency per backend, and metric deltas against torch")
    p.add_argument("--json", action="store_true", help="print the JSON document")
    p.add_argument("--model", metavar="M", help="a .safetensors file or a run folder (default: the bundled model)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="CPU threads for every backend (default 1, as the daemon)")
    p.add_argument("--repeats", type=int, default=7, metavar="N", help="timed runs per figure (median; default 7)")
    p.add_argument("--limit", type=int, default=6, metavar="N", help="held-out sequences for the metric deltas (default 6)")
    p.add_argument("--data", metavar="DIR", help="held-out set (default: the checkpoint's dataset, else synthetic timelines)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    need_torch("mttd bench (it measures torch too)")
    import logging
    import tempfile
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.training.train_args import passive_omp

    passive_omp()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="mttd-bench-") as tmp:
        doc = bench(args, Path(tmp))
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(table(doc, args.threads))
    return 0


def bench(args: argparse.Namespace, tmp: Path) -> dict:
    from fractions import Fraction

    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.inference.checkpoint import load
    from model.inference.load import weights_path
    from model.inference.network import predictor_from_checkpoint
    from model.inference.onnx_backend import OnnxPredictor
    from model.training.evaluate import held_out_features
    from model.training.onnx_export import evaluation_metrics, metric_delta

    ckpt = load(weights_path(args.model))
    predictors = {"torch": predictor_from_checkpoint(ckpt)}
    for name, int8 in (("onnx", False), ("onnx-int8", True)):
        predictors[name] = OnnxPredictor(_onnx_file(ckpt, int8, tmp), args.threads)
    feats = _long_features(ckpt, max(STEPS) + ROLLOUT_STEPS)
    doc: dict = {"backends": {}, "metric_delta": {}}
    for name, pred in predictors.items():
        doc["backends"][name] = {
            "forward_ms": {str(t): _best_median(_forward(pred, feats, t), args.repeats) for t in STEPS},
            "rollout_100_ms": _best_median(lambda p=pred: p.rollout(feats, max(STEPS), ROLLOUT_STEPS, seed=0), max(3, args.repeats // 2)),
        }
    seqs = held_out_features(args.data or ckpt.meta.get("data"), args.limit, Fraction(ckpt.meta["step_seconds"]))
    reference = evaluation_metrics(predictors["torch"], seqs)
    for name in ("onnx", "onnx-int8"):
        doc["metric_delta"][name] = metric_delta(reference, evaluation_metrics(predictors[name], seqs))
    return doc


def _onnx_file(ckpt, int8: bool, tmp: Path) -> Path:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.inference.onnx_backend import find_export
    from model.training.onnx_export import export

    found = find_export(ckpt.path, int8, resolve().data_dir / "onnx")
    if found is not None:
        return found
    out = tmp / ("model.int8.onnx" if int8 else "model.onnx")
    export(ckpt, out, int8=int8, windows=1, window_steps=64)
    return out


def _long_features(ckpt, steps: int):
    """One synthetic timeline of at least `steps` steps (a podcast: several tracks and cuts)."""
    from fractions import Fraction

    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.features.grid import featurize_timeline
    from model.training.synth import synthesize

    step = Fraction(ckpt.meta["step_seconds"])
    minutes = float(steps * step) / 60 * 1.2
    return featurize_timeline(synthesize("podcast", 11, 0, (minutes, minutes * 1.1)), step)[0]


def _forward(pred, feats, steps: int):
    """A callable running the network over the first `steps` steps as `predict` does, inputs encoded."""
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.features.history import history_arrays
    from model.inference.decoding import batch_of_one, encode_inputs

    grid, src, kind = feats.grid[:steps], feats.source_index[:steps], feats.source_kind[:steps]
    x = encode_inputs(grid[None], kind[None], batch_of_one(history_arrays(grid, src)), pred.norm)

    def chunks() -> None:
        cache = None
        with pred.scope(single_steps=False):
            for a in range(0, steps, pred.context):
                _, cache = pred.run({k: v[:, a : a + pred.context] for k, v in x.items()}, a, cache)
                cache = pred.trim(cache)

    return chunks


def _best_median(fn, repeats: int) -> float:
    """Median milliseconds of `repeats` runs, best of two rounds (after one warm-up run)."""
    fn()
    rounds = []
    for _ in range(2):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        rounds.append(statistics.median(times))
    return round(1000 * min(rounds), 2)


def table(doc: dict, threads: int) -> str:
    names = list(doc["backends"])
    torch_ms = doc["backends"]["torch"]
    lines = [f"ms per call ({threads} thread{'s' if threads > 1 else ''}; speed-up against torch in brackets)",
             "| backend | " + " | ".join(f"T={t}" for t in STEPS) + f" | rollout {ROLLOUT_STEPS} |",
             "|---|" + "---|" * (len(STEPS) + 1)]
    for name in names:
        b = doc["backends"][name]
        cells = [f"{b['forward_ms'][str(t)]:.1f} ({torch_ms['forward_ms'][str(t)] / b['forward_ms'][str(t)]:.2f}x)" for t in STEPS]
        cells.append(f"{b['rollout_100_ms']:.0f} ({torch_ms['rollout_100_ms'] / b['rollout_100_ms']:.2f}x)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("metric deltas against torch fp32 (points: percentage points for fractions, % of torch's value otherwise)")
    for name, delta in doc["metric_delta"].items():
        worst = max((abs(v) for v in delta.values() if v is not None), default=0.0)
        lines.append(f"  {name}: largest |delta| {worst:.2f}  " + ", ".join(f"{k} {v:+.2f}" for k, v in delta.items() if v is not None))
    return "\n".join(lines) + "\n"
