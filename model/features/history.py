"""What a timeline's past says about each track now: cuts, changes, shot age and source recency.

Numpy only (no torch). One incremental `History` serves the dataset (every step of a timeline),
the evaluation and the rollout (one generated step at a time), so training and generation see the
same features. Definitions:

- a *cut* on a track at step t: its (active, source) pair differs from step t-1 (the step before
  the first counts as all inactive), so a track switching on, off or to another source cuts;
- a *change*: a cut, or an active track whose scale/position/crop values moved;
- *recency class* of the source a track shows after a cut, against the history before it:
  0 = a source never shown before on any track (a "new" source), k in 1..TRACK_MRU = the k-th most
  recently shown source on this track, TRACK_MRU + 1 = shown before, but elsewhere or longer ago.
  Real timelines use most sources once, so slot 9 ("any later source") holds most of their cells;
  the class still says "new" or "the camera two shots ago" there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.features.grid import MAX_SLOT, N_TRACKS

TRACK_MRU = 6
N_RECENCY = TRACK_MRU + 2  # new, 1..TRACK_MRU, elsewhere
ELSEWHERE = TRACK_MRU + 1
N_AGE = 22  # steps since a cut, half-log2 buckets: 0, 1, 2, 3, 4-5, 6-7, 8-11, 12-15, ..., >= 1024
SEEN_EDGES = (1, 10, 30, 100, 300)  # steps since the source was last visible anywhere
N_SEEN = len(SEEN_EDGES) + 2  # new, <= 1, <= 10, <= 30, <= 100, <= 300, longer
VALUE_EPS = 1e-6


def age_bucket(steps: np.ndarray | int) -> np.ndarray:
    steps = np.asarray(steps, np.int64)
    safe = np.maximum(steps, 1)
    return np.where(steps <= 0, 0, np.minimum(1 + np.floor(2 * np.log2(safe) + 1e-9).astype(np.int64), N_AGE - 1))


def seen_bucket(gap: int) -> int:
    """1 + the first edge the gap fits under; N_SEEN - 1 when longer (0 is reserved for new)."""
    for b, edge in enumerate(SEEN_EDGES):
        if gap <= edge:
            return 1 + b
    return N_SEEN - 1


@dataclass
class StepState:
    """What `History.step` says about the step it was given (all arrays have one entry per track)."""

    cut: np.ndarray  # bool
    change: np.ndarray  # bool
    recency: np.ndarray  # int8: recency class at the shot's cut, held through the shot; -1 inactive
    seen: np.ndarray  # int8: seen bucket at the shot's cut, held; 0 new (or inactive)
    age: np.ndarray  # int64: age bucket of the steps since the track's last cut
    age_any: int  # age bucket of the steps since the last cut on any track


class History:
    """Feed steps in order with `step`; ask `candidates` which concrete sources could come next."""

    def __init__(self, n_tracks: int = N_TRACKS) -> None:
        self.t = -1
        self.active = np.zeros(n_tracks, bool)
        self.src = np.full(n_tracks, -1, np.int64)
        self.values = np.zeros((n_tracks, 7), np.float32)
        self.framing = np.zeros((n_tracks, 7), np.float32)  # each track's values when it was last active
        self.framed = np.zeros(n_tracks, bool)  # the track has been active (so `framing` means something)
        self.mru: list[list[int]] = [[] for _ in range(n_tracks)]  # most recent first
        self.last_seen: dict[int, int] = {}  # source index -> last step it was visible
        self.since_cut = np.zeros(n_tracks, np.int64)
        self.since_any = 0
        self.recency = np.full(n_tracks, -1, np.int8)
        self.seen = np.zeros(n_tracks, np.int8)

    @classmethod
    def after(cls, grid: np.ndarray, source_index: np.ndarray, arrays: HistoryArrays | None = None) -> History:
        """The state `feed(History(), grid, source_index)` leaves, without stepping through the grid.

        A rollout at the end of a long timeline needs only this state and the last `context`
        steps' features; stepping a History through 6,000 steps cost 0.5 s of Python.
        """
        steps, n_tracks = grid.shape[:2]
        arrays = history_arrays(grid, source_index) if arrays is None else arrays
        hist = cls(n_tracks)
        if steps == 0:
            return hist
        active = grid[..., 0] > 0.5
        src = np.where(active, source_index.astype(np.int64), -1)
        hist.t = steps - 1
        hist.active, hist.src, hist.values = active[-1].copy(), src[-1].copy(), grid[-1, :, 2:].astype(np.float32)
        last_on = steps - 1 - np.argmax(active[::-1], axis=0)
        hist.framed = active.any(axis=0)
        hist.framing = np.where(hist.framed[:, None], grid[last_on, np.arange(n_tracks), 2:], 0.0).astype(np.float32)
        for i in range(n_tracks):
            shown = src[arrays.cut[:, i] & active[:, i], i]
            hist.mru[i] = list(dict.fromkeys(int(x) for x in shown[::-1]))[:TRACK_MRU]
        t_vis, i_vis = np.nonzero(active)  # row-major: the order `step` first sees each source in
        s_vis = src[t_vis, i_vis]
        if len(s_vis):
            first = np.unique(s_vis, return_index=True)
            last_t = np.full(int(s_vis.max()) + 1, -1, np.int64)
            np.maximum.at(last_t, s_vis, t_vis)
            hist.last_seen = {int(x): int(last_t[x]) for x in first[0][np.argsort(first[1])]}
        t = np.arange(steps)
        last_cut = np.maximum.accumulate(np.where(arrays.cut, t[:, None], -1), axis=0)[-1]
        hist.since_cut = np.where(last_cut >= 0, steps - 1 - last_cut, steps).astype(np.int64)
        any_cut = np.flatnonzero(arrays.cut.any(axis=1))
        hist.since_any = steps - 1 - int(any_cut[-1]) if len(any_cut) else steps
        hist.recency, hist.seen = arrays.recency[-1].astype(np.int8), arrays.seen[-1].astype(np.int8)
        return hist

    @property
    def next_new(self) -> int:
        """The index a new source gets: sources are numbered in first-use order."""
        return max(self.last_seen, default=-1) + 1

    def recency_class(self, track: int, source: int) -> int:
        if source not in self.last_seen:
            return 0
        mru = self.mru[track]
        return 1 + mru.index(source) if source in mru else ELSEWHERE

    def step(self, active: np.ndarray, src: np.ndarray, values: np.ndarray) -> StepState:
        active = np.asarray(active, bool)
        src = np.where(active, np.asarray(src, np.int64), -1)
        self.t += 1
        cut = (active != self.active) | (active & (src != self.src))
        moved = np.any(np.abs(values - self.values) > VALUE_EPS, axis=-1)
        change = cut | (active & moved)
        for i in np.flatnonzero(cut & active):
            s = int(src[i])
            self.recency[i] = self.recency_class(i, s)
            self.seen[i] = 0 if s not in self.last_seen else seen_bucket(self.t - self.last_seen[s])
        for i in np.flatnonzero(cut & active):
            self._remember(i, int(src[i]))
        self.recency[~active] = -1
        self.seen[~active] = 0
        for s in src[active]:
            self.last_seen[int(s)] = self.t
        self.since_cut = np.where(cut, 0, self.since_cut + 1)
        self.since_any = 0 if cut.any() else self.since_any + 1
        self.active, self.src, self.values = active, src, np.asarray(values, np.float32)
        self.framing[active] = self.values[active]
        self.framed |= active
        return StepState(
            cut=cut,
            change=change,
            recency=self.recency.copy(),
            seen=self.seen.copy(),
            age=age_bucket(self.since_cut),
            age_any=int(age_bucket(self.since_any)),
        )

    def _remember(self, track: int, source: int) -> None:
        mru = self.mru[track]
        if source in mru:
            mru.remove(source)
        mru.insert(0, source)
        del mru[TRACK_MRU:]

    def candidates(self, track: int) -> list[tuple[int, int]]:
        """(source index, recency class) of the sources a cut on `track` could show next.

        The track's recent sources, every source that has a slot of its own (index < 9), the most
        recently visible source elsewhere, and the next new source.
        """
        out = {s: self.recency_class(track, s) for s in self.mru[track]}
        for s in self.last_seen:
            if s < MAX_SLOT:
                out.setdefault(s, self.recency_class(track, s))
        elsewhere = [s for s in self.last_seen if s not in out]
        if elsewhere:
            latest = max(elsewhere, key=lambda s: self.last_seen[s])
            out[latest] = ELSEWHERE
        out[self.next_new] = 0
        return list(out.items())

    def choose_source(self, track: int, slot_probs: np.ndarray, recency_probs: np.ndarray) -> tuple[int, float]:
        """The most likely concrete source: P(slot of s) x P(recency class of s), normalised."""
        cands = self.candidates(track)
        scores = score_candidates(cands, slot_probs, recency_probs)
        best = int(np.argmax(scores))
        return cands[best][0], float(scores[best] / max(scores.sum(), 1e-12))


def score_candidates(
    cands: list[tuple[int, int]], slot_probs: np.ndarray, recency_probs: np.ndarray
) -> np.ndarray:
    """Joint score per candidate; the 'elsewhere' mass is shared by the candidates holding it."""
    classes = np.array([c for _, c in cands])
    share = np.bincount(classes, minlength=N_RECENCY).astype(np.float64)
    slots = np.array([min(s, MAX_SLOT) for s, _ in cands])
    return slot_probs[slots] * recency_probs[classes] / share[classes]


@dataclass
class HistoryArrays:
    """History features of every step of one sequence, (T, 20) unless noted."""

    cut: np.ndarray  # bool
    change: np.ndarray  # bool
    recency: np.ndarray  # int8, -1 inactive
    seen: np.ndarray  # int8
    age: np.ndarray  # int8
    age_any: np.ndarray  # int8 (T,)

    def rows(self, sl: slice) -> HistoryArrays:
        """The same steps' features for a slice of rows (the features are causal: a prefix's are a prefix)."""
        return HistoryArrays(**{k: getattr(self, k)[sl] for k in self.__dataclass_fields__})


def feed(hist: History, grid: np.ndarray, source_index: np.ndarray) -> HistoryArrays:
    """Step `hist` through a grid (T, 20, 9) one step at a time (the rollout's way)."""
    steps = grid.shape[0]
    out = HistoryArrays(
        cut=np.zeros((steps, N_TRACKS), bool),
        change=np.zeros((steps, N_TRACKS), bool),
        recency=np.zeros((steps, N_TRACKS), np.int8),
        seen=np.zeros((steps, N_TRACKS), np.int8),
        age=np.zeros((steps, N_TRACKS), np.int8),
        age_any=np.zeros(steps, np.int8),
    )
    active = grid[..., 0] > 0.5
    for t in range(steps):
        st = hist.step(active[t], source_index[t], grid[t, :, 2:])
        out.cut[t], out.change[t], out.recency[t] = st.cut, st.change, st.recency
        out.seen[t], out.age[t], out.age_any[t] = st.seen, st.age, st.age_any
    return out


def history_arrays(grid: np.ndarray, source_index: np.ndarray) -> HistoryArrays:
    """The same as `feed(History(), ...)`, vectorised: Python only visits the cuts."""
    steps = grid.shape[0]
    active = grid[..., 0] > 0.5
    src = np.where(active, source_index.astype(np.int64), -1)
    values = grid[..., 2:]
    prev_active = np.vstack([np.zeros((1, N_TRACKS), bool), active[:-1]])
    prev_src = np.vstack([np.full((1, N_TRACKS), -1, np.int64), src[:-1]])
    prev_values = np.concatenate([np.zeros((1, N_TRACKS, 7), values.dtype), values[:-1]])
    cut = (active != prev_active) | (active & (src != prev_src))
    change = cut | (active & np.any(np.abs(values - prev_values) > VALUE_EPS, axis=-1))
    t = np.arange(steps)
    since = t[:, None] - np.maximum.accumulate(np.where(cut, t[:, None], -1), axis=0)
    any_cut = cut.any(axis=1)
    since_any = t - np.maximum.accumulate(np.where(any_cut, t, -1))
    rec_at, seen_at = _recency_at_cuts(cut & active, src, active)
    last_cut = np.maximum.accumulate(np.where(cut, t[:, None], -1), axis=0)
    cols = np.broadcast_to(np.arange(N_TRACKS), last_cut.shape)
    held = active & (last_cut >= 0)
    rows = np.maximum(last_cut, 0)
    return HistoryArrays(
        cut=cut,
        change=change,
        recency=np.where(held, rec_at[rows, cols], -1).astype(np.int8),
        seen=np.where(held, seen_at[rows, cols], 0).astype(np.int8),
        age=age_bucket(since).astype(np.int8),
        age_any=age_bucket(since_any).astype(np.int8),
    )


def framing_arrays(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each track's values at its last active step up to and including t (T, 20, 7), and whether
    it has had one (T, 20): what `History.framing` and `History.framed` hold after step t."""
    t = np.arange(grid.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(grid[..., 0] > 0.5, t, -1), axis=0)
    cols = np.broadcast_to(np.arange(grid.shape[1]), last.shape)
    framed = last >= 0
    return np.where(framed[..., None], grid[np.maximum(last, 0), cols, 2:], 0.0).astype(np.float32), framed


def _recency_at_cuts(shows: np.ndarray, src: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recency class and seen bucket at every cut that shows a source (T, 20); 0 elsewhere."""
    rec = np.zeros(shows.shape, np.int8)
    seen = np.zeros(shows.shape, np.int8)
    vis_t, vis_i = np.nonzero(active)
    vis_s = src[vis_t, vis_i]
    order = np.lexsort((vis_t, vis_s))
    vis_s, vis_t = vis_s[order], vis_t[order]
    starts = np.searchsorted(vis_s, np.arange(vis_s.max() + 2 if len(vis_s) else 1))
    mru: list[list[int]] = [[] for _ in range(N_TRACKS)]
    for t, i in zip(*np.nonzero(shows)):
        s = int(src[t, i])
        steps_of_s = vis_t[starts[s] : starts[s + 1]]
        k = np.searchsorted(steps_of_s, t) - 1  # last visible step before t
        if k < 0:
            rec[t, i] = 0
        else:
            rec[t, i] = 1 + mru[i].index(s) if s in mru[i] else ELSEWHERE
            seen[t, i] = seen_bucket(int(t - steps_of_s[k]))
        if s in mru[i]:
            mru[i].remove(s)
        mru[i].insert(0, s)
        del mru[i][TRACK_MRU:]
    return rec, seen


def single_step(st: StepState) -> HistoryArrays:
    """One step's state as (1, 1, 20) arrays, for incremental decoding."""
    return HistoryArrays(
        cut=st.cut[None, None],
        change=st.change[None, None],
        recency=st.recency[None, None],
        seen=st.seen[None, None],
        age=st.age[None, None],
        age_any=np.array([[st.age_any]]),
    )
