"""`mttd eval`: the model against persistence, a Markov chain and the shot-length rule, same steps.

Data is a dataset folder (its val split is evaluated; the Markov chain is fitted on its train
split) or a folder of timeline files (every sequence is evaluated; the Markov chain learns from
each sequence's own past). Every metric is a mean over sequences with a 95 % interval, except
MASE, which pools absolute errors over sequences (bootstrap interval). The rollout metrics
(changes and flickers per minute) come from free-running rollouts of ROLLOUT_STEPS steps
starting at 1/3 and 2/3 of each sequence, compared with the true continuation.

The document also holds one row per sequence (its file, folder, production, steps, cuts and
every metric of every system), the model's lead over Markov with a paired 95 % interval
(`model_minus_markov`, see `paired_difference`; `model_minus_markov_by_production` resamples whole
productions, as episodes of one series are not independent), and with `by` the same summary per folder or
per production, each group weighted as the overall figures are (sequences equal, MASE pooled).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.features.grid import SequenceFeatures, featurize_timeline
from model.features.history import history_arrays
from model.timeline.errors import TimelineParseError
from model.timeline.formats import read_timeline
from model.timeline.types import SOURCE_KINDS, Rate, Source
from model.training import baselines, metrics
from model.training.dataset import find_timeline_files, load_manifest, load_split
from model.training.productions import production_of
from model.training.synth import STYLES, synthesize

ROLLOUT_STEPS = 200
DEFAULT_SHOT_STEPS = 30.0  # the shot-length rule before a sequence has shown two cuts
SYSTEMS = ("model", "persistence", "markov")
SCALAR_KEYS = ("next_active_acc", "next_asset_acc", "change_f1", "cut_time_mae_s", "iou_all", "iou_changed",
               "active_f1", "changes_per_min", "flicker_per_min")
GROUP_KEYS = ("mae_changed", "mase")


GROUPINGS = ("folder", "production")
N_BOOT = 2000  # resamples of the paired bootstrap


@dataclass
class Origin:
    """Where a sequence comes from: its timeline file, that file's folder and its production."""

    file: str
    folder: str
    production: str

    @classmethod
    def of(cls, path: Path, root: Path | None = None) -> Origin:
        shown = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
        return cls(str(shown), path.parent.name, production_of(path))


@dataclass
class EvalSet:
    sequences: list[SequenceFeatures]
    markov: baselines.Markov
    source: str  # what was evaluated, for the report
    origins: list[Origin] | None = None  # one per sequence (None: unknown)

    def origin(self, k: int) -> Origin:
        return self.origins[k] if self.origins else Origin("", "", "")


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
    manifest = load_manifest(data)
    step = Fraction(manifest["step_seconds"])
    val = load_split(data, "val")
    entries = {t["id"]: t for t in manifest["timelines"]}
    picks = _spread(len(val.timeline_ids), limit)
    seqs, origins = [], []
    for k in picks:
        rows = val.timeline(k)
        entry = entries.get(int(val.timeline_ids[k]))
        name = f"{entry['path']}#{entry['sequence']}" if entry else str(k)
        seqs.append(features_from_rows(name, val.grid[rows], val.source_index[rows], val.source_kind[rows], step))
        origins.append(Origin.of(Path(entry["path"])) if entry else Origin("", "", ""))
    markov = baselines.Markov(_fit_on_train(data) if fit_markov else None)
    return EvalSet(seqs, markov, f"{data} (val split, {len(seqs)} of {len(val.timeline_ids)} sequences)", origins)


def _fit_on_train(data: Path) -> baselines.MarkovCounts:
    train = load_split(data, "train")
    grids = [train.grid[train.timeline(k)] for k in range(len(train.timeline_ids))]
    srcs = [train.source_index[train.timeline(k)] for k in range(len(train.timeline_ids))]
    return baselines.fit(grids, [history_arrays(g, s) for g, s in zip(grids, srcs)])


