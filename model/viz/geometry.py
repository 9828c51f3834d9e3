"""What a timeline picture shows, as plain rectangles: computed without matplotlib.

`timeline_geometry` lays a sequence out on a time axis in seconds, one lane per used video track
(lane 0 = the lowest track, as in an editor): the clips coloured by source, with the part of the
frame each one covers; under every lane a strip of the predictor's teacher-forced guess for each
step (row t of `predict()` guesses step t+1) with its disagreements with the actual edit (a guess
that matches neither the step nor the one before it: simply not foreseeing a cut is no
disagreement); the review suggestions, and the next and fill segments. `model.viz.render` draws it;
tests check it.

Colours follow the model's slot order (first use in the edit), so the same timeline always gets
the same colours and a predicted slot is drawn in the colour of the source it names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS, SequenceFeatures
from model.inference.predictor import Predictions
from model.suggest.continuation import empty_stretches
from model.suggest.items import ClipSuggestion, SequenceSuggestions
from model.suggest.review import VALUE_UNITS  # what a visible difference is, per value field
from model.timeline.timecode import frames_to_timecode, timecode_to_frames, uses_drop_frame
from model.timeline.types import Item, Sequence, Source

KINDS = ("clip", "prediction", "disagreement", "review", "next", "fill", "gap")
# Strong qualitative colours first (no red: red is for review and disagreement, no grey: grey is
# for a predicted source the timeline cannot name); then lighter and darker ones.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#f7b6d2", "#dbdb8d", "#9edae5",
    "#393b79", "#637939", "#8c6d31", "#7b4173", "#5254a3", "#8ca252", "#bd9e39", "#a55194",
)
UNKNOWN_COLOUR = "#9e9e9e"  # a predicted "later source" (slot 9) that the timeline cannot name
ONCE_COLOUR = "#c8bca6"  # a long programme's sources used in one clip only: named on the clip, not coloured apart
CONFLICT_S = 300.0  # a palette colour comes back only for sources this far apart (a page of rows)
DISABLED_COLOUR = "#d0d0d0"
REVIEW_COLOUR = "#d62728"
GAP_COLOUR = "#fdf3d6"
SURE_LEVELS = (0.6, 0.9)  # the strip is drawn paler where the model is less sure of its guess
SURE_ALPHA = (0.3, 0.6, 1.0)
MIN_PREDICTED_LANE_S = 1.0  # a track used only by the prediction gets a lane when on this long


@dataclass(frozen=True)
class Box:
    """The part of the frame a clip covers: fractions of the frame, origin top-left."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def empty(self) -> bool:
        return self.right <= self.left or self.bottom <= self.top


@dataclass(frozen=True)
class Rect:
    """One rectangle of the picture: on `lane`, from `x0` to `x1` seconds after the sequence start."""

    kind: str  # one of KINDS
    lane: int  # index into Geometry.lanes; -1 = across all lanes (gap)
    x0: float
    x1: float
    colour: str  # hex
    label: str = ""  # clip or source name; review: its number
    source_key: str | None = None
    frame: Box | None = None  # clip, next, fill: the visible part of the frame
    transformed: bool = False  # scale, position or crop other than the identity (or keyframed)
    scale: float = 100.0  # clip, next, fill: percent (at the middle of the clip)
    enabled: bool = True
    reason: str = ""  # review: why
    field: str = ""  # review: which of the feature fields
    span: str = ""  # review, next, fill: its start and end timecodes
    confidence: float | None = None
    opacity: float = 100.0  # clip: percent (at the middle of the clip); a see-through clip is drawn see-through
    mark: str = ""  # review, next, fill: "R1", "N1", "F1": the kind's letter and the item's place in the sidecar's list
    source_in: int | None = None  # next, fill: the media's frames shown (the sidecar's source_in/source_out)
    source_out: int | None = None


@dataclass(frozen=True)
class Lane:
    track: int  # 0-based video track (V1 = 0)
    enabled: bool = True

    @property
    def label(self) -> str:
        return f"V{self.track + 1}" if self.enabled else f"V{self.track + 1} (off)"


