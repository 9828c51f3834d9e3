"""`mttd dataset stats`: what a built dataset holds, per style (or source folder) and overall.

A *change* at step t is any difference between steps t-1 and t of one timeline. A *cut* on a track
is a change of `active` or of the source, or a jump in scale, position or crop (a value change that
does not continue a change of the step before, so keyframed ramps count once, where they start);
a *shot* is a run of active steps between cuts. The last shot of a timeline is cut short by its end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.features.grid import FIELDS, N_TRACKS
from model.training.dataset import SPLITS, load_manifest

SHOT_BINS_S = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 60.0, np.inf)
VALUE_BINS = {
    "scale": (-np.inf, 50.0, 75.0, 95.0, 105.0, 115.0, 125.0, 150.0, 200.0, np.inf),
    "pos_x": (-np.inf, -1.0, -0.5, -0.25, -0.05, 0.05, 0.25, 0.5, 1.0, np.inf),
    "pos_y": (-np.inf, -1.0, -0.5, -0.25, -0.05, 0.05, 0.25, 0.5, 1.0, np.inf),
    "crop": (-np.inf, 1e-6, 5.0, 10.0, 20.0, 30.0, 50.0, np.inf),
}
_VALUE_COLUMNS = {"scale": [2], "pos_x": [3], "pos_y": [4], "crop": [5, 6, 7, 8]}


class _Tally:
    """Counts for one group, summed over its timelines."""

    def __init__(self) -> None:
        self.timelines = 0
        self.steps = 0
        self.transitions = 0
        self.any_change = 0
        self.field_changes = np.zeros(len(FIELDS), np.int64)
        self.source_changes = 0
        self.shots = np.zeros(len(SHOT_BINS_S) - 1, np.int64)
        self.shot_lengths: list[np.ndarray] = []
        self.active_tracks = np.zeros(N_TRACKS + 1, np.int64)
        self.values = {k: np.zeros(len(b) - 1, np.int64) for k, b in VALUE_BINS.items()}

    def add(self, grid: np.ndarray, source_index: np.ndarray, step_s: float) -> None:
        active = grid[:, :, 0] > 0.5
        self.timelines += 1
        self.steps += grid.shape[0]
        self.active_tracks += np.bincount(active.sum(axis=1), minlength=N_TRACKS + 1)
        cells = grid[active]
        for name, cols in _VALUE_COLUMNS.items():
            self.values[name] += np.histogram(cells[:, cols].ravel(), bins=VALUE_BINS[name])[0]
        if grid.shape[0] < 2:
            return
        diff = grid[1:] != grid[:-1]  # (T-1, 20, 9)
        source_diff = source_index[1:] != source_index[:-1]
        self.transitions += diff.shape[0]
        self.any_change += int((diff.any(axis=(1, 2)) | source_diff.any(axis=1)).sum())
        self.field_changes += diff.any(axis=1).sum(axis=0)
        self.source_changes += int(source_diff.any(axis=1).sum())
        lengths = _shot_lengths(active, diff, source_diff) * step_s
        self.shot_lengths.append(lengths)
        self.shots += np.histogram(lengths, bins=SHOT_BINS_S)[0]

    def result(self) -> dict:
        lengths = np.concatenate(self.shot_lengths) if self.shot_lengths else np.zeros(0)
        per = max(1, self.transitions)
        return {
            "timelines": self.timelines,
            "steps": self.steps,
            "change_fraction": self.any_change / per,
            "field_change_rates": {f: float(c) / per for f, c in zip(FIELDS, self.field_changes)},
            "source_change_rate": self.source_changes / per,
            "shot_length_s": {
                "bins": [float(b) for b in SHOT_BINS_S], "counts": self.shots.tolist(), "shots": int(lengths.size),
                "median": float(np.median(lengths)) if lengths.size else 0.0,
                "mean": float(lengths.mean()) if lengths.size else 0.0,
            },
            "active_tracks": _fractions(self.active_tracks),
            "mean_active_tracks": float((np.arange(N_TRACKS + 1) * self.active_tracks).sum() / max(1, self.steps)),
            "values": {k: {"bins": [float(b) for b in VALUE_BINS[k]], "fractions": _fractions(v)} for k, v in self.values.items()},
        }


def _fractions(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c) / total if total else 0.0 for c in counts]


def _shot_lengths(active: np.ndarray, diff: np.ndarray, source_diff: np.ndarray) -> np.ndarray:
    """Lengths in steps of every shot on every track of one timeline."""
    value_change = diff[:, :, 2:].any(axis=2)  # (T-1, 20)
    ramp = np.zeros_like(value_change)
    ramp[1:] = value_change[:-1]
    cut = diff[:, :, 0] | diff[:, :, 1] | source_diff | (value_change & ~ramp)
    cut = np.concatenate([np.ones((1, active.shape[1]), bool), cut])  # a shot starts on the first step
    segment = np.cumsum(cut, axis=0)  # (T, 20): shot number per track
    out = []
    for track in np.flatnonzero(active.any(axis=0)):
        counts = np.bincount(segment[active[:, track], track])
        out.append(counts[counts > 0])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def dataset_stats(data_dir: str | Path) -> dict:
    """Statistics of both splits, grouped by style (synthetic files) or by source folder."""
    manifest = load_manifest(data_dir)
    step_s = float(eval_fraction(manifest["step_seconds"]))
    groups: dict[str, _Tally] = {}
    overall = _Tally()
    timelines = manifest["timelines"]
    for split in SPLITS:
        for shard in manifest.get("shards", {}).get(split, []):
            with np.load(Path(data_dir) / shard["file"], allow_pickle=False) as z:
                grid, index, offsets, ids = z["grid"], z["source_index"], z["offsets"], z["timeline_ids"]
            for k, tid in enumerate(ids):
                rows = slice(int(offsets[k]), int(offsets[k + 1]))
                entry = timelines[int(tid)]
                if entry.get("phase_frames"):
                    continue  # jittered copies would count the same edit twice
                group = entry.get("style") or Path(entry["path"]).parent.name
                groups.setdefault(group, _Tally()).add(grid[rows], index[rows], step_s)
                overall.add(grid[rows], index[rows], step_s)
    return {"step_seconds": manifest["step_seconds"], "overall": overall.result(),
            "groups": {g: t.result() for g, t in sorted(groups.items())}}


def eval_fraction(text: str) -> float:
    num, _, den = str(text).partition("/")
    return float(num) / float(den or 1)


def format_stats(stats: dict) -> str:
    """Plain-text tables of `dataset_stats`."""
    rows = [("overall", stats["overall"]), *stats["groups"].items()]
    w = max(len(name) for name, _ in rows) + 2
    lines = [f"step {stats['step_seconds']} s; rates are per step transition; shot = run between cuts on one track", ""]
    head = f"{'group':<{w}}{'tl':>6}{'steps':>10}{'chg%':>7}" + "".join(f"{f[:6]:>8}" for f in FIELDS) + f"{'shot~s':>8}{'act':>6}"
    lines.append(head)
    for name, s in rows:
        rates = "".join(f"{100 * s['field_change_rates'][f]:>8.2f}" for f in FIELDS)
        lines.append(f"{name:<{w}}{s['timelines']:>6}{s['steps']:>10}{100 * s['change_fraction']:>7.2f}{rates}"
                     f"{s['shot_length_s']['median']:>8.1f}{s['mean_active_tracks']:>6.2f}")
    lines += ["", "shot length (s), % of shots:"]
    lines += _histogram_rows(rows, w, lambda s: (s["shot_length_s"]["bins"], _percent(s["shot_length_s"]["counts"])))
    lines += ["", "active tracks per step, % of steps:"]
    width = max(len(s["active_tracks"]) - next((i for i, v in enumerate(reversed(s["active_tracks"])) if v > 0), 0) for _, s in rows)
    lines.append(f"{'':<{w}}" + "".join(f"{i:>6}" for i in range(width)))
    lines += [f"{n:<{w}}" + "".join(f"{100 * v:>6.1f}" for v in s["active_tracks"][:width]) for n, s in rows]
    for key in VALUE_BINS:
        lines += ["", f"{key}, % of active cells:"]
        lines += _histogram_rows(rows, w, lambda s, key=key: (s["values"][key]["bins"], [100 * v for v in s["values"][key]["fractions"]]))
    return "\n".join(lines)


def _percent(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [100 * c / total if total else 0.0 for c in counts]


def _histogram_rows(rows, w: int, pick) -> list[str]:
    bins = pick(rows[0][1])[0]
    labels = [f"<{hi:g}" if lo == -np.inf else (f">={lo:g}" if hi == np.inf else f"{lo:g}-{hi:g}") for lo, hi in zip(bins, bins[1:])]
    out = [f"{'':<{w}}" + "".join(f"{lab:>12}" for lab in labels)]
    for name, s in rows:
        out.append(f"{name:<{w}}" + "".join(f"{v:>12.1f}" for v in pick(s)[1]))
    return out
