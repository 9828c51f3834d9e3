"""How good review is: plant known slips in held-out timelines and count what review finds.

Slips (one per copy of a timeline, each on a clip among at least two others on its track):
- `value`: the clip's scale (x 0.5/0.7/1.4/1.8) or one crop side (+15..35 %) set off its pattern;
- `disable`: the clip disabled (not the first or last of its track);
- `swap`: the clip shows another of the timeline's sources, not one of its neighbours';
- `blackout`: 1-3 s cut out of the track inside its covered span.
A review item hits a slip when it is on the same track, overlaps it in time and names the right
field (the changed value field; `active` for disable and blackout; `asset` for swap). Precision is
over all items on slipped timelines (the rest of a synthetic edit follows its pattern), recall over
slips; clean twins give the suggestions per minute of an edit with nothing wrong.

`calibrate` fits the review model (`model.suggest.review`) on validation timelines the same way; the
figures must come from other timelines (`review_eval` on another seed).

    python -m model.suggest.review_eval --calibrate [--model M] [--count N]   # writes the calibration
    python -m model.suggest.review_eval [--model M] [--count N] [--json]      # the figures
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from model.features.grid import N_TRACKS, featurize
from model.inference.load import load_predictor
from model.inference.predictor import Predictor
from model.suggest.items import ReviewItem, SuggestOptions
from model.suggest.pipeline import predictor_step
from model.suggest.review import (
    CALIBRATION_FILE,
    CALIBRATION_SCHEMA,
    FEATURES,
    GROUPS,
    MODEL_FEATURES,
    Calibration,
    CandidateSet,
    candidates,
    select,
)
from model.timeline.types import Crop, Item, Keyframe, Motion, Param, Sequence, Timeline

SLIP_KINDS = ("value", "disable", "swap", "blackout")
FIELD_OF_KIND = {"disable": "active", "blackout": "active", "swap": "asset"}
CALIBRATION_SEED = 515  # validation timelines: never used for training (see README), nor for the figures
EVAL_SEED = 616  # the figures' timelines
TARGET_PRECISION = 0.85  # calibrate with a margin over the goal (0.8)
TARGET_CLEAN_PER_MIN = 0.5  # goal: at most 1
THRESHOLD_FLOOR = 0.05  # never report a suggestion the calibrated model gives less than 5 %


@dataclass(frozen=True)
class Slip:
    kind: str
    track: int  # 0-based
    start_frame: int
    end_frame: int
    field: str


# --- planting slips ------------------------------------------------------------------------


def plant_slip(seq: Sequence, kind: str, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    """A copy of `seq` with one slip of `kind`, or None when the edit has no place for it."""
    spots = _eligible(seq)
    if not spots:
        return None
    order = rng.permutation(len(spots))
    for i in order:
        t, j = spots[i]
        planted = _PLANTERS[kind](seq, t, j, rng)
        if planted is not None:
            return planted
    return None


def _eligible(seq: Sequence) -> list[tuple[int, int]]:
    """(track, item) of enabled clips with an enabled clip before and after them on an enabled track."""
    out = []
    for t, track in enumerate(seq.video_tracks[:N_TRACKS]):
        if not track.enabled:
            continue
        on = [j for j, it in enumerate(track.items) if it.enabled]
        out += [(t, j) for j in on[1:-1]]
    return out


def _with_item(seq: Sequence, t: int, j: int, item: Item | list[Item]) -> Sequence:
    track = seq.video_tracks[t]
    items = list(track.items)
    items[j : j + 1] = item if isinstance(item, list) else [item]
    tracks = list(seq.video_tracks)
    tracks[t] = replace(track, items=tuple(items))
    return replace(seq, video_tracks=tuple(tracks))


def _scaled(param: Param, factor: float) -> Param:
    return Param(param.value * factor, tuple(Keyframe(k.when, k.value * factor) for k in param.keyframes))


def _shifted(param: Param, delta: float) -> Param:
    return Param(min(95.0, param.value + delta), tuple(Keyframe(k.when, min(95.0, k.value + delta)) for k in param.keyframes))


def _plant_value(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    item = seq.video_tracks[t].items[j]
    if item.kind == "generator":
        return None
    if rng.random() < 0.5:
        motion = item.motion or Motion()
        factor = float(rng.choice([0.5, 0.7, 1.4, 1.8]))
        new = replace(item, motion=replace(motion, scale=_scaled(motion.scale, factor)))
        field = "scale"
    else:
        crop = item.crop or Crop()
        side = int(rng.integers(4))
        name = ("left", "right", "top", "bottom")[side]
        new = replace(item, crop=replace(crop, **{name: _shifted(getattr(crop, name), float(rng.uniform(15, 35)))}))
        field = ("crop_l", "crop_r", "crop_t", "crop_b")[side]
    return _with_item(seq, t, j, new), Slip("value", t, item.start, item.end, field)


def _plant_disable(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    item = seq.video_tracks[t].items[j]
    return _with_item(seq, t, j, replace(item, enabled=False)), Slip("disable", t, item.start, item.end, "active")


def _plant_swap(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    items = seq.video_tracks[t].items
    item = items[j]
    neighbours = {it.source.key for it in items[max(0, j - 1) : j + 2]}
    pool = {}
    for track in seq.video_tracks[:N_TRACKS]:
        for it in track.items:
            if it.source.key not in neighbours and it.source.kind == item.source.kind:
                pool[it.source.key] = it.source
    if not pool:
        return None
    keys = sorted(pool)
    source = pool[keys[int(rng.integers(len(keys)))]]
    return _with_item(seq, t, j, replace(item, source=source, name=source.name)), Slip("swap", t, item.start, item.end, "asset")


def _plant_blackout(seq: Sequence, t: int, j: int, rng: np.random.Generator) -> tuple[Sequence, Slip] | None:
    item = seq.video_tracks[t].items[j]
    fps = seq.rate.fps
    length = math.ceil(Fraction(str(round(float(rng.uniform(1.0, 3.0)), 2))) * fps)
    if item.end - item.start < length + 2:
        return None
    start = item.start + int(rng.integers(1, item.end - item.start - length))
    end = start + length
    head = replace(item, end=start)
    tail = replace(item, start=end, in_frame=item.in_frame + (end - item.start), id=None)
    return _with_item(seq, t, j, [head, tail]), Slip("blackout", t, start, end, "active")


_PLANTERS = {"value": _plant_value, "disable": _plant_disable, "swap": _plant_swap, "blackout": _plant_blackout}


def hits(item: ReviewItem, slip: Slip) -> bool:
    return (
        item.track == slip.track
        and item.field == slip.field
        and item.start_frame < slip.end_frame
        and slip.start_frame < item.end_frame
    )


# --- cases: clean twins and slipped copies -------------------------------------------------


@dataclass
class Case:
    sequence: Sequence
    slip: Slip | None
    minutes: float
    candidates: list[CandidateSet]


def build_cases(predictor: Predictor, timelines: list[Timeline], seed: int, kinds=SLIP_KINDS) -> list[Case]:
    """Per timeline: its clean first sequence and one slipped copy per kind, with review candidates."""
    step = predictor_step(predictor, SuggestOptions())
    rng = np.random.Generator(np.random.PCG64(seed))
    cases = []
    for tl in timelines:
        seq = tl.sequences[0]
        variants: list[tuple[Sequence, Slip | None]] = [(seq, None)]
        for kind in kinds:
            planted = plant_slip(seq, kind, rng)
            if planted is not None:
                variants.append(planted)
        for variant, slip in variants:
            feats = featurize(variant, step)
            if feats.steps < 2:
                continue
            preds = predictor.predict(feats)
            minutes = float(variant.duration / variant.rate.fps) / 60.0
            cases.append(Case(variant, slip, minutes, candidates(variant, feats, preds)))
    return cases


def synthetic_timelines(count: int, seed: int, minutes: tuple[float, float] = (1.0, 3.0)) -> list[Timeline]:
    from model.training.synth import STYLES, synthesize

    return [synthesize(STYLES[i % len(STYLES)], seed, i, minutes) for i in range(count)]


# --- scoring the cases ---------------------------------------------------------------------


def figures(cases: list[Case], cal: Calibration, threshold: float | None = None, max_review: int = 20,
            *, scored: bool = False) -> dict:
    """Precision, recall per slip kind and the clean rate at `threshold` (default: the calibrated one)."""
    cut = cal.threshold if threshold is None else threshold
    if not scored:
        cal.score([cs for case in cases for cs in case.candidates])
    found = {k: [0, 0] for k in SLIP_KINDS}  # kind -> [hit, planted]
    n_items = n_hits = 0
    clean_items, clean_minutes, clean_any, clean_count = 0, 0.0, 0, 0
    for case in cases:
        items = select(case.candidates, cut, max_review)
        if case.slip is None:
            clean_items += len(items)
            clean_minutes += case.minutes
            clean_any += bool(items)
            clean_count += 1
            continue
        good = [hits(it, case.slip) for it in items]
        n_items += len(items)
        n_hits += sum(good)
        found[case.slip.kind][0] += any(good)
        found[case.slip.kind][1] += 1
    planted = sum(v[1] for v in found.values())
    return {
        "threshold": round(cut, 4),
        "precision": round(n_hits / n_items, 4) if n_items else None,
        "recall": round(sum(v[0] for v in found.values()) / planted, 4) if planted else None,
        "recall_by_kind": {k: round(v[0] / v[1], 4) if v[1] else None for k, v in found.items()},
        "slips": planted,
        "suggestions_on_slipped": n_items,
        "clean_per_min": round(clean_items / clean_minutes, 4) if clean_minutes else None,
        "clean_with_any": round(clean_any / clean_count, 4) if clean_count else None,
        "clean_timelines": clean_count,
        "clean_minutes": round(clean_minutes, 2),
    }


def review_eval(predictor: Predictor, timelines: list[Timeline], *, seed: int = EVAL_SEED, max_review: int = 20,
                calibration: Calibration | None = None) -> dict:
    """Precision and recall of review on slips planted in `timelines`, and its rate on their clean twins."""
    from model.suggest.review import calibration_for

    cal = calibration or calibration_for(predictor)
    out = figures(build_cases(predictor, timelines, seed), cal, max_review=max_review)
    out["calibration"] = cal.source
    out["timelines"] = len(timelines)
    return out


# --- calibration ---------------------------------------------------------------------------


def _labels(cases: list[Case], group: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [np.zeros((0, len(FEATURES[group])))], [np.zeros(0)]
    for case in cases:
        for cs in case.candidates:
            if cs.group != group:
                continue
            xs.append(cs.features)
            slip = case.slip
            ys.append(np.array([
                slip is not None and hits(ReviewItem(s.track, s.start_frame, s.end_frame, f, None, None, 0, ""), slip)
                for s, f in zip(cs.segments, cs.fields)
            ], np.float64))
    return np.vstack(xs), np.concatenate(ys)


def fit_logistic(x: np.ndarray, y: np.ndarray, mask: np.ndarray, l2: float = 1e-2, iters: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method on the features where mask is true."""
    cols = np.flatnonzero(mask)
    xa = np.hstack([x[:, cols], np.ones((len(x), 1))])
    w = np.zeros(xa.shape[1])
    reg = np.full(xa.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xa @ w, -50, 50)))
        grad = xa.T @ (p - y) + reg * w
        hess = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(reg + 1e-9)
        delta = np.linalg.solve(hess, grad)
        w -= delta
        if np.max(np.abs(delta)) < 1e-8:
            break
    full = np.zeros(x.shape[1])
    full[cols] = w[:-1]
    return full, float(w[-1])


