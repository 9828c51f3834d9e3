"""Train the Multi-Track Transformer on dataset shards (DATA/manifest.json, DATA/{train,val}/*.npz).

    python -m model.training.train --data DATA --out RUN [--epochs N] [--max-minutes M] ...
    torchrun --nproc_per_node=2 -m model.training.train --data DATA --out RUN ...   (data-parallel, gloo)

On a shared machine export OMP_WAIT_POLICY=PASSIVE first (`mttd train` does it itself; see
model/train_args.passive_omp).

AdamW; linear warmup then one cosine from the peak to 1e-6 over all planned steps (no restarts,
ml-notes 4a; the plan shrinks when --max-minutes would not fit it); gradient clipping at 1.0;
early stopping on the validation loss; checkpoints every 10 epochs plus best and final
(safetensors + JSON, model/inference/checkpoint.py); RUN/REPORT.md at the end.
With several processes (torchrun) the network is wrapped in torch's DistributedDataParallel,
which averages the gradients during the backward pass; each process takes its share of every
global batch (`rank_share`), so one process and N processes follow the same schedule over the
same batches, and the replicas end with identical weights (their hashes are in the metadata).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from model.atomic import write_atomic
from model.features.history import HistoryArrays, history_arrays
from model.features.own_past_inputs import own_past_inputs
from model.inference.checkpoint import load, load_optimizer, save
from model.inference.model_files import DEFAULT_WEIGHTS, ModelLoadError, read_checkpoint_meta
from model.inference.network import (
    COMPONENTS,
    FORMAT,
    MultiTrackTransformer,
    NetConfig,
    Norm,
    compute_loss,
    encode_inputs,
    encode_targets,
    model_from_checkpoint,
    to_torch,
)
from model.training import dataset
from model.training.report import write_report
from model.training.schedule import Plan, epoch_batches, epochs_since_best, fit_to_budget, lr_at
from model.training.train_args import add_arguments

CHECKPOINT_EVERY = 10


# ---------------------------------------------------------------- data


@dataclass
class SplitData:
    """One split's rows (all timelines concatenated) with their history features and windows."""

    grid: np.ndarray  # float32 (N, 20, 9)
    source_index: np.ndarray  # int32 (N, 20)
    source_kind: np.ndarray  # int8 (N, 20)
    hist: HistoryArrays  # (N, 20) each
    offsets: np.ndarray  # int64 (n_timelines + 1,): row boundaries
    ends: np.ndarray  # int64 (N,): end row of the timeline each row belongs to
    windows: np.ndarray  # int64 (n, 2): first row, length
    timeline_ids: np.ndarray  # int64 (n_timelines,): index into the manifest's timelines
    own: np.ndarray | None = None  # float32 (N, 20, N_OWN): the own-past inputs, for a network that reads them

    def with_own_past_inputs(self) -> SplitData:
        """The split with its own-past inputs (computed per timeline, each from its own past)."""
        if self.own is None:
            bounds = zip(self.offsets[:-1], self.offsets[1:])
            self.own = np.concatenate([own_past_inputs(self.grid[a:b], self.hist.rows(slice(a, b)), self.source_index[a:b])
                                       for a, b in bounds])
        return self


def read_manifest(data: Path) -> dict:
    path = data / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{data}: no manifest.json (build shards with `mttd dataset`)")
    return json.loads(path.read_text())


def load_split(data: Path, split: str) -> SplitData:
    s = dataset.load_split(data, split)
    if s.steps == 0 or len(s.windows) == 0:
        raise FileNotFoundError(f"{data}: the {split} split has no windows")
    bounds = list(zip(s.offsets[:-1], s.offsets[1:]))
    hists = [history_arrays(s.grid[a:b], s.source_index[a:b]) for a, b in bounds]
    return SplitData(
        grid=s.grid,
        source_index=s.source_index,
        source_kind=s.source_kind,
        hist=HistoryArrays(**{k: np.concatenate([getattr(h, k) for h in hists]) for k in HistoryArrays.__dataclass_fields__}),
        offsets=s.offsets,
        ends=np.repeat(s.offsets[1:], np.diff(s.offsets)),
        windows=s.windows,
        timeline_ids=s.timeline_ids,
    )


