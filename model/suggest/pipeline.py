"""From predictions to suggestions an editor can use: review, next and fill.

`suggest()` is the one entry point the CLI, the daemon, the watcher and the plugins call. It is
independent of the predictor it is given (the network, its ONNX export or a baseline): it only
uses the `Predictor` protocol of `model.inference.predictor`.

- review: where the edit departs from its own patterns (see `model.suggest.review`).
- next: the predictor's rollout after the end of the sequence (or a given time), for a horizon.
- fill: for the longest holes in the picture or the A-roll (at most `max_fills`), the rollout
  over the hole's first `max_rollout_s` seconds, on the tracks whose gaps matter.
Clips keep to the programme's media and framings, and `next` gives way to a note when the
programme looks finished (`model.suggest.programme`).
A network predictor reads the sequence once for all three: its review pass also primes the
rollouts of next and fill (`predict_primed`).
Rollouts become clip segments of at least `min_segment_s` (shorter runs are merged into a
neighbour) whose sources are the timeline's own media.
"""

from __future__ import annotations

import time
from fractions import Fraction

from model.features.grid import DEFAULT_STEP, SequenceFeatures, as_step, featurize
from model.inference import cancel, progress
from model.inference.predictor import Predictions, Predictor
from model.suggest.continuation import continuation, rollout_windows
from model.suggest.items import SequenceSuggestions, SuggestOptions
from model.suggest.programme import Programme
from model.suggest.review import review_sequence
from model.suggest.roles import track_roles
from model.suggest.visibility import Pictures
from model.timeline.types import Sequence, Timeline


def predictor_step(predictor: Predictor, options: SuggestOptions) -> Fraction:
    if options.step is not None:
        return as_step(options.step)
    return as_step(getattr(predictor, "step_seconds", DEFAULT_STEP))


def suggest(timeline: Timeline, predictor: Predictor, options: SuggestOptions = SuggestOptions()) -> list[SequenceSuggestions]:
    """Suggestions for every sequence of the timeline (or the one named in the options)."""
    sequences = [timeline.sequence(options.sequence)] if options.sequence is not None else list(timeline.sequences)
    step = predictor_step(predictor, options)
    return [suggest_sequence(seq, predictor, options, step, key=(timeline.path, i, seq.name)) for i, seq in enumerate(sequences)]


def suggest_sequence(
    seq: Sequence, predictor: Predictor, options: SuggestOptions, step: Fraction, key: object = None
) -> SequenceSuggestions:
    """`key` names the sequence across saves (file, index, name): a network predictor keeps its
    last pass under it and a re-save recomputes only what the edit reaches."""
    clock = _Clock()
    progress.report("features")
    feats = featurize(seq, step)
    clock.lap("features")
    out = SequenceSuggestions(sequence=seq, step_seconds=step, steps=feats.steps)
    programme = Programme.of(seq)
    if "next" in options.kinds and options.after_s is None:
        out.finished = programme.finished()
    roles = track_roles(seq) if {"review", "fill"} & set(options.kinds) else None  # once for both
    pictures = Pictures(seq)  # the items' picture facts, for every visibility of the pass
    windows = {
        kind: rollout_windows(kind, seq, feats, options, out.finished, roles, pictures)
        for kind in ("next", "fill") if kind in options.kinds
    }
    primed: dict[int, object] = {}
    if "review" in options.kinds and feats.steps > 1:
        starts = tuple(w[0] for ws in windows.values() for w in ws)
        preds, primed = predict_primed(predictor, feats, starts, key)
        out.predictions = preds
        clock.lap("predict")
        progress.report("review")
        out.review = review_sequence(seq, feats, preds, predictor, options.max_review, roles=roles, pictures=pictures)
        clock.lap("review")
    for kind, ws in windows.items():
        clips = []
        for i, (start, a, b, tracks) in enumerate(ws):
            progress.report(kind, i / len(ws))
            clips += continuation(seq, feats, predictor, start, a, b, options.min_segment_s, primed.pop(start, None), programme, tracks)
        setattr(out, kind, clips)
        clock.lap(kind)
    out.elapsed_ms = clock.laps
    return out


def predict_primed(
    predictor: Predictor, feats: SequenceFeatures, starts: tuple[int, ...], key: object = None
) -> tuple[Predictions, dict]:
    """The predictions and, where the predictor can, rollouts primed at `starts` by the same pass
    over the sequence (the network reads a 10-minute timeline once instead of once per kind)."""
    if hasattr(predictor, "predict_primed"):
        return predictor.predict_primed(feats, starts, key) if key is not None else predictor.predict_primed(feats, starts)
    return predictor.predict(feats), {}


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + (now - self._last) * 1000.0
        self._last = now
        cancel.check()  # between stages: stop once the caller has gone
