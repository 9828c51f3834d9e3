"""`mttd train`: train the Multi-Track Transformer on dataset shards (see model/training/train.py)."""

from __future__ import annotations

import argparse

from daemon.commands import need_torch
from daemon.errors import MttdError


def register(subparsers: argparse._SubParsersAction) -> None:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.training.train_args import add_arguments

    parser = subparsers.add_parser(
        "train",
        help="train the model on dataset shards",
        description="Train the Multi-Track Transformer on DATA (built by `mttd dataset`) into the run folder OUT: "
        "checkpoints, REPORT.md and plots. Data-parallel: torchrun --nproc_per_node=N -m model.training.train ...",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    need_torch("training")
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.training.train_args import passive_omp

    passive_omp()
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.training.report import write_report
    from model.training.train import run as train

    try:
        out = train(args)
    except (FileNotFoundError, ValueError) as err:
        raise MttdError(f"train: {err}") from None
    print(f"mttd: report {write_report(out, eval_timelines=args.eval_timelines, threads=args.threads)}")
    return 0
