"""`mttd fit-gate --model M --real DIR --synth DIR --out gate.json`: fit a model's own-past gate.

The gate (model/features/own_past.py) mixes the network's heads with a Markov chain counted on the
timeline's own past; its few numbers are fitted on the network's outputs over real and synthetic
timelines (model/training/fit_gate.py). Real files are read only from the productions of the
named splits of model/training/productions.py (`fit` by default; held-out productions never).
`--write-model` also puts the gate into the model's JSON (and its ONNX exports' JSON), where
decoding reads it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from daemon.commands import need_torch
from daemon.errors import MttdError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fit-gate", help="fit a model's own-past gate on real and synthetic timelines")
    p.add_argument("--model", metavar="M", help="a .safetensors file or a run folder (default: the bundled model)")
    p.add_argument("--real", nargs="+", default=[], metavar="SRC", help="real timeline files or folders (the shared corpus)")
    p.add_argument("--splits", default="fit", help="the production splits to read real files from: fit and/or validation (default fit)")
    p.add_argument("--synth", nargs="*", default=[], metavar="SRC", help="synthetic timeline files or folders")
    p.add_argument("--every", type=int, default=1, metavar="N", help="every Nth synthetic file only (default 1)")
    p.add_argument("--out", required=True, metavar="FILE", help="the gate and its fit summary as JSON")
    p.add_argument("--write-model", action="store_true", help="also write the gate into the model's JSON files")
    p.add_argument("--cache", metavar="DIR", help="keep the network's outputs here (keyed by weights, file and sequence)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, metavar="N")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    need_torch("fitting the gate")
    import torch

    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.atomic import write_atomic
    from model.inference.load import load_predictor, weights_path
    from model.training import fit_gate

    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    if not splits or any(s not in ("fit", "validation") for s in splits):
        raise MttdError(f"fit-gate: --splits takes fit and/or validation, not {args.splits!r} (held-out productions are never fitted on)")
    torch.set_num_threads(args.threads)
    predictor = load_predictor(args.model)
    real, left_out = fit_gate.read_sequences([Path(p) for p in args.real], "real", predictor.step_seconds, splits)
    synth, _ = fit_gate.read_sequences([Path(p) for p in args.synth], "synthetic", predictor.step_seconds, every=args.every)
    if left_out:
        print(f"left out {len(left_out)} real files of other splits: {'; '.join(left_out)}")
    if not real and not synth:
        raise MttdError("fit-gate: no sequence with at least two cuts to fit on")
    print(f"fitting on {len(real)} real and {len(synth)} synthetic sequences")
    fit_gate.network_outputs(predictor, real + synth, Path(args.cache) if args.cache else None)
    doc = fit_gate.fit(real + synth, args.seed)
    doc["fit"]["model"] = str(weights_path(args.model))
    doc["fit"]["command"] = "mttd fit-gate " + " ".join(_argv(args))
    write_atomic(args.out, json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["own_past"]))
    print("fitted on: " + json.dumps(doc["fit"]["with_gate"]) + "; network alone: " + json.dumps(doc["fit"]["network_alone"]))
    if args.write_model:
        for path in fit_gate.write_into_model(weights_path(args.model), doc["own_past"]):
            print(f"wrote the gate into {path}")
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    out = [f"--model {args.model}"] if args.model else []
    out += ["--real", *args.real] if args.real else []
    out += [f"--splits {args.splits}"]
    out += ["--synth", *args.synth] if args.synth else []
    out += [f"--every {args.every}", f"--out {args.out}"]
    return out
