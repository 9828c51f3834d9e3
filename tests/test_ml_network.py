"""The network: size, causality, per-track decoding, incremental decoding, rollouts."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from model.features.grid import featurize
from model.features.history import History, feed, framing_arrays, history_arrays
from model.inference.network import (
    CUT,
    HEADS,
    MultiTrackTransformer,
    NetConfig,
    NetworkPredictor,
    Norm,
    encode_inputs,
    encode_targets,
    to_torch,
)
from model.training.synth import synthesize
from tests.helpers_ml import TINY, features, hand_grid

torch.set_num_threads(1)


def tiny(context: int = 64, seed: int = 0) -> MultiTrackTransformer:
    torch.manual_seed(seed)
    model = MultiTrackTransformer(NetConfig(**TINY, context=context)).eval()
    for p in model.parameters():  # larger weights than the init, so that differences show
        torch.nn.init.normal_(p, std=0.2)
    return model


@pytest.fixture(scope="module")
def feats():
    return featurize(synthesize("podcast", 3, 0, (0.3, 0.4)).sequences[0])


def inputs(feats, rows=None):
    grid, src, kind = feats.grid, feats.source_index, feats.source_kind
    if rows is not None:
        grid, src, kind = grid[:rows], src[:rows], kind[:rows]
    hist = history_arrays(grid, src)
    batch = type(hist)(**{k: getattr(hist, k)[None] for k in hist.__dataclass_fields__})
    return to_torch(encode_inputs(grid[None], kind[None], batch, Norm()))


def test_reference_size_and_output_shapes(capsys):
    model = MultiTrackTransformer(NetConfig())
    n = model.n_params()
    print(f"parameters: {n:,}")
    assert 2_000_000 < n < 2_700_000  # the reference has 2,230,547
    assert "parameters" in capsys.readouterr().out
    grid, src = hand_grid([(0, 30, 0), (30, 50, 1)], 50)
    out, cache = model(inputs(features(grid, src)))
    for name, k in HEADS:
        assert out[name].shape == (1, 50, 20, k)
    assert len(cache) == 4 and cache[0][0].shape == (1, 8, 50, 32)


def test_no_step_sees_its_future(feats):
    """Changing step t+1 (and later) never changes any prediction made from steps up to t."""
    model = tiny()
    t = 40
    base = {k: v[0].detach().numpy() for k, v in model(inputs(feats, 80))[0].items()}
    changed = feats.grid.copy()
    changed[t + 1 :, :, 0] = 1 - changed[t + 1 :, :, 0]
    changed[t + 1 :, :, 2] += 37.0
    f2 = features(changed[:80], feats.source_index[:80], feats.source_kind[:80])
    other = {k: v[0].detach().numpy() for k, v in model(inputs(f2))[0].items()}
    for name in base:
        np.testing.assert_allclose(base[name][: t + 1], other[name][: t + 1], atol=1e-5)
        assert not np.allclose(base[name][t + 1 :], other[name][t + 1 :])


def test_tracks_get_different_predictions_not_just_an_offset(feats):
    """The reference's F2: output[t, i] - output[t, j] was a constant; here it varies with the input."""
    model = tiny()
    out = model(inputs(feats, 120))[0]["event"][0].detach().numpy()  # (T, 20, 3)
    diff = out[:, 0] - out[:, 1]
    assert np.std(diff, axis=0).max() > 1e-2
    ranks = np.argsort(out[:, :, 0], axis=1)
    assert len({tuple(r) for r in ranks}) > 1


def test_incremental_decoding_matches_full_forward(feats):
    model = tiny(context=64)
    x = inputs(feats, 150)
    full = model(x)[0]["event"][0].detach()
    prefix = {k: v[:, :100] for k, v in x.items()}
    out, cache = model(prefix)
    steps = [out["event"][0]]
    for t in range(100, 150):
        out, cache = model({k: v[:, t : t + 1] for k, v in x.items()}, past=model.trim(cache), start=t)
        steps.append(out["event"][0])
    torch.testing.assert_close(torch.cat(steps), full, atol=1e-4, rtol=1e-4)


