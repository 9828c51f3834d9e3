"""Review's calibration: a logistic model per field group over the candidates' evidence, and the
threshold above which a candidate becomes an item; fitted by `model.suggest.review_eval`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.inference.predictor import Predictor

CALIBRATION_FILE = Path(__file__).with_name("review_calibration.json")
CALIBRATION_SCHEMA = "mtt.review-calibration/1"
GROUPS = ("active", "asset", "values", "gap", "repeat", "resolution")
FEATURES = {
    "values": (
        "dev", "agree", "nearest", "nearest_x_discrete", "continuous", "siblings", "same_source", "others_off",
        "model_entry", "model_interior", "model_entry_x_discrete",
    ),
    "asset": (
        "transition", "transition_support", "reuse_track", "reuse_all", "repeat_ratio", "repeat_among_one_offs",
        "sync_break", "shown_before", "model_entry", "model_interior",
    ),
    "active": (
        "disabled", "density", "rel_length", "other_gaps", "other_disabled", "covered", "same_take",
        "model_entry", "model_interior",
    ),
}
FEATURES |= {
    "gap": ("frames", "touching", "touching_share", "hole", "same_source", "overlay"),
    "repeat": ("overlap", "overlap_share", "apart", "same_track", "repeats_in_edit", "visible"),
    "resolution": ("support", "same_source", "frame_share", "overlay"),
}
MODEL_FEATURES = frozenset({"model_entry", "model_interior", "model_entry_x_discrete"})


@dataclass
class Calibration:
    weights: dict[str, np.ndarray]
    bias: dict[str, float]
    threshold: float
    source: str  # where it came from, for reports

    @staticmethod
    def from_json(doc: dict, source: str) -> Calibration:
        if doc.get("schema") != CALIBRATION_SCHEMA:
            raise ValueError(f"{source}: not a review calibration ({doc.get('schema')!r})")
        for group in GROUPS:
            if list(doc["features"][group]) != list(FEATURES[group]):
                raise ValueError(f"{source}: calibration features for {group} differ from this version's")
        return Calibration(
            weights={g: np.asarray(doc["weights"][g], np.float64) for g in GROUPS},
            bias={g: float(doc["bias"][g]) for g in GROUPS},
            threshold=float(doc["threshold"]),
            source=source,
        )

    @property
    def uses_model(self) -> bool:
        return any(w != 0 for g in GROUPS for name, w in zip(FEATURES[g], self.weights[g]) if name in MODEL_FEATURES)

    def score(self, sets: list) -> None:
        """Each CandidateSet's `scores`: the logistic model of its group over its features."""
        for cs in sets:
            z = cs.features @ self.weights[cs.group] + self.bias[cs.group]
            cs.scores = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def bundled_calibrations() -> list[dict]:
    if not CALIBRATION_FILE.exists():
        return []
    return json.loads(CALIBRATION_FILE.read_text())["calibrations"]


def calibration_for(predictor: Predictor) -> Calibration:
    """The predictor's own calibration (its checkpoint JSON's `review_thresholds`), else the
    bundled one fitted for this predictor (by sha256, else by name), else the bundled
    pattern-only one, fitted without the model's evidence so that it fits any predictor."""
    own = getattr(predictor, "review_thresholds", None)
    if own:
        return Calibration.from_json(own, f"{predictor.name} checkpoint")
    docs = bundled_calibrations()
    sha = getattr(predictor, "sha256", "")
    for doc in docs:
        if sha and doc["predictor"].get("sha256") == sha:
            return Calibration.from_json(doc, f"bundled ({doc['predictor']['name']})")
    for doc in docs:
        if doc["predictor"].get("name") == predictor.name and not doc["predictor"].get("sha256"):
            return Calibration.from_json(doc, f"bundled ({predictor.name})")
    for doc in docs:
        if doc.get("fallback"):
            return Calibration.from_json(doc, "bundled (pattern only)")
    raise FileNotFoundError(f"no review calibration for predictor {predictor.name!r} and no fallback in {CALIBRATION_FILE}")
