"""What a suggestion run yields: the options, review items, suggested clips and the per-sequence
result with its JSON form (the `sequences` entries of `NAME.mtt.json`, docs/sidecar.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from model.inference.predictor import VALUE_FIELDS, Predictions
from model.timeline.timecode import frames_to_timecode
from model.timeline.types import Sequence, Source

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
    max_fills: int = 8  # fill the longest empty stretches only (each one costs a rollout)
    max_rollout_s: float = 10.0  # a fill covers at most this much of an empty stretch, from its start
    step: Fraction | None = None  # None = the predictor's step (else DEFAULT_STEP)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown suggestion kind(s): {', '.join(sorted(unknown))}")
        if self.horizon_s <= 0 or self.min_segment_s <= 0 or self.min_gap_s <= 0:
            raise ValueError("horizon, minimum segment and minimum gap must be positive")
        if self.max_review < 0 or self.max_fills < 0:
            raise ValueError("max_review and max_fills must be >= 0")
        if self.max_rollout_s <= 0:
            raise ValueError("max_rollout_s must be positive")


@dataclass(frozen=True)
class ReviewItem:
    track: int  # 0-based track index (V1 = 0)
    start_frame: int
    end_frame: int
    field: str  # one of model.features.grid.FIELDS
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
    in_frame: int = 0  # source frame at start_frame: inside the media (model.suggest.programme)

    @property
    def out_frame(self) -> int:
        """The media frame after the clip's last one (xmeml's <out>, the sidecar's source_out)."""
        return self.in_frame + (self.end_frame - self.start_frame)


@dataclass
class SequenceSuggestions:
    sequence: Sequence
    step_seconds: Fraction
    steps: int
    review: list[ReviewItem] = field(default_factory=list)
    next: list[ClipSuggestion] = field(default_factory=list)
    fill: list[ClipSuggestion] = field(default_factory=list)
    elapsed_ms: dict[str, float] = field(default_factory=dict)
    finished: str | None = None  # why the programme looks finished at its end (then `next` is empty)
    # The review's teacher-forced predictions (not part of the document; a picture reuses them). A network
    # predictor's next pass over the same sequence (a re-save) writes into these arrays: copy them to keep them.
    predictions: Predictions | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """The per-sequence part of the `NAME.mtt.json` document (docs/sidecar.md)."""
        out = {
            "name": self.sequence.name,
            "step_seconds": float(self.step_seconds),
            "steps": self.steps,
            "review": [self._review_json(r) for r in self.review],
            "next": [self._clip_json(c) for c in self.next],
            "fill": [self._clip_json(c) for c in self.fill],
        }
        if self.finished is not None:
            end = self.sequence.duration
            out["finished"] = {"reason": f"the programme looks finished: {self.finished}", **self._times(end, end)}
        return out

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
        out["source_in"] = c.in_frame  # media frames, as xmeml's <in>/<out> (out exclusive)
        out["source_out"] = c.out_frame
        out.update({name: round(float(v), 4) for name, v in zip(VALUE_FIELDS, c.values)})
        out["confidence"] = round(c.confidence, 4)
        return out


def source_json(source: Source | None, slot: int) -> dict:
    if source is None:
        return {"slot": slot, "name": None, "path": None}
    return {"slot": slot, "name": source.name, "path": source.path}