@dataclass(frozen=True)
class Zoom:
    """A strip of the picture from `x0` to `x1` seconds, around the suggestions it names."""

    x0: float
    x1: float
    title: str
    ticks: list[tuple[float, str]]


ZOOM_AFTER_S = 300.0  # programmes longer than this get zoomed strips: a 1,600-pixel overview is a bar code
ZOOM_HALF_S = 15.0  # seconds shown either side of a suggestion
MAX_ZOOMS = 12
ROW_S = 60.0  # pages: a row of lanes per minute (24 px a second: a 4-second shot shows its name)
MARK_ORDER = {"R": 0, "N": 1, "F": 2}  # zooms go to review items first, then next, then fill


@dataclass(frozen=True)
class LegendEntry:
    colour: str
    name: str  # the clip name as in the timeline (the one most of the source's clips carry)
    clips: int
    file: str = ""  # the media's own name, when it differs from the clip name
    also: tuple[str, ...] = ()  # the source's other clip names
    group: bool = False  # the one entry for all sources used once (ONCE_COLOUR)
    keys: tuple[str, ...] = ()  # the source keys it stands for


@dataclass
class Geometry:
    title: str
    subtitle: str
    duration_s: float  # the sequence's end
    extent_s: float  # the end of the picture (next segments included)
    frame_size: tuple[int, int]
    lanes: list[Lane]
    rects: list[Rect] = field(default_factory=list)
    legend: list[LegendEntry] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (seconds, timecode)
    colours: dict[str, str] = field(default_factory=dict)  # source key -> colour
    zooms: list[Zoom] = field(default_factory=list)  # long programmes: strips around the suggestions
    rows: list[Zoom] = field(default_factory=list)  # the whole programme in rows of equal length, for pages

    def of_kind(self, kind: str) -> list[Rect]:
        return [r for r in self.rects if r.kind == kind]

    def lane_of(self, track: int) -> int:
        return next(i for i, lane in enumerate(self.lanes) if lane.track == track)


def source_colours(feats: SequenceFeatures, seq: Sequence) -> dict[str, str]:
    """A colour per source that never repeats confusingly.

    Up to len(PALETTE) sources: one palette colour each, in the model's slot order (first use).
    More (a long programme has 100-300): a source used once (a clip, or touching pieces of one
    on a track) gets ONCE_COLOUR, since its name on the clip says more than a colour could;
    repeated sources get palette colours, the most used first, each the colour whose other
    sources are farthest away in time (at least CONFLICT_S when the palette allows)."""
    keys = [s.key for s in feats.sources]
    seen = set(keys)
    uses: dict[str, list[tuple[float, float]]] = {}
    fps = seq.rate.fps
    for track in seq.video_tracks[:N_TRACKS]:
        last_end: dict[str, int] = {}
        for item in sorted(track.items, key=lambda it: it.start):
            key = item.source.key
            spans = uses.setdefault(key, [])
            if last_end.get(key) == item.start and spans:  # the same shot cut in two: one use
                spans[-1] = (spans[-1][0], float(item.end / fps))
            else:
                spans.append((float(item.start / fps), float(item.end / fps)))
            last_end[key] = item.end
            if key not in seen:
                seen.add(key)
                keys.append(key)
    if len(keys) <= len(PALETTE):
        return {key: PALETTE[i] for i, key in enumerate(keys)}
    repeated = sorted((k for k in keys if len(uses.get(k, ())) > 1), key=lambda k: (-len(uses[k]), keys.index(k)))
    colours = dict.fromkeys(keys, ONCE_COLOUR)
    colours.update(_spread_colours(repeated, uses))
    return colours


def _spread_colours(keys: list[str], uses: dict[str, list[tuple[float, float]]]) -> dict[str, str]:
    """Greedy, in `keys` order: each source takes the first palette colour whose sources so far
    are all CONFLICT_S or more from its clips, else the colour whose nearest such source is
    farthest away."""
    spans_of: dict[str, np.ndarray] = {c: np.empty((0, 2)) for c in PALETTE}  # colour -> its sources' clips
    out = {}
    for key in keys:
        mine = np.asarray(uses[key])
        best, best_gap = PALETTE[0], -1.0
        for colour in PALETTE:
            theirs = spans_of[colour]
            gap = _nearest_gap(mine, theirs) if len(theirs) else math.inf
            if gap >= CONFLICT_S:
                best = colour
                break
            if gap > best_gap:
                best, best_gap = colour, gap
        out[key] = best
        spans_of[best] = np.concatenate([spans_of[best], mine])
    return out


