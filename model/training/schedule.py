"""The training schedule: the plan of epochs and steps, the learning rate at each step, the
batches of each epoch, and when a run stops (early stopping, the --max-minutes budget).

Torch-free, so the report draws the planned learning rate without the training loop.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

MIN_LR = 1e-6


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warmup to `peak`, then one cosine down to MIN_LR at the last of `total` steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min((step - warmup) / max(total - 1 - warmup, 1), 1.0)  # the last step runs at MIN_LR
    return MIN_LR + 0.5 * (peak - MIN_LR) * (1 + math.cos(math.pi * progress))


@dataclass
class Plan:
    epochs: int
    steps_per_epoch: int
    warmup: int

    @property
    def total(self) -> int:
        return self.epochs * self.steps_per_epoch


def epoch_batches(n_windows: int, batch: int, seed: int, epoch: int, per_epoch: int | None = None) -> list[np.ndarray]:
    """The global batches of an epoch, full batches only, fixed by (seed, epoch).

    With `per_epoch` an epoch is the next `per_epoch` windows of a stream of permutations (one
    per pass over the data), so short epochs still cover every window in turn.
    """
    per_epoch = min(per_epoch or n_windows, n_windows)
    first = (epoch - 1) * per_epoch
    passes = range(first // n_windows, (first + per_epoch - 1) // n_windows + 1)
    stream = np.concatenate([np.random.default_rng([seed, p]).permutation(n_windows) for p in passes])
    order = stream[first - passes[0] * n_windows :][:per_epoch]
    n = max(len(order) // batch, 1)
    return [order[i * batch : (i + 1) * batch] for i in range(n)]


def epochs_since_best(history: list[dict]) -> int:
    if not history:
        return 0
    best = int(np.argmin([h["val"]["total"] for h in history]))
    return len(history) - 1 - best


def fit_to_budget(plan: Plan, args, elapsed: float, history: list[dict], epoch: int) -> Plan:
    """Shrink (never grow) the plan to the epochs the recent speed still fits into --max-minutes.

    The machine is shared, so epochs take as long as the neighbours allow; re-planning keeps one
    cosine that still ends at MIN_LR inside the budget (it steepens, it never restarts). The
    planned epochs of every epoch are in the history, so a run can be repeated with --epochs.
    """
    recent = [h["seconds"] for h in history[-3:]]
    per_epoch = sum(recent) / len(recent)
    fit = epoch + int((args.max_minutes * 60 - elapsed) // max(per_epoch, 1e-3))
    epochs = max(epoch, min(plan.epochs, fit))
    if epochs == plan.epochs:
        return plan
    print(f"mtt: {per_epoch:.0f}s per epoch: planning {epochs} epochs within {args.max_minutes:g} minutes", file=sys.stderr)
    warmup = min(plan.warmup, max(1, int(args.warmup * epochs * plan.steps_per_epoch)))
    return Plan(epochs=epochs, steps_per_epoch=plan.steps_per_epoch, warmup=warmup)
