"""Review's checks for slips that real programmes showed and a step grid cannot see:

- `gap`: a gap of a few frames between two clips of a track whose other cuts touch (a flash of
  black, or of the track below, that an editor misses at full speed);
- `repeat`: the same media frames shown twice (a shot used again by mistake);
- `resolution`: a source smaller than the sequence's frame at 100 %, which leaves a border, where
  other clips of that source (or of sources of that size) are scaled up to fill the frame.

Each check makes a CandidateSet like the other review groups: evidence rows scored by the
calibrated logistic model, allowed only with MIN_SUPPORT other occurrences of the pattern.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from model.suggest.items import source_json
from model.suggest.review_context import CandidateSet, ReviewContext
from model.suggest.review_segments import Segment
from model.suggest.review_words import MIN_SUPPORT, copy_note, number, place, timecode, times, track_name
from model.suggest.visibility import covers_frame, source_size, visibility
from model.timeline.types import Item

MAX_GAP_SECONDS = 0.5  # a gap at most this long between two clips is a slip, not a pause
MIN_REPEAT_FRAMES = 8  # shared source frames that make a repeat an editor would notice
REPEAT_KINDS = ("file", "sequence")  # stills and generators are meant to come back
FILL_TOLERANCE = 0.98  # a picture reaching 98 % of the frame's width and height fills it


def check_candidates(ctx: ReviewContext) -> list[CandidateSet]:
    out = []
    for found in (gap_candidates(ctx), repeat_candidates(ctx), resolution_candidates(ctx)):
        if found is not None:
            out.append(found)
    return out


def _reviewed_items(ctx: ReviewContext) -> list[tuple[int, list[Item]]]:
    tracks = []
    for t, track in enumerate(ctx.seq.video_tracks[: len(ctx.roles)]):
        if track.enabled and ctx.roles[t].reviewed:
            tracks.append((t, [it for it in track.items if it.enabled]))
    return tracks


def _segment(ctx: ReviewContext, track: int, start: int, end: int, item: Item | None) -> Segment:
    """A segment over frames [start, end), its steps the sampled ones inside (at least one)."""
    frames = ctx.vis.frames
    lo = int(np.searchsorted(frames, start, side="left"))
    hi = max(lo + 1, int(np.searchsorted(frames, end, side="left")))
    lo = min(lo, max(0, len(frames) - 1))
    hi = min(max(hi, lo + 1), max(1, len(frames)))
    return Segment(track, lo, hi, item, item is not None, -1, np.zeros(7), start, end)


def _log1p(x: float) -> float:
    return math.log1p(max(0.0, x))


# --- gaps of a few frames -------------------------------------------------------------------


def gap_candidates(ctx: ReviewContext) -> CandidateSet | None:
    seq = ctx.seq
    fps = float(seq.rate.fps)
    max_gap = max(1, int(round(MAX_GAP_SECONDS * fps)))
    found = []  # (track, a, b, touching, cuts)
    for t, items in _reviewed_items(ctx):
        pairs = [(a, b) for a, b in zip(items, items[1:]) if b.start >= a.start]
        touching = sum(1 for a, b in pairs if b.start == a.end)
        for a, b in pairs:
            if 0 < b.start - a.end <= max_gap:
                found.append((t, a, b, touching, len(pairs)))
    if not found:
        return None
    gap_frames = np.array(sorted({f for _, a, b, *_ in found for f in range(a.end, b.start)}), np.int64)
    vis = visibility(seq, gap_frames, ctx.pictures)
    rows, segs, allowed = [], [], []
    for t, a, b, touching, cuts in found:
        lo, hi = np.searchsorted(gap_frames, [a.end, b.start])
        below = vis.hides[lo:hi, :t].any(axis=1) if t > 0 else np.zeros(hi - lo, bool)
        hole = float((~below).mean()) if hi > lo else 0.0
        rows.append([(b.start - a.end) / fps, _log1p(touching), touching / max(1, cuts - 1), hole,
                     float(a.source.key == b.source.key), float(ctx.roles[t].role == "overlay")])
        segs.append(_segment(ctx, t, a.end, b.start, None))
        allowed.append(touching >= MIN_SUPPORT)

    def explain(row: int) -> tuple[object, object, str]:
        t, a, b, touching, cuts = found[row]
        frames = b.start - a.end
        shows = "black" if rows[row][3] >= 0.5 else "the track below"
        text = (f"{place(seq, t, a.end)}: a {frames}-frame gap between '{a.name or a.source.name}' and "
                f"'{b.name or b.source.name}' flashes {shows}, where {touching} of the track's other {cuts - 1} cuts touch")
        return 0, 1, text + copy_note([c for c in ctx.copies(t) if _has_gap(ctx.seq.video_tracks[c].items, a.end, b.start)])

    return CandidateSet("gap", np.asarray(rows, np.float64), segs, ["active"] * len(segs), explain, np.array(allowed))


def _has_gap(items, start: int, end: int) -> bool:
    """Nothing of `items` is enabled over frames [start, end): a copy has the gap too."""
    return not any(it.enabled and it.start < end and start < it.end for it in items)


# --- the same media twice -------------------------------------------------------------------


def repeat_candidates(ctx: ReviewContext) -> CandidateSet | None:
    uses: dict[str, list[tuple[int, Item]]] = defaultdict(list)
    for t, items in _reviewed_items(ctx):
        for it in items:
            if it.source.kind in REPEAT_KINDS:
                uses[it.source.key].append((t, it))
    found = []  # (track, later item, earlier track, earlier item, shared frames)
    for clips in uses.values():
        clips.sort(key=lambda c: (c[1].start, c[0]))
        for j, (t, it) in enumerate(clips):
            best = None
            for u, other in clips[:j]:
                if other.end > it.start:  # on screen together: a layer, not a repeat
                    continue
                shared = min(it.in_frame + (it.end - it.start), other.in_frame + (other.end - other.start)) - max(it.in_frame, other.in_frame)
                if shared >= MIN_REPEAT_FRAMES and (best is None or shared > best[2]):
                    best = (u, other, shared)
            if best is not None:
                found.append((t, it, *best))
    if not found:
        return None
    n_clips = sum(len(items) for _, items in _reviewed_items(ctx))
    fps = float(ctx.seq.rate.fps)
    rows, segs, allowed = [], [], []
    for t, it, u, other, shared in found:
        seg = _segment(ctx, t, it.start, it.end, it)
        seen = float(ctx.vis.visible[seg.start : seg.end, t].mean())
        rows.append([_log1p(shared / fps), shared / max(1, it.end - it.start), _log1p((it.start - other.end) / fps),
                     float(t == u), _log1p(len(found) - 1), seen])
        segs.append(seg)
        allowed.append(n_clips - len(found) >= MIN_SUPPORT)

    def explain(row: int) -> tuple[object, object, str]:
        t, it, u, other, shared = found[row]
        name = it.name or it.source.name
        seconds = f"{shared} frames" if shared < fps * 2 else f"{number(shared / fps)} s"
        others = len(found) - 1
        habit = "the edit repeats no other media" if others == 0 else f"the edit repeats media {times(others)} elsewhere"
        text = (f"{place(ctx.seq, t, it.start)}: these {seconds} of '{name}' were already shown at "
                f"{timecode(ctx.seq, other.start)} on {track_name(u)}; {habit} (of {n_clips} clips)")
        return source_json(it.source, -1), None, text + ctx.notes(segs[row])

    return CandidateSet("repeat", np.asarray(rows, np.float64), segs, ["asset"] * len(segs), explain, np.array(allowed))


# --- a small source at 100 % ----------------------------------------------------------------


def _scale(it: Item) -> float:
    return it.motion.scale.value if it.motion is not None and not it.motion.scale.is_keyframed else math.nan


def _fills(it: Item, ctx: ReviewContext) -> bool:
    return bool(covers_frame(it, ctx.seq, np.array([(it.start + it.end) // 2]))[0])


def _too_small(it: Item, ctx: ReviewContext) -> float:
    """The share of the frame's width a source shows at 100 %, when it is smaller than the frame
    both ways and sits there unscaled and unmoved (else 0)."""
    if it.source.kind not in ("file", "still", "sequence") or not it.source.width or not it.source.height:
        return 0.0
    if it.motion is not None and not it.motion.is_default:
        return 0.0
    sw, sh = source_size(it, ctx.seq)
    if sw >= FILL_TOLERANCE * ctx.seq.width or sh >= FILL_TOLERANCE * ctx.seq.height:
        return 0.0
    return sw / ctx.seq.width


def resolution_candidates(ctx: ReviewContext) -> CandidateSet | None:
    tracks = _reviewed_items(ctx)
    filled_by_source: dict[str, list[float]] = defaultdict(list)
    filled_by_size: dict[tuple[int, int], list[float]] = defaultdict(list)
    for _, items in tracks:
        for it in items:
            if it.source.width and not math.isnan(_scale(it)) and _scale(it) != 100.0 and _fills(it, ctx):  # the cheap tests first
                filled_by_source[it.source.key].append(_scale(it))
                filled_by_size[(it.source.width, it.source.height)].append(_scale(it))
    found = []  # (track, item, share, scales, same source)
    for t, items in tracks:
        for it in items:
            share = _too_small(it, ctx)
            if share <= 0:
                continue
            same = filled_by_source.get(it.source.key, [])
            sized = filled_by_size.get((it.source.width, it.source.height), [])
            found.append((t, it, share, same if len(same) >= MIN_SUPPORT else sized, len(same) >= MIN_SUPPORT))
    if not found:
        return None
    rows, segs, allowed = [], [], []
    for t, it, share, scales, same in found:
        rows.append([_log1p(len(scales)), float(same), share, float(ctx.roles[t].role == "overlay")])
        segs.append(_segment(ctx, t, it.start, it.end, it))
        allowed.append(len(scales) >= MIN_SUPPORT)

    def explain(row: int) -> tuple[object, object, str]:
        t, it, share, scales, same = found[row]
        usual = Counter(round(s, 2) for s in scales).most_common(1)[0][0] if scales else 100.0
        w, h = it.source.width, it.source.height
        whose = "the same source is" if same else f"the {w}x{h} sources are"
        how = f"at {number(usual)} % the {len(scales)} other times" if same else f"at {number(usual)} % in {len(scales)} other clips"
        text = (f"{place(ctx.seq, t, it.start)}: '{it.name or it.source.name}' is a {w}x{h} source at 100 % in a "
                f"{ctx.seq.width}x{ctx.seq.height} sequence, so it leaves a border; {whose} {how}")
        return 100.0, round(float(usual), 4), text + ctx.notes(segs[row])

    return CandidateSet("resolution", np.asarray(rows, np.float64), segs, ["scale"] * len(segs), explain, np.array(allowed))