def _nearest_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The shortest time between a clip of `a` and one of `b` ((start, end) rows; 0 when they overlap)."""
    gaps = np.maximum(0.0, np.maximum(b[None, :, 0] - a[:, None, 1], a[:, None, 0] - b[None, :, 1]))
    return float(gaps.min())


def visible_box(frame_size: tuple[int, int], source: Source | None, values) -> Box:
    """Where a clip's cropped, scaled, moved image lands in the frame (docs/features.md units).

    `values` = scale (percent), pos_x, pos_y (fractions of the source image, from the frame
    centre, +y down), crop left/right/top/bottom (percent of the source image); the source size
    defaults to the frame's.
    """
    fw, fh = frame_size
    sw = (source.width if source is not None and source.width else None) or fw
    sh = (source.height if source is not None and source.height else None) or fh
    scale, pos_x, pos_y, crop_l, crop_r, crop_t, crop_b = (float(v) for v in values)
    k = max(scale, 0.0) / 100.0
    cx, cy = pos_x * sw, pos_y * sh
    half_w, half_h = k * sw / 2, k * sh / 2
    left = cx - half_w + crop_l / 100.0 * k * sw
    right = cx + half_w - crop_r / 100.0 * k * sw
    top = cy - half_h + crop_t / 100.0 * k * sh
    bottom = cy + half_h - crop_b / 100.0 * k * sh
    return Box(
        left=_clamp(left / fw + 0.5),
        top=_clamp(top / fh + 0.5),
        right=_clamp(right / fw + 0.5),
        bottom=_clamp(bottom / fh + 0.5),
    )


def _clamp(v: float) -> float:
    return min(1.0, max(0.0, v))


def display_name(source: Source) -> str:
    """The source's name, else the last part of its path or key (some readers leave names empty)."""
    if source.name:
        return source.name
    text = (source.path or source.key).rstrip("/")
    if "/" in text:
        return text.rsplit("/", 1)[-1]
    return text.split(":", 1)[-1]  # "generator:Text" -> "Text"


def item_values(item: Item) -> tuple[float, ...]:
    """Scale, pos_x, pos_y, crop l/r/t/b at the middle of the clip (keyframes evaluated there)."""
    s = item.source_frame((item.start + item.end) / 2)
    m, c = item.motion, item.crop
    motion = (m.scale.at(s), m.center_x.at(s), m.center_y.at(s)) if m is not None else (100.0, 0.0, 0.0)
    crop = (c.left.at(s), c.right.at(s), c.top.at(s), c.bottom.at(s)) if c is not None else (0.0,) * 4
    return (*motion, *crop)


def is_transformed(item: Item) -> bool:
    return (item.motion is not None and not item.motion.is_default) or (item.crop is not None and not item.crop.is_default)


def timeline_geometry(
    seq: Sequence,
    feats: SequenceFeatures,
    predictions: Predictions | None = None,
    suggestions: SequenceSuggestions | None = None,
    *,
    title: str = "",
    model_name: str = "",
    min_gap_s: float = 1.0,
    row_s: float = ROW_S,
) -> Geometry:
    """The picture of one sequence: clips, prediction strips, review, next, fill and gaps."""
    fps = seq.rate.fps
    colours = source_colours(feats, seq)
    duration_s = float(Fraction(seq.duration) / fps)
    ends = [float(c.end_frame / fps) for c in suggestions.next] if suggestions is not None else []
    extent_s = max([duration_s, *ends])
    pred = _predicted_cells(feats, predictions) if predictions is not None else None
    lanes = _lanes(seq, suggestions, pred, feats.step_seconds)
    lane_of = {lane.track: i for i, lane in enumerate(lanes)}
    rects: list[Rect] = [
        Rect("gap", -1, float(a / fps), float(b / fps), GAP_COLOUR, "gap") for a, b in empty_stretches(seq, min_gap_s)
    ]
    rects += _clip_rects(seq, lane_of, colours, feats.frame_size)
    if pred is not None:
        rects += _prediction_rects(feats, pred, lane_of, colours, duration_s)
    if suggestions is not None:
        rects += _review_rects(seq, suggestions, lane_of)
        rects += _suggested_clip_rects("next", suggestions.next, seq, lane_of, colours, feats.frame_size)
        rects += _suggested_clip_rects("fill", suggestions.fill, seq, lane_of, colours, feats.frame_size)
    return Geometry(
        title=title or f"sequence {seq.name!r}",
        subtitle=_subtitle(seq, feats, suggestions, model_name),
        duration_s=duration_s,
        extent_s=extent_s,
        frame_size=feats.frame_size,
        lanes=lanes,
        rects=rects,
        legend=_legend(seq, colours),
        ticks=timecode_ticks(seq, extent_s),
        colours=colours,
        zooms=zooms(seq, rects, extent_s) if duration_s > ZOOM_AFTER_S else [],
        rows=row_windows(seq, extent_s, row_s),
    )


