"""`mttd export` and `mttd bench --json` from the command line on a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_onnx import copy_model, tiny_checkpoint, tiny_exports

REPO = Path(__file__).resolve().parents[1]


def mttd(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "MTTD_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "daemon.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny model with its fp32 export (from the shared fixture) and an int8 one by `mttd export`."""
    folder = tmp_path_factory.mktemp("onnx-cli")
    weights = copy_model(tiny_exports(tmp_path_factory)[0], folder, ("tiny.safetensors", "tiny.json", "tiny.onnx", "tiny.onnx.json"))
    run = mttd("export", "--format", "onnx", "--int8", "--model", str(weights), "--windows", "2", home=folder / "home")
    return folder, weights, run


def test_export_writes_beside_the_weights_and_prints_the_difference(exported):
    folder, _, run = exported
    assert run.returncode == 0, run.stderr
    assert f"wrote {folder / 'tiny.int8.onnx'}" in run.stdout and "int8" in run.stdout
    assert "max abs diff" in run.stdout and "mean abs diff" in run.stdout
    assert (folder / "tiny.int8.onnx").is_file() and (folder / "tiny.int8.onnx.json").is_file()


def test_bench_json_has_every_backend_and_delta(exported):
    folder, weights, _ = exported
    run = mttd("bench", "--json", "--model", str(weights), "--repeats", "1", "--limit", "1", home=folder / "home")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert set(doc) == {"backends", "metric_delta"}
    assert set(doc["backends"]) == {"torch", "onnx", "onnx-int8"}
    for figures in doc["backends"].values():
        assert set(figures) == {"forward_ms", "rollout_100_ms"}
        assert set(figures["forward_ms"]) == {"128", "256", "512", "1024"}
        assert all(v > 0 for v in figures["forward_ms"].values()) and figures["rollout_100_ms"] > 0
    assert set(doc["metric_delta"]) == {"onnx", "onnx-int8"}
    assert abs(doc["metric_delta"]["onnx"]["next_active_acc"]) < 0.5  # fp32 ONNX is torch up to rounding


def test_a_corrupt_export_is_one_line_on_the_command_line(exported, tmp_path):
    folder, _, _ = exported
    weights = tiny_checkpoint(tmp_path)
    (tmp_path / "tiny.onnx").write_bytes(b"garbage, not a graph")
    meta = json.loads((folder / "tiny.onnx.json").read_text())  # the same weights (same seed): it is trusted
    (tmp_path / "tiny.onnx.json").write_text(json.dumps(meta))
    run = mttd("bench", "--model", str(weights), "--repeats", "1", "--limit", "1", home=tmp_path / "home")
    assert run.returncode == 1
    assert run.stderr.startswith("mttd: cannot load the model: ") and run.stderr.count("\n") == 1
    assert "tiny.onnx: not a readable ONNX model" in run.stderr


def test_rollout_rates_are_checked_over_seeds_and_the_rest_within_one_point():
    """A sampled rollout's rate moves between seeds by more than 1 %: a backend's mean rate over
    5 seeds must lie within the reference's range over the same seeds; every teacher-forced
    metric within 1 point."""
    from model.training.onnx_export import metric_delta, within_tolerance

    torch_m = {"next_active_acc": 0.95, "changes_per_min": 80.0, "flicker_per_min": 0.0}
    mine = {"next_active_acc": 0.955, "changes_per_min": 84.0, "flicker_per_min": 0.0}
    ref = {"changes_per_min": [80.0, 66.0, 86.0, 71.0, 75.0], "flicker_per_min": [0.0] * 5}

    def rates(changes: list[float], flickers: list[float] = (0.0,) * 5) -> dict:
        return {"changes_per_min": {"torch": ref["changes_per_min"], "backend": changes},
                "flicker_per_min": {"torch": ref["flicker_per_min"], "backend": list(flickers)}}

    delta = metric_delta(torch_m, mine)
    assert not within_tolerance(delta)  # +5 % at one seed, judged alone
    assert within_tolerance(delta, rates([84.0, 70.0, 79.0, 68.0, 77.0]))  # mean 75.6 within 66-86
    assert not within_tolerance(delta, rates([90.0, 88.0, 95.0, 87.0, 91.0]))  # mean 90.2: more changes
    assert not within_tolerance(delta, rates([84.0, 70.0, 79.0, 68.0, 77.0], [0.0, 0.1, 0.0, 0.0, 0.0]))
    slipped = {**mine, "next_active_acc": 0.935}
    assert not within_tolerance(metric_delta(torch_m, slipped), rates([84.0, 70.0, 79.0, 68.0, 77.0]))


def test_export_metrics_check_records_rollout_rates_over_five_seeds(exported):
    folder, weights, _ = exported
    out = folder / "checked.onnx"
    run = mttd("export", "--format", "onnx", "--model", str(weights), "--out", str(out), "--windows", "2",
               "--metrics", "--limit", "2", "--threads", "1", home=folder / "home", timeout=300)
    assert run.returncode == 0, run.stderr
    assert "rollout rates: the mean over 5 seeds" in run.stdout and "changes_per_min: mean" in run.stdout
    check = json.loads((folder / "checked.onnx.json").read_text())["check"]["metrics"]
    rates = check["rollout_rates_over_seeds"]
    assert set(rates) == {"changes_per_min", "flicker_per_min"}
    assert all(len(r["torch"]) == 5 and len(r["backend"]) == 5 for r in rates.values())
    assert rates["changes_per_min"]["torch"][0] == check["torch"]["changes_per_min"]  # seed offset 0 is the first run
    assert isinstance(check["within_1_point"], bool)
