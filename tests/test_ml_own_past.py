"""The own-past chain mixed into decoding: causal, the same step by step as teacher-forced, and
the same on both paths that read it (predictions and rollouts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.features.grid import featurize
from model.features.history import History, history_arrays
from model.features.own_past import OnlineCounts, OwnPastGate, RowCounts, chain_view, framing_kept, mix, own_past, states
from model.inference.network import MultiTrackTransformer, NetConfig, NetworkPredictor, Norm
from model.training.synth import synthesize
from tests.helpers_ml import TINY, features

torch.set_num_threads(1)
GATE = OwnPastGate(cut=(-1.0, 0.4, 0.3), dest=(-0.5, 0.5), recency=(-1.0, 0.3), keep_framing=0.3)


@pytest.fixture(scope="module")
def feats():
    return featurize(synthesize("podcast", 3, 0, (0.3, 0.4)).sequences[0])


def tiny_predictor(gate: OwnPastGate | None) -> NetworkPredictor:
    torch.manual_seed(0)
    model = MultiTrackTransformer(NetConfig(**TINY, context=64)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    pred = NetworkPredictor(model, Norm(), feats_step(), "test", "")
    pred.own_past = gate
    return pred


def feats_step():
    from model.features.grid import DEFAULT_STEP

    return DEFAULT_STEP


def future_changed(feats, t: int):
    """The same timeline with everything after step t changed (tracks flipped, sources renumbered)."""
    grid, src = feats.grid.copy(), feats.source_index.copy()
    grid[t + 1 :, :, 0] = 1 - grid[t + 1 :, :, 0]
    grid[t + 1 :, :, 1] = np.where(grid[t + 1 :, :, 0] > 0.5, 9, 0)
    src[t + 1 :] = np.where(grid[t + 1 :, :, 0] > 0.5, 40 + np.arange(20), -1)
    return features(grid, src, feats.source_kind)


def test_the_own_past_view_never_sees_the_future(feats):
    t = feats.steps // 2
    other = future_changed(feats, t)
    a = chain_view(feats.grid, history_arrays(feats.grid, feats.source_index))
    b = chain_view(other.grid, history_arrays(other.grid, other.source_index))
    for name in ("p_cut", "p_on", "slot", "recency", "steps_here", "cuts_here", "shown"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x[: t + 1], y[: t + 1], err_msg=name)
        assert not np.allclose(x[t + 1 :], y[t + 1 :]), name  # the change is visible once it is past
    ka = framing_kept(feats.grid, history_arrays(feats.grid, feats.source_index))
    kb = framing_kept(other.grid, history_arrays(other.grid, other.source_index))
    np.testing.assert_array_equal(ka[: t + 1], kb[: t + 1])


def test_the_mixed_predictions_never_see_the_future(feats):
    """With the gate on, changing steps after t moves no prediction made from steps up to t."""
    pred = tiny_predictor(GATE)
    t = feats.steps // 2
    base, other = pred.predict(feats), pred.predict(future_changed(feats, t))
    for name in ("p_active", "asset_probs", "values", "p_change"):
        np.testing.assert_allclose(getattr(base, name)[: t + 1], getattr(other, name)[: t + 1], atol=1e-5, err_msg=name)
    fa, fb = pred.forecast(feats), pred.forecast(future_changed(feats, t))
    np.testing.assert_allclose(fa.slot_probs[: t + 1], fb.slot_probs[: t + 1], atol=1e-6)
    np.testing.assert_allclose(fa.recency_probs[: t + 1], fb.recency_probs[: t + 1], atol=1e-6)


def test_counting_step_by_step_gives_the_teacher_forced_counts(feats):
    arrays = history_arrays(feats.grid, feats.source_index)
    full = own_past(feats.grid, arrays, np.float32)
    start = feats.steps // 3
    online = OnlineCounts.after(feats.grid[:start], arrays.rows(slice(0, start)))
    hist = History.after(feats.grid[:start], feats.source_index[:start])
    for t in range(start, feats.steps):
        st = hist.step(feats.grid[t, :, 0] > 0.5, feats.source_index[t], feats.grid[t, :, 2:])
        online.step(feats.grid[t], st.cut, st.recency)
    for name in ("steps", "cuts", "recency"):
        np.testing.assert_array_equal(getattr(online.counts, name)[0], getattr(full, name)[-1], err_msg=name)
    np.testing.assert_array_equal(online.state, states(feats.grid[-1]))
    assert online.framing_kept() == pytest.approx(framing_kept(feats.grid, arrays)[-1])
    view, whole = online.view(), chain_view(feats.grid, arrays)
    np.testing.assert_allclose(view.slot[0], whole.slot[-1], rtol=1e-6)


def test_block_by_block_counts_are_exactly_the_whole_sequence_counts(feats):
    """RowCounts (the predictions' blocks, a rollout's start) gives exactly chain_view's rows and
    OnlineCounts.after's counts, in any order of blocks."""
    arrays = history_arrays(feats.grid, feats.source_index)
    whole, rows = chain_view(feats.grid, arrays), RowCounts(feats.grid, arrays)
    cuts = [0, 7, feats.steps // 2, feats.steps // 2 + 1, feats.steps]
    for lo, hi in [*zip(cuts, cuts[1:]), (3, 40)]:  # in order, then back to an earlier block
        block = rows.view(lo, hi)
        for name in ("p_cut", "p_on", "slot", "recency", "steps_here", "cuts_here", "shown"):
            np.testing.assert_array_equal(getattr(block, name), getattr(whole, name)[lo:hi], err_msg=name)
        assert rows.view(lo, hi, recency=False).recency is None
    for s in (1, 2, feats.steps // 3, feats.steps):
        a, b = OnlineCounts.after(feats.grid[:s], arrays.rows(slice(0, s))), rows.online(s)
        for name in ("steps", "cuts", "recency"):
            np.testing.assert_array_equal(getattr(a.counts, name), getattr(b.counts, name), err_msg=name)
        for name in ("state", "framing", "rec", "before", "values"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_the_gate_weighs_the_chain_by_its_evidence_and_keeps_distributions(feats):
    arrays = history_arrays(feats.grid, feats.source_index)
    view = chain_view(feats.grid, arrays)
    w_cut, w_dest, w_rec = GATE.weights(view)
    assert w_cut[-1].max() > w_cut[0].max()  # more past, more weight on the chain
    rng = np.random.default_rng(0)
    out = {name: rng.normal(size=feats.grid.shape[:2] + (n,)).astype(np.float32)
           for name, n in (("event", 3), ("active", 2), ("asset", 10), ("recency", 8), ("values", 7), ("delta", 7))}
    mixed = mix(out, view, GATE)
    for name in ("event", "active", "asset", "recency"):
        np.testing.assert_allclose(np.exp(mixed[name]).sum(-1), 1.0, rtol=1e-4)
    assert mixed["values"] is out["values"]
    off = mix(out, view, OwnPastGate(cut=(-60.0, 0, 0), dest=(-60.0, 0), recency=(-60.0, 0)))
    np.testing.assert_allclose(np.exp(off["asset"]), np.exp(out["asset"]) / np.exp(out["asset"]).sum(-1, keepdims=True), rtol=1e-4)


def test_a_rollout_reads_the_same_mixture_as_the_predictions(feats):
    """The rollout's first step comes from the primed row, which is the teacher-forced mixed row."""
    pred = tiny_predictor(GATE)
    start = feats.steps // 2
    _, primed = pred.predict_primed(feats, (start,))
    out = pred.outputs(feats)
    with pred.scope(single_steps=True):
        fresh = pred._prime(feats, start)
    for name in ("event", "active", "asset", "recency"):
        np.testing.assert_allclose(primed[start].last[name], out[name][start - 1], atol=1e-5)
        np.testing.assert_allclose(fresh.last[name], out[name][start - 1], atol=2e-3)  # float error of two network paths
    a = pred.rollout(feats, start, 30, seed=3)
    b = pred.rollout(feats, start, 30, seed=3, primed=primed[start])
    np.testing.assert_array_equal(a.source_index, b.source_index)  # same choices at every step
    np.testing.assert_allclose(a.grid, b.grid, atol=0.02)  # values: the float error of two network paths


def test_where_a_timeline_keeps_its_framings_a_change_keeps_the_values():
    """Cuts between shots that never reframe (as on real programmes): the forecast given a change
    keeps a still shot's values, where the network alone would move them by its delta head."""
    from model.inference.decoding import CUT, MOVE
    from tests.helpers_ml import hand_grid

    shots = [(k * 20, (k + 1) * 20, k % 3) for k in range(10)]
    grid, src = hand_grid(shots, 200, scale=[80.0] * 10)
    f = features(grid, src)
    heads = (("event", 3), ("active", 2), ("asset", 10), ("recency", 8), ("values", 7), ("delta", 7))
    out = {name: np.zeros((200, 20, n), np.float32) for name, n in heads}
    out["event"][..., MOVE], out["event"][..., CUT] = 5.0, -5.0  # the network expects a move
    out["delta"][..., 0] = 3.0  # a zoom
    moving = tiny_predictor(None).forecast(f, out).values_change[150, 0]
    kept = tiny_predictor(GATE).forecast(f, out).values_change[150, 0]
    assert moving[0] != pytest.approx(80.0)
    np.testing.assert_allclose(kept, grid[150, 0, 2:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_column_by_column_is_the_plain_formula(dtype):
    """The fast softmax and row sums (a column at a time) give the plain formulas' very numbers."""
    from model.features.own_past import row_sum, softmax

    rng = np.random.default_rng(3)
    for n in [*range(1, 34), 128, 129]:
        x = (7 * rng.normal(size=(300, 20, n))).astype(dtype)  # above the column path's threshold
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        np.testing.assert_array_equal(softmax(x), e / e.sum(axis=-1, keepdims=True), err_msg=f"{n} classes")
        np.testing.assert_array_equal(softmax(x[0, 0]), (e / e.sum(axis=-1, keepdims=True))[0, 0])
        np.testing.assert_array_equal(row_sum(e[..., 1:]), e[..., 1:].sum(-1), err_msg=f"sum of {n - 1}")
