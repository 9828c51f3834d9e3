"""`mttd fit-gate` (model/training/fit_gate.py): the grid scores what the evaluation scores, the cut
fit finds whichever of network and chain knows more, and held-out productions are never read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from daemon.cli import main as mttd
from model.features.grid import DEFAULT_STEP
from model.features.own_past import OwnPastGate
from model.inference.load import load_predictor
from model.training import fit_gate, metrics
from tests.helpers_ml import write_timelines
from tests.helpers_onnx import tiny_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random network and four short synthetic timelines, read as real ones of the fit split."""
    root = tmp_path_factory.mktemp("fit-gate")
    weights = tiny_checkpoint(root)
    folder = write_timelines(root / "project", 4, seed=3, minutes=(0.3, 0.5), styles=("podcast", "vlog", "documentary", "splitscreen"))
    predictor = load_predictor(weights)
    seqs, _ = fit_gate.read_sequences([folder], "real", DEFAULT_STEP)
    fit_gate.network_outputs(predictor, seqs)
    return weights, folder, predictor, seqs


def evaluation_accuracies(predictor, seqs, gate: OwnPastGate | None) -> tuple[float, float]:
    """Next active and next asset at cuts as `mttd eval` computes them, through the decoder."""
    predictor.own_past = gate
    active, asset = [], []
    for s in seqs:
        out = predictor.with_own_past(s.out, s.feats.grid, s.arrays)
        m = metrics.sequence_metrics(s.feats.grid, s.feats.source_index, s.arrays, predictor.marginal(s.feats, out, s.arrays),
                                     predictor.forecast(s.feats, out), 0.1)
        active.append(m["next_active_acc"])
        asset.append(m["next_asset_acc"])
    predictor.own_past = None
    return float(np.mean(active)), float(np.nanmean(asset))


@pytest.mark.parametrize("gate", [None, OwnPastGate(dest=(0.0, 0.5), recency=(-1.5, 1.0), geometric=True),
                                  OwnPastGate(dest=(1.5, 0.0), recency=(1.5, 2.0), geometric=False)])
def test_the_grid_scores_exactly_what_the_evaluation_scores(tiny, gate):
    _, _, predictor, seqs = tiny
    assert len(seqs) >= 3
    fast = fit_gate.accuracies(fit_gate.shown_cells(seqs), gate)
    active, asset = evaluation_accuracies(predictor, seqs, gate)
    assert fast["real_next_active"] == pytest.approx(active, abs=1e-9)
    assert fast["real_next_asset"] == pytest.approx(asset, abs=1e-9)


def test_the_accuracies_move_with_the_gate(tiny):
    """A chain-only and a network-only gate score differently (else the grid above proves nothing)."""
    cells = fit_gate.shown_cells(tiny[3])
    chain = fit_gate.accuracies(cells, OwnPastGate(dest=(50.0, 0.0), recency=(50.0, 0.0)))
    network = fit_gate.accuracies(cells, OwnPastGate(dest=(-50.0, 0.0), recency=(-50.0, 0.0)))
    assert chain != network


def log_loss(c: fit_gate.CutCells, theta) -> float:
    w = 1 / (1 + np.exp(-(theta[0] + theta[1] * c.steps_here + theta[2] * c.cuts_here)))
    p = np.clip(w * c.chain + (1 - w) * c.net, 1e-6, 1 - 1e-6)
    cell = -(c.cut * np.log(p) + (1 - c.cut) * np.log(1 - p)) * c.weight
    return float(np.mean([cell[c.domain == d].sum() / c.weight[c.domain == d].sum() for d in np.unique(c.domain)]))


@pytest.mark.parametrize("who_knows", ["chain", "network"])
def test_the_cut_weights_follow_whoever_knows_when_the_cut_comes(who_knows):
    rng = np.random.default_rng(0)
    n = 4000
    cut = rng.random(n) < 0.2
    knows = np.where(cut, 0.8, 0.05)
    blind = np.full(n, 0.2)
    c = fit_gate.CutCells(net=knows if who_knows == "network" else blind, chain=knows if who_knows == "chain" else blind,
                          steps_here=np.log1p(rng.integers(0, 500, n)), cuts_here=np.log1p(rng.integers(0, 50, n)),
                          cut=cut, weight=np.ones(n), domain=(np.arange(n) % 2).astype(bool))
    theta, loss = fit_gate.fit_cut(c)
    assert loss == pytest.approx(log_loss(c, theta), rel=1e-6)
    assert loss < min(log_loss(c, (-30, 0, 0)), log_loss(c, (30, 0, 0)), log_loss(c, (0, 0, 0))) + 1e-6
    w = 1 / (1 + np.exp(-(theta[0] + theta[1] * c.steps_here + theta[2] * c.cuts_here)))
    assert (w.mean() > 0.9) if who_knows == "chain" else (w.mean() < 0.1)


def test_held_out_productions_are_never_read(tiny, tmp_path, capsys):
    folder = tiny[1]
    corpus = tmp_path / "corpus"
    one = sorted(folder.glob("*.xml"))[0]
    for name in ("BroShow ep Test.xml", "msub2000-test.xml", "another.xml"):
        (corpus / "havardgulldahl__xmeml").mkdir(parents=True, exist_ok=True)
        shutil.copy(one, corpus / "havardgulldahl__xmeml" / name)

    def read(splits):
        seqs, left_out = fit_gate.read_sequences([corpus], "real", DEFAULT_STEP, splits)
        return sorted(Path(s.path).name for s in seqs), left_out

    assert read(("fit",))[0] == ["another.xml"]
    assert read(("fit", "validation"))[0] == ["another.xml", "msub2000-test.xml"]
    assert any("broshow: held-out" in line for line in read(("fit", "validation"))[1])
    with pytest.raises(ValueError):
        read(("fit", "held-out"))
    assert mttd(["fit-gate", "--model", str(tiny[0]), "--real", str(corpus), "--splits", "held-out", "--out", str(tmp_path / "g.json")]) == 1
    assert "never fitted on" in capsys.readouterr().err
    assert not (tmp_path / "g.json").exists()


def test_the_command_writes_a_gate_that_the_model_then_decodes_with(tiny, tmp_path, capsys):
    weights, folder, _, _ = tiny
    model = tmp_path / "model"
    model.mkdir()
    for f in (weights, weights.with_suffix(".json")):
        shutil.copy(f, model / f.name)
    out = tmp_path / "gate.json"
    assert mttd(["fit-gate", "--model", str(model / weights.name), "--real", str(folder), "--synth", str(folder), "--every", "2",
                 "--out", str(out), "--write-model", "--threads", "1"]) == 0
    doc = json.loads(out.read_text())
    assert doc["fit"]["sequences"] == {"real": 4, "synthetic": 2}
    assert set(doc["own_past"]) == {"cut", "dest", "recency", "keep_framing", "geometric"}
    assert json.loads((model / "tiny.json").read_text())["own_past"] == doc["own_past"]
    assert load_predictor(model / weights.name).own_past == OwnPastGate.from_json(doc["own_past"])
    assert "wrote the gate into" in capsys.readouterr().out
