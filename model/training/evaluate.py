"""`mttd eval`: the model against persistence, a Markov chain and the shot-length rule, same steps.

Data is a dataset folder (its val split is evaluated; the Markov chain is fitted on its train
split) or a folder of timeline files (every sequence is evaluated; the Markov chain learns from
each sequence's own past). Every metric is a mean over sequences with a 95 % interval, except
MASE, which pools absolute errors over sequences (bootstrap interval). The rollout metrics
(changes and flickers per minute) come from free-running rollouts of ROLLOUT_STEPS steps
starting at 1/3 and 2/3 of each sequence, compared with the true continuation.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.features.grid import SequenceFeatures, featurize_timeline
from model.features.history import history_arrays
from model.timeline.types import SOURCE_KINDS, Rate, Source
from model.training import baselines, metrics

ROLLOUT_STEPS = 200
DEFAULT_SHOT_STEPS = 30.0  # the shot-length rule before a sequence has shown two cuts
SYSTEMS = ("model", "persistence", "markov")
SCALAR_KEYS = ("next_active_acc", "next_asset_acc", "change_f1", "cut_time_mae_s", "iou_all", "iou_changed",
               "active_f1", "changes_per_min", "flicker_per_min")
GROUP_KEYS = ("mae_changed", "mase")


@dataclass
class EvalSet:
    sequences: list[SequenceFeatures]
    markov: baselines.Markov
    source: str  # what was evaluated, for the report


def features_from_rows(name: str, grid: np.ndarray, src: np.ndarray, kind: np.ndarray, step: Fraction) -> SequenceFeatures:
    """A SequenceFeatures for shard rows; sources are placeholders of the right kind."""
    n = int(src.max()) + 1 if src.size else 0
    kinds = np.zeros(n, np.int64)
    on = src >= 0
    kinds[src[on]] = kind[on]
    sources = [Source(key=f"source-{i}", name=f"source {i}", kind=SOURCE_KINDS[max(int(k), 1) - 1]) for i, k in enumerate(kinds)]
    return SequenceFeatures(name=name, rate=Rate(25), frame_size=(1920, 1080), step_seconds=step, grid=grid,
                            source_index=src, source_kind=kind, sources=sources, tracks_total=20)


def from_dataset(data: Path, limit: int | None, fit_markov: bool = True) -> EvalSet:
    from model.training.dataset import load_manifest, load_split

    manifest = load_manifest(data)
    step = Fraction(manifest["step_seconds"])
    val = load_split(data, "val")
    names = {t["id"]: f"{t['path']}#{t['sequence']}" for t in manifest["timelines"]}
    picks = _spread(len(val.timeline_ids), limit)
    seqs = []
    for k in picks:
        rows = val.timeline(k)
        seqs.append(features_from_rows(names.get(int(val.timeline_ids[k]), str(k)), val.grid[rows], val.source_index[rows],
                                       val.source_kind[rows], step))
    markov = baselines.Markov(_fit_on_train(data) if fit_markov else None)
    return EvalSet(seqs, markov, f"{data} (val split, {len(seqs)} of {len(val.timeline_ids)} sequences)")


def _fit_on_train(data: Path) -> baselines.MarkovCounts:
    from model.training.dataset import load_split

    train = load_split(data, "train")
    grids = [train.grid[train.timeline(k)] for k in range(len(train.timeline_ids))]
    srcs = [train.source_index[train.timeline(k)] for k in range(len(train.timeline_ids))]
    return baselines.fit(grids, [history_arrays(g, s) for g, s in zip(grids, srcs)])


def from_folder(folder: Path, limit: int | None, step: Fraction) -> EvalSet:
    """Every sequence of every timeline file under `folder` (files that fail are reported and skipped)."""
    from model.timeline.errors import TimelineParseError
    from model.timeline.formats import read_timeline
    from model.training.dataset import find_timeline_files

    seqs = []
    for path in find_timeline_files([folder]):
        try:
            seqs.extend(f for f in featurize_timeline(read_timeline(path), step) if f.steps >= 2)
        except TimelineParseError as err:
            print(f"mttd eval: skipped {err.one_line()}", file=sys.stderr)
    seqs = [seqs[k] for k in _spread(len(seqs), limit)]
    return EvalSet(seqs, baselines.Markov(None), f"{folder} ({len(seqs)} sequences, Markov on each sequence's own past)")


def _spread(n: int, limit: int | None) -> list[int]:
    """Up to `limit` indices spread evenly over n (the val split is ordered by style)."""
    if not limit or limit >= n:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, limit)})


def evaluate(model, evalset: EvalSet, rollouts: bool = True, progress=None) -> dict:
    """The JSON document of `mttd eval --json`."""
    systems = {"model": model, "persistence": baselines.Persistence(), "markov": evalset.markov}
    per: dict[str, list[dict]] = {name: [] for name in systems}
    truth: list[dict] = []
    shot: list[float] = []
    for n, feats in enumerate(evalset.sequences):
        step_s = float(feats.step_seconds)
        hist = history_arrays(feats.grid, feats.source_index)
        for name, system in systems.items():
            preds, fc = _predict(system, feats)
            m = metrics.sequence_metrics(feats.grid, feats.source_index, hist, preds, fc, step_s)
            if rollouts:
                m.update(_rollout_rates(system, feats))
            per[name].append(m)
        if rollouts:
            truth.append(_rollout_rates(None, feats))
        errs = metrics.shot_length_errors(metrics.timeline_cuts(hist.cut), DEFAULT_SHOT_STEPS)
        shot.append(float(np.mean(errs)) * step_s if errs else math.nan)
        if progress:
            progress(n + 1, len(evalset.sequences))
    doc = {name: _summary(rows)[0] for name, rows in per.items()}
    doc["ci95"] = {name: _summary(rows)[1] for name, rows in per.items()}
    sl_mean, sl_lo, sl_hi = metrics.mean_ci(shot)
    doc["shot_length"] = {"cut_time_mae_s": sl_mean}
    doc["ci95"]["shot_length"] = {"cut_time_mae_s": [sl_lo, sl_hi]}
    doc["truth"] = {k: metrics.mean_ci([t[k] for t in truth])[0] for k in ("changes_per_min", "flicker_per_min")} if rollouts else {}
    doc["sequences"] = len(evalset.sequences)
    doc["steps"] = int(sum(f.steps for f in evalset.sequences))
    doc["data"] = evalset.source
    doc["model_info"] = {"name": model.name, "version": model.version, "sha256": model.sha256}
    return doc


def _predict(system, feats: SequenceFeatures):
    if hasattr(system, "outputs"):  # the network: one forward for both views
        out = system.outputs(feats)
        return system.marginal(feats, out), system.forecast(feats, out)
    return system.predict(feats), system.forecast(feats)


def _segments(steps: int) -> list[tuple[int, int]]:
    starts = sorted({max(1, steps // 3), max(1, 2 * steps // 3)})
    return [(s, min(ROLLOUT_STEPS, steps - s)) for s in starts if steps - s >= 10]


def _rollout_rates(system, feats: SequenceFeatures, seed_offset: int = 0) -> dict:
    """Changes and flickers per minute over the rollout segments (system None: the truth)."""
    changes = flick = steps = 0
    for k, (start, n) in enumerate(_segments(feats.steps)):
        if system is None:
            grid, src = feats.grid[start - 1 : start + n], feats.source_index[start - 1 : start + n]
        else:
            r = system.rollout(feats, start, n, seed=seed_offset + k)
            grid = np.concatenate([feats.grid[start - 1 : start], r.grid])
            src = np.concatenate([feats.source_index[start - 1 : start], r.source_index])
        c, f = metrics.rollout_counts(grid, src)
        changes, flick, steps = changes + c, flick + f, steps + n
    minutes = steps * float(feats.step_seconds) / 60
    if minutes == 0:
        return {"changes_per_min": math.nan, "flicker_per_min": math.nan}
    return {"changes_per_min": changes / minutes, "flicker_per_min": flick / minutes}


def _summary(rows: list[dict]) -> tuple[dict, dict]:
    """Means (MASE pooled) and 95 % intervals over sequences."""
    means, cis = {}, {}
    for key in SCALAR_KEYS:
        if rows and key in rows[0]:
            m, lo, hi = metrics.mean_ci([r[key] for r in rows])
            means[key], cis[key] = m, [lo, hi]
    means["mae_changed"], cis["mae_changed"] = {}, {}
    means["mase"], cis["mase"] = {}, {}
    for g in metrics.GROUPS:
        m, lo, hi = metrics.mean_ci([r["mae_changed"][g] for r in rows])
        means["mae_changed"][g], cis["mae_changed"][g] = m, [lo, hi]
        m, lo, hi = metrics.ratio_ci([r["abs_err"][g] for r in rows], [r["abs_err_persistence"][g] for r in rows])
        means["mase"][g], cis["mase"][g] = m, [lo, hi]
    return means, cis


# ---------------------------------------------------------------- the markdown table


ROWS = (
    ("next_active_acc", None, "next active acc (at cuts)", "{:.3f}"),
    ("next_asset_acc", None, "next asset acc (at cuts)", "{:.3f}"),
    ("change_f1", None, "change F1 (±2 steps)", "{:.3f}"),
    ("cut_time_mae_s", None, "cut time MAE (s)", "{:.2f}"),
    ("mae_changed", "scale", "MAE at changes: scale (%)", "{:.2f}"),
    ("mae_changed", "pos", "MAE at changes: position", "{:.4f}"),
    ("mae_changed", "crop", "MAE at changes: crop (%)", "{:.2f}"),
    ("mase", "scale", "MASE scale", "{:.3f}"),
    ("mase", "pos", "MASE position", "{:.3f}"),
    ("mase", "crop", "MASE crop", "{:.3f}"),
    ("iou_all", None, "IoU all active", "{:.3f}"),
    ("iou_changed", None, "IoU at changes", "{:.3f}"),
    ("active_f1", None, "active F1 (macro over tracks)", "{:.3f}"),
    ("changes_per_min", None, "changes / min (rollout)", "{:.1f}"),
    ("flicker_per_min", None, "flicker / min (rollout)", "{:.2f}"),
)


def markdown(doc: dict) -> str:
    """The evaluation as a markdown table: mean [95 % interval] per system, truth where it applies."""
    lines = [f"Evaluated on {doc['data']}: {doc['sequences']} sequences, {doc['steps']} steps. "
             f"Model {doc['model_info']['name']} {doc['model_info']['version']}.", "",
             "| metric | model | persistence | markov | shot-length / truth |", "|---|---|---|---|---|"]
    for key, sub, label, fmt in ROWS:
        cells = [_cell(doc, name, key, sub, fmt) for name in SYSTEMS]
        if key == "cut_time_mae_s":
            extra = _cell(doc, "shot_length", key, None, fmt)
        elif key in doc.get("truth", {}):
            extra = fmt.format(doc["truth"][key]) + " (truth)"
        else:
            extra = ""
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {extra} |")
    return "\n".join(lines) + "\n"


def _cell(doc: dict, name: str, key: str, sub: str | None, fmt: str) -> str:
    if key not in doc.get(name, {}):
        return "-"
    value = doc[name][key] if sub is None else doc[name][key][sub]
    ci = doc["ci95"][name][key] if sub is None else doc["ci95"][name][key][sub]
    if value is None or math.isnan(value):
        return "n/a"
    text = fmt.format(value)
    if ci and not any(c is None or math.isnan(c) for c in ci):
        text += f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"
    return text


def to_json(doc):
    """NaN (a metric with nothing to measure) as null, so the output is strict JSON."""
    if isinstance(doc, dict):
        return {k: to_json(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [to_json(v) for v in doc]
    if isinstance(doc, float) and math.isnan(doc):
        return None
    return doc
