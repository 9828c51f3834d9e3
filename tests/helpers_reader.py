"""Timelines for the reader tests and benchmark: Hypothesis strategies and a seeded builder."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import strategies as st

from model.features.grid import SequenceFeatures, featurize
from model.timeline.types import (
    Crop,
    Item,
    Keyframe,
    Marker,
    Motion,
    Param,
    Rate,
    Sequence,
    Source,
    Timeline,
    Track,
    Transition,
)
from model.timeline.xmeml import cut_point

NAME_CHARS = st.characters(codec="utf-8", categories=("L", "N"), include_characters=" -_.&<>'\"")
names = st.text(NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
rates = st.builds(Rate, st.sampled_from([24, 25, 30, 50, 60]), st.booleans())
values = st.floats(-2000, 2000, allow_nan=False, allow_infinity=False)


@st.composite
def sources(draw, index: int) -> Source:
    """One source of any kind; keys are unique per index so interning cannot merge them."""
    kind = draw(st.sampled_from(["file", "file", "still", "named", "generator", "sequence", "masterclip"]))
    name = draw(names)
    if kind in ("file", "still"):
        ext = ".png" if kind == "still" else ".mov"
        path = f"file://localhost/media/clip%20{index}{ext}"
        size = draw(st.one_of(st.none(), st.tuples(st.integers(16, 8192), st.integers(16, 8192))))
        return Source(path, name, kind, path=path, width=size and size[0], height=size and size[1],
                      duration=draw(st.one_of(st.none(), st.integers(1, 10**6))))
    if kind == "named":
        return Source(f"{name} {index}", f"{name} {index}", "file")
    if kind == "generator":
        return Source(f"generator:Gen{index}", name, "generator")
    if kind == "sequence":
        return Source(f"sequence:nest-{index}", name, "sequence", duration=draw(st.integers(1, 5000)))
    return Source(f"masterclip:mc-{index}", name, "masterclip")


@st.composite
def params(draw, default: float) -> Param:
    if draw(st.booleans()):
        return Param(draw(st.one_of(st.just(default), values)))
    return Param(draw(values), draw(keyframes()))


@st.composite
def keyframes(draw, whens: list[int] | None = None) -> tuple[Keyframe, ...]:
    if whens is None:
        whens = draw(_whens())
    return tuple(Keyframe(w, draw(values)) for w in whens)


def _whens():
    """Sorted distinct source frames, sometimes led by Premiere's huge negative sentinel."""
    keys = st.lists(st.integers(0, 3000), min_size=1, max_size=4, unique=True).map(sorted)
    return st.tuples(st.booleans(), keys).map(lambda t: ([-78277] if t[0] else []) + t[1])


@st.composite
def motions(draw) -> Motion | None:
    if draw(st.booleans()):
        return None
    whens = draw(st.one_of(st.none(), _whens()))  # xmeml keys both centre axes together
    if whens is None:
        cx, cy = Param(draw(values)), Param(draw(values))
    else:
        cx, cy = Param(draw(values), draw(keyframes(whens))), Param(draw(values), draw(keyframes(whens)))
    return Motion(draw(params(100.0)), cx, cy)


@st.composite
def crops(draw) -> Crop | None:
    if draw(st.booleans()):
        return None
    return Crop(*(draw(params(0.0)) for _ in range(4)))


@st.composite
def tracks(draw, pool: list[Source]) -> Track:
    """Abutting or gapped items; transitions sit exactly on some cuts between abutting items."""
    items: list[Item] = []
    transitions: list[Transition] = []
    frame = draw(st.integers(0, 50))
    for _ in range(draw(st.integers(0, 6))):
        length = draw(st.integers(1, 400))
        source = draw(st.sampled_from(pool))
        item = Item(frame, frame + length, source, in_frame=draw(st.integers(0, 500)),
                    enabled=draw(st.booleans()), motion=draw(motions()), crop=draw(crops()),
                    name=source.name, kind="generator" if source.kind == "generator" else "clip")
        if items and items[-1].end == frame and draw(st.booleans()):
            transitions.append(draw(transition_at(frame)))
        items.append(item)
        frame += length + draw(st.sampled_from([0, 0, 0, 7, 120]))
    return Track(tuple(items), draw(st.booleans()), tuple(transitions))


