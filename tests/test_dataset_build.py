"""`mttd dataset build` on a mixed folder, the shard contract of TEAM.md, `mttd dataset stats`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.training.dataset import BuildOptions, build_dataset, load_manifest, load_split, windows_for
from model.training.synth import STYLES
from model.training.synth.corpus import write_corpus

CORPUS_FILES = (
    "OpenTimelineIO__otio-fcp-adapter/premiere_example.xml",
    "havardgulldahl__xmeml/fcp.sample.xml",
    "OpenTimelineIO__otio-fcp-adapter/premiere_enable_property.xml",
)


def mttd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, corpus_dir: Path) -> Path:
    """14 synthetic timelines (two per style), three real exports and one broken file."""
    root = tmp_path_factory.mktemp("mixed")
    write_corpus(root / "synth", 14, seed=5, minutes=(0.3, 0.6), jobs=1)
    real = root / "exports"
    real.mkdir()
    for name in CORPUS_FILES:
        shutil.copy(corpus_dir / name, real / Path(name).name)
    (real / "broken.xml").write_text("<?xml version='1.0'?>\n<xmeml version='4'>\n<sequence><name>cut off")
    (real / "notes.txt").write_text("not a timeline")
    return root


@pytest.fixture(scope="module")
def built(mixed: Path, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("data")
    run = mttd("dataset", "build", str(mixed / "synth"), str(mixed / "exports"), "--out", str(out),
               "--val", "0.3", "--window", "64", "--stride", "32", "--seed", "1")
    return out, run


def test_build_reports_the_malformed_file_and_keeps_going(built):
    out, run = built
    assert run.returncode == 0, run.stderr
    manifest = load_manifest(out)
    assert [Path(f["path"]).name for f in manifest["failed"]] == ["broken.xml"]
    assert "broken.xml:" in manifest["failed"][0]["error"]
    assert "broken.xml" in run.stderr and "Traceback" not in run.stderr
    assert manifest["counts"]["files"] == 18 and manifest["counts"]["timelines"] == 17


def test_no_timeline_is_on_both_sides_and_styles_are_stratified(built):
    manifest = load_manifest(built[0])
    sides: dict[str, set[str]] = {}
    for t in manifest["timelines"]:
        sides.setdefault(t["path"], set()).add(t["split"])
    assert all(len(s) == 1 for s in sides.values())
    val_styles = sorted(t["style"] for t in manifest["timelines"] if t["split"] == "val" and t["style"])
    assert val_styles == sorted(STYLES)  # round(0.3 x 2) = 1 of each style's two files
    assert {t["style"] for t in manifest["timelines"] if "exports" in t["path"]} == {None}


def test_shards_follow_the_contract(built):
    out = built[0]
    manifest = load_manifest(out)
    assert manifest["schema"] == "mtt.dataset/1" and manifest["step_seconds"] == "1/10"
    for split in ("train", "val"):
        data = load_split(out, split)
        assert data.grid.dtype == np.float32 and data.grid.shape[1:] == (20, 9)
        assert data.source_index.dtype == np.int32 and data.source_kind.dtype == np.int8
        steps = [manifest["timelines"][i]["steps"] for i in data.timeline_ids]
        assert np.diff(data.offsets).tolist() == steps
        assert all(manifest["timelines"][i]["split"] == split for i in data.timeline_ids)
        for k in range(len(data.timeline_ids)):
            lo, hi = int(data.offsets[k]), int(data.offsets[k + 1])
            mine = data.windows[(data.windows[:, 0] >= lo) & (data.windows[:, 0] < hi)]
            assert (mine[:, 0] + mine[:, 1] <= hi).all() and (mine[:, 1] <= 64).all()
            assert mine[-1, 0] + mine[-1, 1] == hi  # the last, partial window reaches the end
        inactive = data.grid[:, :, 0] == 0
        assert (data.grid[inactive] == 0).all() and (data.source_index[inactive] == -1).all()
    for shards in manifest["shards"].values():
        for shard in shards:
            assert hashlib.sha256((out / shard["file"]).read_bytes()).hexdigest() == shard["sha256"]


def test_normalisation_statistics_come_from_active_training_cells_only(built):
    out = built[0]
    stats = load_manifest(out)["stats"]
    train = load_split(out, "train")
    cells = train.grid[train.grid[:, :, 0] > 0.5]
    assert stats["scale"]["count"] == len(cells)
    assert stats["scale"]["mean"] == pytest.approx(cells[:, 2].astype(np.float64).mean())
    assert stats["crop"]["count"] == 4 * len(cells)
    assert stats["pos_y"]["std"] == pytest.approx(cells[:, 4].astype(np.float64).std(), rel=1e-6, abs=1e-9)


def test_the_same_inputs_give_the_same_shards(built, mixed: Path, tmp_path: Path):
    options = BuildOptions(window=64, stride=32, val_fraction=0.3, seed=1, jobs=1)
    again = build_dataset([mixed / "synth", mixed / "exports"], tmp_path, options)
    assert again["sha256"] == load_manifest(built[0])["sha256"]


def test_jittered_copies_go_to_training_only(mixed: Path, tmp_path: Path):
    options = BuildOptions(window=64, stride=32, val_fraction=0.3, seed=1, jobs=1, jitter=2)
    manifest = build_dataset([mixed / "synth"], tmp_path, options)
    shifted = [t for t in manifest["timelines"] if t["phase_frames"]]
    assert shifted and all(t["split"] == "train" for t in shifted)
    originals = {t["path"] for t in manifest["timelines"] if t["split"] == "train" and not t["phase_frames"]}
    assert {t["path"] for t in shifted} == originals


def test_windows_stride_through_and_keep_the_last_partial_one():
    assert windows_for(300, 256, 128) == [(0, 256), (128, 172)]
    assert windows_for(600, 256, 128) == [(0, 256), (128, 256), (256, 256), (384, 216)]
    assert windows_for(100, 256, 128) == [(0, 100)]
    assert windows_for(1, 256, 128) == []


def test_stats_per_style_and_per_folder(built):
    run = mttd("dataset", "stats", str(built[0]), "--json")
    assert run.returncode == 0, run.stderr
    stats = json.loads(run.stdout)
    assert set(stats["groups"]) == {*STYLES, "exports"}
    overall = stats["overall"]
    assert overall["timelines"] == 17
    assert 0 < overall["change_fraction"] < 1
    assert sum(overall["shot_length_s"]["counts"]) == overall["shot_length_s"]["shots"] > 0
    assert sum(overall["active_tracks"]) == pytest.approx(1.0)
    assert stats["groups"]["slideshow"]["field_change_rates"]["scale"] > 0.5  # Ken Burns ramps move every step
    text = mttd("dataset", "stats", str(built[0]))
    assert text.returncode == 0 and "podcast" in text.stdout and "shot length" in text.stdout


def test_build_refuses_a_folder_without_timelines(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    run = mttd("dataset", "build", str(tmp_path / "empty"), "--out", str(tmp_path / "data"))
    assert run.returncode == 2 and run.stderr.startswith("mttd: no timeline files in")
    assert not (tmp_path / "data" / "manifest.json").exists()
