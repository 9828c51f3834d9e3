"""Next and fill: the predictor's rollout laid out as clips of the timeline's own media.

Fill goes where the picture has a hole (no opaque full-frame picture: `model.suggest.visibility`;
an A-roll gap under an opaque cutaway is none), and only on tracks whose gaps matter (the A-roll and dense
B-roll: `model.suggest.roles`), never on overlay or graphics tracks, nor on a track that already
shows something there. Each clip is then held to what the programme allows
(`model.suggest.programme`): its in and out points inside the media, a framing some item uses,
and no `next` after closing material. Rollouts
are bounded: `fill` rolls out the `max_fills` longest empty stretches, each for at most
`max_rollout_s` from its start (a long hole gets a start, not one static shot stretched over
minutes), so a long programme with many holes costs a fixed number of network steps.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS, SequenceFeatures, step_count
from model.inference.predictor import Predictor, Rollout
from model.suggest.items import ClipSuggestion, SuggestOptions
from model.suggest.programme import PLAIN_GENERATORS, Programme
from model.suggest.roles import TrackRole, track_roles
from model.suggest.visibility import Pictures, visibility
from model.timeline.types import Sequence, Source


def first_step_at_or_after(feats: SequenceFeatures, frame: int) -> int:
    """The first step whose sampled frame is >= frame (steps before it see only earlier frames):
    the number of steps sampling a frame before it."""
    return step_count(frame, feats.frames_per_step)


def rollout_windows(
    kind: str, seq: Sequence, feats: SequenceFeatures, options: SuggestOptions, finished: str | None = None,
    roles: list[TrackRole] | None = None, pictures: Pictures | None = None,
) -> list[tuple[int, int, int, frozenset[int] | None]]:
    """(start step, start frame, end frame, tracks its clips may go on (None: any)) of each
    rollout a kind needs: `next` one after the end (or `after_s`; none when the programme looks
    `finished` there), `fill` one for each of the `max_fills` longest holes (`fill_stretches`),
    each its first `max_rollout_s`, in time order."""
    if kind == "next":
        if finished is not None and options.after_s is None:
            return []
        fps = seq.rate.fps
        start_frame = seq.duration if options.after_s is None else max(0, round(Fraction(str(options.after_s)) * fps))
        start_step = min(first_step_at_or_after(feats, start_frame), feats.steps)
        return [(start_step, start_frame, start_frame + math.ceil(Fraction(str(options.horizon_s)) * fps), None)]
    stretches = fill_stretches(seq, options.min_gap_s, roles, pictures)
    stretches = sorted(stretches, key=lambda g: g[0] - g[1])[: options.max_fills]
    longest = math.ceil(Fraction(str(options.max_rollout_s)) * seq.rate.fps)
    return [(first_step_at_or_after(feats, a), a, min(b, a + longest), tracks) for a, b, tracks in sorted(stretches, key=lambda g: g[0])]


def fill_stretches(seq: Sequence, min_gap_s: float, roles: list[TrackRole] | None = None,
                   pictures: Pictures | None = None) -> list[tuple[int, int, frozenset[int]]]:
    """Frame ranges worth a fill, with the tracks a fill may use there: where the picture has a
    hole (nothing opaque covers the frame), after the first shown frame, at least `min_gap_s`
    long; the tracks are those whose gaps matter (the A-roll, dense B-roll) and that show nothing
    there. A gap in the A-roll counts where it shows: under an opaque full-frame cutaway it is
    the usual lifted A-roll, and 7 of Kraakeklubben's 8 longest A-roll gaps are such (filling
    them changes nothing the viewer sees).

    The picture only changes where an item starts or ends, so it is judged once per stretch
    between two such frames (keyframed opacity or motion inside a clip is not followed)."""
    roles = track_roles(seq) if roles is None else roles
    matter = [t for t, r in enumerate(roles[:N_TRACKS]) if r.gaps_matter]
    if not matter:
        return []
    items = [(t, it) for t, tr in enumerate(seq.video_tracks) if tr.enabled for it in tr.items if it.enabled and it.end > it.start]
    if not items:
        return []
    bounds = np.unique([f for _, it in items for f in (it.start, it.end)])
    lo, hi = bounds[:-1], bounds[1:]
    hole = visibility(seq, lo, pictures).hole
    min_frames = math.ceil(Fraction(str(min_gap_s)) * seq.rate.fps)
    first_shown = int(bounds[0])
    out = []
    for a, b in _true_runs(hole & (lo > first_shown), lo, hi):
        if b - a < min_frames:
            continue
        free = frozenset(t for t in matter if not any(it.start < b and a < it.end for u, it in items if u == t))
        if free:
            out.append((a, b, free))
    return out


def _true_runs(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[tuple[int, int]]:
    """Frame ranges [lo of a run's first stretch, hi of its last) of the runs of True in `mask`."""
    runs, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if not m and start is not None:
            runs.append((int(lo[start]), int(hi[i - 1])))
            start = None
    if start is not None:
        runs.append((int(lo[start]), int(hi[len(mask) - 1])))
    return runs


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
    programme: Programme | None = None,
    tracks: frozenset[int] | None = None,
) -> list[ClipSuggestion]:
    """The predictor's rollout from `start_step`, laid out on frames [start_frame, end_frame).

    Runs are laid on the whole steps that fit; the last run stretches to `end_frame`, so no
    segment ends up shorter than the minimum because the window is not a multiple of a step.
    Each clip is then held to the `programme`'s media and framings; only `tracks` get clips
    (None: any track).
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
    programme = Programme.of(seq) if programme is None else programme
    clips: list[ClipSuggestion] = []
    for track in range(N_TRACKS) if tracks is None else sorted(tracks):
        runs = merged_runs(_state_keys(roll, track)[:whole], min_steps)
        for i, (lo, hi, key) in enumerate(runs):
            if key == _INACTIVE:
                continue
            last = i == len(runs) - 1
            hi = n_steps if last else hi
            clip = _clip_from_run(feats, roll, track, lo, hi, start_step, start_frame, end_frame if last else None)
            clip = None if clip is None else within_programme(clip, programme, math.floor(min_steps * per_step))
            if clip is not None:
                clips.append(clip)
    clips.sort(key=lambda c: (c.start_frame, c.track))
    return clips


def within_programme(clip: ClipSuggestion, programme: Programme, min_frames: int = 1) -> ClipSuggestion | None:
    """The clip with an in point inside its media (shortened to what the media has) and the
    nearest framing in use; None when less than `min_frames` of media is left for it (a shot
    that ran out 3 frames into a hole is no suggestion; a shot that ran out of media does not start
    again from other material of its source right after itself: jrpa-ths' last package replayed
    from its head, Dagsnytt 18's pre-roll after the programme), or when it would show black or a plain
    matte (BroShow's next held a black slug 8 s, the storyboard's fill a colour matte)."""
    if clip.source.key.lower() in PLAIN_GENERATORS:
        return None  # black or a plain matte fills no hole and continues nothing
    wanted = clip.end_frame - clip.start_frame
    in_frame, frames = programme.place(clip.source, clip.track, clip.start_frame, wanted)
    if frames < min(max(min_frames, 1), wanted) and not programme.continues(clip.source, clip.track, clip.start_frame):
        in_frame, frames = programme.fresh(clip.source, clip.start_frame, wanted)  # other material of it
    if frames < min(max(min_frames, 1), wanted):
        return None
    programme.claim(clip.source, in_frame, frames)
    values = programme.framing(clip.source, clip.track, clip.values)
    return replace(clip, end_frame=clip.start_frame + frames, in_frame=in_frame, values=values)


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
    feats: SequenceFeatures,
    roll: Rollout,
    track: int,
    lo: int,
    hi: int,
    start_step: int,
    start_frame: int,
    stretch_to: int | None,
) -> ClipSuggestion | None:
    """A run's clip over its steps' frames; the last run of a rollout stretches to `stretch_to`."""
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
    last = start_frame + math.ceil(hi * per_step) if stretch_to is None else stretch_to
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
