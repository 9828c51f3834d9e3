"""Review finds a slip planted in a small hand-built edit and stays silent on its clean twin; the
calibration it runs on is the one fitted for the predictor, and its figures hold on held-out
synthetic timelines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from model.inference.predictor import PersistencePredictor
from model.suggest.items import SuggestOptions
from model.suggest.pipeline import suggest
from model.suggest.review import CALIBRATION_FILE, Calibration, bundled_calibrations, calibration_for
from model.suggest.review_eval import SLIP_KINDS, plant_slip, review_eval, synthetic_timelines
from model.timeline.types import Crop, Motion, const
from tests.helpers_suggest import as_timeline, interview, with_item

REVIEW = SuggestOptions(kinds=("review",))


WEIGHTS = Path(__file__).resolve().parents[1] / "model" / "weights" / "default.safetensors"
# Persistence knows nothing: review runs on the edit's own patterns (the bundled pattern-only
# calibration). The default network, once bundled, adds its own evidence and calibration.
PREDICTORS = ["persistence"] + (["default"] if WEIGHTS.exists() else [])


@pytest.fixture(scope="module", params=PREDICTORS)
def predictor(request):
    if request.param == "persistence":
        return PersistencePredictor()
    from model.inference.load import load_predictor

    return load_predictor(None)


def review(seq, predictor):
    return suggest(as_timeline(seq), predictor, REVIEW)[0].review


SLIPS = {
    # V1 clip 5 is camB, punched in at 120 % like every camB shot: set it to 160 %.
    "scale": (lambda s: with_item(s, 0, 5, motion=Motion(const(160.0), const(0.05), const(-0.03))), 0, 5, "scale"),
    # V2's face-cam is cropped 10 % left and right everywhere: crop one 35 % right.
    "crop": (lambda s: with_item(s, 1, 3, crop=Crop(const(10.0), const(35.0))), 1, 3, "crop_r"),
    # One camA shot disabled among 30 enabled ones.
    "disable": (lambda s: with_item(s, 0, 6, enabled=False), 0, 6, "active"),
}


def test_the_clean_interview_gets_no_review(predictor):
    assert review(interview(), predictor) == []


@pytest.mark.parametrize("slip", sorted(SLIPS))
def test_a_planted_slip_is_the_top_review_item(predictor, slip):
    plant, track, index, field = SLIPS[slip]
    clean = interview()
    slipped = plant(clean)
    item = slipped.video_tracks[track].items[index]
    found = review(slipped, predictor)
    assert found, f"the {slip} slip went unnoticed"
    top = found[0]
    assert (top.track, top.field) == (track, field)
    assert top.start_frame < item.end and item.start < top.end_frame
    assert 0.5 <= top.confidence <= 1.0 and top.reason
    assert len(found) <= 2  # and not a flood of others


def test_values_come_with_the_pattern_they_break():
    slipped = SLIPS["scale"][0](interview())
    top = review(slipped, PersistencePredictor())[0]
    assert (top.current, top.suggested) == (160.0, 120.0)
    assert "camB.mov" in top.reason


def test_max_review_caps_and_ranks():
    seq = interview()
    for k in (2, 6, 10, 14):  # several disabled camA shots
        seq = with_item(seq, 0, k, enabled=False)
    options = replace(REVIEW, max_review=2)
    found = suggest(as_timeline(seq), PersistencePredictor(), options)[0].review
    assert len(found) == 2
    assert found[0].confidence >= found[1].confidence


def test_the_bundled_calibration_has_a_pattern_only_fallback_fitted_with_its_figures():
    docs = bundled_calibrations()
    fallback = [d for d in docs if d.get("fallback")]
    assert len(fallback) == 1
    figures = fallback[0]["validation"]
    assert figures["precision"] >= 0.8 and figures["recall"] >= 0.5 and figures["clean_per_min"] <= 1.0
    assert all(w == 0 for g, names in fallback[0]["features"].items()
               for name, w in zip(names, fallback[0]["weights"][g]) if name.startswith("model_"))
    assert calibration_for(PersistencePredictor()).source == "bundled (pattern only)"


def test_a_predictor_carrying_its_own_calibration_uses_it():
    doc = json.loads(CALIBRATION_FILE.read_text())["calibrations"][0]
    predictor = PersistencePredictor()
    predictor.review_thresholds = {**doc, "threshold": 0.999}
    cal = calibration_for(predictor)
    assert cal.threshold == 0.999 and cal.source == "persistence checkpoint"
    broken = {**doc, "features": {**doc["features"], "values": ["dev"]}}
    with pytest.raises(ValueError, match="differ"):
        Calibration.from_json(broken, "test")


@pytest.mark.parametrize("kind", SLIP_KINDS)
def test_planted_slips_change_what_they_say(kind):
    import numpy as np

    seq = interview()
    slipped, slip = plant_slip(seq, kind, np.random.default_rng(1))
    assert slipped != seq
    assert slip.kind == kind and 0 <= slip.start_frame < slip.end_frame <= seq.duration


def test_review_figures_on_held_out_synthetic_timelines():
    """A small version of `python -m model.suggest.review_eval` (README has the full figures)."""
    fig = review_eval(PersistencePredictor(), synthetic_timelines(14, seed=616))
    assert fig["slips"] >= 40
    assert fig["precision"] >= 0.7 and fig["recall"] >= 0.5
    assert fig["clean_per_min"] <= 1.0


def test_the_bundled_default_model_has_its_own_calibration():
    """Retraining the default model means running `python -m model.suggest.review_eval --calibrate` again."""
    from model.inference.load import load_predictor

    cal = calibration_for(load_predictor(None))
    assert cal.source == "bundled (mtt)" and cal.uses_model
