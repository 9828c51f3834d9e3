"""Metrics that separate a model from "nothing changes" (ml-notes section 3b). Numpy only.

Per sequence, on rows t = 0..T-2 (row t is the prediction for step t+1):
- a *cut* and a *change* are as in `model.features.history` (cut: the (active, source) pair changes);
- `next_active_acc`: at true cuts, is the track's predicted state after a cut on or off right;
- `next_asset_acc`: at true cuts that show something, is the predicted concrete source right
  (predicted on, and the source chosen from slot x recency equals the true source index);
  persistence scores exactly 0 here, by construction;
- `change_f1`: predicted changes (p_change > 0.5) matched one-to-one to true changes within
  +-2 steps on the same track;
- `cut_time_mae_s`: from each cut on the timeline (any track) to the next, the predicted time
  to the next cut (when the survival under the per-step cut hazard reaches 1/2) against
  the true time, capped at the end of the sequence;
- `mae_changed`: mean absolute error in physical units (scale %, position in xmeml units of
  the frame, crop %) on cells active before and after a true change, of the values the system
  expects *given* that the track changes (its forecast, like `next_asset_acc`: the timing of a
  change is scored by `change_f1` and `mase`; persistence's error here is the size of the jump);
  `mase`: the model's summed absolute error over all cells active at t and t+1 divided by
  persistence's on the same cells (< 1 beats persistence; pooled over sequences);
- `iou_all` / `iou_changed`: IoU of the visible rectangle (scale, position, crop, clipped to the
  frame) over true active cells: of the step-ahead prediction, where predicted off (p <= 0.5) is
  empty / over those that change, of the forecast given the change and that the track shows
  something after it (as `mae_changed`: whether it does is `next_active_acc`'s question, and
  scoring it here again would count an active miss twice);
- `active_f1`: per-track F1 of p_active > 0.5, macro over the tracks in use;
- `changes_per_min` / `flicker_per_min`: of free-running rollouts (see evaluate.py), changes
  summed over tracks; a flicker is an (active, source) state A -> B -> A with B lasting 1-2 steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.features.history import History, HistoryArrays, score_candidates
from model.inference.predictor import Predictions

TOLERANCE = 2  # steps, for matching change events
GROUPS = {"scale": [0], "pos": [1, 2], "crop": [3, 4, 5, 6]}  # indices into the 7 values
Z95 = 1.96  # normal approximation for the 95 % interval of a per-sequence mean


@dataclass
class Forecast:
    """A system's view of what follows a cut at t+1, row t (T, 20, ...)."""

    p_cut: np.ndarray  # P((active, source) changes at t+1)
    p_active_cut: np.ndarray  # P(active at t+1 | cut)
    slot_probs: np.ndarray  # (T, 20, 10) P(slot | cut, active)
    recency_probs: np.ndarray  # (T, 20, 8) P(recency class | cut, active)
    values_change: np.ndarray  # (T, 20, 7) values at t+1 if the track changes and shows something (physical units)


# ---------------------------------------------------------------- geometry