def choose_threshold(cases: list[Case], cal: Calibration, max_review: int = 20) -> tuple[float, dict]:
    """The lowest threshold whose validation precision and clean rate meet the targets."""
    cal.score([cs for case in cases for cs in case.candidates])
    scores = sorted({round(float(v), 4) for case in cases for cs in case.candidates for v in cs.scores if v >= THRESHOLD_FLOOR})
    grid = [THRESHOLD_FLOOR] + [s for s in scores[:: max(1, len(scores) // 200)]] + [1.0]
    for cut in sorted(set(grid)):
        fig = figures(cases, cal, cut, max_review, scored=True)
        precision_ok = fig["precision"] is None or fig["precision"] >= TARGET_PRECISION
        clean_ok = fig["clean_per_min"] is None or fig["clean_per_min"] <= TARGET_CLEAN_PER_MIN
        if precision_ok and clean_ok:
            return cut, fig
    return 1.0, figures(cases, cal, 1.0, max_review, scored=True)


def calibrate(predictor: Predictor, timelines: list[Timeline], *, seed: int = CALIBRATION_SEED,
              use_model: bool = True, max_review: int = 20) -> dict:
    """Fit the review model's weights and threshold on `timelines`; returns the calibration document."""
    cases = build_cases(predictor, timelines, seed)
    weights, bias = {}, {}
    for group in GROUPS:
        x, y = _labels(cases, group)
        mask = np.array([use_model or name not in MODEL_FEATURES for name in FEATURES[group]])
        if y.sum() == 0:
            weights[group], bias[group] = np.zeros(len(FEATURES[group])), -20.0
        else:
            weights[group], bias[group] = fit_logistic(x, y, mask)
    cal = Calibration(weights, bias, 1.0, "fitting")
    threshold, fig = choose_threshold(cases, cal, max_review)
    return {
        "schema": CALIBRATION_SCHEMA,
        "predictor": (
            {"name": predictor.name, "version": predictor.version, "sha256": predictor.sha256}
            if use_model
            else {"name": "any (pattern only)", "version": "", "sha256": ""}
        ),
        "fallback": not use_model,
        "features": {g: list(FEATURES[g]) for g in GROUPS},
        "weights": {g: [round(float(v), 6) for v in weights[g]] for g in GROUPS},
        "bias": {g: round(float(bias[g]), 6) for g in GROUPS},
        "threshold": round(float(threshold), 4),
        "fitted_on": {"timelines": len(timelines), "seed": seed, "slip_seed": seed, "kinds": list(SLIP_KINDS)},
        "validation": fig,
    }


def save_bundled(doc: dict) -> None:
    """Replace the bundled entry for the same predictor (or the fallback) and keep the others."""
    docs = json.loads(CALIBRATION_FILE.read_text())["calibrations"] if CALIBRATION_FILE.exists() else []
    same = lambda d: d.get("fallback") if doc.get("fallback") else d["predictor"] == doc["predictor"]  # noqa: E731
    docs = [d for d in docs if not same(d)] + [doc]
    text = json.dumps({"calibrations": docs}, indent=1) + "\n"
    CALIBRATION_FILE.write_text(text)


# --- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.suggest.review_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a .safetensors file, a run folder, or `persistence` (default: the bundled model)")
    ap.add_argument("--count", type=int, default=70, help="synthetic timelines (all styles in turn)")
    ap.add_argument("--seed", type=int, help="timeline and slip seed (default: calibration 515, figures 616)")
    ap.add_argument("--calibrate", action="store_true", help="fit and store the calibration instead of measuring")
    ap.add_argument("--pattern-only", action="store_true", help="calibrate without the model's evidence (the fallback)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    predictor = load_predictor(args.model)
    started = time.perf_counter()
    if args.calibrate:
        seed = CALIBRATION_SEED if args.seed is None else args.seed
        doc = calibrate(predictor, synthetic_timelines(args.count, seed), seed=seed, use_model=not args.pattern_only)
        save_bundled(doc)
        print(json.dumps(doc["validation"], indent=1) if args.json else _summary(doc["validation"]))
    else:
        seed = EVAL_SEED if args.seed is None else args.seed
        fig = review_eval(predictor, synthetic_timelines(args.count, seed), seed=seed)
        print(json.dumps(fig, indent=1) if args.json else _summary(fig))
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


def _summary(fig: dict) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in fig["recall_by_kind"].items())
    return (
        f"threshold {fig['threshold']}: precision {fig['precision']} recall {fig['recall']} ({kinds}); "
        f"clean: {fig['clean_per_min']} per min, {fig['clean_with_any']} of timelines with any"
    )


if __name__ == "__main__":
    sys.exit(main())
