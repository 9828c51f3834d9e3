"""Folder watching in a real daemon (a process in a temporary MTTD_HOME), driven by `mttd watch`."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time

import pytest

from tests.helpers_watch_daemon import CONFIG, listing, mttd
from tests.helpers_watcher import save_atomically, synthetic_xmeml, wait_for


def test_watches_survive_a_restart_and_a_removed_folder_is_reported(daemon_home, tmp_path):
    edits, share = tmp_path / "exports" / "edits", tmp_path / "share"
    share.mkdir()
    assert "no folders are watched" in mttd("watch", "list").stdout

    added = mttd("watch", "add", str(edits))  # creates the missing folder and starts the daemon, saying both
    created, started, watching = added.stdout.splitlines()
    assert (created, watching) == (f"created {edits}", f"watching {edits} (on file system events)")
    assert started.startswith("mttd started (pid ")
    assert edits.is_dir()
    mttd("watch", "add", str(share), "--poll")
    mttd("restart")
    assert [(w["path"], w["poll"]) for w in listing()["watches"]] == [(str(edits), False), (str(share), True)]

    save_atomically(edits / "cut.xml", synthetic_xmeml(1))  # watching resumed after the restart
    assert wait_for(lambda: (edits / "cut.mtt.xml").exists(), timeout=30)
    assert wait_for(lambda: listing()["watches"][0]["processed"] == 1, timeout=10)

    shutil.rmtree(share)
    assert wait_for(lambda: listing()["watches"][1]["missing"], timeout=10)
    text = mttd("watch", "list").stdout
    assert "missing" in text and f"folder missing: {share}" in text
    status = json.loads(mttd("status", "--json").stdout)
    assert len(status["watches"]) == 2 and status["watch_queue"] == 0

    mttd("watch", "remove", str(share))
    assert [w["path"] for w in listing()["watches"]] == [str(edits)]


def test_watch_commands_say_what_is_wrong_in_one_line(daemon_home, tmp_path):
    (tmp_path / "notes.txt").write_text("not a folder")
    missing = mttd("watch", "add", str(tmp_path / "notes.txt"), check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == f"mttd: {tmp_path / 'notes.txt'}: not a folder"
    not_watched = mttd("watch", "remove", str(tmp_path), check=False)
    assert not_watched.returncode == 1 and "not watched" in not_watched.stderr
    assert mttd("status", check=False).returncode == 3  # none of this started a daemon
    # Without a daemon, the saved list is what `list` shows and `remove` edits.
    (daemon_home / "config" / "watches.json").write_text(json.dumps(
        {"schema": "mttd.watches/1", "watches": [{"path": str(tmp_path), "poll": False}]}))
    assert "once it starts" in mttd("watch", "list").stdout
    mttd("watch", "remove", str(tmp_path))
    assert listing() == {"running": False, "queue": None, "watches": []}


@pytest.mark.slow
def test_a_drop_of_500_timelines_is_processed_while_health_keeps_answering(daemon_home, tmp_path):
    from daemon import paths as paths_mod
    from daemon import process
    from daemon.client import DaemonClient

    folder, staging = tmp_path / "drop", tmp_path / "staging"
    folder.mkdir()
    staging.mkdir()
    for i in range(500):
        (staging / f"t{i:03d}.xml").write_text(synthetic_xmeml(i, seconds=10, tracks=1))
    mttd("watch", "add", str(folder))
    paths = paths_mod.resolve()
    client = DaemonClient.for_record(process.find_daemon(paths), paths)
    rss_before = client.status().rss_mb
    answers: list[tuple[str, float]] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            started = time.monotonic()
            answers.append((client.health(timeout=2.0), time.monotonic() - started))
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for path in staging.iterdir():
            os.replace(path, folder / path.name)
        assert wait_for(lambda: len(list(folder.glob("*.mtt.json"))) == 500, timeout=240, interval=0.5)
        rss_after = client.status().rss_mb
    finally:
        done.set()
        prober.join()
        client.close()
    assert {status for status, _ in answers} == {"SERVING"}
    assert max(seconds for _, seconds in answers) < 1.0
    assert listing()["watches"][0]["processed"] == 500
    assert rss_after - rss_before < 150, f"resident memory grew {rss_after - rss_before:.0f} MB"


def test_the_picture_switch_draws_a_png_beside_the_sidecars(daemon_home, tmp_path):
    (daemon_home / "config" / "config.toml").write_text(CONFIG + "picture = true\n")
    edits = tmp_path / "edits"
    edits.mkdir()
    mttd("watch", "add", str(edits))
    save_atomically(edits / "cut.xml", synthetic_xmeml(1))
    picture = edits / "cut.mtt.png"
    assert wait_for(lambda: (edits / "cut.mtt.xml").exists() and picture.exists(), timeout=60)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (edits / "cut.xml").read_text(encoding="utf-8") == synthetic_xmeml(1)  # the export is never touched


def test_a_picture_setting_that_is_not_a_boolean_is_refused(mttd_home):
    (mttd_home / "config").mkdir()
    (mttd_home / "config" / "config.toml").write_text('[watch]\npicture = "yes"\n')
    shown = mttd("config", "show", check=False)
    assert shown.returncode != 0 and "[watch] picture must be true or false" in shown.stderr


def test_the_daemon_log_has_one_line_for_each_timeline_processed_or_skipped(daemon_home, tmp_path):
    """`mttd logs` is where a user looks when a watched export got no sidecars: every file the
    watcher settles on leaves one line there (WARNING when it could not be read, which also gets
    an error sidecar; INFO when processed, unchanged or not a timeline at all)."""
    edits = tmp_path / "edits"
    edits.mkdir()
    mttd("watch", "add", str(edits))
    save_atomically(edits / "cut.xml", synthetic_xmeml(1))
    save_atomically(edits / "broken.xml", '<?xml version="1.0"?>\n<xmeml version="4"><sequence><name>x</nam></xmeml>\n')
    save_atomically(edits / "plist.xml", '<?xml version="1.0"?>\n<plist version="1.0"><dict/></plist>\n')
    log = daemon_home / "log" / "mttd.log"

    def lines(word: str) -> list[str]:
        return [ln for ln in log.read_text(encoding="utf-8").splitlines() if word in ln]

    assert wait_for(lambda: len(lines(" processed ") + lines(" failed ") + lines(" skipped ")) == 3, timeout=30)
    [processed] = lines(f"processed {edits / 'cut.xml'}: ")
    assert " INFO daemon.watch.watcher: " in processed
    assert re.search(r": 1 sequence, \d+ next, \d+ fill in \d+\.\d\d s$", processed), processed  # the kinds asked for
    [failed] = lines(f"failed {edits / 'broken.xml'}:")
    assert " WARNING daemon.watch.watcher: " in failed and "its error document is written" in failed
    error = json.loads((edits / "broken.mtt.json").read_text())["error"]
    assert (error["file"], error["line"], error["code"]) == (str(edits / "broken.xml"), 2, "invalid_timeline")
    assert "mismatch" in error["reason"] and error["message"] == f"{edits / 'broken.xml'}:2: {error['reason']}"
    assert f"failed {error['message']}; its error document is written" in failed
    [skipped] = lines(f"skipped {edits / 'plist.xml'}: ")
    assert " INFO daemon.watch.watcher: " in skipped and "not a .xml timeline (no <xmeml" in skipped
    assert not (edits / "plist.mtt.json").exists()
    assert processed in mttd("logs", "-n", "20").stdout  # what the user reads

    save_atomically(edits / "cut.xml", synthetic_xmeml(1))  # saved again unchanged: its sidecars stand
    assert wait_for(lambda: lines(f"skipped {edits / 'cut.xml'}: unchanged"), timeout=30)
