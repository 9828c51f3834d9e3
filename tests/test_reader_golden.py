"""Golden expectations, each checked by hand against the XML (tests/data/golden/*.json, "from" says where).

A golden file names a corpus file (`corpus:`) or a hand-written fixture beside it (`fixture:`,
for quirks the corpus lacks) and lists checks on sequences, tracks, items, markers, assets and
feature cells. Together they must cover every quirk issue 2 lists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.features.grid import FIELDS, featurize
from model.timeline.types import SOURCE_KINDS, Item, Timeline
from model.timeline.xmeml import read_xmeml
from tests.conftest import CORPUS

GOLDEN = Path(__file__).parent / "data" / "golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))
REQUIRED_QUIRKS = {
    "transitions",
    "disabled clips",
    "disabled tracks",
    "forward file references",
    "nested sequences",
    "generators",
    "keyframed motion",
    "keyframed crop",
    "more than 20 tracks",
    "NTSC rates",
    "several sequences",
    "masterclipid-only clipitems",
    "negative keyframe sentinel",
    "project and bin wrappers",
    "file definitions in bin master clips",
    "UTF-8 BOM",
    "mixed-case booleans",
    "disabled filters",
    "Basic Motion by effectid (GUID names)",
}


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source_file(spec: str) -> Path:
    kind, _, name = spec.partition(":")
    return (CORPUS if kind == "corpus" else GOLDEN) / name


def test_goldens_cover_every_quirk_and_ten_corpus_files():
    goldens = [_load(p) for p in GOLDEN_FILES]
    covered = set().union(*(g["covers"] for g in goldens))
    assert REQUIRED_QUIRKS <= covered, REQUIRED_QUIRKS - covered
    assert sum(g["file"].startswith("corpus:") for g in goldens) >= 10
    assert all(c.get("from") for g in goldens for c in g["checks"])


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden(golden: Path, corpus_dir: Path):
    spec = _load(golden)
    timeline = read_xmeml(_source_file(spec["file"]))
    features: dict[int, object] = {}
    for check in spec["checks"]:
        actual, expected = _evaluate(timeline, features, check)
        assert actual == expected, f"{golden.name}: {check['from']}"


def _evaluate(tl: Timeline, features: dict, check: dict) -> tuple[object, object]:
    expect = check.get("expect")
    if "sequences" in check:
        return len(tl.sequences), check["sequences"]
    if "sequence" in check:
        seq = tl.sequences[check["sequence"]]
        return _pick(_sequence_facts(seq), expect), expect
    if "track" in check:
        s, t = check["track"]
        track = tl.sequences[s].video_tracks[t]
        return _pick({"enabled": track.enabled, "items": len(track.items)}, expect), expect
    if "item" in check:
        return _pick(_item_facts(_find_item(tl, check)), expect), _rounded(expect)
    if "marker" in check:
        s, m = check["marker"]
        mk = tl.sequences[s].markers[m]
        return _pick({"name": mk.name, "comment": mk.comment, "frame": mk.frame, "end": mk.end}, expect), expect
    feats = _features(tl, features, check.get("features", check.get("assets", (check.get("cell") or [0])[0])))
    if "features" in check:
        return _pick({"steps": feats.steps, "tracks_total": feats.tracks_total}, expect), expect
    if "assets" in check:
        return [a["key"] for a in feats.assets()][: len(expect)], expect
    _, step, track = check["cell"]
    return _pick(_cell_facts(feats, step, track), expect), _rounded(expect)


def _features(tl: Timeline, cache: dict, index: int):
    if index not in cache:
        cache[index] = featurize(tl.sequences[index])
    return cache[index]


def _find_item(tl: Timeline, check: dict) -> Item:
    s, t, i = check["item"]
    items = tl.sequences[s].video_tracks[t].items
    if i is not None:
        return items[i]
    return next(it for it in items if it.line == check["line"])


def _sequence_facts(seq) -> dict:
    return {
        "name": seq.name,
        "id": seq.id,
        "timebase": seq.rate.timebase,
        "ntsc": seq.rate.ntsc,
        "width": seq.width,
        "height": seq.height,
        "drop_frame": seq.drop_frame,
        "timecode_start": seq.timecode_start,
        "video_tracks": len(seq.video_tracks),
        "markers": len(seq.markers),
    }


def _item_facts(it: Item) -> dict:
    facts = {
        "start": it.start,
        "end": it.end,
        "in_frame": it.in_frame,
        "enabled": it.enabled,
        "kind": it.kind,
        "source_key": it.source.key,
        "source_kind": it.source.kind,
        "source_name": it.source.name,
        "width": it.source.width,
        "height": it.source.height,
        "duration": it.source.duration,
        "motion": None if it.motion is None else "present",
        "crop": None if it.crop is None else "present",
    }
    if it.motion is not None:
        facts.update(scale=it.motion.scale.value, center_x=it.motion.center_x.value, center_y=it.motion.center_y.value)
    if it.crop is not None:
        for side in ("left", "right", "top", "bottom"):
            facts[f"crop_{side}"] = getattr(it.crop, side).value
    return _rounded(facts)


def _cell_facts(feats, step: int, track: int) -> dict:
    values = {name: float(feats.grid[step, track, i]) for i, name in enumerate(FIELDS)}
    values["active"] = int(values["active"])
    values["asset"] = int(values["asset"])
    kind = int(feats.source_kind[step, track])
    values["source_kind"] = SOURCE_KINDS[kind - 1] if kind else None
    return _rounded(values)


def _pick(facts: dict, expect: dict) -> dict:
    missing = set(expect) - set(facts)
    assert not missing, f"unknown keys in golden data: {missing}"
    return {k: facts[k] for k in expect}


def _rounded(values: dict) -> dict:
    """Compare numbers to 4 decimals: the grid is float32, the XML prints 6 significant digits."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}
