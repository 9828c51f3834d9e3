"""`mttd export --format onnx [--int8] --model M --out PATH`: the network as an ONNX graph.

The graph has a dynamic number of steps and of cached steps (see model/training/onnx_export.py); `--int8`
quantises its weights with ONNX Runtime. The export is compared with torch on validation windows
(largest and mean absolute difference of the head outputs, printed). `--metrics` also evaluates
both on the held-out set and stores whether every metric stays within one point of torch fp32,
which is what the `auto` backend trusts. Without `--out` the file goes beside the weights
(NAME.onnx, NAME.int8.onnx), where the daemon looks for it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.commands import need_torch
from daemon.errors import MttdError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export the network to ONNX (optionally int8) and check it against torch")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="the only format is onnx")
    p.add_argument("--int8", action="store_true", help="quantise the weights to int8 (dynamic quantisation)")
    p.add_argument("--model", metavar="M", help="a .safetensors file or a run folder (default: the bundled model)")
    p.add_argument("--out", metavar="PATH", help="the .onnx file to write (default: beside the weights)")
    p.add_argument("--windows", type=int, default=8, metavar="N", help="validation windows for the torch comparison (default 8)")
    p.add_argument("--metrics", action="store_true", help="also compare the evaluation metrics with torch fp32 on the held-out set")
    p.add_argument("--data", metavar="DIR",
                   help="held-out set: a dataset folder (val split) or timelines (default: the checkpoint's data, else synthetic)")
    p.add_argument("--limit", type=int, default=24, metavar="N", help="held-out sequences for --metrics (default 24)")
    p.add_argument("--threads", type=int, default=2, metavar="N")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    need_torch("exporting")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)  # the exporter logs every op it skips
    import torch

    from model.inference.checkpoint import load
    from model.inference.load import weights_path
    from model.inference.onnx_backend import onnx_name

    torch.set_num_threads(args.threads)
    ckpt = load(weights_path(args.model))
    out = Path(args.out) if args.out else onnx_name(ckpt.path, args.int8)
    try:
        result = _export(ckpt, out, args)
    except OSError as err:
        raise MttdError(f"export: cannot write {out}: {err.strerror or err}") from None
    d = result.difference
    size = out.stat().st_size / 1e6
    print(f"wrote {out} ({size:.1f} MB, {'int8' if args.int8 else 'fp32'}, model {result.meta['version']})")
    print(f"against torch on {d.windows} validation windows ({d.steps} steps): max abs diff {d.max_abs:.3g}, mean abs diff {d.mean_abs:.3g}")
    check = result.meta["check"].get("metrics")
    if check:
        over_seeds = check.get("rollout_rates_over_seeds", {})
        worst = max(((k, v) for k, v in check["delta_points"].items() if v is not None and k not in over_seeds),
                    key=lambda kv: abs(kv[1]))
        verdict = "within" if check["within_1_point"] else "NOT within"
        print(f"metrics on {check['sequences']} held-out sequences: {verdict} 1 point of torch fp32 (largest: {worst[0]} {worst[1]:+.2f})"
              + ("; rollout rates: the mean over 5 seeds within torch's range over them" if over_seeds else ""))
        for key, runs in over_seeds.items():
            mean = sum(runs["backend"]) / len(runs["backend"])
            print(f"  {key}: mean {mean:.2f} over 5 seeds (torch {min(runs['torch']):.2f}-{max(runs['torch']):.2f})")
    return 0


def _export(ckpt, out: Path, args: argparse.Namespace):
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.inference.onnx_backend import OnnxPredictor
    from model.training.evaluate import held_out_features
    from model.training.onnx_export import evaluation_metrics, export, metrics_check, rollout_rates_over_seeds, write_meta

    result = export(ckpt, out, int8=args.int8, windows=args.windows)
    if args.metrics:
        from fractions import Fraction

        # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
        from model.inference.network import predictor_from_checkpoint

        data = args.data or ckpt.meta.get("data")
        seqs = held_out_features(data, args.limit, Fraction(ckpt.meta["step_seconds"]))
        source = f"{data if data and Path(data).is_dir() else 'synthetic'} ({len(seqs)} sequences)"
        torch_predictor = predictor_from_checkpoint(ckpt)
        reference = evaluation_metrics(torch_predictor, seqs)
        rates = rollout_rates_over_seeds(torch_predictor, seqs, reference)
        result.meta["check"]["metrics"] = metrics_check(reference, OnnxPredictor(out, args.threads), seqs, source,
                                                        torch_rates=rates)
        write_meta(out, result.meta)
    return result
