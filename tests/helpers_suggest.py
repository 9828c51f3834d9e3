"""Small hand-built timelines and predictors for the suggestion tests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.features.grid import N_TRACKS, SequenceFeatures
from model.inference.predictor import PersistencePredictor, Rollout
from model.timeline.types import Crop, Item, Motion, Rate, Sequence, Source, Timeline, Track, const

FPS = 25


def source(name: str, kind: str = "file") -> Source:
    path = f"file:///media/{name}" if kind in ("file", "still") else None
    return Source(key=path or f"generator:{name}", name=name, kind=kind, path=path, width=1920, height=1080, duration=FPS * 3600)


CAM_A, CAM_B, WIDE = source("camA.mov"), source("camB.mov"), source("wide.mov")
FACE = source("face.mov")


def interview(seconds: int = 120, *, gap: tuple[int, int] | None = None, rate: Rate = Rate(FPS)) -> Sequence:
    """A two-camera interview on V1 (A and B alternate, 3-5 s shots, A plain, B punched in at 120 %)
    with a face-cam picture-in-picture on V2 (scale 30, bottom right, cropped) over every other shot.
    `gap` = (start s, end s) leaves a stretch of both tracks empty."""
    fps = int(round(float(rate.fps)))
    rng = np.random.default_rng(3)
    v1, v2 = [], []
    t, k = 0, 0
    end_all = seconds * fps
    while t < end_all:
        length = int(rng.integers(3 * fps, 5 * fps))
        end = min(end_all, t + length)
        if gap is None or not (gap[0] * fps < end and t < gap[1] * fps):
            cam = CAM_A if k % 2 == 0 else CAM_B
            motion = None if cam is CAM_A else Motion(const(120.0), const(0.05), const(-0.03))
            v1.append(Item(t, end, cam, in_frame=t, motion=motion, name=cam.name))
            if k % 2 == 1:
                pip = Motion(const(30.0), const(0.3), const(0.3))
                v2.append(Item(t, end, FACE, in_frame=t, motion=pip, crop=Crop(const(10.0), const(10.0)), name="face"))
        t, k = end, k + 1
    return Sequence(name="Interview", rate=rate, video_tracks=(Track(tuple(v1)), Track(tuple(v2))), width=1920, height=1080)


def as_timeline(*sequences: Sequence, path: str = "interview.xml") -> Timeline:
    return Timeline(path=path, sequences=tuple(sequences))


def with_item(seq: Sequence, track: int, index: int, **changes) -> Sequence:
    tracks = list(seq.video_tracks)
    items = list(tracks[track].items)
    items[index] = replace(items[index], **changes)
    tracks[track] = replace(tracks[track], items=tuple(items))
    return replace(seq, video_tracks=tuple(tracks))


class FlickerPredictor(PersistencePredictor):
    """A predictor whose rollouts cut between the timeline's first sources every `every` steps and
    flash a one-step blip of another source (or an unknown one) in between: what the segment
    builder must clean up. Its source indices are left out (-1) on odd tracks, so the engine has
    to map slots back to media itself."""

    name = "flicker"

    def __init__(self, every: int = 13) -> None:
        self.every = every

    def rollout(self, feats: SequenceFeatures, start: int, n_steps: int) -> Rollout:
        n_src = len(feats.sources)
        grid = np.zeros((n_steps, N_TRACKS, 9), np.float32)
        index = np.full((n_steps, N_TRACKS), -1, np.int32)
        for track in range(3):
            for i in range(n_steps):
                src = (i // self.every + track) % n_src
                if i % self.every == self.every // 2:
                    src = (src + 1) % n_src  # a one-step flash
                grid[i, track, 0], grid[i, track, 1], grid[i, track, 2] = 1.0, min(src, 9), 100.0 + track
                if track % 2 == 0:
                    index[i, track] = src
        return Rollout(grid=grid, source_index=index, confidence=np.full((n_steps, N_TRACKS), 0.5, np.float32))
