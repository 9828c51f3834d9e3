"""`mttd eval` on real-edit terms: rows per sequence, the paired interval of model - Markov, groups."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.timeline.xmeml_writer import write_xmeml_file
from model.training import baselines, evaluate, metrics
from model.training.synth import synthesize
from tests.helpers_ml import features, hand_grid

REPO = Path(__file__).resolve().parents[1]
METRIC_KEYS = {*evaluate.SCALAR_KEYS, "mae_changed", "mase"} - {"changes_per_min", "flicker_per_min"}


def shots_feats(shots, steps, scales=None):
    grid, src = hand_grid(shots, steps, scale=scales)
    return features(grid, src)


def hand_set() -> evaluate.EvalSet:
    """Three sequences from two productions (one of them in two folders), of different lengths."""
    seqs = [shots_feats([(0, 20, 0), (20, 45, 1), (45, 70, 0)], 70, [100.0, 120.0, 100.0]),
            shots_feats([(0, 10, 0), (10, 30, 1), (30, 40, 2), (40, 60, 1), (60, 90, 0)], 90, [100, 110, 100, 110, 100]),
            shots_feats([(0, 15, 0), (15, 25, 1), (25, 50, 0), (50, 55, 1), (55, 80, 0)], 80)]
    origins = [evaluate.Origin("a/show ep1.xml", "a", "show"), evaluate.Origin("b/show ep2.xml", "b", "show"),
               evaluate.Origin("a/other.xml", "a", "other")]
    return evaluate.EvalSet(seqs, baselines.Markov(None), "hand-made", origins)


def test_a_row_per_sequence_with_its_origin_size_and_every_metric_of_every_system():
    evalset = hand_set()
    doc = evaluate.evaluate(baselines.Persistence(), evalset, rollouts=False)
    rows = doc["per_sequence"]
    assert [(r["file"], r["folder"], r["production"], r["steps"]) for r in rows] == [
        ("a/show ep1.xml", "a", "show", 70), ("b/show ep2.xml", "b", "show", 90), ("a/other.xml", "a", "other", 80)]
    assert [r["cuts"] for r in rows] == [2, 4, 4]
    for row in rows:
        for name in evaluate.SYSTEMS:
            assert METRIC_KEYS <= set(row[name])
        assert row["persistence"]["next_asset_acc"] == 0.0
        assert "cut_time_mae_s" in row["shot_length"]
    # The overall figures are the means of the rows (sequences weigh equally), MASE pooled over them.
    for key in ("next_active_acc", "next_asset_acc", "iou_changed", "cut_time_mae_s"):
        values = [r["markov"][key] for r in rows if not math.isnan(r["markov"][key])]
        assert doc["markov"][key] == pytest.approx(np.mean(values))
    pooled = sum(r["markov"]["abs_err"]["scale"] for r in rows) / sum(r["markov"]["abs_err_persistence"]["scale"] for r in rows)
    assert doc["markov"]["mase"]["scale"] == pytest.approx(pooled)
    json.dumps(evaluate.to_json(doc), allow_nan=False)  # strict JSON


def test_model_minus_markov_of_markov_itself_is_exactly_zero():
    doc = evaluate.evaluate(baselines.Markov(None), hand_set(), rollouts=False)
    diff = doc["model_minus_markov"]
    for key in ("next_active_acc", "next_asset_acc", "change_f1", "cut_time_mae_s", "iou_all", "iou_changed", "active_f1"):
        assert diff[key]["diff"] == 0.0 and diff[key]["ci95"] == [0.0, 0.0], key
    # n counts the sequences with a scale error to pool: the third keeps 100 % throughout.
    assert diff["mase"]["scale"] == {"diff": 0.0, "ci95": [0.0, 0.0], "n": 2}


def test_model_minus_markov_per_sequence_is_persistence_minus_markov_for_persistence():
    doc = evaluate.evaluate(baselines.Persistence(), hand_set(), rollouts=False)
    rows = doc["per_sequence"]
    d = [r["model"]["next_active_acc"] - r["markov"]["next_active_acc"] for r in rows]
    entry = doc["model_minus_markov"]["next_active_acc"]
    assert entry["diff"] == pytest.approx(np.mean(d)) and entry["n"] == 3
    assert min(d) - 1e-12 <= entry["ci95"][0] <= entry["diff"] <= entry["ci95"][1] <= max(d) + 1e-12


def synthetic_rows(n: int, lead: float, noise: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Markov rows whose score varies a lot between sequences, and a model `lead` above it on each."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.9, n)
    model_score = base + lead + rng.normal(0, noise, n)
    err = rng.uniform(50, 150, n)

    def rows(scores, err_factor):
        return [{**{k: float(s) for k in evaluate.SCALAR_KEYS}, "mae_changed": {g: float(s) for g in metrics.GROUPS},
                 "abs_err": {g: float(e * err_factor) for g in metrics.GROUPS},
                 "abs_err_persistence": {g: float(e) for g in metrics.GROUPS}} for s, e in zip(scores, err)]

    return rows(model_score, 0.8), rows(base, 1.0)


def test_the_paired_interval_holds_a_known_lead_that_unpaired_intervals_blur():
    model, markov = synthetic_rows(40, lead=0.05, noise=0.01, seed=3)
    diff = evaluate.paired_difference(model, markov)
    for key in evaluate.SCALAR_KEYS:
        lo, hi = diff[key]["ci95"]
        assert lo < 0.05 < hi and lo > 0.04 and hi < 0.06, (key, lo, hi)
        assert diff[key]["n"] == 40
    # Unpaired, the spread between sequences swamps the lead: the two intervals overlap.
    _, m_lo, m_hi = metrics.mean_ci([r["next_asset_acc"] for r in model])
    _, k_lo, k_hi = metrics.mean_ci([r["next_asset_acc"] for r in markov])
    assert m_lo < k_hi
    # MASE: the model's errors are 0.8 of persistence's, Markov's equal them, on every sequence.
    assert diff["mase"]["crop"]["diff"] == pytest.approx(-0.2)
    assert diff["mase"]["crop"]["ci95"] == pytest.approx([-0.2, -0.2])
    again = evaluate.paired_difference(model, markov)
    assert again == diff  # seeded


def test_a_constant_lead_has_a_zero_width_interval_and_one_sequence_none():
    model, markov = synthetic_rows(10, lead=0.1, noise=0.0, seed=1)
    entry = evaluate.paired_difference(model, markov)["next_asset_acc"]
    assert entry["diff"] == pytest.approx(0.1) and entry["ci95"] == pytest.approx([0.1, 0.1])
    single = evaluate.paired_difference(model[:1], markov[:1])["next_asset_acc"]
    assert single["diff"] == pytest.approx(0.1) and all(math.isnan(c) for c in single["ci95"]) and single["n"] == 1
    # A sequence where one system has nothing to measure is left out of the pairs.
    model[0]["next_asset_acc"] = math.nan
    assert evaluate.paired_difference(model, markov)["next_asset_acc"]["n"] == 9


def test_resampling_productions_widens_the_interval_when_episodes_are_near_copies():
    """Two productions of ten near-identical episodes each, the model +0.3 on one and -0.1 on the
    other: drawn one by one the twenty look like strong evidence of +0.1; drawn by production the
    interval spans both productions' leads."""
    model, markov = synthetic_rows(20, lead=0.0, noise=0.0, seed=2)
    for k, r in enumerate(model):
        r["next_asset_acc"] = markov[k]["next_asset_acc"] + (0.3 if k < 10 else -0.1) + 1e-3 * (k % 3)
    productions = ["show"] * 10 + ["other"] * 10
    by_sequence = evaluate.paired_difference(model, markov)["next_asset_acc"]
    by_production = evaluate.paired_difference(model, markov, clusters=productions)["next_asset_acc"]
    assert by_sequence["diff"] == pytest.approx(by_production["diff"]) == pytest.approx(0.101, abs=1e-3)
    assert by_sequence["ci95"][0] > 0.0 and by_sequence["ci95"][1] < 0.2
    assert by_production["ci95"][0] == pytest.approx(-0.1, abs=2e-3) and by_production["ci95"][1] == pytest.approx(0.3, abs=3e-3)
    one = evaluate.paired_difference(model, markov, clusters=["show"] * 20)["next_asset_acc"]
    assert all(math.isnan(c) for c in one["ci95"])  # one production: nothing to resample


