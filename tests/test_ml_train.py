"""Training on tiny configurations: overfitting, checkpoints, resume, errors, the CLI, two processes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from model.inference.load import ModelLoadError, load_predictor
from model.training.evaluate import features_from_rows
from model.training.train import parse_args, run
from tests.helpers_ml import make_dataset, train_argv

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("mlds"), n=10)


@pytest.fixture(scope="module")
def twelve(data, tmp_path_factory) -> Path:
    """A 12-epoch tiny run (it has an epoch-010 checkpoint)."""
    out = tmp_path_factory.mktemp("run") / "a"
    run(parse_args(train_argv(data, out, "--epochs", "12", "--epoch-windows", "8", "--lr", "3e-3")))
    return out


def val_features(data: Path):
    from model.training.dataset import load_split

    val = load_split(data, "val")
    rows = val.timeline(0)
    return features_from_rows("v", val.grid[rows], val.source_index[rows], val.source_kind[rows], Fraction(1, 10))


def test_a_tiny_model_overfits_a_handful_of_timelines(tmp_path):
    small = make_dataset(tmp_path, n=6, val_fraction=0.34, styles=("podcast", "vlog"))
    out = tmp_path / "run"
    run(parse_args(train_argv(small, out, "--epochs", "60", "--lr", "5e-3", "--patience", "100", "--batch", "2")))
    history = json.loads((out / "final.json").read_text())["history"]
    first, last = history[0]["train"], history[-1]["train"]
    assert last["total"] < 0.35 * first["total"]
    assert last["asset"] < 0.3 * first["asset"] and last["event"] < 0.3 * first["event"]


def test_checkpoints_resume_to_identical_weights_and_predictions(twelve, data, tmp_path):
    names = {p.name for p in twelve.iterdir()}
    assert {"best.safetensors", "best.json", "final.safetensors", "final.json", "epoch-010.safetensors",
            "epoch-010.optim.safetensors"} <= names
    resumed = tmp_path / "b"
    run(parse_args(train_argv(data, resumed, "--epochs", "12", "--epoch-windows", "8", "--lr", "3e-3",
                              "--resume", str(twelve / "epoch-010.safetensors"))))
    a, b = load_file(str(twelve / "final.safetensors")), load_file(str(resumed / "final.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k
    meta = json.loads((resumed / "final.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == list(range(1, 13))
    f = val_features(data)
    pa, pb = load_predictor(twelve / "final.safetensors").predict(f), load_predictor(resumed / "final.safetensors").predict(f)
    np.testing.assert_array_equal(pa.values, pb.values)
    np.testing.assert_array_equal(pa.p_change, pb.p_change)
    best = load_predictor(twelve)  # a run folder means its best checkpoint
    assert best.version.startswith("a:best:") and len(best.sha256) == 64
    again = load_predictor(twelve).predict(f)
    np.testing.assert_array_equal(best.predict(f).asset_probs, again.asset_probs)


def test_fine_tuning_starts_from_the_given_weights_and_keeps_their_gate(twelve, data, tmp_path):
    init = tmp_path / "init"
    init.mkdir()
    gate = {"cut": [-6.0, 1.5, 0.0], "dest": [0.0, 0.5], "recency": [0.0, 0.5], "keep_framing": 0.5, "geometric": True}
    (init / "gated.safetensors").write_bytes((twelve / "final.safetensors").read_bytes())
    (init / "gated.json").write_text(json.dumps({**json.loads((twelve / "final.json").read_text()), "own_past": gate}))
    out = tmp_path / "ft"
    run(parse_args(train_argv(data, out, "--epochs", "1", "--epoch-windows", "4", "--init", str(init / "gated.safetensors"))))
    base, tuned = json.loads((twelve / "final.json").read_text()), json.loads((out / "final.json").read_text())
    assert tuned["init"].endswith("gated.safetensors") and tuned["norm"] == base["norm"] and tuned["config"] == base["config"]
    assert tuned["own_past"] == gate and "own_past" not in base  # a fine-tune decodes with its init's gate


def test_a_corrupt_or_missing_model_is_a_clear_one_line_error(twelve, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    (tmp_path / "bad.json").write_text((twelve / "best.json").read_text())
    with pytest.raises(ModelLoadError) as err:
        load_predictor(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ModelLoadError, match="no such model file"):
        load_predictor(tmp_path / "nothing.safetensors")
    lone = tmp_path / "lone.safetensors"
    lone.write_bytes((twelve / "best.safetensors").read_bytes())
    with pytest.raises(ModelLoadError, match="lone.json"):
        load_predictor(lone)
    (tmp_path / "lone.json").write_text(json.dumps({**json.loads((twelve / "best.json").read_text()), "config": {"d_model": 64}}))
    with pytest.raises(ModelLoadError, match="do not match"):
        load_predictor(lone)
    (tmp_path / "lone.json").write_text(json.dumps({**json.loads((twelve / "best.json").read_text()), "format": 1}))
    with pytest.raises(ModelLoadError, match="network format 1"):
        load_predictor(lone)
    (tmp_path / "lone.json").write_text("[1, 2]")  # valid JSON, but not a model's metadata
    with pytest.raises(ModelLoadError, match="lone.json: schema None"):
        load_predictor(lone)
    with pytest.raises(ModelLoadError, match="without best.safetensors"):
        load_predictor(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "daemon.cli", "eval", "--model", str(bad), "--data", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert proc.stderr.startswith("mttd: cannot load the model: ") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_mttd_train_and_eval_from_the_command_line(data, tmp_path):
    out = tmp_path / "cli"
    argv = [a if a != "0" else "2" for a in train_argv(data, out, "--epochs", "2", "--epoch-windows", "8")]
    proc = subprocess.run([sys.executable, "-m", "daemon.cli", "train", *argv], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    report = (out / "REPORT.md").read_text()
    for heading in ("## Loss components", "## Milestones", "## Learning-rate schedule", "## Architecture", "## Checkpoints",
                    "## Evaluation against baselines", "| next asset acc (at cuts) |", "## Held-out timelines as the model sees them"):
        assert heading in report
    assert (out / "losses.png").stat().st_size > 1000 and (out / "lr.png").stat().st_size > 1000
    pictures = sorted(out.glob("val-*.png"))
    assert pictures and all(p.stat().st_size > 1000 and f"]({p.name})" in report for p in pictures)
    proc = subprocess.run([sys.executable, "-m", "daemon.cli", "eval", "--model", str(out), "--data", str(data), "--json",
                           "--limit", "2"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {"model", "persistence", "markov", "shot_length", "truth", "ci95"} <= set(doc)
    assert doc["persistence"]["next_asset_acc"] == 0.0
    folder = subprocess.run([sys.executable, "-m", "daemon.cli", "eval", "--model", str(out), "--data",
                             str(data.parent / "timelines"), "--limit", "2", "--no-rollouts"], capture_output=True, text=True, cwd=REPO)
    assert folder.returncode == 0, folder.stderr
    assert "own past" in folder.stdout and "| MASE scale |" in folder.stdout


@pytest.mark.slow
def test_two_processes_end_with_identical_weights_and_the_validation_loss_of_one(data, tmp_path):
    """DistributedDataParallel (torchrun, gloo) over the same global batches: both replicas hold the
    same weights at the end, those that were saved, and reach the validation loss of one process."""
    common = ["--epochs", "4", "--epoch-windows", "16", "--lr", "5e-3"]
    run(parse_args(train_argv(data, tmp_path / "one", *common)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "model.training.train",
                           *train_argv(data, tmp_path / "two", *common)], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one = json.loads((tmp_path / "one" / "final.json").read_text())
    two = json.loads((tmp_path / "two" / "final.json").read_text())
    assert two["world_size"] == 2 and one["world_size"] == 1
    saved = hashlib.sha256()
    for _, tensor in sorted(load_file(str(tmp_path / "two" / "final.safetensors")).items()):
        saved.update(tensor.numpy().tobytes())
    assert two["replica_sha256"] == [saved.hexdigest()] * 2
    v1, v2 = one["history"][-1]["val"]["total"], two["history"][-1]["val"]["total"]
    assert abs(v1 - v2) / v1 < 0.02
    assert v1 < 0.97 * one["history"][0]["val"]["total"]  # it did train


def test_schedule_warms_up_then_anneals_once_and_epochs_cover_every_window():
    from model.training.schedule import MIN_LR, epoch_batches, lr_at

    lrs = [lr_at(s, 100, 10, 1e-3) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # no restarts
    assert lrs[-1] == pytest.approx(MIN_LR)
    seen = np.concatenate([np.concatenate(epoch_batches(50, 4, 0, e, per_epoch=20)) for e in range(1, 6)])
    assert np.array_equal(np.bincount(seen, minlength=50), np.full(50, 2))  # 5 epochs of 20 = two passes
    assert [b.tolist() for b in epoch_batches(50, 4, 0, 3, 20)] == [b.tolist() for b in epoch_batches(50, 4, 0, 3, 20)]
