"""`mttd eval`: the model against persistence, Markov and shot-length baselines (see model/training/evaluate.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from daemon.commands import need_torch
from daemon.errors import MttdError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model against baselines",
        description="Evaluate a model on a dataset folder (its val split; Markov fitted on its train split) or a "
        "folder of timeline files (Markov on each sequence's own past), next to persistence, Markov and "
        "shot-length baselines. The JSON holds a row per sequence and the model's lead over Markov with a paired "
        "bootstrap 95 % interval.",
    )
    parser.add_argument("--model", default=None, help="a .safetensors file or a run folder (default: the bundled model)")
    parser.add_argument("--data", required=True, type=Path, metavar="DATA|FOLDER")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    parser.add_argument("--limit", type=int, default=None, help="evaluate at most this many sequences, spread over the data")
    parser.add_argument("--no-rollouts", action="store_true", help="skip the rollout metrics (changes and flicker per minute)")
    parser.add_argument("--by", choices=("folder", "production"), default=None,
                        help="also summarize per folder or per production (series, programme) of the timeline files")
    parser.add_argument("--threads", type=int, default=2)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    need_torch("mttd eval")
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.training.train_args import passive_omp

    passive_omp()
    import torch

    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.features.grid import DEFAULT_STEP
    from model.inference.load import load_predictor
    from model.training import evaluate

    torch.set_num_threads(args.threads)
    model = load_predictor(args.model)
    if not args.data.is_dir():
        raise MttdError(f"eval: {args.data}: not a folder")
    if (args.data / "manifest.json").is_file():
        evalset = evaluate.from_dataset(args.data, args.limit)
    else:
        evalset = evaluate.from_folder(args.data, args.limit, model.step_seconds or DEFAULT_STEP)
    if not evalset.sequences:
        raise MttdError(f"eval: {args.data}: no timelines with at least two steps")
    doc = evaluate.evaluate(model, evalset, rollouts=not args.no_rollouts, by=args.by)
    if args.json:
        json.dump(evaluate.to_json(doc), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(evaluate.markdown(doc))
    return 0