def test_the_document_resamples_productions_when_there_are_several():
    doc = evaluate.evaluate(baselines.Persistence(), hand_set(), rollouts=False)
    rows = doc["per_sequence"]
    again = evaluate.paired_difference([r["model"] for r in rows], [r["markov"] for r in rows],
                                       clusters=[r["production"] for r in rows])
    assert evaluate.to_json(doc["model_minus_markov_by_production"]) == evaluate.to_json(again)
    assert "productions resampled" in evaluate.markdown(doc)


@pytest.mark.parametrize("by, expected", [("production", {"show": [0, 1], "other": [2]}),
                                          ("folder", {"a": [0, 2], "b": [1]})])
def test_groups_summarize_their_rows_as_the_overall_figures_do(by, expected):
    doc = evaluate.evaluate(baselines.Persistence(), hand_set(), rollouts=False, by=by)
    assert doc["by"] == by and list(doc["groups"]) == sorted(expected)
    rows = doc["per_sequence"]
    for name, members in expected.items():
        group = doc["groups"][name]
        assert group["sequences"] == len(members) and group["steps"] == sum(rows[k]["steps"] for k in members)
        again = evaluate.summarize([rows[k] for k in members], rollouts=False)
        assert evaluate.to_json(group) == evaluate.to_json(again)
        values = [rows[k]["markov"]["next_active_acc"] for k in members]
        assert group["markov"]["next_active_acc"] == pytest.approx(np.mean(values))
    table = evaluate.markdown(doc)
    assert f"### {by} {sorted(expected)[0]}:" in table and "model - markov [paired 95 %]" in table
    with pytest.raises(ValueError, match="cannot group"):
        evaluate.group_rows(rows, "style")


