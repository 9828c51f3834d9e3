"""Tiny data and models for the ML tests: a few short synthetic timelines as real shards."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.features.grid import N_TRACKS, SequenceFeatures
from model.timeline.types import Rate, Source
from model.timeline.xmeml_writer import write_xmeml_file
from model.training.dataset import BuildOptions, build_dataset
from model.training.synth import STYLES, synthesize

TINY = {"d_model": 32, "n_layer": 2, "n_head": 4, "d_ff": 64, "d_track": 8, "d_dec": 16}
WINDOW = 64


def write_timelines(folder: Path, n: int, seed: int = 7, minutes: tuple[float, float] = (0.25, 0.4), styles=STYLES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        style = styles[k % len(styles)]
        tl = synthesize(style, seed, k, minutes)
        write_xmeml_file(tl, folder / f"{style}-{k:05d}.xml")
    return folder


def make_dataset(root: Path, n: int = 10, val_fraction: float = 0.3, seed: int = 7, styles=STYLES) -> Path:
    """Timelines under root/timelines, shards under root/ds (windows of WINDOW steps)."""
    src = write_timelines(root / "timelines", n, seed, styles=styles)
    build_dataset([src], root / "ds", BuildOptions(window=WINDOW, stride=WINDOW // 2, val_fraction=val_fraction, jobs=1))
    return root / "ds"


def train_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--out", str(out), "--window", str(WINDOW), "--config", json.dumps(TINY),
            "--batch", "4", "--threads", "1", "--eval-timelines", "0", "--quiet", *extra]


def features(grid: np.ndarray, source_index: np.ndarray, kinds: np.ndarray | None = None) -> SequenceFeatures:
    """SequenceFeatures around hand-made arrays (sources are placeholders)."""
    n_src = int(source_index.max()) + 1 if source_index.size else 0
    kind = np.where(source_index >= 0, 1, 0).astype(np.int8) if kinds is None else kinds
    return SequenceFeatures(name="hand", rate=Rate(25), frame_size=(1920, 1080), step_seconds=Fraction(1, 10),
                            grid=grid.astype(np.float32), source_index=source_index.astype(np.int32), source_kind=kind,
                            sources=[Source(key=f"s{i}", name=f"s{i}") for i in range(n_src)], tracks_total=N_TRACKS)


def hand_grid(shots: list[tuple[int, int, int]], steps: int, track: int = 0, scale=None) -> tuple[np.ndarray, np.ndarray]:
    """A grid with shots (start, end, source) on one track; slot = min(source, 9); scale per shot optional."""
    grid = np.zeros((steps, N_TRACKS, 9), np.float32)
    src = np.full((steps, N_TRACKS), -1, np.int32)
    for k, (a, b, s) in enumerate(shots):
        grid[a:b, track, 0] = 1
        grid[a:b, track, 1] = min(s, 9)
        grid[a:b, track, 2] = 100.0 if scale is None else scale[k]
        src[a:b, track] = s
    return grid, src