def delta_scale(d: SplitData) -> list[float]:
    """Typical size of a per-step value change inside a shot, per parameter type (crop pooled).

    The median of the non-zero changes: slow keyframed motion (0.2 % of scale per step) and a
    punch-in (20 %) both exist, and a standard deviation would make the motion look like zero.
    """
    now, nxt = d.grid[:-1], d.grid[1:]
    same = (d.ends[:-1] == d.ends[1:])[:, None] & (now[..., 0] > 0.5) & (nxt[..., 0] > 0.5) & ~d.hist.cut[1:]
    delta = (nxt[..., 2:] - now[..., 2:])[same]  # (cells, 7)
    out = []
    for cols in ([0], [1], [2], [3, 4, 5, 6]):
        moved = delta[:, cols][np.abs(delta[:, cols]) > 1e-6]
        out.extend([float(np.median(np.abs(moved))) if moved.size > 10 else 1.0] * len(cols))
    return [max(v, 1e-3) for v in out]


def make_batch(d: SplitData, windows: np.ndarray, length: int, norm: Norm) -> tuple[dict, dict]:
    """Inputs (B, L, ...) and targets (B, L, ...) for windows, padded; row t's target is step t+1."""
    B = len(windows)
    grid = np.zeros((B, length + 1, 20, 9), np.float32)
    kind = np.zeros((B, length + 1, 20), np.int8)
    hist = HistoryArrays(
        cut=np.zeros((B, length + 1, 20), bool),
        change=np.zeros((B, length + 1, 20), bool),
        recency=np.full((B, length + 1, 20), -1, np.int8),
        seen=np.zeros((B, length + 1, 20), np.int8),
        age=np.zeros((B, length + 1, 20), np.int8),
        age_any=np.zeros((B, length + 1), np.int8),
    )
    valid = np.zeros((B, length), bool)
    prev = np.zeros((B, 20, 9), np.float32)
    own = None if d.own is None else np.zeros((B, length) + d.own.shape[1:], np.float32)
    for b, (a, n) in enumerate(windows):
        n = min(int(n), length)
        stop = min(a + n + 1, int(d.ends[a]))
        rows = stop - a
        grid[b, :rows], kind[b, :rows] = d.grid[a:stop], d.source_kind[a:stop]
        if a > 0 and d.ends[a - 1] == d.ends[a]:  # the window starts inside its timeline
            prev[b] = d.grid[a - 1]
        for k in HistoryArrays.__dataclass_fields__:
            getattr(hist, k)[b, :rows] = getattr(d.hist, k)[a:stop]
        valid[b, : min(rows - 1, n)] = True
        if own is not None:
            own[b, : min(rows, length)] = d.own[a : a + min(rows, length)]
    inputs = encode_inputs(grid[:, :length], kind[:, :length], _rows(hist, length), norm, prev)
    if own is not None:
        inputs["own_past"] = own
    return inputs, encode_targets(grid, hist, valid, norm)


def _rows(hist: HistoryArrays, length: int) -> HistoryArrays:
    return HistoryArrays(**{k: getattr(hist, k)[:, :length] for k in HistoryArrays.__dataclass_fields__})


# ---------------------------------------------------------------- schedule and distribution


@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return Dist(rank=dist.get_rank(), world=dist.get_world_size())


def all_reduce_sum(values: np.ndarray, d: Dist) -> np.ndarray:
    if d.world == 1:
        return values
    t = torch.from_numpy(np.asarray(values, np.float64))
    dist.all_reduce(t)
    return t.numpy()