def zooms(seq: Sequence, rects: list[Rect], extent_s: float) -> list[Zoom]:
    """Strips of 2 x ZOOM_HALF_S around the review items (by number), then the next and fill
    segments, overlapping ones merged, at most MAX_ZOOMS, in time order; each titled with its
    timecodes and the marks (R1, N1, F2 ...) of the suggestions in it."""
    marks = sorted((r for r in rects if r.mark), key=lambda r: (MARK_ORDER[r.mark[0]], int(r.mark[1:])))
    windows: list[list] = []
    for r in marks:
        lo, hi = max(0.0, r.x0 - ZOOM_HALF_S), min(extent_s, max(r.x1, r.x0 + 1.0) + ZOOM_HALF_S)
        hit = next((w for w in windows if lo < w[1] and w[0] < hi), None)
        if hit is not None:
            hit[0], hit[1] = min(hit[0], lo), max(hit[1], hi)
            hit[2].append(r.mark)
        elif len(windows) < MAX_ZOOMS:
            windows.append([lo, hi, [r.mark]])
    out = []
    for lo, hi, what in sorted(windows):
        span = f"{_tc(seq, lo)}-{_tc(seq, hi)}"
        out.append(Zoom(lo, hi, f"{span}: {', '.join(what)}", _window_ticks(seq, lo, hi)))
    return out


def row_windows(seq: Sequence, extent_s: float, row_s: float) -> list[Zoom]:
    """The programme cut into rows of `row_s` seconds, each titled with its timecodes; the last
    row is as long as the others, so every row has the same scale."""
    count = max(1, math.ceil(extent_s / row_s - 1e-9))
    return [
        Zoom(k * row_s, (k + 1) * row_s, f"{_tc(seq, k * row_s)}-{_tc(seq, min((k + 1) * row_s, extent_s))}",
             _window_ticks(seq, k * row_s, (k + 1) * row_s))
        for k in range(count)
    ]


def _tc(seq: Sequence, seconds: float) -> str:
    return frames_to_timecode(round(seconds * float(seq.rate.fps)) + seq.timecode_start, seq.rate, seq.drop_frame)


def _window_ticks(seq: Sequence, lo: float, hi: float) -> list[tuple[float, str]]:
    step = 5.0 if hi - lo <= 60 else 10.0 if hi - lo <= 150 else 30.0
    first = math.ceil(lo / step) * step
    return [(t, _tc(seq, t)) for t in np.arange(first, hi + 1e-9, step)]


# --- lanes ---------------------------------------------------------------------------------


def _lanes(seq: Sequence, suggestions: SequenceSuggestions | None, pred, step: Fraction) -> list[Lane]:
    """Tracks with items, tracks a suggestion lands on, and tracks the model keeps switching on."""
    used = {t for t, track in enumerate(seq.video_tracks[:N_TRACKS]) if track.items}
    if suggestions is not None:
        used |= {r.track for r in suggestions.review}
        used |= {c.track for c in (*suggestions.next, *suggestions.fill)}
    if pred is not None:
        on_steps = pred.active.sum(axis=0)
        used |= {int(t) for t in np.flatnonzero(on_steps * float(step) >= MIN_PREDICTED_LANE_S)}
    tracks = seq.video_tracks
    return [Lane(t, tracks[t].enabled if t < len(tracks) else True) for t in sorted(used)]


