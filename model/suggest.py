"""From predictions to suggestions an editor can use: review, next and fill.

`suggest()` is the one entry point the CLI, the daemon, the watcher and the plugins call. It is
independent of the predictor it is given (the network, its ONNX export or a baseline): it only
uses the `Predictor` protocol of `model.predictor`.

- review: where the edit departs from its own patterns (see `model.review`).
- next: the predictor's rollout after the end of the sequence (or a given time), for a horizon.
- fill: for every stretch inside the sequence where no track is active, the rollout from the
  gap's start, cut to the gap.
A network predictor reads the sequence once for all three: its review pass also primes the
rollouts of next and fill (`predict_primed`).
Rollouts become clip segments of at least `min_segment_s` (shorter runs are merged into a
neighbour) whose sources are the timeline's own media.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.features import DEFAULT_STEP, MAX_SLOT, N_TRACKS, SequenceFeatures, as_step, featurize, step_count
from model.predictor import VALUE_FIELDS, Predictions, Predictor, Rollout
from model.timecode import frames_to_timecode
from model.timeline import Sequence, Source, Timeline

KINDS = ("review", "next", "fill")
STAGES = ("read", "features", "predict", "review", "next", "fill", "total")


@dataclass(frozen=True)
class SuggestOptions:
    kinds: tuple[str, ...] = KINDS
    horizon_s: float = 10.0  # how far `next` continues the edit
    after_s: float | None = None  # where `next` starts; None = the end of the sequence
    sequence: str | None = None  # one sequence by name; None = all
    max_review: int = 20  # review items per sequence, the most confident first
    min_segment_s: float = 1.0  # next/fill segments shorter than this are merged into a neighbour
    min_gap_s: float = 1.0  # fill only stretches at least this long with no active track
    step: Fraction | None = None  # None = the predictor's step (else DEFAULT_STEP)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown suggestion kind(s): {', '.join(sorted(unknown))}")
        if self.horizon_s <= 0 or self.min_segment_s <= 0 or self.min_gap_s <= 0:
            raise ValueError("horizon, minimum segment and minimum gap must be positive")
        if self.max_review < 0:
            raise ValueError("max_review must be >= 0")


@dataclass(frozen=True)
class ReviewItem:
    track: int  # 0-based track index (V1 = 0)
    start_frame: int
    end_frame: int
    field: str  # one of model.features.FIELDS
    current: float | dict | None
    suggested: float | dict | None
    confidence: float
    reason: str


@dataclass(frozen=True)
class ClipSuggestion:
    """A clip the edit could have: on `track`, frames [start_frame, end_frame) of the sequence."""

    track: int
    start_frame: int
    end_frame: int
    source: Source
    slot: int
    values: tuple[float, ...]  # VALUE_FIELDS order: scale, pos_x, pos_y, crop l/r/t/b
    confidence: float
    in_frame: int = 0  # source frame at start_frame (continues the clip it follows, else 0)


@dataclass
class SequenceSuggestions:
    sequence: Sequence
    step_seconds: Fraction
    steps: int
    review: list[ReviewItem] = field(default_factory=list)
    next: list[ClipSuggestion] = field(default_factory=list)
    fill: list[ClipSuggestion] = field(default_factory=list)
    elapsed_ms: dict[str, float] = field(default_factory=dict)
    # The review's teacher-forced predictions (not part of the document; a picture reuses them).
    predictions: Predictions | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """The per-sequence part of the `NAME.mtt.json` document (DESIGN.md)."""
        return {
            "name": self.sequence.name,
            "step_seconds": float(self.step_seconds),
            "steps": self.steps,
            "review": [self._review_json(r) for r in self.review],
            "next": [self._clip_json(c) for c in self.next],
            "fill": [self._clip_json(c) for c in self.fill],
        }

    def _times(self, start: int, end: int) -> dict:
        seq = self.sequence
        fps = seq.rate.fps
        offset = seq.timecode_start
        return {
            "start_s": round(float(start / fps), 3),
            "end_s": round(float(end / fps), 3),
            "start_tc": frames_to_timecode(start + offset, seq.rate, seq.drop_frame),
            "end_tc": frames_to_timecode(end + offset, seq.rate, seq.drop_frame),
        }

    def _review_json(self, r: ReviewItem) -> dict:
        return {
            "track": r.track + 1,
            **self._times(r.start_frame, r.end_frame),
            "field": r.field,
            "current": r.current,
            "suggested": r.suggested,
            "confidence": round(r.confidence, 4),
            "reason": r.reason,
        }

    def _clip_json(self, c: ClipSuggestion) -> dict:
        out = {"track": c.track + 1, **self._times(c.start_frame, c.end_frame)}
        out["source"] = source_json(c.source, c.slot)
        out.update({name: round(float(v), 4) for name, v in zip(VALUE_FIELDS, c.values)})
        out["confidence"] = round(c.confidence, 4)
        return out


def source_json(source: Source | None, slot: int) -> dict:
    if source is None:
        return {"slot": slot, "name": None, "path": None}
    return {"slot": slot, "name": source.name, "path": source.path}


def load_predictor(spec: str | None, backend: str = "torch", cache_dir: Path | None = None) -> Predictor:
    """`persistence` (the copy-previous-step baseline), else the network from `spec` (a
    .safetensors file or a run folder), else the bundled default model, on `backend` (torch,
    onnx, onnx-int8 or auto: see model.onnx_backend). ValueError when it cannot be loaded."""
    if spec == "persistence":
        from model.predictor import PersistencePredictor

        return PersistencePredictor()
    if backend != "torch":
        from model.onnx_backend import load_predictor_with_backend, model_errors

        try:
            return load_predictor_with_backend(spec, backend, cache_dir=cache_dir)[0]
        except model_errors() as err:
            raise ValueError(str(err)) from None
    from model.checkpoint import ModelLoadError
    from model.network import load_predictor as load

    try:
        return load(spec)
    except ModelLoadError as err:
        raise ValueError(str(err)) from None


def predictor_step(predictor: Predictor, options: SuggestOptions) -> Fraction:
    if options.step is not None:
        return as_step(options.step)
    return as_step(getattr(predictor, "step_seconds", DEFAULT_STEP))


def suggest(timeline: Timeline, predictor: Predictor, options: SuggestOptions = SuggestOptions()) -> list[SequenceSuggestions]:
    """Suggestions for every sequence of the timeline (or the one named in the options)."""
    sequences = [timeline.sequence(options.sequence)] if options.sequence is not None else list(timeline.sequences)
    step = predictor_step(predictor, options)
    return [suggest_sequence(seq, predictor, options, step) for seq in sequences]


def suggest_sequence(seq: Sequence, predictor: Predictor, options: SuggestOptions, step: Fraction) -> SequenceSuggestions:
    from model.review import review_sequence  # review pulls in the calibration; next/fill do not need it

    clock = _Clock()
    feats = featurize(seq, step)
    clock.lap("features")
    out = SequenceSuggestions(sequence=seq, step_seconds=step, steps=feats.steps)
    windows = {kind: rollout_windows(kind, seq, feats, options) for kind in ("next", "fill") if kind in options.kinds}
    primed: dict[int, object] = {}
    if "review" in options.kinds and feats.steps > 1:
        starts = tuple(w[0] for ws in windows.values() for w in ws)
        preds, primed = predict_primed(predictor, feats, starts)
        out.predictions = preds
        clock.lap("predict")
        out.review = review_sequence(seq, feats, preds, predictor, options.max_review)
        clock.lap("review")
    for kind, ws in windows.items():
        clips = [c for w in ws for c in continuation(seq, feats, predictor, *w, options.min_segment_s, primed.pop(w[0], None))]
        setattr(out, kind, clips)
        clock.lap(kind)
    out.elapsed_ms = clock.laps
    return out


def predict_primed(predictor: Predictor, feats: SequenceFeatures, starts: tuple[int, ...]) -> tuple[Predictions, dict]:
    """The predictions and, where the predictor can, rollouts primed at `starts` by the same pass
    over the sequence (the network reads a 10-minute timeline once instead of once per kind)."""
    if hasattr(predictor, "predict_primed"):
        return predictor.predict_primed(feats, starts)
    return predictor.predict(feats), {}


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + (now - self._last) * 1000.0
        self._last = now


# --- next and fill -------------------------------------------------------------------------


def first_step_at_or_after(feats: SequenceFeatures, frame: int) -> int:
    """The first step whose sampled frame is >= frame (steps before it see only earlier frames):
    the number of steps sampling a frame before it."""
    return step_count(frame, feats.frames_per_step)


def rollout_windows(kind: str, seq: Sequence, feats: SequenceFeatures, options: SuggestOptions) -> list[tuple[int, int, int]]:
    """(start step, start frame, end frame) of each rollout a kind needs: `next` one after the
    end (or `after_s`), `fill` one per empty stretch."""
    if kind == "next":
        fps = seq.rate.fps
        start_frame = seq.duration if options.after_s is None else max(0, round(Fraction(str(options.after_s)) * fps))
        start_step = min(first_step_at_or_after(feats, start_frame), feats.steps)
        return [(start_step, start_frame, start_frame + math.ceil(Fraction(str(options.horizon_s)) * fps))]
    return [(first_step_at_or_after(feats, a), a, b) for a, b in empty_stretches(seq, options.min_gap_s)]


def empty_stretches(seq: Sequence, min_gap_s: float) -> list[tuple[int, int]]:
    """Frame ranges inside the sequence where no enabled item on an enabled kept track shows.

    Only stretches after the first shown frame count: a continuation needs something before it.
    """
    covered = sorted(
        (it.start, it.end)
        for tr in seq.video_tracks[:N_TRACKS]
        if tr.enabled
        for it in tr.items
        if it.enabled and it.end > it.start
    )
    min_frames = math.ceil(Fraction(str(min_gap_s)) * seq.rate.fps)
    gaps: list[tuple[int, int]] = []
    reach = None
    for start, end in covered:
        if reach is not None and start - reach >= min_frames:
            gaps.append((reach, start))
        reach = end if reach is None else max(reach, end)
    return gaps


def continuation(
    seq: Sequence,
    feats: SequenceFeatures,
    predictor: Predictor,
    start_step: int,
    start_frame: int,
    end_frame: int,
    min_segment_s: float,
    primed: object | None = None,
) -> list[ClipSuggestion]:
    """The predictor's rollout from `start_step`, laid out on frames [start_frame, end_frame).

    Runs are laid on the whole steps that fit; the last run stretches to `end_frame`, so no
    segment ends up shorter than the minimum because the window is not a multiple of a step.
    """
    per_step = feats.frames_per_step
    span = Fraction(end_frame - start_frame)
    n_steps = math.ceil(span / per_step)
    if n_steps <= 0:
        return []
    if primed is None:
        roll = predictor.rollout(feats, start_step, n_steps)
    else:  # a network's rollout primed by the review's pass (see predict_primed)
        roll = predictor.rollout(feats, start_step, n_steps, primed=primed)  # type: ignore[call-arg]
    whole = max(1, math.floor(span / per_step))
    min_steps = max(1, min(whole, math.ceil(Fraction(str(min_segment_s)) / feats.step_seconds)))
    clips: list[ClipSuggestion] = []
    for track in range(N_TRACKS):
        runs = merged_runs(_state_keys(roll, track)[:whole], min_steps)
        for i, (lo, hi, key) in enumerate(runs):
            if key == _INACTIVE:
                continue
            hi = n_steps if i == len(runs) - 1 else hi
            clip = _clip_from_run(seq, feats, roll, track, lo, hi, start_step, start_frame, end_frame)
            if clip is not None:
                clips.append(clip)
    clips.sort(key=lambda c: (c.start_frame, c.track))
    return clips


_INACTIVE = -2  # run key of an inactive step


def _state_keys(roll: Rollout, track: int) -> np.ndarray:
    """Per step: the source index; without one, -3 - slot (slots still tell sources apart);
    _INACTIVE when the track is off."""
    active = roll.grid[:, track, 0] > 0.5
    index = roll.source_index[:, track].astype(np.int64)
    slot = roll.grid[:, track, 1].astype(np.int64).clip(0, MAX_SLOT)
    return np.where(active, np.where(index >= 0, index, -3 - slot), _INACTIVE)


def merged_runs(keys: np.ndarray, min_steps: int) -> list[tuple[int, int, int]]:
    """Runs of equal keys; runs shorter than min_steps are merged into a neighbour (flicker).

    The shortest short run goes first, into its longer neighbour (the earlier one on ties), so a
    brief flash inside a shot disappears and the shot stays whole.
    """
    runs = _runs(keys)
    while len(runs) > 1:
        i = min(range(len(runs)), key=lambda j: (runs[j][1] - runs[j][0], j))
        lo, hi, _ = runs[i]
        if hi - lo >= min_steps:
            break
        before = runs[i - 1] if i > 0 else None
        after = runs[i + 1] if i + 1 < len(runs) else None
        take_before = after is None or (before is not None and before[1] - before[0] >= after[1] - after[0])
        if take_before:
            runs[i - 1 : i + 1] = [(before[0], hi, before[2])]
        else:
            runs[i : i + 2] = [(lo, after[1], after[2])]
        runs = _join_equal(runs)
    return runs


def _runs(keys: np.ndarray) -> list[tuple[int, int, int]]:
    if len(keys) == 0:
        return []
    cuts = np.flatnonzero(np.diff(keys)) + 1
    bounds = [0, *cuts.tolist(), len(keys)]
    return [(bounds[i], bounds[i + 1], int(keys[bounds[i]])) for i in range(len(bounds) - 1)]


def _join_equal(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out = [runs[0]]
    for lo, hi, key in runs[1:]:
        if key == out[-1][2]:
            out[-1] = (out[-1][0], hi, key)
        else:
            out.append((lo, hi, key))
    return out


def _clip_from_run(
    seq: Sequence,
    feats: SequenceFeatures,
    roll: Rollout,
    track: int,
    lo: int,
    hi: int,
    start_step: int,
    start_frame: int,
    end_frame: int,
) -> ClipSuggestion | None:
    per_step = feats.frames_per_step
    cells = roll.grid[lo:hi, track]
    on = cells[:, 0] > 0.5  # the run may hold merged-in steps of another state
    if not on.any():
        return None
    slot = int(np.bincount(cells[on, 1].astype(np.int64).clip(0, MAX_SLOT)).argmax())
    index = int(np.bincount(roll.source_index[lo:hi, track][on].clip(-1, None) + 1).argmax()) - 1
    source, slot = resolve_source(feats, index, slot, track, start_step)
    if source is None:
        return None
    first = start_frame + math.ceil(lo * per_step)
    last = min(end_frame, start_frame + math.ceil(hi * per_step))
    if last <= first:
        return None
    values = tuple(round(float(v), 4) for v in np.median(cells[on, 2:], axis=0))
    confidence = float(np.mean(roll.confidence[lo:hi, track]))
    return ClipSuggestion(
        track=track,
        start_frame=first,
        end_frame=last,
        source=source,
        slot=slot,
        values=values,
        confidence=confidence,
        in_frame=_continuing_in_frame(seq, track, source, first),
    )


def resolve_source(feats: SequenceFeatures, index: int, slot: int, track: int, before_step: int) -> tuple[Source | None, int]:
    """Map a predicted source back to the timeline's own media.

    The predictor's source index wins; without one, slots 0-8 name a source directly and slot 9
    ("any later source") becomes the most recent source of slot 9 shown on that track, else on
    any track, before the continuation starts.
    """
    sources = feats.sources
    if 0 <= index < len(sources):
        return sources[index], min(index, MAX_SLOT)
    if slot < MAX_SLOT:
        return (sources[slot], slot) if slot < len(sources) else (None, slot)
    context = feats.source_index[:before_step]
    for column in (context[:, track], context.reshape(-1)):
        late = column[column >= MAX_SLOT]
        if len(late):
            return sources[int(late[-1])], MAX_SLOT
    return None, slot


def _continuing_in_frame(seq: Sequence, track: int, source: Source, start_frame: int) -> int:
    """When the clip continues the item that ends where it starts (same source), go on from its out point."""
    if track >= len(seq.video_tracks):
        return 0
    for item in seq.video_tracks[track].items:
        if item.enabled and item.source.key == source.key and item.start < start_frame <= item.end:
            return item.in_frame + (start_frame - item.start)
    return 0