def test_chunked_predict_equals_one_banded_forward(feats):
    model = tiny(context=32)
    pred = NetworkPredictor(model, Norm(), Fraction(1, 10), "t", "")
    f = features(feats.grid[:150], feats.source_index[:150], feats.source_kind[:150])
    chunked = pred.outputs(f)["asset"]
    with torch.inference_mode():
        whole = model(inputs(f))[0]["asset"][0].numpy()
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


def test_predictions_are_probabilities_in_physical_units(feats):
    pred = NetworkPredictor(tiny(), Norm(), Fraction(1, 10), "t", "")
    p = pred.predict(feats)
    T = feats.steps
    assert p.p_active.shape == (T, 20) and p.asset_probs.shape == (T, 20, 10) and p.values.shape == (T, 20, 7)
    assert np.all((p.p_active >= 0) & (p.p_active <= 1)) and np.all((p.p_change >= 0) & (p.p_change <= 1))
    np.testing.assert_allclose(p.asset_probs.sum(-1), 1.0, atol=1e-4)


def test_delta_head_learns_moves_only_in_signed_log_units():
    grid, src = hand_grid([(0, 10, 0)], 10)
    grid[5:, 0, 2] = [100.0, 102.0, 104.0, 106.0, 180.0]  # a slow push-in, then a punch-in
    norm = Norm(delta=[2.0] * 7, delta_log=True)
    tgt = encode_targets(grid, history_arrays(grid, src), np.ones(9, bool), norm)
    assert np.flatnonzero(tgt["moving"][:, 0]).tolist() == [5, 6, 7, 8]  # rows whose next step moves
    assert tgt["delta"][5, 0, 0] == pytest.approx(np.log(2.0)) and tgt["delta"][8, 0, 0] == pytest.approx(np.log(38.0))
    change = np.array([0.0, -3.0, 0.5, 74.0, 0.0, 0.0, 0.0], np.float32)
    np.testing.assert_allclose(norm.delta_change(norm.delta_target(change)), change, rtol=1e-5, atol=1e-6)
    snapped = norm.delta_change(norm.delta_target(change), snap=True)  # under half a typical change (2): none
    np.testing.assert_allclose(snapped, [0.0, -3.0, 0.0, 74.0, 0.0, 0.0, 0.0], rtol=1e-5, atol=1e-6)


def test_values_change_only_when_a_change_is_likelier_than_not():
    """Absolute error wants the median: a 40 % move beside 35 % "nothing" keeps the values."""
    grid, src = hand_grid([(0, 6, 0)], 6)
    f = features(grid, src)
    out = {name: np.zeros((6, 20, n), np.float32) for name, n in HEADS}
    out["delta"][..., 0] = np.log1p(10.0)  # the delta head: +10 scale units (delta 1) if it moves
    out["delta"][..., 3] = np.log1p(0.2)  # and a crop change too small to call
    pred = NetworkPredictor(tiny(), Norm(delta_log=True), Fraction(1, 10), "t", "")
    out["event"][2, 0] = np.log([0.35, 0.40, 0.25])
    out["event"][3, 0] = np.log([0.20, 0.70, 0.10])
    values = pred.marginal(f, out).values[:, 0]
    assert values[2, 0] == pytest.approx(100.0) and values[3, 0] == pytest.approx(110.0, rel=1e-4)
    assert values[3, 3] == 0.0
    fc = pred.forecast(f, out)  # given a change, a move is likelier than a cut at both rows
    assert fc.values_change[2, 0, 0] == pytest.approx(110.0, rel=1e-4)