def from_folder(folder: Path, limit: int | None, step: Fraction, suffixes: frozenset[str] | None = None) -> EvalSet:
    """Every sequence of every timeline file under `folder` (files that fail are reported and skipped);
    with `suffixes` only the files whose suffix is one of them."""
    seqs, origins = [], []
    root = folder.resolve()
    for path in find_timeline_files([folder]):
        if suffixes is not None and path.suffix.lower() not in suffixes:
            continue
        try:
            found = [f for f in featurize_timeline(read_timeline(path), step) if f.steps >= 2]
        except TimelineParseError as err:
            print(f"mttd eval: skipped {err.one_line()}", file=sys.stderr)
            continue
        seqs.extend(found)
        origins.extend([Origin.of(path, root)] * len(found))
    picks = _spread(len(seqs), limit)
    seqs, origins = [seqs[k] for k in picks], [origins[k] for k in picks]
    return EvalSet(seqs, baselines.Markov(None), f"{folder} ({len(seqs)} sequences, Markov on each sequence's own past)", origins)


HELD_OUT_SEED = 90210  # synthetic timelines of a seed no dataset build uses by default


def held_out_features(data: str | Path | None, count: int, step: Fraction) -> list[SequenceFeatures]:
    """Up to `count` held-out sequences: the val split of a dataset folder when it exists (the
    checkpoint's own data), else a folder of timelines, else freshly synthesised timelines."""
    path = Path(data) if data else None
    if path is not None and (path / "manifest.json").is_file():
        return from_dataset(path, count, fit_markov=False).sequences
    if path is not None and path.is_dir():
        return from_folder(path, count, step).sequences
    feats = []
    for k in range(count):
        tl = synthesize(STYLES[k % len(STYLES)], HELD_OUT_SEED, k, (0.5, 1.0))
        feats.extend(f for f in featurize_timeline(tl, step)[:1] if f.steps >= 2)
    return feats


def _spread(n: int, limit: int | None) -> list[int]:
    """Up to `limit` indices spread evenly over n (the val split is ordered by style)."""
    if not limit or limit >= n:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, limit)})


def evaluate(model, evalset: EvalSet, rollouts: bool = True, progress=None, by: str | None = None) -> dict:
    """The JSON document of `mttd eval --json`; `by` ("folder" or "production") adds per-group summaries."""
    systems = {"model": model, "persistence": baselines.Persistence(), "markov": evalset.markov}
    rows: list[dict] = []
    for n, feats in enumerate(evalset.sequences):
        rows.append(sequence_row(feats, evalset.origin(n), systems, rollouts))
        if progress:
            progress(n + 1, len(evalset.sequences))
    doc = summarize(rows, rollouts)
    doc["data"] = evalset.source
    doc["model_info"] = {"name": model.name, "version": model.version, "sha256": model.sha256}
    productions = [r["production"] for r in rows]
    if len(set(productions)) >= 2:  # the overall lead again, drawing whole productions (see paired_difference)
        doc["model_minus_markov_by_production"] = paired_difference([r["model"] for r in rows], [r["markov"] for r in rows],
                                                                    clusters=productions)
    if by is not None:
        doc["by"] = by
        doc["groups"] = {name: summarize(members, rollouts) for name, members in group_rows(rows, by).items()}
    doc["per_sequence"] = rows
    return doc


