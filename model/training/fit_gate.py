"""Fit a model's own-past gate (`model.features.own_past.OwnPastGate`) on real and synthetic
timelines: `mttd fit-gate`.

The gate mixes the network's heads with an online Markov chain counted on the timeline's own past
(issue 18). Its numbers depend on the network's outputs, so every new network needs its own fit:

- cut timing: the three logistic weights of P(cut) = w chain + (1 - w) network, by log loss over
  every cut cell and a 3 % sample of the other cells (reweighted), L-BFGS;
- what a cut shows (on/off, slot) and which source (recency class): linear or geometric mixing and
  two logistic weights each, picked on a grid by next-active and next-asset accuracy at cuts, the
  evaluation's metrics (`model.training.metrics`) computed through the same `mix` the decoder runs;
- framing: the fixed rule `keep_framing` (0.5: where most cuts between two shots so far kept the
  track's values, a cut keeps them).

Real and synthetic timelines weigh equally (each domain the mean over its sequences, or its cells for
the log loss). Real files of held-out productions (`model.training.productions.HELD_OUT`) are never
read: the split to fit on is named (`fit`, `validation`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.atomic import write_atomic
from model.features.grid import MAX_SLOT, SequenceFeatures, featurize_timeline
from model.features.history import HistoryArrays, history_arrays
from model.features.own_past import EVENT_CUT, ChainView, OwnPastGate, chain_view, mix
from model.inference.model_files import meta_path
from model.timeline.errors import TimelineParseError
from model.timeline.formats import read_timeline
from model.training.dataset import find_timeline_files
from model.training.metrics import source_candidates
from model.training.productions import production_of, split_of

MAX_STEPS = 40_000  # longer sequences are left out: the one in the corpus, a 2-hour reel, has 5 cuts
NEGATIVE_SHARE = 0.03  # the share of cells without a cut kept for the cut-timing log loss
KEEP_FRAMING = 0.5
# The grid for what a cut shows: (bias, slope on log1p(evidence)) of the chain's weight.
DEST_GRID = tuple(itertools.product((-3.0, -1.5, 0.0, 1.5), (0.0, 0.5, 1.0, 2.0)))
RECENCY_GRID = tuple(itertools.product((-6.0, -3.0, -1.5, 0.0, 1.5), (0.0, 0.5, 1.0, 2.0)))


@dataclass
class FitSequence:
    """One sequence with the network's own head outputs (T, 20, n) and where it comes from."""

    path: str
    domain: str  # "real" or "synthetic"
    feats: SequenceFeatures
    arrays: HistoryArrays
    out: dict[str, np.ndarray] = field(default_factory=dict)


def cut_count(feats: SequenceFeatures, arrays: HistoryArrays) -> int:
    return int(arrays.cut[1:].sum())


def read_sequences(paths: list[Path], domain: str, step, splits: tuple[str, ...] = ("fit",),
                   every: int = 1) -> tuple[list[FitSequence], list[str]]:
    """The sequences of every `every`th timeline file under `paths` that have a cut metric (at
    least two cuts, at most MAX_STEPS steps). Real files count only when their production is in
    one of `splits` (held-out never); returns the sequences and one line per file left out for its split."""
    if "held-out" in splits:
        raise ValueError("the gate is never fitted on held-out productions")
    found, left_out = [], []
    for path in find_timeline_files(paths)[::every]:
        if domain == "real" and split_of(path) not in splits:
            left_out.append(f"{path.name} ({production_of(path)}: {split_of(path)})")
            continue
        try:
            seqs = featurize_timeline(read_timeline(path), step)
        except TimelineParseError as err:
            print(f"mttd fit-gate: skipped {err.one_line()}", file=sys.stderr)
            continue
        for feats in seqs:
            if not 2 <= feats.steps <= MAX_STEPS:
                continue
            arrays = history_arrays(feats.grid, feats.source_index)
            if cut_count(feats, arrays) >= 2:
                found.append(FitSequence(str(path), domain, feats, arrays))
    return found, left_out


def network_outputs(predictor, seqs: list[FitSequence], cache: Path | None = None) -> None:
    """Fill each sequence's `out` with the network's own head outputs (the gate switched off),
    through an optional cache folder keyed by the weights, the file and the sequence."""
    gate, predictor.own_past = predictor.own_past, None
    try:
        for s in seqs:
            key = hashlib.sha1(f"{predictor.sha256}|{s.path}|{s.feats.name}".encode()).hexdigest()[:16]
            stored = cache / f"{key}.npz" if cache is not None else None
            if stored is not None and stored.is_file():
                with np.load(stored) as z:
                    s.out = {k: z[k] for k in z.files}
                continue
            s.out = predictor.outputs(s.feats)
            if stored is not None:
                cache.mkdir(parents=True, exist_ok=True)
                np.savez(stored, **s.out)
    finally:
        predictor.own_past = gate


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- cut timing: log loss


