"""Evaluation metrics on hand-made sequences with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.features.history import N_RECENCY, history_arrays
from model.inference.predictor import N_SLOTS, Predictions, Rollout
from model.training import baselines, evaluate, metrics
from tests.helpers_ml import features, hand_grid

# Three shots on V1 (sources 0, 1, 0 again), scale changing inside the second shot; V2 comes and goes.
SHOTS = [(0, 20, 0), (20, 45, 1), (45, 70, 0)]


def hand_feats():
    grid, src = hand_grid(SHOTS, 70, scale=[100.0, 120.0, 100.0])
    grid[30:45, 0, 2] = np.linspace(120, 134, 15)  # a push-in inside the second shot
    grid[50:60, 1, 0] = 1  # an overlay of a new source on V2
    grid[50:60, 1, 1] = 2
    grid[50:60, 1, 2] = 40.0
    grid[50:60, 1, 3] = 0.3
    src[50:60, 1] = 2
    return features(grid, src)


class Oracle:
    """Knows the next step: the upper bound every metric should give its best score to."""

    name, version, sha256 = "oracle", "1", ""

    def predict(self, f):
        nxt = np.concatenate([f.grid[1:], f.grid[-1:]])
        hist = history_arrays(f.grid, f.source_index)
        change = np.concatenate([hist.change[1:], np.zeros((1, 20), bool)])
        asset = np.eye(N_SLOTS)[nxt[..., 1].astype(int)]
        return Predictions(p_active=nxt[..., 0], asset_probs=asset, values=nxt[..., 2:], p_change=change.astype(float))

    def forecast(self, f):
        nxt = np.concatenate([f.grid[1:], f.grid[-1:]])
        hist = history_arrays(f.grid, f.source_index)
        cut = np.concatenate([hist.cut[1:], np.zeros((1, 20), bool)])
        rec = np.concatenate([np.maximum(hist.recency[1:], 0), np.zeros((1, 20), int)])
        return metrics.Forecast(p_cut=cut.astype(float), p_active_cut=nxt[..., 0],
                                slot_probs=np.eye(N_SLOTS)[nxt[..., 1].astype(int)], recency_probs=np.eye(N_RECENCY)[rec],
                                values_change=nxt[..., 2:])

    def rollout(self, f, start, n, *, seed=0, sample=True):
        return Rollout(grid=f.grid[start : start + n], source_index=f.source_index[start : start + n],
                       confidence=np.ones((n, 20), np.float32))


def run_metrics(system, f):
    hist = history_arrays(f.grid, f.source_index)
    return metrics.sequence_metrics(f.grid, f.source_index, hist, system.predict(f), system.forecast(f), 0.1)


def test_persistence_scores_zero_at_cuts_and_mase_one():
    f = hand_feats()
    m = run_metrics(baselines.Persistence(), f)
    assert m["next_asset_acc"] == 0.0
    assert m["change_f1"] == 0.0
    assert m["abs_err"] == m["abs_err_persistence"]
    mase = metrics.ratio_ci([m["abs_err"]["scale"]], [m["abs_err_persistence"]["scale"]])[0]
    assert mase == 1.0
    # cuts: V1 at 20 and 45 (on -> on: persistence right), V2 at 50 (off -> on) and 60 (on -> off):
    # persistence keeps the old state, wrong both times.
    assert m["next_active_acc"] == pytest.approx(2 / 4)


def test_the_oracle_scores_perfectly():
    f = hand_feats()
    m = run_metrics(Oracle(), f)
    assert m["next_asset_acc"] == 1.0 and m["next_active_acc"] == 1.0
    assert m["change_f1"] == 1.0
    assert m["iou_all"] == pytest.approx(1.0) and m["iou_changed"] == pytest.approx(1.0)
    assert m["abs_err"]["scale"] == 0.0 and m["abs_err_persistence"]["scale"] > 0
    assert m["mae_changed"]["scale"] == 0.0
    assert m["active_f1"] == 1.0


class KnowsWhatNotWhen(Oracle):
    """Never expects a change (its step-ahead prediction is persistence) but knows what a change brings."""

    def predict(self, f):
        return baselines.Persistence().predict(f)


def test_changed_metrics_score_the_forecast_given_the_change_and_mase_the_timing():
    f = hand_feats()
    m, p = run_metrics(KnowsWhatNotWhen(), f), run_metrics(baselines.Persistence(), f)
    # Persistence's error at changes is the size of the jumps: at 20 (100 -> 120) and 45 (134 -> 100)
    # and the push-in's 1-step moves of 1 %.
    jumps = [20.0, 34.0] + [1.0] * 14
    assert p["mae_changed"]["scale"] == pytest.approx(np.mean(jumps), rel=1e-5)
    assert m["mae_changed"]["scale"] == 0.0 and m["iou_changed"] == pytest.approx(1.0)
    assert p["iou_changed"] < 0.95  # V2 switching on at 50 is an empty rectangle for persistence
    # Only the step-ahead prediction counts for MASE and iou_all: this system is persistence there.
    assert m["abs_err"] == p["abs_err"] and m["iou_all"] == p["iou_all"]


def test_markov_learns_the_return_to_the_first_source():
    """Fitted on sequences that go A -> B -> A, the chain expects A after B."""
    f = hand_feats()
    fit = baselines.fit([f.grid] * 3, [history_arrays(f.grid, f.source_index)] * 3)
    fc = baselines.Markov(fit).forecast(f)
    assert np.argmax(fc.slot_probs[44, 0]) == 0  # in shot B (slot 1), a cut leads to slot 0
    assert 0 < fc.p_cut[30, 0] < 0.2


def test_event_matching_within_two_steps():
    true = np.zeros((20, 2), bool)
    true[[5, 12], 0] = True
    pred = np.zeros_like(true)
    pred[[6, 16], 0] = True
    assert metrics.match_f1(pred, true) == pytest.approx(0.5)  # one of two matched each way
    pred[[16], 0] = False
    pred[[7], 1] = True  # the right time on the wrong track does not count
    assert metrics.match_f1(pred, true) == pytest.approx(2 * 1 / (2 + 2))
    assert math.isnan(metrics.match_f1(np.zeros_like(true), np.zeros_like(true)))


def test_iou_of_visible_rectangles():
    full = np.array([100.0, 0, 0, 0, 0, 0, 0])
    half = np.array([100.0, 0, 0, 50, 0, 0, 0])  # the left half cropped away
    off = np.array([100.0, 2.0, 0, 0, 0, 0, 0])  # moved out of the frame
    r = metrics.rectangles(np.stack([full, half, off]))
    assert metrics.iou(r[0], r[0]) == pytest.approx(1.0)
    assert metrics.iou(r[0], r[1]) == pytest.approx(0.5)
    assert metrics.iou(r[0], r[2]) == 0.0 and metrics.iou(r[2], r[2]) == 1.0


def test_flicker_is_a_brief_excursion():
    assert metrics.flickers(np.array([[1], [1], [2], [1], [1]])) == 1
    assert metrics.flickers(np.array([[1], [2], [2], [1]])) == 1
    assert metrics.flickers(np.array([[1], [2], [2], [2], [1]])) == 0
    assert metrics.flickers(np.array([[1], [2], [3], [4]])) == 0


def test_time_to_next_cut_from_hazards():
    hazard = np.full(100, 0.5)
    assert metrics.time_to_cut(hazard, 10, 40, 90) == 1
    assert metrics.time_to_cut(np.zeros(100), 10, 40, 90) == 90  # never: the end of the sequence
    h = np.zeros(100)
    h[24] = 0.9  # row 24 predicts a cut at step 25
    assert metrics.cut_time_errors(h, np.array([10, 25]), 100) == [0]
    assert metrics.shot_length_errors(np.array([0, 10, 20, 35]), 12.0) == [2.0, 0.0, 5.0]


def test_evaluation_document_has_the_issue_keys():
    evalset = evaluate.EvalSet([hand_feats(), hand_feats()], baselines.Markov(None), "hand-made")
    doc = evaluate.evaluate(Oracle(), evalset)
    keys = {"next_active_acc", "next_asset_acc", "change_f1", "cut_time_mae_s", "mae_changed", "mase", "iou_all",
            "iou_changed", "active_f1", "changes_per_min", "flicker_per_min"}
    for name in ("model", "persistence", "markov"):
        assert set(doc[name]) == keys
        assert set(doc[name]["mase"]) == {"scale", "pos", "crop"}
    assert doc["persistence"]["next_asset_acc"] == 0.0 and doc["persistence"]["mase"]["scale"] == 1.0
    assert doc["model"]["changes_per_min"] == pytest.approx(doc["truth"]["changes_per_min"])
    assert doc["persistence"]["changes_per_min"] == 0.0
    assert set(doc["truth"]) == {"changes_per_min", "flicker_per_min"}
    assert "cut_time_mae_s" in doc["shot_length"]
    table = evaluate.markdown(doc)
    assert "| next asset acc (at cuts) | 1.000" in table


class ExpectsOffAfterCuts(Oracle):
    """Knows the values after every change but expects every cut to switch the track off."""

    def forecast(self, f):
        fc = super().forecast(f)
        fc.p_active_cut = np.zeros_like(fc.p_active_cut)
        return fc


def test_an_active_miss_counts_in_next_active_acc_not_again_in_iou_changed():
    f = hand_feats()
    m = run_metrics(ExpectsOffAfterCuts(), f)
    assert m["next_active_acc"] == pytest.approx(1 / 4)  # only V2's switch-off at 60 is right
    assert m["iou_changed"] == pytest.approx(1.0)  # the cells scored there show something by construction
