"""Review: where the visible picture departs from the edit's own patterns, said as an editor would.

The unit of review is a segment: a run of steps on one track showing one item (a clip, a
disabled clip) or nothing (`model.suggest.review_segments`). Every segment is a candidate for the
fields it can be wrong in:
- `active`: an empty stretch inside an A-roll (or dense B-roll) track where the picture goes
  black, or a disabled clip among enabled ones;
- `asset`: the source of a clip, where the track otherwise goes from the clip before to another;
- `scale`, `pos_x`, `pos_y`, `crop_*`: the clip's framing, where other clips of the same source
  (or the track's clips) share one.
Checks of their own (`model.suggest.review_checks`) add gaps of a few frames between clips that
otherwise touch, the same media shown twice, and a source smaller than the frame at 100 %.

Evidence comes from the edit's own patterns, leave-one-out, and from the predictor's surprise
(`model.suggest.review_model`). A logistic model per group turns it into a probability, fitted on
real exports and synthetic timelines with planted slips (`model.suggest.review_eval`). An item is
made only where the pattern it breaks has at least MIN_SUPPORT other occurrences, the count goes in
the reason, and no reason contradicts itself (`model.suggest.review_words`).

Track roles (`model.suggest.roles`) decide what is reviewed: a copied track speaks through its
original (one item for the pair), a reference master laid over the whole sequence gets one item
saying it hides everything below, overlay tracks get no "empty" items. Visibility
(`model.suggest.visibility`) says when a flagged clip is hidden under another track's picture:
the reason says so and the item ranks below what the viewer sees.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from model.features.grid import MAX_SLOT, SequenceFeatures
from model.inference.predictor import VALUE_FIELDS, Predictions, Predictor
from model.suggest.items import ReviewItem, source_json
from model.suggest.review_calibration import (  # noqa: F401  (re-exported: review_eval and tests use them here)
    CALIBRATION_FILE,
    CALIBRATION_SCHEMA,
    FEATURES,
    GROUPS,
    MODEL_FEATURES,
    Calibration,
    bundled_calibrations,
    calibration_for,
)
from model.suggest.review_checks import MAX_GAP_SECONDS, check_candidates
from model.suggest.review_context import CandidateSet, ReviewContext, review_context
from model.suggest.review_model import SURPRISE_CAP, ModelEvidence
from model.suggest.review_segments import SAME, VALUE_UNITS, Segment, SourceUses, track_segments
from model.suggest.review_words import (
    MIN_SUPPORT,
    contradiction,
    number,
    other_value_phrase,
    place,
    track_name,
    value_phrase,
)
from model.suggest.roles import TrackRole
from model.suggest.visibility import Pictures
from model.timeline.types import Sequence

HIDDEN_FACTOR = 0.5  # a hidden clip's item ranks below what the viewer sees
HOLE_SHARE = 0.5  # of an empty stretch where nothing fills the picture: black on screen
REFERENCE_CONFIDENCE = 0.95

@dataclass
class Candidate:
    """A scored candidate with its words, for the rows that make it into the review."""

    field: str
    segment: Segment
    score: float
    current: object
    suggested: object
    reason: str


# --- candidates ----------------------------------------------------------------------------


def candidates(seq: Sequence, feats: SequenceFeatures, preds: Predictions, *, cite_model: bool = True,
               context: ReviewContext | None = None) -> list[CandidateSet]:
    """Every candidate of the sequence. `cite_model` is kept for callers; reasons quote the edit's
    own patterns only (the model's evidence weighs in the score)."""
    ctx = context or review_context(seq, feats)
    model = ModelEvidence(preds, feats, cite_model)
    segments = track_segments(seq, feats)
    uses = SourceUses(segments)
    out: list[CandidateSet] = []
    for t, segs in enumerate(segments):
        role = ctx.roles[t] if t < len(ctx.roles) else None
        if role is None or not role.reviewed:
            continue
        on = [s for s in segs if s.active]
        for found in (
            _value_candidates(on, ctx, model),
            _asset_candidates(on, uses, ctx, model),
            _active_candidates(segs, on, ctx, model),
        ):
            if found is not None:
                out.append(found)
    out.extend(check_candidates(ctx))
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


def _value_candidates(on: list[Segment], ctx: ReviewContext, model: ModelEvidence) -> CandidateSet | None:
    n = len(on)
    if n < 3:
        return None
    feats = ctx.feats
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
    entry, interior, _ = model.values(on, values)
    ln, me, discrete = _log1p(nearest), _log1p(entry), 1.0 - continuous
    columns = [
        _log1p(dev), agree, ln, ln * discrete, continuous, np.broadcast_to(_log1p(siblings)[:, None], (n, 7)),
        np.broadcast_to(same_source[:, None], (n, 7)).astype(float), _log1p(others_off), me, _log1p(interior),
        me * discrete,
    ]
    features = np.stack(columns, axis=-1).reshape(n * 7, -1)
    support = np.rint(agree * siblings[:, None])  # the other clips at the pattern's value
    allowed = (support >= MIN_SUPPORT) & (dev > SAME)
    if ctx.roles[on[0].track].role == "overlay":  # graphics sit where each needs to: only a source's own habit counts
        allowed &= same_source[:, None]
    allowed = allowed.reshape(-1)

    def explain(row: int) -> tuple[object, object, str]:
        i, f = divmod(row, 7)
        seg, name = on[i], VALUE_FIELDS[f]
        value, usual, k = float(values[i, f]), float(median[i, f]), int(support[i, f])
        if same_source[i]:
            src = feats.sources[seg.source_index].name
            usual_text = other_value_phrase(name, usual, ctx.seq)
            rest = f"the same source is {usual_text} the {k} other times on {track_name(seg.track)}"
            if k < siblings[i]:
                rest = f"the same source is {usual_text} in {k} of its {int(siblings[i])} other clips on {track_name(seg.track)}"
            where = place(ctx.seq, seg.track, seg.start_frame)
            text = f"{where}: this clip of '{src}' is {value_phrase(name, value, ctx.seq)} where {rest}"
        else:
            text = (f"{place(ctx.seq, seg.track, seg.start_frame)}: this clip is {value_phrase(name, value, ctx.seq)} where {k} of the "
                    f"track's {int(siblings[i])} other clips are {other_value_phrase(name, usual, ctx.seq)}")
        return round(value, 4), round(usual, 4), text + ctx.notes(seg)

    segs = [s for s in on for _ in range(7)]
    return CandidateSet("values", features, segs, list(VALUE_FIELDS) * n, explain, allowed)


def _asset_candidates(on: list[Segment], uses: SourceUses, ctx: ReviewContext, model: ModelEvidence) -> CandidateSet | None:
    """Which source comes next is a pattern of picture tracks; on overlay tracks titles and
    graphics follow the content (a scene counter, a score split in pieces), not a habit."""
    if len(on) < 3 or ctx.roles[on[0].track].role == "overlay":
        return None
    feats = ctx.feats
    srcs = [s.source_index for s in on]
    # How the track goes on from each source to another; a clip continuing its source is no cut.
    transitions: dict[int, Counter] = {}
    for a, b in itertools.pairwise(srcs):
        if a != b:
            transitions.setdefault(a, Counter())[b] += 1
    totals = {a: sum(c.values()) for a, c in transitions.items()}
    distinct = Counter(srcs)
    rows, segs, prevs, allowed, patterns = [], [], [], [], []
    entry_s, interior_s, _ = model.assets(on[1:])
    for i, seg in enumerate(on[1:], start=1):
        prev, src = srcs[i - 1], seg.source_index
        if prev == src:
            continue  # never an item for going on with the same source
        # Leave this transition out: how does the track go on from `prev` elsewhere?
        followers = transitions[prev].copy()
        followers[src] -= 1
        same, n_followers = followers[src], totals[prev] - 1
        best = max(followers, key=lambda b: (followers[b], -b)) if n_followers > 0 else -1
        best_count = followers[best] if best >= 0 else 0
        sync = uses.sync_break(seg)
        reuse_track = distinct[src] - 1
        reuse_all = uses.count(src) - 1
        repeats = 1.0 - (len(distinct) - (reuse_track == 0)) / max(1, len(srcs) - 1)
        entry, interior = entry_s[i - 1], interior_s[i - 1]
        rows.append([(same + 0.5) / (n_followers + 1.0), _log1p(n_followers), _log1p(reuse_track), _log1p(reuse_all),
                     repeats, float(reuse_all > 0) * (1.0 - repeats), sync, uses.shown_before(seg),
                     entry / SURPRISE_CAP, interior / SURPRISE_CAP])
        pattern = best >= 0 and best != src and best_count >= MIN_SUPPORT
        in_sync = uses.in_sync_count(seg) if sync else 0
        allowed.append(pattern or in_sync >= MIN_SUPPORT)
        patterns.append((best, best_count, n_followers, in_sync))
        segs.append(seg)
        prevs.append(prev)
    if not rows:
        return None

    def explain(row: int) -> tuple[object, object, str]:
        seg, prev = segs[row], prevs[row]
        best, best_count, n_followers, in_sync = patterns[row]
        name, before = feats.sources[seg.source_index].name, feats.sources[prev].name
        current = source_json(feats.sources[seg.source_index], min(seg.source_index, MAX_SLOT))
        where = place(ctx.seq, seg.track, seg.start_frame)
        if best >= 0 and best != seg.source_index and best_count >= MIN_SUPPORT:
            other = feats.sources[best].name
            how = f"the {best_count} other times" if best_count == n_followers else f"in {best_count} of the {n_followers} other cuts from it"
            text = f"{where}: '{name}' follows '{before}', where the track goes from '{before}' to '{other}' {how}"
            return current, source_json(feats.sources[best], min(best, MAX_SLOT)), text + ctx.notes(seg)
        text = (f"{where}: '{name}' is out of sync with its {in_sync} other clips, which all show it at one offset "
                "from the sequence (a swapped angle?)")
        return current, None, text + ctx.notes(seg)

    return CandidateSet("asset", np.asarray(rows, np.float64), segs, ["asset"] * len(segs), explain, np.array(allowed))


def _active_candidates(segs: list[Segment], on: list[Segment], ctx: ReviewContext, model: ModelEvidence) -> CandidateSet | None:
    if len(on) < 2:
        return None
    track = on[0].track
    role = ctx.roles[track]
    first, last = on[0].start, on[-1].end
    span = last - first
    disabled_segs = [s for s in segs if not s.active and s.item is not None and not s.item.enabled]
    # Empty stretches of a few frames are the gap check's (model.suggest.review_checks).
    shortest = max(1, round(MAX_GAP_SECONDS * float(ctx.seq.rate.fps)))
    empty = [s for s in segs if not s.active and s.item is None and first < s.start and s.end < last
             and s.end_frame - s.start_frame > shortest] if role.gaps_matter else []
    off = sorted(disabled_segs + empty, key=lambda s: s.start)
    if not off:
        return None
    active_anywhere = ctx.feats.grid[:, :, 0] > 0.5
    active_steps = sum(s.end - s.start for s in on)
    gap_lengths = [s.end - s.start for s in off]
    disabled_count = len(disabled_segs)
    rows, allowed = [], []
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
        hole = float(ctx.vis.hole[seg.start : seg.end].mean()) if seg.end > seg.start else 0.0
        allowed.append(len(on) >= MIN_SUPPORT and (disabled or hole >= HOLE_SHARE))

    def explain(row: int) -> tuple[object, object, str]:
        seg = off[row]
        where = place(ctx.seq, seg.track, seg.start_frame)
        if seg.item is not None and not seg.item.enabled:
            name = seg.item.name or seg.item.source.name
            return 0, 1, f"{where}: clip '{name}' is disabled among {len(on)} enabled clips on {track_name(seg.track)}" + ctx.notes(seg)
        density = min(1.0, active_steps / max(1, span - (seg.end - seg.start)))
        seconds = (seg.end_frame - seg.start_frame) / float(ctx.seq.rate.fps)
        return 0, 1, (f"{where}: {number(seconds)} s with nothing on {track_name(seg.track)} and no other track filling the "
                      f"picture, where {track_name(seg.track)} covers {density:.0%} of the stretch around it "
                      f"({len(on)} clips)")

    return CandidateSet("active", np.asarray(rows, np.float64), off, ["active"] * len(off), explain, np.array(allowed))


def _same_take(seg: Segment, on: list[Segment]) -> bool:
    """The clips around the stretch are one take running on through it (same source, in sync)."""
    before = next((s for s in reversed(on) if s.end <= seg.start), None)
    after = next((s for s in on if s.start >= seg.end), None)
    if before is None or after is None or before.item is None or after.item is None:
        return False
    a, b = before.item, after.item
    return a.source.key == b.source.key and b.in_frame - a.in_frame == b.start - a.start


# --- scoring and selection -----------------------------------------------------------------


def score(cal: Calibration, sets: list[CandidateSet]) -> None:
    """The calibrated probability of every row; rows without the support an editor would accept
    score 0, and so do a hidden clip's at half (it ranks below what the viewer sees)."""
    cal.score(sets)
    for cs in sets:
        if cs.allowed is not None and len(cs.scores):
            cs.scores = np.where(cs.allowed, cs.scores, 0.0)


def review_sequence(
    seq: Sequence,
    feats: SequenceFeatures,
    preds: Predictions,
    predictor: Predictor,
    max_review: int,
    calibration: Calibration | None = None,
    roles: list[TrackRole] | None = None,
    pictures: Pictures | None = None,
) -> list[ReviewItem]:
    """The review of one sequence; `roles` and `pictures` as the caller has worked them out."""
    cal = calibration or calibration_for(predictor)
    ctx = review_context(seq, feats, roles, pictures)
    sets = candidates(seq, feats, preds, cite_model=cal.uses_model, context=ctx)
    score(cal, sets)
    references = reference_items(ctx)[:max_review]
    return references + select(sets, cal.threshold, max_review - len(references), ctx)


def reference_items(ctx: ReviewContext) -> list[ReviewItem]:
    """One item per reference track: it hides everything below it, nothing else is said of it."""
    out = []
    for t, role in enumerate(ctx.roles):
        if role.role != "reference":
            continue
        item = max((it for it in ctx.seq.video_tracks[t].items if it.enabled), key=lambda it: it.end - it.start)
        below = [u for u in range(t) if ctx.roles[u].role != "empty"]
        tracks = ", ".join(track_name(u) for u in below)
        reason = (f"{place(ctx.seq, t, item.start)}: '{item.name or item.source.name}' runs the whole sequence, opaque and "
                  f"full-frame, so it hides everything below it ({tracks}); a reference left on?")
        out.append(ReviewItem(t, item.start, item.end, "active", 1, 0, REFERENCE_CONFIDENCE, reason))
    return out


def select(sets: list[CandidateSet], threshold: float, max_review: int, ctx: ReviewContext | None = None) -> list[ReviewItem]:
    """The candidates at or above the threshold, merged and ranked, at most max_review. A hidden
    clip's item counts at HIDDEN_FACTOR of its probability (the viewer does not see it: it needs
    that much more evidence, and ranks below what is seen); a self-contradicting one is dropped."""
    kept = []
    for cs in sets:
        for row in np.flatnonzero(cs.scores >= threshold):
            seg = cs.segments[row]
            rank = float(cs.scores[row])
            if ctx is not None and ctx.hidden_by(seg) >= 0:
                rank *= HIDDEN_FACTOR
                if rank < threshold:
                    continue
            current, suggested, reason = cs.words_of(int(row))
            if contradiction(reason, current, suggested) is not None:
                continue
            kept.append(Candidate(cs.fields[row], seg, rank, current, suggested, reason))
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