def test_rollout_is_seeded_and_maps_sources(feats):
    pred = NetworkPredictor(tiny(), Norm(), Fraction(1, 10), "t", "")
    a = pred.rollout(feats, 100, 30, seed=1)
    b = pred.rollout(feats, 100, 30, seed=1)
    assert a.grid.shape == (30, 20, 9) and a.source_index.shape == (30, 20) and a.confidence.shape == (30, 20)
    np.testing.assert_array_equal(a.grid, b.grid)
    on = a.grid[..., 0] > 0.5
    assert np.all(a.source_index[~on] == -1)
    known = on & (a.source_index >= 0)
    assert np.all(np.minimum(a.source_index[known], 9) == a.grid[..., 1][known])
    assert np.all((a.confidence > 0) & (a.confidence <= 1))
    empty = pred.rollout(feats, 0, 5)
    assert empty.grid.shape == (5, 20, 9)


def test_values_stay_within_what_an_editor_can_set():
    """A head that overshoots (scale -20 %, crop -5 %, crop 130 %) at a cut between two shots,
    where the head decides, is clipped everywhere it speaks."""
    grid, src = hand_grid([(0, 8, 0)], 8)
    f = features(grid, src)
    out = {name: np.zeros((8, 20, n), np.float32) for name, n in HEADS}
    out["event"][..., CUT] = 5.0
    out["active"][..., 1] = 5.0
    out["values"][..., 0] = -120.0  # Norm(): mean 100, std 1 -> scale -20
    out["values"][..., 3] = -5.0
    out["values"][..., 4] = 130.0
    pred = NetworkPredictor(tiny(), Norm(), Fraction(1, 10), "t", "")
    for values in (pred.marginal(f, out).values[:, 0], pred.forecast(f, out).values_change[:, 0]):
        np.testing.assert_array_equal(values[:, [0, 3, 4]], np.tile([0.0, 0.0, 100.0], (8, 1)))
    hist = History()
    feed(hist, grid[:6], src[:6])
    row, _, _, _ = pred._choose({k: v[6] for k, v in out.items()}, hist, f, np.random.default_rng(0), False, np.zeros((20, 7)))
    assert row[0, 0] == 1.0 and row[0, 2] == 0.0 and row[0, 5] == 0.0 and row[0, 6] == 100.0


def test_a_first_shot_on_a_track_takes_the_nearest_framing_in_use():
    """V1 runs at scale 60; the head guesses 70 for an empty track: 60 is nearer than full frame."""
    grid, src = hand_grid([(0, 8, 0)], 8, scale=[60.0])
    f = features(grid, src)
    out = {name: np.zeros((8, 20, n), np.float32) for name, n in HEADS}
    out["event"][..., CUT] = 5.0
    out["active"][..., 1] = 5.0
    out["values"][..., 0] = -30.0  # scale 70
    pred = NetworkPredictor(tiny(), Norm(), Fraction(1, 10), "t", "")
    assert pred.forecast(f, out).values_change[4, 1, 0] == pytest.approx(60.0)
    out["values"][..., 0] = -5.0  # scale 95: full frame is nearer
    assert pred.forecast(f, out).values_change[4, 1, 0] == pytest.approx(100.0)
    hist = History()
    feed(hist, grid[:6], src[:6])
    out["values"][..., 0] = -30.0
    row, _, _, _ = pred._choose({k: v[6] for k, v in out.items()}, hist, f, np.random.default_rng(0), False, np.zeros((20, 7)))
    assert row[1, 0] == 1.0 and row[1, 2] == pytest.approx(60.0)
    assert not row[2:, 0].any()  # new tracks open bottom-up: V2 may, V3 and above may not


