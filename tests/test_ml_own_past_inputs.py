"""The own-past statistics as network inputs (issue 18): causal, the same step by step as
teacher-forced, off by default, and a fine-tune that adds them starts from the same outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model.features.grid import DEFAULT_STEP, featurize
from model.features.history import History, history_arrays
from model.features.own_past_inputs import N_OWN, OnlineInputs, own_past_inputs, source_uses
from model.inference.checkpoint import load
from model.inference.network import MultiTrackTransformer, NetConfig, NetworkPredictor, Norm, model_from_checkpoint
from model.training.synth import synthesize
from model.training.train import parse_args, run
from tests.helpers_ml import TINY, make_dataset, train_argv
from tests.test_ml_own_past import future_changed

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def feats():
    return featurize(synthesize("podcast", 3, 0, (0.3, 0.4)).sequences[0])


def reading_predictor() -> NetworkPredictor:
    """A tiny network that reads the own-past inputs strongly (random, non-zero projection)."""
    torch.manual_seed(0)
    model = MultiTrackTransformer(NetConfig(**TINY, context=64, own_past_inputs=True)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return NetworkPredictor(model, Norm(), DEFAULT_STEP, "test", "")


def test_the_inputs_never_see_the_future(feats):
    t = feats.steps // 2
    other = future_changed(feats, t)
    a = own_past_inputs(feats.grid, history_arrays(feats.grid, feats.source_index), feats.source_index)
    b = own_past_inputs(other.grid, history_arrays(other.grid, other.source_index), other.source_index)
    assert a.shape == (feats.steps, 20, N_OWN) and np.isfinite(a).all()
    np.testing.assert_array_equal(a[: t + 1], b[: t + 1])
    assert not np.allclose(a[t + 1 :], b[t + 1 :])  # the change shows once it is past: the check can fail


def test_the_network_that_reads_them_never_sees_the_future(feats):
    pred = reading_predictor()
    t = feats.steps // 2
    other = future_changed(feats, t)
    base, moved = pred.predict(feats), pred.predict(other)
    for name in ("p_active", "asset_probs", "values", "p_change"):
        np.testing.assert_allclose(getattr(base, name)[: t + 1], getattr(moved, name)[: t + 1], atol=1e-5, err_msg=name)
    assert not np.allclose(base.p_change[t + 1 :], moved.p_change[t + 1 :], atol=1e-3)


def test_the_inputs_move_the_predictions(feats):
    """The same network with its own-past projection zeroed predicts differently: they are read."""
    pred = reading_predictor()
    a = pred.outputs(feats)["event"]
    with torch.no_grad():
        pred.model.own_proj.weight.zero_()
    b = pred.outputs(feats)["event"]
    assert np.abs(a - b).max() > 1e-2


def test_counting_step_by_step_gives_the_teacher_forced_rows(feats):
    arrays = history_arrays(feats.grid, feats.source_index)
    whole = own_past_inputs(feats.grid, arrays, feats.source_index)
    start = feats.steps // 3
    online = OnlineInputs.after(feats.grid[:start], arrays.rows(slice(0, start)), feats.source_index[:start])
    np.testing.assert_allclose(online.row(), whole[start - 1], atol=1e-5)
    hist = History.after(feats.grid[:start], feats.source_index[:start])
    for t in range(start, feats.steps):
        st = hist.step(feats.grid[t, :, 0] > 0.5, feats.source_index[t], feats.grid[t, :, 2:])
        online.step(feats.grid[t], feats.source_index[t], st.cut, st.recency)
        np.testing.assert_allclose(online.row(), whole[t], atol=1e-5, err_msg=str(t))


def test_source_uses_count_the_cuts_to_the_shown_source_so_far():
    shows = np.zeros((6, 2), bool)
    src = np.full((6, 2), -1)
    src[0:2, 0], src[2:4, 0], src[4:6, 0] = 3, 5, 3  # A B A on track 0
    src[3:6, 1] = 3  # A again on track 1 from step 3
    shows[[0, 2, 4], 0] = True
    shows[3, 1] = True
    uses = source_uses(shows, src, src >= 0)
    np.testing.assert_array_equal(uses[:, 0], [1, 1, 1, 1, 3, 3])
    np.testing.assert_array_equal(uses[:, 1], [0, 0, 0, 2, 3, 3])


def test_a_rollout_of_a_network_that_reads_them_starts_from_the_teacher_forced_row(feats):
    pred = reading_predictor()
    start = feats.steps // 2
    _, primed = pred.predict_primed(feats, (start,))
    out = pred.outputs(feats)
    with pred.scope(single_steps=True):
        fresh = pred._prime(feats, start)
    for name in ("event", "asset"):
        np.testing.assert_allclose(primed[start].last[name], out[name][start - 1], atol=1e-5)
        np.testing.assert_allclose(fresh.last[name], out[name][start - 1], atol=2e-3)
    a = pred.rollout(feats, start, 20, seed=1)
    b = pred.rollout(feats, start, 20, seed=1, primed=primed[start])
    np.testing.assert_array_equal(a.source_index, b.source_index)


def test_fine_tuning_with_the_inputs_starts_from_the_same_outputs_and_old_models_load(tmp_path, feats):
    data = make_dataset(tmp_path / "ds", n=8)
    base = tmp_path / "base"
    run(parse_args(train_argv(data, base, "--epochs", "1", "--epoch-windows", "4")))
    meta = json.loads((base / "final.json").read_text())
    assert meta["config"]["own_past_inputs"] is False
    old = {k: v for k, v in meta["config"].items() if k != "own_past_inputs"}  # a checkpoint from before the flag
    (base / "final.json").write_text(json.dumps({**meta, "config": old}))
    model, norm = model_from_checkpoint(load(base / "final.safetensors"))
    assert not model.cfg.own_past_inputs and not hasattr(model, "own_proj")

    ft = tmp_path / "ft"
    run(parse_args(train_argv(data, ft, "--epochs", "1", "--epoch-windows", "2", "--lr", "0",
                              "--init", str(base / "final.safetensors"), "--own-past-inputs")))
    tuned, _ = model_from_checkpoint(load(ft / "final.safetensors"))
    assert tuned.cfg.own_past_inputs and json.loads((ft / "final.json").read_text())["config"]["own_past_inputs"]
    a = NetworkPredictor(model, norm, DEFAULT_STEP, "a", "").outputs(feats)
    b = NetworkPredictor(tuned, norm, DEFAULT_STEP, "b", "").outputs(feats)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)  # lr 0: the zero projection adds nothing

    more = tmp_path / "more"
    run(parse_args(train_argv(data, more, "--epochs", "2", "--epoch-windows", "4", "--lr", "3e-3",
                              "--init", str(base / "final.safetensors"), "--own-past-inputs")))
    trained, _ = model_from_checkpoint(load(more / "final.safetensors"))
    assert trained.own_proj.weight.abs().sum() > 0  # the projection learns from zero


def test_the_own_past_projection_can_learn_at_its_own_rate():
    from model.training.train import param_groups

    model = MultiTrackTransformer(NetConfig(**TINY, context=64, own_past_inputs=True))
    args = parse_args(["--data", "d", "--out", "o", "--own-past-inputs", "--own-lr-scale", "30"])
    groups = param_groups(model, args)
    own = [g for g in groups if g.get("lr_scale") == 30]
    assert len(own) == 1 and {id(p) for p in own[0]["params"]} == {id(p) for p in model.own_proj.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    plain = param_groups(model, parse_args(["--data", "d", "--out", "o"]))
    assert len(plain) == 2 and sum(len(g["params"]) for g in plain) == len(list(model.parameters()))
