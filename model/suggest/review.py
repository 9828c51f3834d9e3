"""Review: where a track's state departs from the edit's own patterns.

The unit of review is a segment: a run of steps on one track showing one item (a clip, a
disabled clip) or nothing. Every segment is a candidate for the fields it can be wrong in:
- `active`: an empty or disabled stretch inside a track's span of clips;
- `asset`: the source of a clip;
- `scale`, `pos_x`, `pos_y`, `crop_*`: the clip's motion and crop.
Each candidate gets evidence from two sides, both about this very edit:
- the model: how surprised the predictor is by the segment, when it enters (the prediction made
  on the step before, conditioned on a change) and over its length;
- the edit's own patterns, leave-one-out: the same track's other clips of the same source (or,
  without those, all its clips) for values; the track's source transitions, repeats and sync for
  assets; the track's density, gaps and disabled clips for `active`.
A logistic model per field group turns the evidence into a probability, fitted on validation
timelines with planted slips (`model.suggest.review_eval.calibrate`); items above the calibrated
threshold are kept, adjacent ones merged, ranked by that probability. Evidence is computed as
arrays per track; the words of an item (current, suggested, reason) only for the items kept.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS, SequenceFeatures, step_frames
from model.inference.predictor import N_SLOTS, VALUE_FIELDS, Predictions, Predictor
from model.suggest.items import ReviewItem, source_json
from model.timeline.types import Item, Sequence

CALIBRATION_FILE = Path(__file__).with_name("review_calibration.json")
CALIBRATION_SCHEMA = "mtt.review-calibration/1"
GROUPS = ("active", "asset", "values")
# What a visible difference is, per value field: scale and crop in percent, position in xmeml
# units (0.5 = half the image). Deviations are measured in these units before calibration.
VALUE_UNITS = np.array([10.0, 0.1, 0.1, 5.0, 5.0, 5.0, 5.0])
SAME = 0.25  # two values within a quarter unit are the same setting
SURPRISE_CAP = 10.0  # -log p is capped (p clipped at e^-10): one impossible step must not dominate
FEATURES = {
    "values": (
        "dev", "agree", "nearest", "nearest_x_discrete", "continuous", "siblings", "same_source", "others_off",
        "model_entry", "model_interior", "model_entry_x_discrete",
    ),
    "asset": (
        "transition", "transition_support", "reuse_track", "reuse_all", "repeat_ratio", "repeat_among_one_offs",
        "sync_break", "shown_before", "model_entry", "model_interior",
    ),
    "active": (
        "disabled", "density", "rel_length", "other_gaps", "other_disabled", "covered", "same_take",
        "model_entry", "model_interior",
    ),
}
MODEL_FEATURES = frozenset({"model_entry", "model_interior", "model_entry_x_discrete"})


@dataclass
class Segment:
    track: int
    start: int  # first step
    end: int  # step after the last
    item: Item | None  # the item painted there (may be disabled); None for an empty stretch
    active: bool
    source_index: int
    values: np.ndarray  # (7,) median over the segment, VALUE_FIELDS order
    start_frame: int
    end_frame: int


Explain = Callable[[int], tuple[object, object, str]]  # row -> (current, suggested, reason)


@dataclass
class CandidateSet:
    """One field group's candidates on one track: a row of evidence per (segment, field)."""

    group: str
    features: np.ndarray  # (N, len(FEATURES[group]))
    segments: list[Segment]
    fields: list[str]
    explain: Explain
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class Candidate:
    """A scored candidate with its words, for the rows that make it into the review."""

    field: str
    segment: Segment
    score: float
    current: object
    suggested: object
    reason: str


# --- segments ------------------------------------------------------------------------------