# --- clips ---------------------------------------------------------------------------------


def _clip_rects(seq: Sequence, lane_of: dict[int, int], colours: dict[str, str], frame_size) -> list[Rect]:
    fps = seq.rate.fps
    out = []
    for t, track in enumerate(seq.video_tracks[:N_TRACKS]):
        for item in track.items:
            if item.end <= item.start:
                continue
            values = item_values(item)
            shown = item.enabled and track.enabled
            opacity = item.opacity.at(item.source_frame((item.start + item.end) / 2)) if item.opacity is not None else 100.0
            label = item.name or display_name(item.source)
            out.append(
                Rect(
                    kind="clip",
                    lane=lane_of[t],
                    x0=float(item.start / fps),
                    x1=float(item.end / fps),
                    colour=colours[item.source.key] if shown else DISABLED_COLOUR,
                    label=label if opacity >= 99.5 else f"{label} ({opacity:.0f} %)",
                    opacity=float(opacity),
                    source_key=item.source.key,
                    frame=visible_box(frame_size, item.source, values),
                    transformed=is_transformed(item),
                    scale=values[0],
                    enabled=shown,
                )
            )
    return out


def _suggested_clip_rects(
    kind: str, clips: list[ClipSuggestion], seq: Sequence, lane_of: dict[int, int], colours: dict[str, str], frame_size
) -> list[Rect]:
    fps = seq.rate.fps
    return [
        Rect(
            kind=kind,
            lane=lane_of[c.track],
            x0=float(c.start_frame / fps),
            x1=float(c.end_frame / fps),
            colour=colours.get(c.source.key, UNKNOWN_COLOUR),
            label=display_name(c.source),
            source_key=c.source.key,
            frame=visible_box(frame_size, c.source, c.values),
            transformed=_values_transformed(c.values),
            scale=float(c.values[0]),
            confidence=c.confidence,
            span=f"{_frame_tc(seq, c.start_frame)}–{_frame_tc(seq, c.end_frame)}",
            mark=f"{kind[0].upper()}{n}",
            source_in=int(c.in_frame),
            source_out=int(c.out_frame),
        )
        for n, c in enumerate(clips, start=1)
    ]


def _values_transformed(values) -> bool:
    identity = np.array([100.0, 0, 0, 0, 0, 0, 0])
    return bool((np.abs(np.asarray(values, np.float64) - identity) > VALUE_UNITS * 0.05).any())


def _frame_tc(seq: Sequence, frame: int) -> str:
    return frames_to_timecode(frame + seq.timecode_start, seq.rate, seq.drop_frame)


def _review_rects(seq: Sequence, suggestions: SequenceSuggestions, lane_of: dict[int, int]) -> list[Rect]:
    fps = seq.rate.fps
    return [
        Rect(
            kind="review",
            lane=lane_of[r.track],
            x0=float(r.start_frame / fps),
            x1=float(r.end_frame / fps),
            colour=REVIEW_COLOUR,
            label=str(n),
            reason=r.reason,
            field=r.field,
            span=f"{_frame_tc(seq, r.start_frame)}–{_frame_tc(seq, r.end_frame)}",
            confidence=r.confidence,
            mark=f"R{n}",
        )
        for n, r in enumerate(suggestions.review, start=1)
    ]


# --- the prediction strip --------------------------------------------------------------------


@dataclass
class _PredictedCells:
    """Per step (T, 20): the predicted state, aligned with the step it predicts."""

    known: np.ndarray  # bool: a prediction exists (step 0 has none)
    active: np.ndarray  # bool
    source: np.ndarray  # int: index into feats.sources; -1 inactive; -2 a later source it cannot name
    disagrees: np.ndarray  # bool: the guess matches neither this step nor the one before
    sure: np.ndarray  # float: probability of the guessed state (on and this slot, or off)


