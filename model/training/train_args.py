"""The options of `mttd train` / `python -m model.training.train`, without importing torch (the CLI lists them cheaply)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset folder (manifest.json + train/ val/ shards)")
    p.add_argument("--out", required=True, type=Path, help="run folder for checkpoints, REPORT.md and plots")
    p.add_argument("--init", default=None, help="start from weights: 'default' (the bundled model) or a checkpoint/run folder")
    p.add_argument("--resume", default=None, type=Path, help="continue a run from one of its checkpoints")
    p.add_argument("--epochs", type=int, default=None, help="epochs to plan the schedule over (default 50, or what --max-minutes allows)")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-time budget for training")
    p.add_argument("--batch", type=int, default=16, help="global batch size in windows")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.03, help="warmup as a fraction of all steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=10, help="epochs without a better validation loss before stopping")
    p.add_argument("--window", type=int, default=None,
                   help="training window = attention span, in steps (default 256, or the --init checkpoint's span)")
    p.add_argument("--own-past-inputs", action="store_true",
                   help="the network also reads the own-past statistics (model/features/own_past_inputs.py; "
                        "with --init they are added with a zero projection)")
    p.add_argument("--own-lr-scale", type=float, default=1.0,
                   help="learning-rate multiplier of the own-past projection (a fine-tune that adds it starts it at zero)")
    p.add_argument("--epoch-windows", type=int, default=None, help="training windows per epoch (default: all)")
    p.add_argument("--val-windows", type=int, default=256, help="validation windows per epoch (fixed subset)")
    p.add_argument("--threads", type=int, default=2, help="torch threads per process")
    p.add_argument("--config", default=None, help="JSON of NetConfig overrides, e.g. '{\"d_model\": 64}'")
    p.add_argument("--eval-timelines", type=int, default=60, help="held-out timelines evaluated for the report (0 = skip)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def passive_omp() -> None:
    """Let idle OpenMP threads sleep instead of spin (call before torch is imported).

    On a shared 2-core machine, spinning threads of two busy processes starve each other: a
    training epoch measured 277 s with the default policy and 58 s with PASSIVE, same load.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