def track_segments(seq: Sequence, feats: SequenceFeatures) -> list[list[Segment]]:
    """Per kept track, its runs of one painted item (or none); disabled tracks give no runs."""
    frames = step_frames(seq, feats.step_seconds)
    per_step = feats.frames_per_step
    duration = seq.duration
    out: list[list[Segment]] = []
    for t, track in enumerate(seq.video_tracks[:N_TRACKS]):
        if not track.enabled or feats.steps == 0:
            out.append([])
            continue
        ids = np.full(feats.steps, -1, np.int64)
        for i, item in enumerate(track.items):
            lo, hi = np.searchsorted(frames, [item.start, item.end], side="left")
            ids[lo:hi] = i
        cells = feats.grid[:, t]
        moved = np.concatenate([[0], np.cumsum(np.any(cells[1:, 2:] != cells[:-1, 2:], axis=1))])
        cuts = np.flatnonzero(np.diff(ids)) + 1
        bounds = [0, *cuts.tolist(), feats.steps]
        segs = []
        for a, b in itertools.pairwise(bounds):
            item = track.items[ids[a]] if ids[a] >= 0 else None
            active = bool(cells[a, 0] > 0.5)
            if not active:
                values = np.zeros(7)
            elif moved[b - 1] == moved[a]:  # constant: most clips
                values = cells[a, 2:].astype(np.float64)
            else:  # keyframed
                values = np.median(cells[a:b, 2:], axis=0).astype(np.float64)
            lo_f = item.start if item is not None else math.ceil(a * per_step)
            hi_f = item.end if item is not None else min(duration, math.ceil(b * per_step))
            segs.append(Segment(t, a, b, item, active, int(feats.source_index[a, t]), values, lo_f, hi_f))
        _snap_empty_segments(segs)
        out.append(segs)
    return out


def _snap_empty_segments(segs: list[Segment]) -> None:
    """An empty stretch spans exactly from the item before it to the item after it."""
    for i, seg in enumerate(segs):
        if seg.item is not None:
            continue
        if i > 0 and segs[i - 1].item is not None:
            seg.start_frame = segs[i - 1].item.end
        if i + 1 < len(segs) and segs[i + 1].item is not None:
            seg.end_frame = segs[i + 1].item.start


# --- model evidence ------------------------------------------------------------------------


def _surprise(p: np.ndarray | float) -> np.ndarray | float:
    if isinstance(p, float):  # np.float64 is a float too
        return -math.log(min(max(p, math.exp(-SURPRISE_CAP)), 1.0))
    return -np.log(np.clip(p, math.exp(-SURPRISE_CAP), 1.0))


def _prefix(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0, dtype=np.float64)])