def sequence_row(feats: SequenceFeatures, origin: Origin, systems: dict, rollouts: bool) -> dict:
    """One sequence: where it comes from, its size, and every metric of every system (plus the truth's rollout rates)."""
    step_s = float(feats.step_seconds)
    hist = history_arrays(feats.grid, feats.source_index)
    cuts = metrics.timeline_cuts(hist.cut)
    row = {"name": feats.name, "file": origin.file, "folder": origin.folder, "production": origin.production,
           "steps": feats.steps, "cuts": int(hist.cut[1:].any(axis=1).sum())}  # the cuts the next step can predict
    row["seconds"] = {}
    t0 = time.perf_counter()
    candidates = metrics.source_candidates(feats.grid, feats.source_index, metrics.shown_after_cut(feats.grid, hist))
    row["seconds"]["candidates"] = time.perf_counter() - t0  # shared by the systems: the timeline's own history
    for name, system in systems.items():
        t0 = time.perf_counter()
        preds, fc = _predict(system, feats)
        m = metrics.sequence_metrics(feats.grid, feats.source_index, hist, preds, fc, step_s, candidates)
        del preds, fc  # a 40-minute programme's predictions are large; free them before the next system
        m["mase"] = {g: _ratio(m["abs_err"][g], m["abs_err_persistence"][g]) for g in metrics.GROUPS}
        if rollouts:
            m.update(_rollout_rates(system, feats))
        row[name] = m
        row["seconds"][name] = time.perf_counter() - t0
    errs = metrics.shot_length_errors(cuts, DEFAULT_SHOT_STEPS)
    row["shot_length"] = {"cut_time_mae_s": float(np.mean(errs)) * step_s if errs else math.nan}
    if rollouts:
        row["truth"] = _rollout_rates(None, feats)
    return row


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def group_rows(rows: list[dict], by: str) -> dict[str, list[dict]]:
    """Rows grouped by their folder or production, groups in name order."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r} (one of {', '.join(GROUPINGS)})")
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[by] or "(unknown)", []).append(row)
    return dict(sorted(groups.items()))


def summarize(rows: list[dict], rollouts: bool = True) -> dict:
    """Means and 95 % intervals per system, the shot-length rule, the truth and model - Markov over these rows."""
    doc = {}
    cis = {}
    for name in SYSTEMS:
        doc[name], cis[name] = _summary([r[name] for r in rows])
    doc["ci95"] = cis
    sl_mean, sl_lo, sl_hi = metrics.mean_ci([r["shot_length"]["cut_time_mae_s"] for r in rows])
    doc["shot_length"] = {"cut_time_mae_s": sl_mean}
    doc["ci95"]["shot_length"] = {"cut_time_mae_s": [sl_lo, sl_hi]}
    doc["truth"] = ({k: metrics.mean_ci([r["truth"][k] for r in rows])[0] for k in ("changes_per_min", "flicker_per_min")}
                    if rollouts and rows and "truth" in rows[0] else {})
    doc["model_minus_markov"] = paired_difference([r["model"] for r in rows], [r["markov"] for r in rows])
    doc["sequences"] = len(rows)
    doc["steps"] = int(sum(r["steps"] for r in rows))
    return doc


def paired_difference(a: list[dict], b: list[dict], seed: int = 0, n_boot: int = N_BOOT, clusters: list[str] | None = None) -> dict:
    """System a minus system b per metric: the difference of the summaries and its paired 95 % interval.

    A paired bootstrap over sequences, seeded: each resample draws sequences with replacement and
    takes both systems on the same draw, so a timeline that is hard for both moves both sides
    together and only the difference varies. The interval is the 2.5 and 97.5 % quantiles of
    the resampled differences: of the mean of per-sequence differences (over sequences where both
    are defined), and for MASE of the difference of the two pooled ratios. With fewer than two
    sequences there is no interval (null); with a handful (a production of two or three episodes)
    the percentile bootstrap is too narrow, so read it as the range of those few differences.

    With `clusters` (one name per sequence, e.g. its production) whole clusters are drawn instead:
    episodes and versions of one programme are not independent, and near-copies counted as
    separate sequences make the sequence interval too narrow. Fewer than two clusters: no interval.
    Each entry is {"diff", "ci95": [lo, hi], "n"}, n the sequences (for MASE, with an error to pool).
    """
    rng = np.random.default_rng(seed)
    keys = np.asarray(clusters if clusters is not None else range(len(a)))
    clustered = clusters is not None
    out: dict = {}
    for key in SCALAR_KEYS:
        if a and key in a[0] and key in b[0]:
            out[key] = _paired_mean([r[key] for r in a], [r[key] for r in b], keys, clustered, rng, n_boot)
    out["mae_changed"] = {g: _paired_mean([r["mae_changed"][g] for r in a], [r["mae_changed"][g] for r in b], keys, clustered,
                                          rng, n_boot) for g in metrics.GROUPS}
    out["mase"] = {g: _paired_ratio([r["abs_err"][g] for r in a], [r["abs_err"][g] for r in b],
                                    [r["abs_err_persistence"][g] for r in a], keys, clustered, rng, n_boot) for g in metrics.GROUPS}
    return out


def _resample_weights(keys: np.ndarray, clustered: bool, rng: np.random.Generator, n_boot: int) -> np.ndarray | None:
    """(n_boot, n) how often each sequence is in each resample: sequences drawn one by one, or
    whole clusters (every sequence of a drawn cluster); None when there are fewer than two to draw."""
    n = len(keys)
    codes = np.unique(keys, return_inverse=True)[1].ravel() if clustered else np.arange(n)
    units = int(codes.max()) + 1 if n else 0
    if units < 2:
        return None
    draws = rng.integers(0, units, size=(n_boot, units))
    counts = np.zeros((n_boot, units))
    np.add.at(counts, (np.repeat(np.arange(n_boot), units), draws.ravel()), 1)
    return counts[:, codes]


def _paired_mean(x: list[float], y: list[float], keys: np.ndarray, clustered: bool, rng: np.random.Generator,
                 n_boot: int) -> dict:
    ok = np.array([not (_missing(u) or _missing(v)) for u, v in zip(x, y)], bool)
    d = np.array([u - v for u, v, k in zip(x, y, ok) if k], np.float64)
    if len(d) == 0:
        return {"diff": math.nan, "ci95": [math.nan, math.nan], "n": 0}
    w = _resample_weights(keys[ok], clustered, rng, n_boot)
    if w is None:
        return {"diff": float(d.mean()), "ci95": [math.nan, math.nan], "n": len(d)}
    total = w.sum(1)
    boot = (w @ d)[total > 0] / total[total > 0]
    return {"diff": float(d.mean()), "ci95": _quantiles(boot), "n": len(d)}


def _paired_ratio(err_a: list[float], err_b: list[float], den: list[float], keys: np.ndarray, clustered: bool,
                  rng: np.random.Generator, n_boot: int) -> dict:
    """Pooled ratio sum(err_a) / sum(den) minus sum(err_b) / sum(den), resampling sequences together."""
    a, b, p = (np.asarray(v, np.float64) for v in (err_a, err_b, den))
    n = int(np.sum(p > 0))
    if len(p) == 0 or p.sum() <= 0:
        return {"diff": math.nan, "ci95": [math.nan, math.nan], "n": n}
    diff = float((a.sum() - b.sum()) / p.sum())
    w = _resample_weights(keys, clustered, rng, n_boot)
    if w is None:
        return {"diff": diff, "ci95": [math.nan, math.nan], "n": n}
    pooled = w @ p
    keep = pooled > 0  # resamples without any persistence error say nothing
    boot = (w @ a - w @ b)[keep] / pooled[keep]
    return {"diff": diff, "ci95": _quantiles(boot), "n": n}


def _quantiles(boot: np.ndarray) -> list[float]:
    if len(boot) == 0:
        return [math.nan, math.nan]
    return [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))]


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


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
    """The evaluation as markdown: mean [95 % interval] per system, truth where it applies, and the
    model's lead over Markov with its paired interval; then the same table per group (with `by`)."""
    head = (f"Evaluated on {doc['data']}: {doc['sequences']} sequences, {doc['steps']} steps. "
            f"Model {doc['model_info']['name']} {doc['model_info']['version']}.")
    parts = [head, "", *_table(doc, by_production="model_minus_markov_by_production" in doc)]
    for name, group in doc.get("groups", {}).items():
        parts += ["", f"### {doc['by']} {name}: {group['sequences']} sequences, {group['steps']} steps", "", *_table(group)]
    return "\n".join(parts) + "\n"