def rectangles(values: np.ndarray) -> np.ndarray:
    """Visible rectangle (x0, y0, x1, y1) in frame units ([-0.5, 0.5]) from (..., 7) values."""
    s = values[..., 0] / 100.0
    px, py = values[..., 1], values[..., 2]
    cl, cr, ct, cb = (values[..., k] / 100.0 for k in range(3, 7))
    x0, x1 = px - s / 2 + s * cl, px + s / 2 - s * cr
    y0, y1 = py - s / 2 + s * ct, py + s / 2 - s * cb
    return np.clip(np.stack([x0, y0, x1, y1], -1), -0.5, 0.5)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of rectangles (..., 4); two empty rectangles agree (1), one empty one does not (0)."""

    def area(r):
        return np.maximum(r[..., 2] - r[..., 0], 0) * np.maximum(r[..., 3] - r[..., 1], 0)

    w = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0)
    h = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0)
    inter = w * h
    union = area(a) + area(b) - inter
    return np.where(union > 1e-12, inter / np.maximum(union, 1e-12), 1.0)


# ---------------------------------------------------------------- events


def match_f1(pred: np.ndarray, true: np.ndarray, tol: int = TOLERANCE) -> float:
    """F1 of event masks (T, tracks), greedy one-to-one matching within +-tol steps per track."""
    tp = 0
    for i in range(true.shape[1]):
        p, g = np.flatnonzero(pred[:, i]), np.flatnonzero(true[:, i])
        used = np.zeros(len(p), bool)
        for x in g:
            near = np.flatnonzero(~used & (np.abs(p - x) <= tol))
            if len(near):
                used[near[np.argmin(np.abs(p[near] - x))]] = True
                tp += 1
    n_pred, n_true = int(pred.sum()), int(true.sum())
    if n_pred + n_true == 0:
        return math.nan
    return 2 * tp / (n_pred + n_true)


def time_to_cut(hazard: np.ndarray, c: int, nxt: int, limit: int) -> int:
    """Steps from cut c to the predicted next cut: where the survival reaches 1/2 (the median).

    hazard[t] is P(cut at t+1). Beyond the true next cut the hazards were computed after it
    happened, so the tail is extended with the last one before it (a geometric tail).
    """
    survival = np.cumprod(1.0 - hazard[c:nxt])
    below = np.flatnonzero(survival <= 0.5)
    if len(below):
        return int(below[0]) + 1
    h = float(hazard[nxt - 1])
    if h <= 1e-9:
        return limit
    extra = math.ceil(math.log(0.5 / max(survival[-1], 1e-300)) / math.log1p(-min(h, 1 - 1e-9)))
    return min(nxt - c + max(extra, 0), limit)


def timeline_cuts(cut: np.ndarray) -> np.ndarray:
    """Steps at which any track cuts (cut is (T, 20) from the history)."""
    return np.flatnonzero(cut.any(axis=1))


def cut_time_errors(hazard: np.ndarray, cuts: np.ndarray, steps: int) -> list[int]:
    """|predicted - true| steps to the next cut, from every cut that has a next one."""
    errs = []
    for c, nxt in zip(cuts[:-1], cuts[1:]):
        pred = time_to_cut(hazard, int(c), int(nxt), steps - int(c))
        errs.append(abs(pred - int(nxt - c)))
    return errs


def shot_length_errors(cuts: np.ndarray, default_len: float) -> list[float]:
    """The shot-length baseline: the next cut comes after the median shot length so far."""
    errs = []
    for k in range(len(cuts) - 1):
        lengths = np.diff(cuts[: k + 1])
        pred = float(np.median(lengths)) if len(lengths) else default_len
        errs.append(abs(pred - float(cuts[k + 1] - cuts[k])))
    return errs


def flickers(states: np.ndarray) -> int:
    """A -> B -> A where B lasts one or two steps; states (n, tracks) of hashable codes."""
    count = 0
    n = states.shape[0]
    for t in range(1, n - 1):
        changed = states[t] != states[t - 1]
        back1 = states[t + 1] == states[t - 1]
        back2 = (states[t + 2] == states[t - 1]) & (states[t + 1] == states[t]) if t + 2 < n else np.zeros_like(changed)
        count += int(np.sum(changed & (back1 | back2)))
    return count


def state_codes(grid: np.ndarray, source_index: np.ndarray) -> np.ndarray:
    """(active, source) as one integer per cell: -1 off, else the source index (slot if unknown)."""
    src = np.where(source_index >= 0, source_index, grid[..., 1].astype(np.int64) + 1_000_000)
    return np.where(grid[..., 0] > 0.5, src, -1)


def rollout_counts(grid: np.ndarray, source_index: np.ndarray) -> tuple[int, int]:
    """Changes and flickers in a sequence of steps (n, 20, 9); row 0 is the last known step."""
    change = np.any(grid[1:] != grid[:-1], axis=-1) | (source_index[1:] != source_index[:-1])
    return int(change.sum()), flickers(state_codes(grid, source_index))


# ---------------------------------------------------------------- per-sequence metrics


def source_candidates(grid: np.ndarray, source_index: np.ndarray, cells: np.ndarray) -> list[tuple[int, int, list]]:
    """(row, track, candidates) at the given (row, track) cells: the concrete sources a cut there
    could show, as the history up to that row offers them. They depend on the timeline alone, so
    one pass serves every system (stepping the History is most of the metrics' time)."""
    out = []
    hist = History()
    active = grid[..., 0] > 0.5
    t_done = -1
    for t in np.flatnonzero(cells.any(axis=1)):
        for u in range(t_done + 1, t + 1):
            hist.step(active[u], source_index[u], grid[u, :, 2:])
        t_done = t
        out.extend((int(t), int(i), hist.candidates(int(i))) for i in np.flatnonzero(cells[t]))
    return out


def chosen_sources(fc: Forecast, cells: np.ndarray, candidates: list[tuple[int, int, list]]) -> np.ndarray:
    """The concrete source a system picks at each cell (-1 elsewhere): P(slot) x P(recency class)
    over the candidates (as `History.choose_source`)."""
    out = np.full(cells.shape, -1, np.int64)
    for t, i, cands in candidates:
        scores = score_candidates(cands, fc.slot_probs[t, i], fc.recency_probs[t, i])
        out[t, i] = cands[int(np.argmax(scores))][0]
    return out


def shown_after_cut(grid: np.ndarray, hist: HistoryArrays) -> np.ndarray:
    """Rows t whose step t+1 cuts to something shown, per track: where `next_asset_acc` is scored."""
    return hist.cut[1:] & (grid[1:, :, 0] > 0.5)


def sequence_metrics(
    grid: np.ndarray, source_index: np.ndarray, hist: HistoryArrays, pred: Predictions, fc: Forecast, step_s: float,
    candidates: list[tuple[int, int, list]] | None = None,
) -> dict:
    """Teacher-forced metrics of one sequence, plus the error sums that pool into MASE.

    `candidates`: `source_candidates` at `shown_after_cut`, when several systems are scored on
    the same sequence (computed here otherwise)."""
    now, nxt = grid[:-1], grid[1:]
    on_now, on_next = now[..., 0] > 0.5, nxt[..., 0] > 0.5
    cut, change = hist.cut[1:], hist.change[1:]
    rows = slice(0, len(now))
    p_active, values, p_change = pred.p_active[rows], pred.values[rows], pred.p_change[rows]
    out: dict = {}

    out["next_active_acc"] = _mean((fc.p_active_cut[rows] > 0.5) == on_next, cut)
    shown = shown_after_cut(grid, hist)
    if candidates is None:
        candidates = source_candidates(grid, source_index, shown)
    chosen = chosen_sources(fc, shown, candidates)
    right = (fc.p_active_cut[rows] > 0.5) & (chosen == source_index[1:])
    out["next_asset_acc"] = _mean(right, shown)
    out["change_f1"] = match_f1(p_change > 0.5, change)

    cuts = timeline_cuts(hist.cut)
    hazard = 1.0 - np.prod(1.0 - fc.p_cut, axis=1)
    errs = cut_time_errors(hazard, cuts, grid.shape[0])
    out["cut_time_mae_s"] = float(np.mean(errs)) * step_s if errs else math.nan

    both = on_now & on_next
    moved = both & change
    err_model = np.abs(values - nxt[..., 2:])
    err_persist = np.abs(now[..., 2:] - nxt[..., 2:])
    err_given_change = np.abs(fc.values_change[rows] - nxt[..., 2:])
    out["mae_changed"] = {g: _mean(err_given_change[..., idx].mean(-1), moved) for g, idx in GROUPS.items()}
    out["abs_err"] = {g: float(err_model[..., idx][both].sum()) for g, idx in GROUPS.items()}
    out["abs_err_persistence"] = {g: float(err_persist[..., idx][both].sum()) for g, idx in GROUPS.items()}

    true_rect = rectangles(nxt[..., 2:])
    pred_rect = np.where((p_active > 0.5)[..., None], rectangles(values), 0.0)
    out["iou_all"] = _mean(iou(pred_rect, true_rect), on_next)
    out["iou_changed"] = _mean(iou(rectangles(fc.values_change[rows]), true_rect), on_next & change)
    out["active_f1"] = _active_f1(p_active > 0.5, on_next)
    return out


def _mean(x: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean(x[mask])) if mask.any() else math.nan


def _active_f1(pred: np.ndarray, true: np.ndarray) -> float:
    scores = []
    for i in range(true.shape[1]):
        p, g = pred[:, i], true[:, i]
        if p.any() or g.any():
            scores.append(2 * np.sum(p & g) / (p.sum() + g.sum()))
    return float(np.mean(scores)) if scores else math.nan


# ---------------------------------------------------------------- summaries over sequences


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean of the defined values and its 95 % interval (normal approximation)."""
    x = np.array([v for v in values if v is not None and not math.isnan(v)], np.float64)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    half = Z95 * float(x.std(ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else math.nan
    return m, m - half, m + half


def ratio_ci(num: list[float], den: list[float], seed: int = 0, n_boot: int = 1000) -> tuple[float, float, float]:
    """Pooled ratio sum(num) / sum(den) with a bootstrap (over sequences) 95 % interval."""
    a, b = np.asarray(num, np.float64), np.asarray(den, np.float64)
    if b.sum() <= 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    den = b[idx].sum(1)
    boot = a[idx].sum(1)[den > 0] / den[den > 0]  # resamples without any persistence error say nothing
    return float(a.sum() / b.sum()), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))