def test_mttd_eval_by_production_from_the_command_line(tmp_path):
    """Two folders of timeline files: rows name their file and folder, groups follow the folders."""
    for folder, style in (("first", "podcast"), ("second", "vlog")):
        (tmp_path / folder).mkdir()
        for k in range(2):
            write_xmeml_file(synthesize(style, 5, k, (0.2, 0.25)), tmp_path / folder / f"{style}-{k}.xml")
    proc = subprocess.run([sys.executable, "-m", "daemon.cli", "eval", "--data", str(tmp_path), "--json", "--no-rollouts",
                           "--by", "production"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc["groups"]) == {"first", "second"} and doc["by"] == "production"
    assert sorted(r["file"] for r in doc["per_sequence"]) == ["first/podcast-0.xml", "first/podcast-1.xml",
                                                              "second/vlog-0.xml", "second/vlog-1.xml"]
    assert all(g["sequences"] == 2 for g in doc["groups"].values())
    assert set(doc["model_minus_markov"]) >= {"next_active_acc", "next_asset_acc", "cut_time_mae_s", "iou_changed", "mase"}


def test_an_origin_names_the_file_in_the_evaluated_folder_its_folder_and_its_production(corpus_dir):
    root = corpus_dir.resolve()
    episode = evaluate.Origin.of(root / "havardgulldahl__xmeml" / "BroShow ep Brocodes.xml", root)
    assert episode == evaluate.Origin("havardgulldahl__xmeml/BroShow ep Brocodes.xml", "havardgulldahl__xmeml", "broshow")
    own = evaluate.Origin.of(root / "mifi__lossless-cut" / "FCPXML_1_9.fcpxml", root)
    assert (own.folder, own.production) == ("mifi__lossless-cut", "mifi__lossless-cut")
    outside = evaluate.Origin.of(Path("/elsewhere/show/ep1.xml"), root)
    assert outside == evaluate.Origin("/elsewhere/show/ep1.xml", "show", "show")