@st.composite
def transition_at(draw, cut: int) -> Transition:
    alignment = draw(st.sampled_from(["center", "start", "end", "start-black", "end-black"]))
    half = draw(st.integers(0, 15))
    if alignment == "center":
        start, end = cut - half, cut + half + draw(st.integers(0, 1))
    elif alignment.startswith("start"):
        start, end = cut, cut + half + 1
    else:
        start, end = cut - half - 1, cut
    t = Transition(start, end, alignment)
    assert cut_point(t) == cut
    return t


@st.composite
def sequences(draw, pool: list[Source], index: int) -> Sequence:
    n = draw(st.integers(0, 4))
    markers = draw(st.lists(st.builds(Marker, names, st.integers(0, 2000), names,
                                      st.one_of(st.none(), st.integers(2001, 3000))), max_size=2))
    return Sequence(
        name=f"{draw(names)} {index}",
        rate=draw(rates),
        video_tracks=tuple(draw(tracks(pool)) for _ in range(n)),
        width=draw(st.integers(16, 8192)),
        height=draw(st.integers(16, 8192)),
        drop_frame=draw(st.booleans()),
        timecode_start=draw(st.integers(0, 200000)),
        markers=tuple(markers),
    )


@st.composite
def timelines(draw, kinds: tuple[str, ...] | None = None) -> Timeline:
    pool = [draw(sources(i)) for i in range(draw(st.integers(1, 8)))]
    if kinds is not None:
        pool = [s for s in pool if s.kind in kinds] or [Source("file:///a.mov", "a.mov", path="file:///a.mov")]
    seqs = tuple(draw(sequences(pool, i)) for i in range(draw(st.integers(1, 2))))
    return Timeline("<generated>", seqs)


def same_features(a: SequenceFeatures, b: SequenceFeatures) -> bool:
    return (
        np.array_equal(a.grid, b.grid)
        and np.array_equal(a.source_index, b.source_index)
        and np.array_equal(a.source_kind, b.source_kind)
        and a.assets() == b.assets()
        and a.tracks_total == b.tracks_total
        and (a.name, a.rate, a.frame_size) == (b.name, b.rate, b.frame_size)
    )


def features_of(timeline: Timeline) -> list[SequenceFeatures]:
    return [featurize(s) for s in timeline.sequences]


def build_timeline(n_tracks: int = 20, n_clips: int = 2000, *, seed: int = 7, rate: Rate = Rate(25)) -> Timeline:
    """A seeded edit: `n_clips` clips over `n_tracks` tracks, ~80 sources, motion, crop, keyframes, dissolves."""
    rng = random.Random(seed)
    pool = [Source(f"file://localhost/media/shot_{i:03d}.mov", f"shot_{i:03d}.mov", path=f"file://localhost/media/shot_{i:03d}.mov",
                   width=1920, height=1080, duration=20000) for i in range(80)]
    per_track = [n_clips // n_tracks + (1 if t < n_clips % n_tracks else 0) for t in range(n_tracks)]
    video = []
    for t, count in enumerate(per_track):
        frame, items, transitions = rng.randrange(0, 100), [], []
        for _ in range(count):
            length = rng.randrange(12, 250)
            if items and items[-1].end == frame and rng.random() < 0.2:
                transitions.append(Transition(frame - 5, frame + 5, "center"))
            items.append(Item(frame, frame + length, rng.choice(pool), in_frame=rng.randrange(0, 5000),
                              enabled=rng.random() > 0.05, motion=_random_motion(rng), crop=_random_crop(rng)))
            frame += length + (0 if rng.random() < 0.7 else rng.randrange(1, 100))
        video.append(Track(tuple(items), t != n_tracks - 1 or rng.random() < 0.5, tuple(transitions)))
    seq = Sequence(f"generated {n_tracks}x{n_clips}", rate, tuple(video), timecode_start=90000)
    return Timeline("<generated>", (seq,))


def _random_motion(rng: random.Random) -> Motion | None:
    if rng.random() < 0.5:
        return None
    if rng.random() < 0.3:
        k = rng.randrange(0, 4000)
        scale = Param(100.0, (Keyframe(k, 100.0), Keyframe(k + 50, round(rng.uniform(100, 200), 3))))
    else:
        scale = Param(round(rng.uniform(50, 200), 3))
    return Motion(scale, Param(round(rng.uniform(-0.5, 0.5), 5)), Param(round(rng.uniform(-0.5, 0.5), 5)))


def _random_crop(rng: random.Random) -> Crop | None:
    if rng.random() < 0.8:
        return None
    return Crop(Param(round(rng.uniform(0, 30), 2)), Param(0.0), Param(round(rng.uniform(0, 20), 2)), Param(0.0))