def _table(doc: dict, by_production: bool = False) -> list[str]:
    tail = " model - markov [productions resampled] |" if by_production else ""
    lines = ["| metric | model | persistence | markov | shot-length / truth | model - markov [paired 95 %] |" + tail,
             "|---|---|---|---|---|---|" + ("---|" if by_production else "")]
    for key, sub, label, fmt in ROWS:
        cells = [_cell(doc, name, key, sub, fmt) for name in SYSTEMS]
        if key == "cut_time_mae_s":
            extra = _cell(doc, "shot_length", key, None, fmt)
        elif key in doc.get("truth", {}):
            extra = fmt.format(doc["truth"][key]) + " (truth)"
        else:
            extra = ""
        line = f"| {label} | " + " | ".join(cells) + f" | {extra} | {_diff_cell(doc, key, sub, fmt)} |"
        if by_production:
            line += f" {_diff_cell(doc, key, sub, fmt, 'model_minus_markov_by_production')} |"
        lines.append(line)
    return lines


def _diff_cell(doc: dict, key: str, sub: str | None, fmt: str, field: str = "model_minus_markov") -> str:
    entry = doc.get(field, {}).get(key)
    if entry is not None and sub is not None:
        entry = entry[sub]
    if entry is None or _missing(entry["diff"]):
        return "-"
    signed = fmt.replace("{:", "{:+")
    text = signed.format(entry["diff"])
    if not any(_missing(c) for c in entry["ci95"]):
        text += f" [{signed.format(entry['ci95'][0])}, {signed.format(entry['ci95'][1])}]"
    return text


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