@dataclass
class CutCells:
    """Cells for the cut-timing loss: the network's and the chain's P(cut), the evidence, the truth."""

    net: np.ndarray
    chain: np.ndarray
    steps_here: np.ndarray  # log1p
    cuts_here: np.ndarray  # log1p
    cut: np.ndarray
    weight: np.ndarray
    domain: np.ndarray  # 0 real, 1 synthetic


def cut_cells(seqs: list[FitSequence], rng: np.random.Generator) -> CutCells:
    parts = []
    for s in seqs:
        view = chain_view(s.feats.grid, s.arrays)
        cut = s.arrays.cut[1:]
        keep = cut | (rng.random(cut.shape) < NEGATIVE_SHARE)
        rows = slice(0, len(cut))
        parts.append((_softmax(s.out["event"])[rows, :, EVENT_CUT][keep], view.p_cut[rows][keep],
                      np.log1p(view.steps_here[rows][keep]), np.log1p(view.cuts_here[rows][keep]), cut[keep],
                      np.where(cut, 1.0, 1.0 / NEGATIVE_SHARE)[keep], np.full(keep.sum(), s.domain == "synthetic")))
    return CutCells(*(np.concatenate(x) for x in zip(*parts)))


def fit_cut(c: CutCells, iterations: int = 200) -> tuple[tuple[float, float, float], float]:
    """(bias, slope on log1p(steps in state), slope on log1p(cuts out of it)) minimising the log
    loss of the mixed P(cut), domains weighted equally; and that loss."""
    import torch

    t = {k: torch.tensor(getattr(c, k), dtype=torch.float64) for k in ("net", "chain", "steps_here", "cuts_here", "weight")}
    y = torch.tensor(c.cut, dtype=torch.float64)
    domains = [torch.tensor(c.domain == d) for d in np.unique(c.domain)]
    theta = torch.tensor([-2.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)

    def loss() -> torch.Tensor:
        w = torch.sigmoid(theta[0] + theta[1] * t["steps_here"] + theta[2] * t["cuts_here"])
        p = (w * t["chain"] + (1 - w) * t["net"]).clamp(1e-6, 1 - 1e-6)
        cell = -(y * p.log() + (1 - y) * (1 - p).log()) * t["weight"]
        return sum(cell[m].sum() / t["weight"][m].sum() for m in domains) / len(domains)

    opt = torch.optim.LBFGS([theta], lr=0.5, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    opt.step(closure)
    with torch.no_grad():
        return tuple(round(float(x), 4) for x in theta), float(loss())


# ---------------------------------------------------------------- what a cut shows: accuracy grid


@dataclass
class ShownCells:
    """Every true cut cell of every sequence: the network's heads there, the chain's view, and the
    concrete sources a cut could show (padded), for the evaluation's two accuracies."""

    out: dict[str, np.ndarray]
    view: ChainView
    on_next: np.ndarray
    cand_slot: np.ndarray  # (n, k) candidate slots
    cand_class: np.ndarray  # (n, k) candidate recency classes
    valid: np.ndarray  # (n, k)
    truth: np.ndarray  # (n,) index of the true source among the candidates (-1: none)
    seq: np.ndarray  # (n,) sequence number
    domain: np.ndarray  # (n,) 0 real, 1 synthetic


def shown_cells(seqs: list[FitSequence]) -> ShownCells:
    parts = []
    for k, s in enumerate(seqs):
        grid, cut = s.feats.grid, s.arrays.cut[1:]
        rows = slice(0, len(cut))
        view = chain_view(grid, s.arrays)
        on_next = grid[1:, :, 0] > 0.5
        cands = {(t, i): c for t, i, c in source_candidates(grid, s.feats.source_index, cut & on_next)}
        t_idx, i_idx = np.nonzero(cut)
        width = max((len(c) for c in cands.values()), default=1)
        slot, cls = np.zeros((len(t_idx), width), np.int64), np.zeros((len(t_idx), width), np.int64)
        valid, truth = np.zeros((len(t_idx), width), bool), np.full(len(t_idx), -1)
        for n, (t, i) in enumerate(zip(t_idx, i_idx)):
            for j, (source, c) in enumerate(cands.get((int(t), int(i)), [])):
                slot[n, j], cls[n, j], valid[n, j] = min(source, MAX_SLOT), c, True
                if source == s.feats.source_index[t + 1, i]:
                    truth[n] = j
        parts.append(dict(
            out={h: s.out[h][rows][cut] for h in ("event", "active", "asset", "recency")},
            view=ChainView(*(getattr(view, f)[rows][cut] for f in ChainView.__dataclass_fields__)),
            on_next=on_next[cut], slot=slot, cls=cls, valid=valid, truth=truth,
            seq=np.full(len(t_idx), k), domain=np.full(len(t_idx), s.domain == "synthetic")))
    width = max(p["slot"].shape[1] for p in parts)

    def padded(name: str) -> np.ndarray:
        return np.concatenate([np.pad(p[name], ((0, 0), (0, width - p[name].shape[1]))) for p in parts])

    return ShownCells(
        out={h: np.concatenate([p["out"][h] for p in parts]) for h in parts[0]["out"]},
        view=ChainView(*(np.concatenate([getattr(p["view"], f) for p in parts]) for f in ChainView.__dataclass_fields__)),
        on_next=np.concatenate([p["on_next"] for p in parts]), cand_slot=padded("slot"), cand_class=padded("cls"),
        valid=padded("valid"), truth=np.concatenate([p["truth"] for p in parts]),
        seq=np.concatenate([p["seq"] for p in parts]), domain=np.concatenate([p["domain"] for p in parts]))


def accuracies(c: ShownCells, gate: OwnPastGate | None) -> dict[str, float]:
    """Next active and next asset accuracy at cuts with this gate (None: the network alone), per
    domain as the evaluation computes them: per sequence, then the mean over sequences."""
    out = c.out if gate is None else mix(c.out, c.view, gate)
    p_on = _softmax(out["active"])[:, 1]
    slot, recency = _softmax(out["asset"]), _softmax(out["recency"])
    share = np.stack([((c.cand_class == k) & c.valid).sum(1) for k in range(recency.shape[1])], 1)
    score = (np.take_along_axis(slot, c.cand_slot, 1) * np.take_along_axis(recency, c.cand_class, 1)
             / np.maximum(np.take_along_axis(share, c.cand_class, 1), 1))
    chosen = np.where(c.valid, score, -1.0).argmax(1)
    active_right = (p_on > 0.5) == c.on_next
    asset_right = (p_on > 0.5) & (chosen == c.truth)
    result = {}
    for d, name in ((0, "real"), (1, "synthetic")):
        seqs = np.unique(c.seq[c.domain == d])
        if len(seqs) == 0:
            continue
        result[f"{name}_next_active"] = float(np.mean([active_right[c.seq == k].mean() for k in seqs]))
        shown = [asset_right[(c.seq == k) & c.on_next].mean() for k in seqs if ((c.seq == k) & c.on_next).any()]
        result[f"{name}_next_asset"] = float(np.mean(shown)) if shown else math.nan
    return result


def objective(acc: dict[str, float]) -> float:
    """The mean of the four accuracies (two per domain present)."""
    return float(np.nanmean(list(acc.values())))


def pick_showing(c: ShownCells, cut: tuple[float, float, float]) -> tuple[OwnPastGate, dict[str, float]]:
    """The grid's best mixing of what a cut shows (first of equals in grid order)."""
    best = None
    for geometric in (False, True):
        for dest, recency in itertools.product(DEST_GRID, RECENCY_GRID):
            gate = OwnPastGate(cut=cut, dest=dest, recency=recency, keep_framing=KEEP_FRAMING, geometric=geometric)
            acc = accuracies(c, gate)
            if best is None or objective(acc) > objective(best[1]):
                best = (gate, acc)
    return best


# ---------------------------------------------------------------- the whole fit


def fit(seqs: list[FitSequence], seed: int = 0) -> dict:
    """The gate and what it scored on the sequences it was fitted on (with the network alone)."""
    cut, loss = fit_cut(cut_cells(seqs, np.random.default_rng(seed)))
    cells = shown_cells(seqs)
    gate, acc = pick_showing(cells, cut)
    return {
        "own_past": gate.to_json(),
        "fit": {
            "cut_log_loss": round(loss, 5),
            "with_gate": {k: round(v, 4) for k, v in acc.items()},
            "network_alone": {k: round(v, 4) for k, v in accuracies(cells, None).items()},
            "sequences": {d: sum(s.domain == d for s in seqs) for d in ("real", "synthetic")},
            "productions": sorted({production_of(s.path) for s in seqs if s.domain == "real"}),
        },
    }


def write_into_model(weights: Path, gate: dict) -> list[Path]:
    """Put the gate under "own_past" in the checkpoint's JSON and in the JSON of its ONNX exports
    beside it (the graphs do not change); returns the files written."""
    written = []
    for meta in (meta_path(weights), weights.with_suffix(".onnx.json"), weights.with_suffix(".int8.onnx.json")):
        if meta.is_file():
            doc = json.loads(meta.read_text())
            doc["own_past"] = gate
            written.append(write_atomic(meta, json.dumps(doc, indent=1) + "\n"))
    return written


def link_split(corpus: Path, split: str, out: Path, step) -> list[Path]:
    """Symbolic links in `out` (one folder per source folder) to the corpus files of `split` that
    have a sequence with a cut metric: the real timelines a fine-tune on that split reads."""
    seqs, _ = read_sequences([corpus], "real", step, (split,))
    links = []
    for path in sorted({Path(s.path) for s in seqs}):
        link = out / path.parent.name / path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(path)
        links.append(link)
    return links


if __name__ == "__main__":  # python -m model.training.fit_gate CORPUS SPLIT OUT: link a split's files for `mttd dataset build`
    from model.features.grid import DEFAULT_STEP

    corpus_arg, split_arg, out_arg = sys.argv[1:4]
    print(f"linked {len(link_split(Path(corpus_arg), split_arg, Path(out_arg), DEFAULT_STEP))} files of the {split_arg} split into {out_arg}")