def data_parallel(model: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """The network to train: wrapped in DistributedDataParallel over several processes (it starts
    every replica from rank 0's weights and averages gradients in the backward pass), else itself."""
    if d.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def rank_share(windows: np.ndarray, d: Dist) -> np.ndarray:
    """This process's windows of a global batch (DistributedSampler's interleaving, within one batch)."""
    return windows[d.rank :: d.world]


def replica_hashes(model: torch.nn.Module, d: Dist) -> list[str]:
    """The sha256 of every process's weights (tensors by name), in rank order: data-parallel replicas must agree."""
    digest = hashlib.sha256()
    for _, tensor in sorted(model.state_dict().items()):
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    hashes = [digest.hexdigest()] * d.world
    if d.world > 1:
        dist.all_gather_object(hashes, hashes[0])
    return hashes


# ---------------------------------------------------------------- the loop


def train_step(net, opt, data: SplitData, windows: np.ndarray, cfg_len: int, norm: Norm, d: Dist) -> dict[str, float]:
    """One optimiser step on a global batch; `net` is the network or its DistributedDataParallel wrapper."""
    x, y = make_batch(data, rank_share(windows, d), cfg_len, norm)
    out, _ = net(to_torch(x))
    loss, parts = compute_loss(out, to_torch(y))
    opt.zero_grad(set_to_none=True)
    loss.backward()  # under DistributedDataParallel the gradients are averaged over the processes here
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    return parts


@torch.no_grad()
def validate(model, data: SplitData, length: int, norm: Norm, batch: int, d: Dist, limit: int) -> dict[str, float]:
    """Mean of the loss components over fixed validation batches (split across processes)."""
    model.eval()
    windows = data.windows[np.random.default_rng(0).permutation(len(data.windows))[:limit]]
    batches = [windows[i : i + batch] for i in range(0, len(windows), batch)]
    sums = np.zeros(len(COMPONENTS) + 1)
    for k in range(d.rank, len(batches), d.world):
        x, y = make_batch(data, batches[k], length, norm)
        out, _ = model(to_torch(x))
        total, parts = compute_loss(out, to_torch(y))
        sums += np.array([parts[c] for c in COMPONENTS] + [float(total)])
    sums = all_reduce_sum(sums, d) / max(len(batches), 1)
    model.train()
    return {**dict(zip(COMPONENTS, sums[:-1].tolist())), "total": float(sums[-1])}


class Progress:
    """One line per batch on a terminal, one line per epoch (and a few per epoch) in a log file."""

    def __init__(self, main: bool) -> None:
        self.main = main
        self.tty = sys.stderr.isatty()

    def batch(self, epoch: int, epochs: int, k: int, n: int, parts: dict[str, float], lr: float) -> None:
        if not self.main or (not self.tty and (k + 1) % max(n // 4, 1)):
            return
        comps = " ".join(f"{c} {parts[c]:.3f}" for c in COMPONENTS)
        line = f"epoch {epoch}/{epochs} {_bar(k + 1, n)} {k + 1}/{n} loss {sum(parts.values()):.3f} ({comps}) lr {lr:.2e}"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def epoch(self, record: dict) -> None:
        if not self.main:
            return
        end = "\n" if self.tty else ""
        print(
            f"{end}epoch {record['epoch']} train {record['train']['total']:.4f} val {record['val']['total']:.4f} "
            f"lr {record['lr']:.2e} {record['seconds']:.0f}s{' *best' if record.get('best') else ''}",
            file=sys.stderr,
            flush=True,
        )


def _bar(k: int, n: int, width: int = 20) -> str:
    filled = int(width * k / max(n, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model.training.train", description="Train the Multi-Track Transformer.")
    add_arguments(parser)
    return parser.parse_args(argv)


def manifest_hash(manifest: dict) -> str:
    return manifest.get("sha256") or hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def setup_model(args, manifest: dict, train: SplitData) -> tuple[MultiTrackTransformer, Norm, NetConfig, str | None]:
    """A fresh model (norm from the manifest), or weights from --init (which keep their own norm)."""
    if args.init is None:
        overrides = json.loads(args.config) if args.config else {}
        cfg = NetConfig(**{"context": args.window or 256, "own_past_inputs": args.own_past_inputs, **overrides})
        norm = Norm.from_manifest(manifest["stats"], delta_scale(train))
        return MultiTrackTransformer(cfg), norm, cfg, None
    ckpt = load(DEFAULT_WEIGHTS if args.init == "default" else args.init)
    model, norm = model_from_checkpoint(ckpt)
    if args.own_past_inputs and not model.cfg.own_past_inputs:
        model.add_own_past_inputs()  # zero-initialised: the fine-tune starts from the checkpoint's outputs
    if args.window and args.window != model.cfg.context:
        model.cfg.context = args.window  # the span is no weight: a fine-tune may widen it (rotary positions)
    # The delta head is (re)trained on moves, in the signed-log units that keeps punch-ins from
    # swamping the loss; a checkpoint from before that had an all-steps head that learned ~0.
    return model, replace(norm, delta_log=True), model.cfg, str(ckpt.path)


@dataclass
class State:
    """What a run carries from one epoch to the next, and what resuming restores."""

    model: MultiTrackTransformer
    norm: Norm
    opt: torch.optim.Optimizer
    plan: Plan
    base_meta: dict  # what every checkpoint's JSON holds besides the progress
    history: list[dict]
    epoch: int  # the epoch to run next
    global_step: int
    best: float  # the lowest validation loss so far
    bad_epochs: int  # epochs since the best one

    def meta(self, epoch: int) -> dict:
        return {**self.base_meta, "epoch": epoch, "global_step": self.global_step, "history": self.history, "plan": asdict(self.plan)}


def run(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    d = init_distributed()
    started = time.time()
    manifest = read_manifest(args.data)
    train, val = load_split(args.data, "train"), load_split(args.data, "val")
    s = init_or_resume(args, d, manifest, train)
    if s.model.cfg.own_past_inputs:
        train, val = train.with_own_past_inputs(), val.with_own_past_inputs()
    if d.main:
        args.out.mkdir(parents=True, exist_ok=True)
        print(f"mtt: {s.model.n_params():,} parameters; {len(train.windows)} train / {len(val.windows)} val windows; "
              f"{s.plan.steps_per_epoch} steps per epoch", file=sys.stderr)
    net = data_parallel(s.model, d)
    progress = Progress(d.main and not args.quiet)
    stopped = ""
    s.model.train()
    while not stopped and s.epoch <= s.plan.epochs:  # the plan may shrink after the first epoch (--max-minutes)
        record = run_epoch(s, net, args, d, train, val, progress)
        save_checkpoints(s, args, d, record)
        if args.max_minutes:
            s.plan = fit_to_budget(s.plan, args, time.time() - started, s.history, s.epoch)
            record["planned_epochs"] = s.plan.epochs
        stopped = stop_reason(s, args, record, started)
        s.epoch += 0 if stopped else 1
    save_final(s, args, d, stopped or "completed the planned epochs", started)
    if d.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return args.out


def param_groups(model: MultiTrackTransformer, args: argparse.Namespace) -> list[dict]:
    """AdamW groups: matrices with weight decay, the rest without; the own-past projection apart at
    --own-lr-scale times the learning rate (it starts at zero in a short fine-tune: at the base
    rate its weights moved ~0.001 in 108 steps, next to ~0.05 for the other input projections)."""
    scale = getattr(args, "own_lr_scale", 1.0)
    own = {id(p) for p in model.own_proj.parameters()} if model.cfg.own_past_inputs and scale != 1.0 else set()
    decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in own]
    rest = [p for p in model.parameters() if p.dim() < 2 and id(p) not in own]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if own:
        groups.append({"params": list(model.own_proj.parameters()), "weight_decay": 0.0, "lr_scale": scale})
    return groups


def init_or_resume(args: argparse.Namespace, d: Dist, manifest: dict, train: SplitData) -> State:
    """A new model and optimizer (or --init weights), or the model, optimizer, history and plan of --resume."""
    torch.manual_seed(args.seed)
    resume = load(args.resume) if args.resume else None
    if resume is not None:
        model, norm = model_from_checkpoint(resume)
        cfg, init_from = model.cfg, resume.meta.get("init")
    else:
        model, norm, cfg, init_from = setup_model(args, manifest, train)
    opt = torch.optim.AdamW(param_groups(model, args), lr=args.lr)
    steps_per_epoch = len(epoch_batches(len(train.windows), args.batch, args.seed, 1, args.epoch_windows))
    epochs, history, start_epoch, global_step, best = args.epochs or 50, [], 1, 0, math.inf
    if resume is not None:
        load_optimizer(opt, resume)
        history = resume.meta["history"]
        start_epoch, global_step = resume.meta["epoch"] + 1, resume.meta["global_step"]
        best = min(h["val"]["total"] for h in history)
        epochs = resume.meta["plan"]["epochs"]
    plan = Plan(epochs=epochs, steps_per_epoch=steps_per_epoch, warmup=max(1, int(args.warmup * epochs * steps_per_epoch)))
    base_meta = {
        "format": FORMAT,
        "config": asdict(cfg),
        "norm": asdict(norm),
        "step_seconds": str(Fraction(manifest.get("step_seconds", "1/10"))),
        "manifest_sha256": manifest_hash(manifest),
        "data": str(args.data),
        "params": model.n_params(),
        "init": init_from,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("run", "command")},
        "world_size": d.world,
    }
    # A fine-tune decodes with its init's own-past gate until `mttd fit-gate` fits one to it.
    gate = (resume.meta if resume is not None else read_checkpoint_meta(Path(init_from)) if init_from else {}).get("own_past")
    if gate:
        base_meta["own_past"] = gate
    return State(model, norm, opt, plan, base_meta, history, start_epoch, global_step, best, epochs_since_best(history))


def run_epoch(s: State, net, args: argparse.Namespace, d: Dist, train: SplitData, val: SplitData, progress: Progress) -> dict:
    """Train one epoch over its batches, validate, and append the epoch's record to the history."""
    t0 = time.time()
    torch.manual_seed(args.seed * 1000 + s.epoch * 10 + d.rank)  # dropout: reproducible per epoch, also on resume
    context = s.model.cfg.context
    sums, n = dict.fromkeys(COMPONENTS, 0.0), 0
    batches = epoch_batches(len(train.windows), args.batch, args.seed, s.epoch, args.epoch_windows)
    for k, windows in enumerate(batches):
        lr = lr_at(s.global_step, s.plan.total, s.plan.warmup, args.lr)
        for g in s.opt.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        parts = train_step(net, s.opt, train, train.windows[windows], context, s.norm, d)
        s.global_step += 1
        for c in COMPONENTS:
            sums[c] += parts[c]
        n += 1
        progress.batch(s.epoch, s.plan.epochs, k, len(batches), parts, lr)
    train_parts = dict(zip(COMPONENTS, (all_reduce_sum(np.array([sums[c] for c in COMPONENTS]), d) / (n * d.world)).tolist()))
    train_parts["total"] = sum(train_parts.values())
    val_parts = validate(s.model, val, context, s.norm, args.batch, d, args.val_windows)
    is_best = val_parts["total"] < s.best
    record = {"epoch": s.epoch, "train": train_parts, "val": val_parts, "lr": lr, "seconds": time.time() - t0,
              "global_step": s.global_step, "best": is_best}
    s.history.append(record)
    progress.epoch(record)
    s.best = min(s.best, val_parts["total"])
    s.bad_epochs = 0 if is_best else s.bad_epochs + 1
    return record


def save_checkpoints(s: State, args: argparse.Namespace, d: Dist, record: dict) -> None:
    """best.safetensors when this epoch is the best so far, epoch-NNN every CHECKPOINT_EVERY epochs."""
    if not d.main:
        return
    meta = s.meta(s.epoch)
    if record["best"]:
        save(args.out / "best.safetensors", s.model, {**meta, "kind": "best", "version": f"{args.out.name}:best:e{s.epoch}"}, s.opt)
    if s.epoch % CHECKPOINT_EVERY == 0:
        save(args.out / f"epoch-{s.epoch:03d}.safetensors", s.model, {**meta, "kind": "epoch", "version": f"{args.out.name}:e{s.epoch}"}, s.opt)


def stop_reason(s: State, args: argparse.Namespace, record: dict, started: float) -> str:
    """Why the run stops after this epoch ("" to go on): early stopping or the time budget."""
    if s.bad_epochs >= args.patience:
        return f"early stopping: no better validation loss for {args.patience} epochs"
    if args.max_minutes and (time.time() - started) / 60 + record["seconds"] / 60 > args.max_minutes:
        return f"time budget of {args.max_minutes:g} minutes reached"
    return ""


def save_final(s: State, args: argparse.Namespace, d: Dist, stopped: str, started: float) -> None:
    """final.safetensors with the whole history and why the run stopped; the same notes in best.json."""
    meta = {**s.meta(s.history[-1]["epoch"]), "stopped": stopped, "train_seconds": time.time() - started}
    if d.world > 1:
        meta["replica_sha256"] = replica_hashes(s.model, d)
    if d.main:
        save(args.out / "final.safetensors", s.model, {**meta, "kind": "final", "version": f"{args.out.name}:final:e{meta['epoch']}"}, s.opt)
        _annotate_best(args.out, meta)


def _annotate_best(out: Path, final_meta: dict) -> None:
    """The best checkpoint's JSON also gets the whole history and why training stopped."""
    path = out / "best.json"
    meta = json.loads(path.read_text())
    meta.update({"history": final_meta["history"], "stopped": final_meta["stopped"], "train_seconds": final_meta["train_seconds"]})
    write_atomic(path, json.dumps(meta, indent=1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = run(args)
    except (FileNotFoundError, ModelLoadError, ValueError) as err:
        print(f"mtt train: {err}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        write_report(out, eval_timelines=args.eval_timelines, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
