"""The bridge timeline JSON (plugins without an XML file) read into a Timeline."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from model.features.grid import featurize
from model.timeline.errors import TimelineParseError
from model.timeline.timeline_json import read_timeline_json, timeline_from_dict
from model.timeline.types import Rate


def _doc(**overrides) -> dict:
    doc = {
        "name": "Edit", "fps": [25, 1], "width": 1280, "height": 720, "drop_frame": False,
        "tracks": [
            {"enabled": True, "items": [
                {"start": 0, "end": 25, "in": 10, "enabled": True, "name": "wide",
                 "source": {"key": "/m/a.mov", "name": "a.mov", "kind": "file", "path": "/m/a.mov", "width": 1920, "height": 1080},
                 "scale": 100, "pos_x": 0, "pos_y": 0, "crop_l": 0, "crop_r": 0, "crop_t": 0, "crop_b": 0},
                {"start": 25, "end": 50, "source": {"key": "/m/b.mov", "name": "b.mov", "path": "/m/b.mov"},
                 "scale": 150, "pos_x": 0.25, "pos_y": -0.1, "crop_l": 10, "crop_t": 5},
            ]},
            {"items": [{"start": 10, "end": 20, "source": {"name": "logo.png"}, "enabled": False}]},
            {"enabled": False, "items": [{"start": 0, "end": 50, "source": {"key": "generator:black", "kind": "generator"}}]},
        ],
    }
    doc.update(overrides)
    return doc


def test_a_full_document_becomes_a_timeline() -> None:
    tl = timeline_from_dict(_doc(), "plugin")
    assert tl.path == "plugin" and tl.format == "bridge-json" and len(tl.sequences) == 1
    seq = tl.sequences[0]
    assert (seq.name, seq.rate, seq.width, seq.height, seq.duration) == ("Edit", Rate(25), 1280, 720, 50)
    wide, close = seq.video_tracks[0].items
    assert wide.in_frame == 10 and wide.motion is None and wide.crop is None and wide.name == "wide"
    assert close.motion.scale.value == 150 and close.motion.center_x.value == 0.25 and close.crop.left.value == 10
    assert close.source.kind == "file" and close.name == "b.mov"  # name defaults to the source's
    logo = seq.video_tracks[1].items[0]
    assert logo.source.key == "logo.png" and logo.source.kind == "still" and not logo.enabled
    assert not seq.video_tracks[2].enabled and seq.video_tracks[2].items[0].kind == "generator"


def test_features_follow_the_contract() -> None:
    feats = featurize(timeline_from_dict(_doc()).sequences[0], Fraction(1, 10))
    assert feats.steps == 20  # 50 frames at 25 fps = 2 s
    grid = feats.grid
    assert grid[0, 0].tolist() == [1, 0, 100, 0, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(grid[15, 0], [1, 1, 150, 0.25, -0.1, 10, 0, 5, 0], rtol=1e-6)
    assert grid[:, 1:].sum() == 0  # a disabled item and a disabled track are empty
    assert [a["name"] for a in feats.assets()] == ["a.mov", "b.mov"]


@pytest.mark.parametrize(("fps", "rate"), [([25, 1], Rate(25)), ([24000, 1001], Rate(24, True)), ([30000, 1001], Rate(30, True)),
                                           ([60, 1], Rate(60)), ([50, 2], Rate(25))])
def test_rates(fps: list[int], rate: Rate) -> None:
    assert timeline_from_dict(_doc(fps=fps)).sequences[0].rate == rate


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("fps"), "fps: missing"),
        (lambda d: d.update(fps=[2997, 100]), "fps: 2997/100 is neither a whole rate nor an NTSC rate"),
        (lambda d: d.update(fps=[25, 0]), "fps: numerator and denominator must be positive"),
        (lambda d: d.update(tracks={}), "tracks: expected a list, got an object"),
        (lambda d: d["tracks"][0]["items"][1].update(end=25), "tracks[0].items[1]: end 25 must be greater than start 25"),
        (lambda d: d["tracks"][0]["items"][0].pop("start"), "tracks[0].items[0].start: missing"),
        (lambda d: d["tracks"][0]["items"][0].update(start=1.5), "tracks[0].items[0].start: expected a whole number, got 1.5"),
        (lambda d: d["tracks"][0]["items"][0].update(start=-4), "tracks[0].items[0].start: frames start at 0"),
        (lambda d: d["tracks"][0]["items"][0].update(scale="big"), "tracks[0].items[0].scale: expected a finite number, got a string"),
        (lambda d: d["tracks"][0]["items"][0].update(scale=float("nan")), "tracks[0].items[0].scale: expected a finite number"),
        (lambda d: d["tracks"][0]["items"][0].update(enabled="yes"), "tracks[0].items[0].enabled: expected true or false"),
        (lambda d: d["tracks"][0]["items"][0]["source"].update(kind="audio"), "'audio' is not one of file, still"),
        (lambda d: d["tracks"][1]["items"][0].update(source={}), "tracks[1].items[0].source: needs a key, a path or a name"),
    ],
)
def test_malformed_documents_name_the_bad_value(change, message: str) -> None:
    doc = _doc()
    change(doc)
    with pytest.raises(TimelineParseError) as err:
        timeline_from_dict(doc, "from-plugin")
    assert err.value.path == "from-plugin" and message in err.value.reason


def test_bad_json_text_names_the_line() -> None:
    with pytest.raises(TimelineParseError) as err:
        read_timeline_json('{\n  "fps": [25, 1],\n  "tracks": [,]\n}', "stdin")
    assert err.value.line == 3 and "invalid JSON" in err.value.reason
    with pytest.raises(TimelineParseError, match="expected an object, got a list"):
        read_timeline_json(b"[1, 2]")
    assert read_timeline_json(json.dumps(_doc()).encode()).sequences[0].name == "Edit"
