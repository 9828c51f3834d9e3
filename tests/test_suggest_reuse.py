"""A re-save runs only what its edit reaches, and gets exactly what a full pass gets (real
corpus programme, the bundled network on its int8 ONNX export)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model.inference import cancel, reuse
from model.inference.load import load_predictor
from model.suggest.items import SuggestOptions
from model.suggest.pipeline import suggest
from model.timeline.formats import read_timeline

PROGRAMME = "havardgulldahl__xmeml/UA4-konsulentteam-CC.xml"  # 3.4 minutes, 2,017 steps, 3 tracks
OPTIONS = SuggestOptions(max_fills=3)


@pytest.fixture(scope="module")
def network():
    return load_predictor(None, "onnx-int8")


@pytest.fixture(autouse=True)
def snapshots_every_two_chunks(monkeypatch):
    """The 3.4-minute programme has 8 chunks; keep a cache every 2 of them so that a re-save has
    somewhere to start from (the default, 8, is for long programmes)."""
    monkeypatch.setattr(reuse, "SNAPSHOT_EVERY", 2)


def counted(predictor):
    """The predictor with a count of the network calls of more than one step (the pass's chunks)."""
    calls = {"chunks": 0}
    run = type(predictor).run

    def counting(self, x, start, cache):
        calls["chunks"] += x["active"].shape[1] > 1
        return run(self, x, start, cache)

    predictor.run = counting.__get__(predictor)
    return calls


def edited(timeline, at: float, frames: int = -10, ripple: bool = False):
    """The clip nearest `at` of the programme trimmed by `frames` (with `ripple`, later clips move too)."""
    seq = timeline.sequences[0]
    track, index, item = min(((t, i, it) for t, tr in enumerate(seq.video_tracks) for i, it in enumerate(tr.items)),
                             key=lambda x: abs(x[2].start - at * seq.duration))
    tracks = []
    for t, tr in enumerate(seq.video_tracks):
        items = []
        for i, it in enumerate(tr.items):
            if (t, i) == (track, index):
                it = replace(it, end=it.end + frames)
            elif ripple and it.start >= item.end:
                it = replace(it, start=it.start + frames, end=it.end + frames)
            items.append(it)
        tracks.append(replace(tr, items=tuple(items)))
    return replace(timeline, sequences=(replace(seq, video_tracks=tuple(tracks)),))


def fresh(predictor, timeline):
    predictor.__dict__.pop("_memos", None)
    return suggest(timeline, predictor, OPTIONS)[0]


def assert_same(a, b):
    for name in ("p_active", "asset_probs", "values", "p_change"):
        assert np.array_equal(getattr(a.predictions, name), getattr(b.predictions, name)), name
    assert (a.review, a.next, a.fill) == (b.review, b.next, b.fill)


@pytest.mark.parametrize("at, ripple", [(0.75, False), (0.3, False), (0.6, True)], ids=["late", "early", "ripple"])
def test_a_resave_equals_a_full_pass_and_runs_fewer_chunks(corpus_dir, network, at, ripple):
    timeline = read_timeline(corpus_dir / PROGRAMME)
    calls = counted(network)
    steps = fresh(network, timeline).steps
    full = calls["chunks"]
    assert full == -(-steps // network.context)
    calls["chunks"] = 0
    changed = edited(timeline, at, ripple=ripple)
    resaved = suggest(changed, network, OPTIONS)[0]
    rerun = calls["chunks"]
    assert_same(resaved, fresh(network, changed))
    if not ripple and at > 0.5:
        assert rerun < full
    assert rerun <= full - (int(at * full) // reuse.SNAPSHOT_EVERY) * reuse.SNAPSHOT_EVERY + 1


def test_an_unchanged_resave_runs_no_chunk_and_reuses_its_rollouts(corpus_dir, network):
    timeline = read_timeline(corpus_dir / PROGRAMME)
    first = fresh(network, timeline)
    calls = counted(network)
    again = suggest(timeline, network, OPTIONS)[0]
    assert calls["chunks"] == 0
    assert_same(first, again)


def test_a_resave_after_a_pass_without_rollouts_still_equals_a_full_pass(corpus_dir, network):
    timeline = read_timeline(corpus_dir / PROGRAMME)
    fresh(network, timeline)
    suggest(timeline, network, SuggestOptions(kinds=("review",)))  # kept, but with no rollout starts
    changed = edited(timeline, 0.75)
    assert_same(suggest(changed, network, OPTIONS)[0], fresh(network, changed))


def test_another_file_is_not_mistaken_for_the_last_one(corpus_dir, network):
    timeline = read_timeline(corpus_dir / PROGRAMME)
    suggest(timeline, network, OPTIONS)
    other = read_timeline(corpus_dir / "havardgulldahl__xmeml/fcp.sample.xml")
    assert_same(suggest(other, network, OPTIONS)[0], fresh(network, other))


class Stopped(Exception):
    pass


def test_a_resave_stopped_half_way_leaves_no_half_written_pass(corpus_dir, network):
    """A re-save writes into the kept pass's arrays; stopped before its last chunk (the caller has
    gone), it must leave nothing behind that the next pass would take for a whole pass."""
    timeline = read_timeline(corpus_dir / PROGRAMME)
    changed = edited(timeline, 0.75)
    fresh(network, timeline)
    calls = counted(network)
    suggest(changed, network, OPTIONS)
    chunks = calls["chunks"]
    assert chunks >= 2
    fresh(network, timeline)
    checks = {"n": 0}

    def stop_before_the_last_chunk():  # checks: one after the features, then one before each chunk
        checks["n"] += 1
        if checks["n"] == 1 + chunks:
            raise Stopped

    with cancel.checking(stop_before_the_last_chunk), pytest.raises(Stopped):
        suggest(changed, network, OPTIONS)
    again = edited(timeline, 0.1)  # its pass would copy the rows after its reach (around 0.75) from a kept pass
    assert_same(suggest(again, network, OPTIONS)[0], fresh(network, again))


def test_a_rollout_from_the_same_network_context_is_replayed(corpus_dir, network):
    """Kraakeklubben with a clip trimmed at 40 %: the later fill starts from the same cache window
    and network row as last time, only the own-past chain counts the edit (the earlier fill is
    before it). It is replayed through the network's kept outputs (no single-step network call),
    and every kept rollout equals a fresh pass's, confidences too."""
    timeline = read_timeline(corpus_dir / "havardgulldahl__xmeml/Kraakeklubben%20Pgm%205%20v3.xml")
    fresh(network, timeline)
    calls = {"steps": 0}
    run = type(network).run

    def counting(self, x, start, cache):
        calls["steps"] += x["active"].shape[1] == 1
        return run(self, x, start, cache)

    network.run = counting.__get__(network)
    changed = edited(timeline, 0.4)
    resaved = suggest(changed, network, OPTIONS)[0]
    assert calls["steps"] == 0 and resaved.fill
    replayed = kept_rollouts(network)
    calls["steps"] = 0
    again = fresh(network, changed)
    assert calls["steps"] > 0  # a fresh pass runs its rollouts
    assert_same(resaved, again)
    rolled = kept_rollouts(network)
    assert replayed.keys() == rolled.keys() and replayed
    for key, r in rolled.items():  # the rollouts themselves, confidences too
        for name in ("grid", "source_index", "confidence"):
            assert np.array_equal(getattr(replayed[key], name), getattr(r, name)), (key, name)


def kept_rollouts(predictor) -> dict:
    (memo,) = predictor._memos._items.values()
    return dict(memo.rollouts)


def test_a_resave_far_from_any_stored_cache_warms_up_from_none(corpus_dir, network, monkeypatch):
    """No stored cache before the change (the 3.4-minute programme's 8 chunks, one kept every 100):
    the re-save runs n_layer chunks from no cache before the changed chunk instead of every chunk
    from the start, and gets exactly a full pass's results."""
    monkeypatch.setattr(reuse, "SNAPSHOT_EVERY", 100)
    timeline = read_timeline(corpus_dir / PROGRAMME)
    calls = counted(network)
    fresh(network, timeline)
    full = calls["chunks"]
    changed = edited(timeline, 0.8)
    calls["chunks"] = 0
    resaved = suggest(changed, network, OPTIONS)[0]
    assert calls["chunks"] < full
    assert_same(resaved, fresh(network, changed))
