"""Batch mode of `mttd suggest` in one process (`--no-daemon`, model persistence): several files and
folders, `--recursive`, `--out DIR` and `--in-place` sidecars, failures passed over and summed up."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from daemon.commands.suggest_batch import Progress, plan_jobs
from model.suggest.document import SCHEMA_FILE
from tests.helpers_daemon import REPO, SAMPLE


def mttd(home: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "MTTD_HOME": str(home), "MTTD_MODEL": "persistence"}
    return subprocess.run([sys.executable, "-m", "daemon", "suggest", "--no-daemon", *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home


@pytest.fixture()
def exports(tmp_path: Path) -> Path:
    """Two good timelines (one in a sub-folder), a broken one, and what a folder scan must skip."""
    folder = tmp_path / "exports"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    shutil.copy(SAMPLE, folder / "a.xml")
    shutil.copy(SAMPLE, folder / "sub" / "a.xml")  # same name as ../a.xml: its sidecars go to OUT/sub
    shutil.copy(SAMPLE, folder / ".hidden" / "c.xml")
    shutil.copy(SAMPLE, folder / ".d.xml")
    (folder / "broken.xml").write_text("<xmeml><sequence>")
    (folder / "settings.xml").write_text("<settings/>")  # XML, but not a timeline
    (folder / "a.mtt.xml").write_bytes(SAMPLE.read_bytes())  # mttd's own output
    (folder / "notes.txt").write_text("not a timeline")
    return folder


def checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_batch_writes_mirrored_sidecars_and_passes_over_a_broken_file(home, exports, tmp_path) -> None:
    before = checksums(exports)
    out = tmp_path / "out"
    done = mttd(home, str(exports), "--recursive", "--out", str(out))
    assert done.returncode == 1  # one file failed; the others were still done
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [str(exports / n) for n in ("a.xml", "broken.xml", "sub/a.xml")]
    assert "failed: cannot read" in lines[1] and str(exports / "broken.xml") + ":1:" in lines[1]
    summary = lines[3]
    assert summary.startswith("3 files, ") and " 1 failed, " in summary and summary.endswith("files/s)")
    assert lines[4].startswith(f"  failed: {exports / 'broken.xml'}: cannot read ")
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a.mtt.json", "a.mtt.xml", "broken.mtt.json", "sub/a.mtt.json", "sub/a.mtt.xml"]
    assert "error" in json.loads((out / "broken.mtt.json").read_text())
    assert json.loads((out / "sub" / "a.mtt.json").read_text())["source"]["path"] == str(exports / "sub" / "a.xml")
    assert checksums(exports) == before  # the user's files are untouched


def test_in_place_writes_beside_each_file_and_json_prints_one_valid_document_per_line(home, exports) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    done = mttd(home, "a.xml", "sub", "broken.xml", "missing.xml", "--in-place", "--json", cwd=exports)
    assert done.returncode == 1
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    for doc in docs:
        validator.validate(doc)
    assert [d["source"]["path"] for d in docs] == ["a.xml", "sub/a.xml", "broken.xml", "missing.xml"]
    assert ["error" in d for d in docs] == [False, False, True, True]
    assert docs[3]["error"]["code"] == "not_found"
    assert (exports / "a.mtt.xml").read_bytes() != SAMPLE.read_bytes()  # rewritten as the suggested XML
    assert (exports / "sub" / "a.mtt.json").is_file() and (exports / "broken.mtt.json").is_file()
    assert "4 files" in done.stderr and "2 failed" in done.stderr  # the summary keeps stdout machine-readable


def test_the_model_is_loaded_once_and_a_file_given_twice_is_done_once(home, exports) -> None:
    done = mttd(home, str(exports / "a.xml"), str(exports), "--json")
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["source"]["path"] for d in docs] == [str(exports / "a.xml"), str(exports / "broken.xml")]
    assert docs[0]["model"]["name"] == "persistence"


def test_sidecars_that_would_collide_are_refused_before_any_work(home, exports, tmp_path) -> None:
    out = tmp_path / "out"
    done = mttd(home, str(exports / "a.xml"), str(exports / "sub" / "a.xml"), "--out", str(out))
    assert done.returncode == 2 and "would write the same sidecars" in done.stderr and not out.exists()
    both = mttd(home, str(exports), "--out", str(out), "--in-place")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_single_file_output_is_unchanged(home, exports) -> None:
    done = mttd(home, str(exports / "a.xml"))
    assert done.returncode == 0 and done.stdout.startswith(f"{exports / 'a.xml'}  (model persistence")
    assert "files/s" not in done.stdout  # no batch summary for one file
    broken = mttd(home, str(exports / "broken.xml"))
    assert broken.returncode == 1 and broken.stdout == "" and broken.stderr.startswith(f"mttd: cannot read {exports / 'broken.xml'}:1:")


def test_plan_skips_hidden_and_non_timeline_files(exports) -> None:
    jobs, refusal = plan_jobs([str(exports)], recursive=True, out=None, in_place=False)
    assert refusal == "" and [Path(j.path).relative_to(exports).as_posix() for j in jobs] == ["a.xml", "broken.xml", "sub/a.xml"]
    flat, _ = plan_jobs([str(exports)], recursive=False, out=None, in_place=False)
    assert [Path(j.path).name for j in flat] == ["a.xml", "broken.xml"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal_and_clears_itself() -> None:
    tty = _Terminal()
    bar = Progress(tty, 4)
    bar.step("/x/one.xml")
    assert tty.getvalue() == "\r[" + "#" * 6 + " " * 18 + "] 1/4 one.xml\x1b[K"
    bar.clear()
    assert tty.getvalue().endswith("\r\x1b[K")
    piped = io.StringIO()
    quiet = Progress(piped, 4)
    quiet.step("/x/one.xml")
    quiet.clear()
    assert piped.getvalue() == ""
