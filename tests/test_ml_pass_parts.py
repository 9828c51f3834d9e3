"""A long teacher-forced pass split over threads (decoding.ChunkRun) gives the numbers of one pass
from the start, stays causal, and stops with its caller."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from model.features.grid import featurize, featurize_timeline
from model.features.own_past import OwnPastGate
from model.inference import cancel
from model.inference.decoding import PREDICTION_FIELDS, split_chunks
from model.inference.load import load_predictor
from model.inference.network import MultiTrackTransformer, NetConfig, NetworkPredictor, Norm
from model.timeline.formats import read_timeline
from model.training.synth import synthesize
from tests.helpers_ml import TINY, features

torch.set_num_threads(1)
REAL = "havardgulldahl__xmeml/Kraakeklubben%20Pgm%205%20v3.xml"  # 20 minutes, 48 chunks of the default model
GATE = OwnPastGate(cut=(-1.0, 0.4, 0.3), dest=(-0.5, 0.5), recency=(-1.0, 0.3), keep_framing=0.3)


def tiny_predictor(gate: OwnPastGate | None = GATE) -> NetworkPredictor:
    torch.manual_seed(0)
    model = MultiTrackTransformer(NetConfig(**TINY, context=32)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    pred = NetworkPredictor(model, Norm(), Fraction(1, 10), "test", "")
    pred.own_past = gate
    return pred


@pytest.fixture(scope="module")
def synthetic():
    f = featurize(synthesize("podcast", 5, 0, (2.0, 2.2)).sequences[0])
    assert f.steps > 16 * 32  # two parts of the tiny model's 2 layers x 4 chunks at least
    return f


def both_ways(pred, feats, starts, key=None, edited=None):
    """predict_primed on one thread and split over two: (predictions, primed, memo) each; with
    `edited`, of that version after a pass over `feats` (a re-save that reuses the memo)."""
    runs = []
    for workers in (1, 2):
        pred.workers = workers
        pred.__dict__.pop("_memos", None)
        preds, primed = pred.predict_primed(feats, starts, key)
        if edited is not None:
            preds, primed = pred.predict_primed(edited, starts, key)
        memo = pred._memos.get((key, pred.sha256)) if key is not None else None
        runs.append((preds, primed, memo))
    return runs


def assert_same_pass(one, two) -> None:
    for name in PREDICTION_FIELDS:
        np.testing.assert_array_equal(getattr(two[0], name), getattr(one[0], name), err_msg=name)
    assert one[1].keys() == two[1].keys()
    for s in one[1]:
        for name, v in one[1][s].last.items():
            np.testing.assert_array_equal(two[1][s].last[name], v, err_msg=f"start {s} {name}")
        for a, b in zip(_arrays(one[1][s].cache), _arrays(two[1][s].cache)):
            np.testing.assert_array_equal(b, a, err_msg=f"cache at start {s}")
    if one[2] is not None:
        for name, v in one[2].out.items():
            np.testing.assert_array_equal(two[2].out[name], v, err_msg=name)
        assert one[2].snapshots.keys() == two[2].snapshots.keys()
        for a in one[2].snapshots:
            for x, y in zip(_arrays(one[2].snapshots[a]), _arrays(two[2].snapshots[a])):
                np.testing.assert_array_equal(y, x, err_msg=f"snapshot at {a}")


def _arrays(cache) -> list[np.ndarray]:
    if isinstance(cache, tuple):  # ONNX: (keys, values)
        return [np.asarray(c) for c in cache]
    return [t.numpy() for kv in cache for t in kv]  # torch: per layer (k, v)


def test_parts_are_balanced_and_only_for_long_passes():
    assert split_chunks(94, 1, 4) == [0]
    assert split_chunks(31, 2, 4) == [0]  # under 4 chunks per layer each: not worth the warm-up
    first = split_chunks(94, 2, 4)
    assert first == [0, 49]  # 49 chunks, then 45 after 4 chunks of warm-up
    parts = split_chunks(200, 4, 4)
    sizes = np.diff(parts + [200]) + np.array([0, 4, 4, 4])
    assert len(parts) == 4 and sizes.max() - sizes.min() <= 1


def test_a_split_pass_equals_one_pass_on_a_synthetic_timeline(synthetic):
    pred = tiny_predictor()
    starts = (40, 16 * 32, synthetic.steps // 2 + 7, synthetic.steps)
    one, two = both_ways(pred, synthetic, starts, key=("synthetic", "seq"))
    assert_same_pass(one, two)


@pytest.mark.parametrize("shorter", [False, True])
def test_a_split_re_save_equals_one_on_one_thread(synthetic, shorter):
    """A re-save whose edits reach most chunks (near both ends, or a shorter sequence) runs them
    split too, over the kept pass's arrays: the same numbers as on one thread."""
    grid, src = synthetic.grid.copy(), synthetic.source_index.copy()
    for lo in (60, synthetic.steps - 120):
        grid[lo : lo + 10, 3, 0] = 1 - grid[lo : lo + 10, 3, 0]
        src[lo : lo + 10, 3] = np.where(grid[lo : lo + 10, 3, 0] > 0.5, 0, -1)
    end = synthetic.steps - 50 if shorter else synthetic.steps
    edited = features(grid[:end], src[:end], synthetic.source_kind[:end])
    pred = tiny_predictor()
    one, two = both_ways(pred, synthetic, (100, end // 2), key=("synthetic", "seq"), edited=edited)
    assert_same_pass(one, two)


def test_a_split_pass_equals_one_pass_on_a_real_programme_int8(corpus_dir):
    """The default model on its int8 export: the same bits, caches and memo included."""
    feats = featurize_timeline(read_timeline(corpus_dir / REAL))[0]
    pred = load_predictor(None, "onnx-int8")
    assert split_chunks(-(-feats.steps // pred.context), 2, pred.n_layer) != [0]
    starts = (feats.steps // 3, feats.steps // 2 + 100, feats.steps)
    one, two = both_ways(pred, feats, starts, key=("real", "seq"))
    assert_same_pass(one, two)


def test_a_pass_splits_only_over_the_threads_it_was_given():
    """The daemon's `threads = 1` keeps every pass on one thread; an unset count uses the cores."""
    from model.inference.onnx_backend import usable_cores

    assert load_predictor(None, "onnx-int8", threads=1).workers == 1
    assert load_predictor(None, "onnx-int8", threads=3).workers == 3
    assert load_predictor(None, "onnx-int8").workers == usable_cores() >= 1
    torch.set_num_threads(2)
    try:
        assert tiny_predictor().default_workers() == 2
    finally:
        torch.set_num_threads(1)


def test_a_split_pass_never_sees_the_future(synthetic):
    """Changing the steps after t (in the second part, and in the first) moves no prediction
    made from steps up to t, with the chain's gate on."""
    pred = tiny_predictor()
    pred.workers = 2
    base = pred.predict(synthetic)
    for t in (synthetic.steps * 3 // 4, 100):
        grid, src = synthetic.grid.copy(), synthetic.source_index.copy()
        grid[t + 1 :, :, 0] = 1 - grid[t + 1 :, :, 0]
        grid[t + 1 :, :, 1] = np.where(grid[t + 1 :, :, 0] > 0.5, 9, 0)
        src[t + 1 :] = np.where(grid[t + 1 :, :, 0] > 0.5, 40 + np.arange(20), -1)
        other = pred.predict(features(grid, src, synthetic.source_kind))
        for name in PREDICTION_FIELDS:
            a, b = getattr(base, name), getattr(other, name)
            np.testing.assert_array_equal(a[: t + 1], b[: t + 1], err_msg=f"{name} up to {t}")
            assert not np.array_equal(a[t + 1 :], b[t + 1 :]), name


def test_a_cancelled_split_pass_stops_every_part(synthetic):
    pred = tiny_predictor(None)
    pred.workers = 2
    class Gone(Exception):
        pass

    def check():
        raise Gone

    ran = []
    run = pred.run
    pred.run = lambda *a: (ran.append(1), run(*a))[1]
    with cancel.checking(check), pytest.raises(Gone):
        pred.predict(synthetic)
    assert len(ran) <= 2  # the other part (its warm-up alone is 2 chunks, its part 15) stopped as well