def _predicted_cells(feats: SequenceFeatures, preds: Predictions) -> _PredictedCells:
    steps = feats.steps
    known = np.zeros((steps, N_TRACKS), bool)
    active = np.zeros((steps, N_TRACKS), bool)
    slot = np.zeros((steps, N_TRACKS), np.int64)
    values = np.zeros((steps, N_TRACKS, len(VALUE_UNITS)), np.float32)
    sure = np.zeros((steps, N_TRACKS), np.float32)
    if steps > 1:
        known[1:] = True
        p_on = preds.p_active[:-1]
        active[1:] = p_on > 0.5
        slot[1:] = preds.asset_probs[:-1].argmax(axis=-1)
        values[1:] = preds.values[:-1]
        sure[1:] = np.where(active[1:], p_on * preds.asset_probs[:-1].max(axis=-1), 1.0 - p_on)
    actual_index = feats.source_index.astype(np.int64)
    actual_on = feats.grid[..., 0] > 0.5
    actual_slot = np.minimum(actual_index, MAX_SLOT)
    source = np.where(active, _named_source(slot, actual_index, len(feats.sources)), -1)
    now = _differs(active, slot, values, actual_on, actual_slot, feats.grid[..., 2:])
    # The step before, shifted down one: a guess that just continues it was blind to a cut, not wrong.
    before = _differs(
        active[1:], slot[1:], values[1:], actual_on[:-1], actual_slot[:-1], feats.grid[:-1, :, 2:]
    )
    disagrees = known & now
    disagrees[1:] &= before
    return _PredictedCells(known, active, source, disagrees, sure)


def _differs(active, slot, values, actual_on, actual_slot, actual_values) -> np.ndarray:
    """On/off, source slot, or a value off by more than its unit."""
    off_by = np.abs(values - actual_values) / VALUE_UNITS
    return (active != actual_on) | (active & actual_on & ((slot != actual_slot) | (off_by > 1.0).any(axis=-1)))


def _named_source(slot: np.ndarray, actual_index: np.ndarray, n_sources: int) -> np.ndarray:
    """The source a predicted slot names: slots 0-8 directly; slot 9 ("any later source") the
    actual source when that is a later one too; -2 when the timeline has no such source."""
    later = np.where(actual_index >= MAX_SLOT, actual_index, -2)
    named = np.where(slot < MAX_SLOT, slot, later)
    return np.where((named >= n_sources) | (named < -2), -2, named)


def _prediction_rects(
    feats: SequenceFeatures, pred: _PredictedCells, lane_of: dict[int, int], colours: dict[str, str], duration_s: float
) -> list[Rect]:
    step = float(feats.step_seconds)
    keys = [s.key for s in feats.sources]
    out = []
    for t, lane in lane_of.items():
        if t >= N_TRACKS:
            continue
        level = np.digitize(pred.sure[:, t], SURE_LEVELS)
        for lo, hi, _run_key in _runs((pred.source[:, t] + 2) * len(SURE_ALPHA) + level):
            index = int(pred.source[lo, t])
            if index == -1 or not pred.known[lo, t]:
                continue
            key = keys[index] if index >= 0 else None
            colour = colours[key] if key is not None else UNKNOWN_COLOUR
            label = display_name(feats.sources[index]) if index >= 0 else "a later source"
            sure = float(pred.sure[lo:hi, t].mean())
            out.append(Rect("prediction", lane, lo * step, min(hi * step, duration_s), colour, label, key, confidence=sure))
        for lo, hi, differs in _runs(pred.disagrees[:, t].astype(np.int64)):
            if differs:
                out.append(Rect("disagreement", lane, lo * step, min(hi * step, duration_s), REVIEW_COLOUR))
    return out


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    if len(values) == 0:
        return []
    cuts = np.flatnonzero(np.diff(values)) + 1
    bounds = [0, *cuts.tolist(), len(values)]
    return [(bounds[i], bounds[i + 1], int(values[bounds[i]])) for i in range(len(bounds) - 1)]


# --- words and axis ------------------------------------------------------------------------