class ModelEvidence:
    """The predictor's view of each segment: row t of Predictions is about step t+1.

    Interior evidence is the mean over the segment's rows, read from prefix sums; entry
    evidence is the row before the segment, conditioned on the change that happens there (a
    causal predictor does not know that a cut comes at exactly this step, only what it expects
    if one does).
    """

    def __init__(self, preds: Predictions, feats: SequenceFeatures, cite: bool = True) -> None:
        self.preds = preds
        self.feats = feats
        self.cite = cite  # whether explanations may quote the model's guesses
        p_on = preds.p_active.astype(np.float64)
        self.on_cum = _prefix(_surprise(p_on))
        self.off_cum = _prefix(_surprise(1.0 - p_on))
        self.slot_surprise = _surprise(preds.asset_probs.astype(np.float64))  # (T, 20, 10)
        self.slot_cum = _prefix(self.slot_surprise)
        err = np.zeros_like(feats.grid[:, :, 2:], dtype=np.float64)
        err[1:] = np.abs(preds.values[:-1] - feats.grid[1:, :, 2:]) / VALUE_UNITS
        self.err_cum = _prefix(err)  # row t = error of the prediction for step t

    def active(self, seg: Segment) -> tuple[float, float]:
        """Surprise at the track being on (off); at the entry, P(state | change) ~ P(state) / P(change)."""
        cum = self.on_cum if seg.active else self.off_cum
        rows = seg.end - 1 - seg.start
        inner = float(cum[seg.end - 1, seg.track] - cum[seg.start, seg.track]) / rows if rows > 0 else 0.0
        if seg.start == 0:
            return 0.0, inner
        row = seg.start - 1
        p_on = float(self.preds.p_active[row, seg.track])
        p = p_on if seg.active else 1.0 - p_on
        if (self.feats.grid[row, seg.track, 0] > 0.5) == seg.active:
            return float(_surprise(np.float64(p))), inner
        p_change = float(self.preds.p_change[row, seg.track])
        given_change = min(1.0, p / p_change) if p_change > 1e-6 else 0.5  # no view of changes: neutral
        return float(_surprise(np.float64(given_change))), inner

    def assets(self, segs: list[Segment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per shown segment: surprise at its slot at the entry, given that the source changes
        there (the previous slot left out and the rest renormalised; 0 at the sequence's start),
        the mean surprise inside, and the entry's slot probabilities (NaN at the start)."""
        track = np.array([s.track for s in segs], np.int64)
        start = np.array([s.start for s in segs], np.int64)
        end = np.array([s.end for s in segs], np.int64)
        slot = np.minimum([s.source_index for s in segs], MAX_SLOT).astype(np.int64)
        rows = end - 1 - start
        inner = self.slot_cum[end - 1, track, slot] - self.slot_cum[start, track, slot]
        interior = np.where(rows > 0, inner / np.maximum(rows, 1), 0.0)
        before = np.maximum(start - 1, 0)
        probs = self.preds.asset_probs[before, track].astype(np.float64)  # (n, 10)
        prev = self.feats.source_index[before, track]
        left_out = (prev >= 0) & (np.minimum(prev, MAX_SLOT) != slot)
        probs[np.flatnonzero(left_out), np.minimum(prev, MAX_SLOT)[left_out]] = 0.0
        total = probs.sum(axis=1, keepdims=True)
        probs = np.where(total > 1e-9, probs / np.maximum(total, 1e-12), 1.0 / N_SLOTS)
        entry = np.where(start > 0, _surprise(probs[np.arange(len(segs)), slot]), 0.0)
        probs[start == 0] = np.nan
        return entry, interior, probs

    def values(self, segs: list[Segment], values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per segment and value field: entry error, mean interior error (in VALUE_UNITS), and the
        entry guess (NaN where there is none).

        The entry counts only where the predictor expected a change there (p_change >= 0.5):
        otherwise its values for that step are the shot before going on, not a view of this one.
        """
        n = len(segs)
        entry = np.zeros((n, 7))
        interior = np.zeros((n, 7))
        guess = np.full((n, 7), np.nan)
        for i, s in enumerate(segs):
            rows = s.end - 1 - s.start
            if rows > 0:
                interior[i] = (self.err_cum[s.end, s.track] - self.err_cum[s.start + 1, s.track]) / rows
            if s.start > 0 and self.preds.p_change[s.start - 1, s.track] >= 0.5:
                guess[i] = self.preds.values[s.start - 1, s.track]
                entry[i] = np.abs(guess[i] - values[i]) / VALUE_UNITS
        return entry, interior, guess


# --- candidates ----------------------------------------------------------------------------


def candidates(seq: Sequence, feats: SequenceFeatures, preds: Predictions, *, cite_model: bool = True) -> list[CandidateSet]:
    """Every candidate of the sequence. `cite_model` False keeps the model's guesses out of the
    reasons (for a calibration that gives its evidence no weight)."""
    model = ModelEvidence(preds, feats, cite_model)
    segments = track_segments(seq, feats)
    active_anywhere = feats.grid[:, :, 0] > 0.5
    uses = SourceUses(segments)
    out: list[CandidateSet] = []
    for segs in segments:
        on = [s for s in segs if s.active]
        for found in (
            _value_candidates(on, feats, model),
            _asset_candidates(on, uses, feats, model),
            _active_candidates(segs, on, active_anywhere, model),
        ):
            if found is not None:
                out.append(found)
    return out


def _log1p(x: np.ndarray | float) -> np.ndarray | float:
    if isinstance(x, (int, float)):  # per-clip scalars: numpy's call overhead is most of their cost
        return math.log1p(min(max(x, 0.0), 1e6))
    return np.log1p(np.clip(x, 0.0, 1e6))


def _leave_one_out(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each row of x (m, 7), over the other m - 1 rows: their median, the share of them at
    that median, the distance to the nearest one, and the share of them whose value no other of
    them shares (1 = every clip has a setting of its own: no pattern to break)."""
    m = len(x)
    k = m - 1
    tol = VALUE_UNITS * SAME
    order = np.argsort(x, axis=0, kind="stable")
    s = np.take_along_axis(x, order, axis=0)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(m)[:, None].repeat(7, axis=1), axis=0)

    def remaining(j: int) -> np.ndarray:  # the j-th smallest of the others
        idx = np.where(j < rank, j, j + 1)
        return np.take_along_axis(s, idx, axis=0)

    median = remaining((k - 1) // 2) if k % 2 else (remaining(k // 2 - 1) + remaining(k // 2)) / 2
    agree = np.empty((m, 7))
    for f in range(7):
        lo = np.searchsorted(s[:, f], median[:, f] - tol[f], side="left")
        hi = np.searchsorted(s[:, f], median[:, f] + tol[f], side="right")
        agree[:, f] = hi - lo - (np.abs(x[:, f] - median[:, f]) <= tol[f])
    agree /= k
    below = np.take_along_axis(s, np.maximum(rank - 1, 0), axis=0)
    above = np.take_along_axis(s, np.minimum(rank + 1, m - 1), axis=0)
    gap_below = np.where(rank > 0, x - below, np.inf)
    gap_above = np.where(rank < m - 1, above - x, np.inf)
    nearest = np.minimum(gap_below, gap_above) / VALUE_UNITS
    close = np.abs(x[:, None, :] - x[None, :, :]) <= tol  # (m, m, 7)
    idx = np.arange(m)
    close[idx, idx] = False
    counts = close.sum(axis=1)  # (m, 7)
    lonely = (counts[:, None, :] - close) == 0  # [j, i]: j has no match once i is left out
    lonely[idx, idx] = False
    continuous = lonely.sum(axis=0) / k
    return median, agree, nearest, continuous


def _value_candidates(on: list[Segment], feats: SequenceFeatures, model: ModelEvidence) -> CandidateSet | None:
    n = len(on)
    if n < 3:
        return None
    values = np.stack([s.values for s in on])
    keys = np.array([s.source_index for s in on])
    median, agree, nearest, continuous = (np.zeros((n, 7)) for _ in range(4))
    siblings = np.zeros(n)
    same_source = np.zeros(n, bool)
    counts = Counter(keys.tolist())
    pooled = np.array([counts[k] < 3 for k in keys.tolist()])  # fewer than two same-source siblings
    for key in {k for k in keys.tolist() if counts[k] >= 3}:
        members = np.flatnonzero(keys == key)
        median[members], agree[members], nearest[members], continuous[members] = _leave_one_out(values[members])
        siblings[members], same_source[members] = len(members) - 1, True
    if pooled.any():  # compared with all the track's other clips
        stats = _leave_one_out(values)
        for target, stat in zip((median, agree, nearest, continuous), stats):
            target[pooled] = stat[pooled]
        siblings[pooled] = n - 1
    dev = np.abs(values - median) / VALUE_UNITS
    off = nearest >= 1.0  # a layout or zoom change moves several fields at once; a slip, one
    others_off = off.sum(axis=1, keepdims=True) - off
    entry, interior, guess = model.values(on, values)
    ln, me, discrete = _log1p(nearest), _log1p(entry), 1.0 - continuous
    columns = [
        _log1p(dev), agree, ln, ln * discrete, continuous, np.broadcast_to(_log1p(siblings)[:, None], (n, 7)),
        np.broadcast_to(same_source[:, None], (n, 7)).astype(float), _log1p(others_off), me, _log1p(interior),
        me * discrete,
    ]
    features = np.stack(columns, axis=-1).reshape(n * 7, -1)

    def explain(row: int) -> tuple[object, object, str]:
        i, f = divmod(row, 7)
        cited = guess[i, f] if model.cite else np.nan
        return _explain_value(on[i], VALUE_FIELDS[f], values[i, f], median[i, f], agree[i, f], cited,
                              bool(same_source[i]), feats)

    segs = [s for s in on for _ in range(7)]
    return CandidateSet("values", features, segs, list(VALUE_FIELDS) * n, explain)


def _explain_value(seg, name, value, median, agree, guess, same_source, feats) -> tuple[object, object, str]:
    where = f"V{seg.track + 1}"
    whose = f"its other clips of '{feats.sources[seg.source_index].name}'" if same_source else "its other clips"
    current = round(float(value), 4)
    if agree >= 0.5 or np.isnan(guess):
        text = f"{name} {value:g} on {where} where {agree:.0%} of {whose} use {median:g}"
        if not np.isnan(guess):
            text += f"; the model expects {guess:.4g}"
        return current, round(float(median), 4), text
    return current, round(float(guess), 4), f"{name} {value:g} on {where}; the model expects {guess:.4g} at this cut"


class SourceUses:
    """Every shown segment of each source, with what asset evidence asks of them."""

    def __init__(self, segments: list[list[Segment]]) -> None:
        self.segments: dict[int, list[Segment]] = {}
        for segs in segments:
            for s in segs:
                if s.active:
                    self.segments.setdefault(s.source_index, []).append(s)
        offsets = {k: Counter(o for o in map(_offset, v) if o is not None) for k, v in self.segments.items()}
        # Each source's two most used offsets, as (uses, offset): the most used one once a clip
        # leaves itself out is one of them.
        self.top_offsets = {k: sorted(((c, o) for o, c in counts.items()), reverse=True)[:2] for k, counts in offsets.items()}
        self.ranges = {k: np.array([_source_range(s) for s in v], np.int64).reshape(-1, 2) for k, v in self.segments.items()}
        self.items = {k: np.array([id(s.item) for s in v]) for k, v in self.segments.items()}

    def count(self, source: int) -> int:
        return len(self.segments[source])

    def sync_break(self, seg: Segment) -> float:
        """1 when the source is otherwise used in sync (two or more other uses share one offset of
        source to sequence time, as multicam angles do) and this clip is not: a clip swapped in
        keeps the in point of the angle it replaced."""
        mine = _offset(seg)
        if mine is None:
            return 0.0
        others = [(c - (o == mine), o) for c, o in self.top_offsets[seg.source_index]]
        uses, offset = max(others)
        return float(uses >= 2 and abs(offset - mine) > 1)

    def shown_before(self, seg: Segment) -> float:
        """The share of this clip's source frames that another clip of the edit shows too."""
        if seg.item is None or seg.item.source.kind not in ("file", "sequence"):
            return 0.0
        lo, hi = _source_range(seg)
        ranges = self.ranges[seg.source_index]
        overlap = np.minimum(hi, ranges[:, 1]) - np.maximum(lo, ranges[:, 0])
        overlap[self.items[seg.source_index] == id(seg.item)] = 0  # its own item, maybe split in two
        return max(0, int(overlap.max(initial=0))) / max(1, hi - lo)


def _offset(seg: Segment) -> int | None:
    return None if seg.item is None else seg.item.in_frame - seg.item.start


def _source_range(seg: Segment) -> tuple[int, int]:
    if seg.item is None:
        return (0, 0)
    return seg.item.in_frame, seg.item.in_frame + (seg.item.end - seg.item.start)


def _asset_candidates(on: list[Segment], uses: SourceUses, feats: SequenceFeatures, model: ModelEvidence) -> CandidateSet | None:
    if len(on) < 3:
        return None
    srcs = [s.source_index for s in on]
    transitions: dict[int, Counter] = {}
    for a, b in itertools.pairwise(srcs):
        transitions.setdefault(a, Counter())[b] += 1
    totals = {a: sum(c.values()) for a, c in transitions.items()}
    distinct = Counter(srcs)
    rows, segs, entries = [], [], []
    entry_s, interior_s, entry_probs = model.assets(on[1:])
    for i, seg in enumerate(on[1:], start=1):
        prev, src = srcs[i - 1], seg.source_index
        # Leave this transition out: how does the track go on from `prev` elsewhere?
        same, n_followers = transitions[prev][src] - 1, totals[prev] - 1
        reuse_track = distinct[src] - 1
        reuse_all = uses.count(src) - 1
        # How repetitive the track is without this clip: a repeat on a track of one-offs stands out.
        repeats = 1.0 - (len(distinct) - (reuse_track == 0)) / max(1, len(srcs) - 1)
        entry, interior, probs = entry_s[i - 1], interior_s[i - 1], entry_probs[i - 1]
        probs = None if seg.start == 0 else probs
        rows.append([(same + 0.5) / (n_followers + 1.0), _log1p(n_followers), _log1p(reuse_track), _log1p(reuse_all),
                     repeats, float(reuse_all > 0) * (1.0 - repeats), uses.sync_break(seg), uses.shown_before(seg),
                     entry / SURPRISE_CAP, interior / SURPRISE_CAP])
        segs.append(seg)
        entries.append((prev, probs))

    def explain(row: int) -> tuple[object, object, str]:
        seg = segs[row]
        prev, probs = entries[row]
        followers = transitions[prev].copy()
        followers[seg.source_index] -= 1
        current = source_json(feats.sources[seg.source_index], min(seg.source_index, MAX_SLOT))
        return (current, *_asset_suggestion(seg, prev, followers, probs if model.cite else None, feats, rows[row]))

    return CandidateSet("asset", np.asarray(rows, np.float64), segs, ["asset"] * len(segs), explain)


def _asset_suggestion(seg, prev, followers: Counter, probs, feats, evidence: list[float]) -> tuple[dict | None, str]:
    name = feats.sources[seg.source_index].name
    before = feats.sources[prev].name
    where = f"V{seg.track + 1}"
    total = sum(followers.values())
    if total > 0:
        best = max(followers, key=lambda b: (followers[b], -b))
        if best != seg.source_index and followers[best] > 0:
            share = f"{followers[best]} of {total} times"
            text = f"'{name}' on {where} breaks the track's pattern: after '{before}' it goes to '{feats.sources[best].name}' ({share})"
            return source_json(feats.sources[best], min(best, MAX_SLOT)), text
    if probs is not None:
        slot = int(np.argmax(probs))
        source = feats.sources[slot] if slot < min(MAX_SLOT, len(feats.sources)) else None
        label = f"'{source.name}'" if source else "another source"
        return source_json(source, slot), f"'{name}' on {where} after '{before}'; the model expects {label} here ({probs[slot]:.0%})"
    return None, f"'{name}' on {where} after '{before}': {_asset_evidence(evidence)}"


def _asset_evidence(row: list[float]) -> str:
    named = dict(zip(FEATURES["asset"], row))
    if named["sync_break"]:
        return "out of sync with the source's other clips (a swapped angle?)"
    if named["shown_before"] >= 0.5:
        return f"{named['shown_before']:.0%} of its frames are already shown by another clip"
    if named["repeat_among_one_offs"] >= 0.5:
        return "a source used again on a track that otherwise never repeats one"
    return "a source this track does not go to from there"


def _active_candidates(segs: list[Segment], on: list[Segment], active_anywhere: np.ndarray, model: ModelEvidence) -> CandidateSet | None:
    if len(on) < 2:
        return None
    first, last = on[0].start, on[-1].end
    span = last - first
    off = [s for s in segs if not s.active and (first < s.start and s.end < last or (s.item is not None and not s.item.enabled))]
    if not off:
        return None
    active_steps = sum(s.end - s.start for s in on)
    gap_lengths = [s.end - s.start for s in off]
    disabled_count = sum(1 for s in off if s.item is not None and not s.item.enabled)
    rows = []
    for i, seg in enumerate(off):
        length = seg.end - seg.start
        others = gap_lengths[:i] + gap_lengths[i + 1 :]
        rel_length = math.log(length / float(np.median(others))) if others else math.log(length)
        disabled = seg.item is not None and not seg.item.enabled
        density = active_steps / max(1, span - length)
        tracks_on = np.delete(active_anywhere[seg.start : seg.end], seg.track, axis=1).any(axis=1)
        entry, interior = model.active(seg)
        rows.append([float(disabled), min(1.0, density), rel_length, _log1p(len(others)),
                     _log1p(disabled_count - int(disabled)), float(tracks_on.mean()), float(_same_take(seg, on)),
                     entry / SURPRISE_CAP, interior / SURPRISE_CAP])

    def explain(row: int) -> tuple[object, object, str]:
        seg = off[row]
        where = f"V{seg.track + 1}"
        if seg.item is not None and not seg.item.enabled:
            return 0, 1, f"clip '{seg.item.name or seg.item.source.name}' is disabled among {len(on)} enabled clips on {where}"
        density = min(1.0, active_steps / max(1, span - (seg.end - seg.start)))
        frames = seg.end_frame - seg.start_frame
        return 0, 1, f"{where} is empty here ({frames} frames) while it covers {density:.0%} of the stretch around it"

    return CandidateSet("active", np.asarray(rows, np.float64), off, ["active"] * len(off), explain)


def _same_take(seg: Segment, on: list[Segment]) -> bool:
    """The clips around the stretch are one take running on through it (same source, in sync)."""
    before = next((s for s in reversed(on) if s.end <= seg.start), None)
    after = next((s for s in on if s.start >= seg.end), None)
    if before is None or after is None or before.item is None or after.item is None:
        return False
    a, b = before.item, after.item
    return a.source.key == b.source.key and b.in_frame - a.in_frame == b.start - a.start


# --- calibration and scoring ---------------------------------------------------------------


@dataclass
class Calibration:
    weights: dict[str, np.ndarray]
    bias: dict[str, float]
    threshold: float
    source: str  # where it came from, for reports

    @staticmethod
    def from_json(doc: dict, source: str) -> Calibration:
        if doc.get("schema") != CALIBRATION_SCHEMA:
            raise ValueError(f"{source}: not a review calibration ({doc.get('schema')!r})")
        for group in GROUPS:
            if list(doc["features"][group]) != list(FEATURES[group]):
                raise ValueError(f"{source}: calibration features for {group} differ from this version's")
        return Calibration(
            weights={g: np.asarray(doc["weights"][g], np.float64) for g in GROUPS},
            bias={g: float(doc["bias"][g]) for g in GROUPS},
            threshold=float(doc["threshold"]),
            source=source,
        )

    @property
    def uses_model(self) -> bool:
        return any(w != 0 for g in GROUPS for name, w in zip(FEATURES[g], self.weights[g]) if name in MODEL_FEATURES)

    def score(self, sets: list[CandidateSet]) -> None:
        for cs in sets:
            z = cs.features @ self.weights[cs.group] + self.bias[cs.group]
            cs.scores = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def bundled_calibrations() -> list[dict]:
    if not CALIBRATION_FILE.exists():
        return []
    return json.loads(CALIBRATION_FILE.read_text())["calibrations"]


def calibration_for(predictor: Predictor) -> Calibration:
    """The predictor's own calibration (its checkpoint JSON's `review_thresholds`), else the
    bundled one fitted for this predictor (by sha256, else by name), else the bundled
    pattern-only one, fitted without the model's evidence so that it fits any predictor."""
    own = getattr(predictor, "review_thresholds", None)
    if own:
        return Calibration.from_json(own, f"{predictor.name} checkpoint")
    docs = bundled_calibrations()
    sha = getattr(predictor, "sha256", "")
    for doc in docs:
        if sha and doc["predictor"].get("sha256") == sha:
            return Calibration.from_json(doc, f"bundled ({doc['predictor']['name']})")
    for doc in docs:
        if doc["predictor"].get("name") == predictor.name and not doc["predictor"].get("sha256"):
            return Calibration.from_json(doc, f"bundled ({predictor.name})")
    for doc in docs:
        if doc.get("fallback"):
            return Calibration.from_json(doc, "bundled (pattern only)")
    raise FileNotFoundError(f"no review calibration for predictor {predictor.name!r} and no fallback in {CALIBRATION_FILE}")


def review_sequence(
    seq: Sequence,
    feats: SequenceFeatures,
    preds: Predictions,
    predictor: Predictor,
    max_review: int,
    calibration: Calibration | None = None,
) -> list[ReviewItem]:
    cal = calibration or calibration_for(predictor)
    sets = candidates(seq, feats, preds, cite_model=cal.uses_model)
    cal.score(sets)
    return select(sets, cal.threshold, max_review)


def select(sets: list[CandidateSet], threshold: float, max_review: int) -> list[ReviewItem]:
    """The candidates at or above the threshold, merged and ranked, at most max_review."""
    kept = []
    for cs in sets:
        for row in np.flatnonzero(cs.scores >= threshold):
            current, suggested, reason = cs.explain(int(row))
            kept.append(Candidate(cs.fields[row], cs.segments[row], float(cs.scores[row]), current, suggested, reason))
    items = merge_runs(kept)
    items.sort(key=lambda r: (-r.confidence, r.start_frame, r.track))
    return items[:max_review]


def merge_runs(cands: list[Candidate]) -> list[ReviewItem]:
    """Adjacent flagged segments of one track and field with the same suggestion become one item."""
    cands = sorted(cands, key=lambda c: (c.segment.track, c.field, c.segment.start))
    items: list[ReviewItem] = []
    last: Candidate | None = None
    for c in cands:
        s = c.segment
        if (
            last is not None
            and last.segment.track == s.track
            and last.field == c.field
            and last.segment.end == s.start
            and last.suggested == c.suggested
        ):
            prev = items[-1]
            items[-1] = ReviewItem(
                prev.track, prev.start_frame, s.end_frame, prev.field, prev.current, prev.suggested,
                max(prev.confidence, c.score), prev.reason if prev.confidence >= c.score else c.reason,
            )
        else:
            items.append(ReviewItem(s.track, s.start_frame, s.end_frame, c.field, c.current, c.suggested, c.score, c.reason))
        last = c
    return items