def test_a_rollout_never_cuts_a_track_again_within_min_shot_steps():
    """Every head says "cut to another source now": V1, which cut at step 5, holds at steps 6
    and 7 (a one- or two-step shot is a flash frame, and back to A an A -> B -> A flicker), and
    may cut at step 8; V2, which never showed anything, may switch on at once."""
    grid, src = hand_grid([(0, 5, 0), (5, 9, 1)], 9)
    f = features(grid, src)
    out = {name: np.zeros((9, 20, n), np.float32) for name, n in HEADS}
    out["event"][..., CUT] = 9.0
    out["active"][..., 1] = 9.0
    pred = NetworkPredictor(tiny(), Norm(), Fraction(1, 10), "t", "")
    decided = []
    for last in (5, 6, 7):  # the history ends at `last`; the row is step last + 1
        hist = History()
        feed(hist, grid[: last + 1], src[: last + 1])
        row, srow, _, _ = pred._choose({k: v[last] for k, v in out.items()}, hist, f, np.random.default_rng(0), False,
                                       np.zeros((20, 7)))
        decided.append((int(srow[0]), bool(row[1, 0])))
    assert decided[0] == (1, True) and decided[1] == (1, True)
    assert decided[2][0] not in (-1, 1)  # a cut, to another source


def test_primed_caches_continue_the_teacher_forced_pass(feats):
    """The cache handed to a rollout at step s, fed step s, gives the full pass's row s: the
    window holds exactly the steps before s, at chunk boundaries too."""
    from model.inference.decoding import batch_of_one

    pred = NetworkPredictor(tiny(context=64), Norm(), Fraction(1, 10), "t", "")
    starts = (1, 63, 64, 65, 100, 150)
    out, caches = pred.outputs_and_caches(feats, starts)
    assert sorted(caches) == list(starts)
    arrays = history_arrays(feats.grid, feats.source_index)
    x = encode_inputs(feats.grid[None], feats.source_kind[None], batch_of_one(arrays), pred.norm, None)
    with pred.scope(single_steps=True):
        for s in starts:
            one = {k: v[:, s : s + 1] for k, v in x.items()}
            step, _ = pred.run(one, s, caches[s])
            np.testing.assert_allclose(step["event"][0, 0], out["event"][s], atol=1e-4, err_msg=f"start {s}")


def test_primed_rollout_equals_a_fresh_one_within_the_context():
    """Within one attention span both ways see the same steps, so they draw the same edit."""
    f = featurize(synthesize("podcast", 4, 0, (0.08, 0.09)).sequences[0])
    pred = NetworkPredictor(tiny(context=256), Norm(), Fraction(1, 10), "t", "")
    start = f.steps - 5
    preds, primed = pred.predict_primed(f, (start, f.steps, 0))
    assert set(primed) == {start, f.steps}  # 0 has no steps before it to prime
    np.testing.assert_allclose(preds.p_active, pred.predict(f).p_active, atol=1e-6)
    for s in (start, f.steps):
        a = pred.rollout(f, s, 20, seed=3, primed=primed[s])
        b = pred.rollout(f, s, 20, seed=3)
        np.testing.assert_allclose(a.grid, b.grid, atol=1e-3)
        np.testing.assert_array_equal(a.source_index, b.source_index)
    with pytest.raises(ValueError, match="primed at"):
        pred.rollout(f, 3, 5, primed=pred.predict_primed(f, (4,))[1][4])