def _legend(seq: Sequence, colours: dict[str, str]) -> list[LegendEntry]:
    """One entry per source with a colour of its own, named as its clips are in the timeline (the
    name most of its clips carry; the others in `also`). When the sources used once share
    ONCE_COLOUR, they are one entry, first, and the others follow, the most used first."""
    clip_names: dict[str, dict[str, int]] = {}
    sources = {}
    for track in seq.video_tracks[:N_TRACKS]:
        for item in track.items:
            sources.setdefault(item.source.key, item.source)
            named = clip_names.setdefault(item.source.key, {})
            label = item.name or display_name(item.source)
            named[label] = named.get(label, 0) + 1
    out, once = [], []
    for key in colours:
        if key not in sources:
            continue
        names = sorted(clip_names[key].items(), key=lambda kv: -kv[1])  # stable: first seen wins a tie
        clips = sum(n for _, n in names)
        if colours[key] == ONCE_COLOUR:
            once.append(key)
            continue
        own = display_name(sources[key])
        out.append(LegendEntry(colours[key], names[0][0], clips, file=own if own != names[0][0] else "",
                               also=tuple(n for n, _ in names[1:]), keys=(key,)))
    if not once:
        return out
    out.sort(key=lambda e: -e.clips)
    group = LegendEntry(ONCE_COLOUR, f"{len(once)} sources used once", len(once), group=True,
                        keys=tuple(once))
    return [group, *out]


def _subtitle(seq: Sequence, feats: SequenceFeatures, suggestions, model_name: str) -> str:
    rate = seq.rate
    fps = f"{float(rate.fps):.3f}".rstrip("0").rstrip(".")
    parts = [
        f"{frames_to_timecode(seq.duration, rate, seq.drop_frame)} long",
        f"{seq.width}x{seq.height} @ {fps} fps",
        f"{len(feats.sources)} sources",
    ]
    if len(seq.video_tracks) > N_TRACKS:
        parts.append(f"tracks above V{N_TRACKS} not shown ({len(seq.video_tracks)} in all)")
    if model_name:
        parts.append(f"model {model_name}")
    if suggestions is not None:
        parts.append(f"{len(suggestions.review)} review, {len(suggestions.next)} next, {len(suggestions.fill)} fill")
    return " | ".join(parts)


TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def timecode_ticks(seq: Sequence, extent_s: float, most: int = 10) -> list[tuple[float, str]]:
    """Ticks at round timecodes (a sequence starting at 00:59:50:00 gets 01:00:00:00, ...), at
    most `most`, as (seconds from the sequence start, label); drop-frame labels included."""
    rate, drop = seq.rate, uses_drop_frame(seq.rate, seq.drop_frame)
    if extent_s <= 0:
        return [(0.0, frames_to_timecode(seq.timecode_start, rate, seq.drop_frame))]
    every = next((s for s in TICK_STEPS_S if extent_s / s <= most), TICK_STEPS_S[-1] * math.ceil(extent_s / (most * 7200)))
    label_s = _label_seconds_at_or_after(seq)
    label_s = -(-label_s // every) * every
    out = []
    while (frame := _label_frame(label_s, rate, drop) - seq.timecode_start) / rate.fps <= extent_s:
        out.append((float(frame / rate.fps), frames_to_timecode(frame + seq.timecode_start, rate, seq.drop_frame)))
        label_s += every
    return out


def _label_seconds_at_or_after(seq: Sequence) -> int:
    """The first whole second of timecode at or after the sequence's first frame."""
    if seq.timecode_start <= 0:
        return 0
    label = frames_to_timecode(seq.timecode_start, seq.rate, seq.drop_frame)
    hh, mm, ss, ff = (int(x) for x in re.split("[:;]", label))
    return hh * 3600 + mm * 60 + ss + (1 if ff else 0)


def _label_frame(seconds: int, rate, drop: bool) -> int:
    """The frame labelled HH:MM:SS:00 (drop-frame: HH:MM:SS;00, or ;02 where ;00 is skipped)."""
    hh, rest = divmod(seconds, 3600)
    mm, ss = divmod(rest, 60)
    sep = ";" if drop else ":"
    try:
        return timecode_to_frames(f"{hh:02d}:{mm:02d}:{ss:02d}{sep}00", rate, drop)
    except ValueError:  # a label drop-frame skips: the first that exists
        return timecode_to_frames(f"{hh:02d}:{mm:02d}:{ss:02d}{sep}{rate.timebase // 15:02d}", rate, drop)