def test_history_vectorised_equals_incremental():
    for k, style in enumerate(("documentary", "slideshow", "splitscreen")):
        f = featurize(synthesize(style, 5, k, (0.3, 0.5)).sequences[0])
        a, b = history_arrays(f.grid, f.source_index), feed(History(), f.grid, f.source_index)
        for name in a.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        framing, framed = framing_arrays(f.grid)
        hist = History()
        for t in (0, f.steps // 2, f.steps - 1):
            feed(hist, f.grid[hist.t + 1 : t + 1], f.source_index[hist.t + 1 : t + 1])
            np.testing.assert_array_equal(framed[t], hist.framed)
            np.testing.assert_array_equal(framing[t], hist.framing)
            after = History.after(f.grid[: t + 1], f.source_index[: t + 1])
            for name in vars(hist):
                a_, b_ = getattr(after, name), getattr(hist, name)
                if isinstance(b_, np.ndarray):
                    np.testing.assert_array_equal(a_, b_, err_msg=f"{name} at {t}")
                    assert a_.dtype == b_.dtype, name
                else:
                    assert a_ == b_ and list(a_ if isinstance(a_, dict) else []) == list(b_ if isinstance(b_, dict) else []), name


def test_a_track_switching_back_on_takes_up_its_last_framing():
    """Shot at scale 60 on V1, a gap, then a cut back on: the forecast and the rollout reuse 60;
    a cut between two shots gets the values head's (100 here), and so does a track never used
    before (full frame being the framing in use nearest to the head's 100)."""
    grid, src = hand_grid([(0, 5, 0)], 12, scale=[60.0])
    f = features(grid, src)
    out = {name: np.zeros((12, 20, n), np.float32) for name, n in HEADS}
    out["event"][..., CUT] = 5.0  # a cut is near certain everywhere
    out["active"][..., 1] = 5.0  # and shows something
    pred = NetworkPredictor(tiny(), Norm(), Fraction(1, 10), "t", "")  # values head 0 -> mean scale 100
    fc = pred.forecast(f, out)
    assert fc.values_change[8, 0, 0] == pytest.approx(60.0) and fc.values_change[8, 1, 0] == pytest.approx(100.0)
    assert pred.marginal(f, out).values[8, 0, 0] == pytest.approx(60.0)
    assert fc.values_change[2, 0, 0] == pytest.approx(100.0)  # V1 still on at row 2: a cut to another shot
    hist = History()
    feed(hist, grid[:8], src[:8])
    pred.norm = Norm()
    last = {k: v[8] for k, v in out.items()}
    row, srow, _, _ = pred._choose(last, hist, f, np.random.default_rng(0), False, np.zeros((20, 7)))
    assert row[0, 0] == 1.0 and row[0, 2] == pytest.approx(60.0) and row[1, 2] == pytest.approx(100.0)


def test_recency_class_names_the_shot_a_source_returns_from():
    # A B A C, a gap, C again; sources 0 1 0 2 2
    grid, src = hand_grid([(0, 5, 0), (5, 10, 1), (10, 15, 0), (15, 20, 2), (22, 25, 2)], 25)
    h = history_arrays(grid, src)
    assert h.recency[0, 0] == 0 and h.recency[5, 0] == 0  # new, new
    assert h.recency[10, 0] == 2  # A is the 2nd most recent source on the track when it returns
    assert h.recency[15, 0] == 0 and h.recency[12, 0] == 2  # held through the shot
    assert h.recency[22, 0] == 1  # after a gap: the most recent source of the track
    assert h.recency[20, 0] == -1  # off
    hist = History()
    feed(hist, grid[:20], src[:20])
    assert hist.next_new == 3
    assert dict(hist.candidates(0))[3] == 0


def test_a_first_shot_snaps_exactly_as_a_plain_search_over_the_candidates():
    """after_cut's field-by-field distances pick what a plain per-cell search picks, ties included."""
    from model.inference.decoding import FULL_FRAME, after_cut

    rng = np.random.default_rng(5)
    steps = 300
    framed = rng.random((steps, 20)) < 0.3
    framing = np.where(framed[..., None], rng.choice([50.0, 100.0, 0.0, 25.0], (steps, 20, 7)), 0).astype(np.float32)
    head = (framing + rng.normal(size=framing.shape) * 30).astype(np.float32)
    head[::7] = FULL_FRAME  # exact ties with the full frame
    std = np.array([40, 0.5, 0.3, 6, 6, 6, 6], np.float32)
    active = rng.random((steps, 20)) < 0.5
    got = after_cut(head, framing, framed, active, std)
    for t, i in zip(*np.nonzero(~framed)):
        cands = [framing[t, j] if framed[t, j] else FULL_FRAME for j in range(20)] + [FULL_FRAME]
        dist = [np.abs((head[t, i] - c) / std).sum() for c in cands]
        np.testing.assert_array_equal(got[t, i], cands[int(np.argmin(dist))], err_msg=f"step {t} track {i}")
    for t in range(0, steps, 37):  # a rollout's step: (20, 7) without a leading axis
        np.testing.assert_array_equal(after_cut(head[t], framing[t], framed[t], active[t], std), got[t])
