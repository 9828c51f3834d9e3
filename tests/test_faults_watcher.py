"""Issue 21, the watcher under hostile files: a real daemon in a temporary MTTD_HOME, driven by
`mttd watch`, with real files (FIFOs, symlinks, long names, colliding names) in the watched folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers_watch_daemon import CONFIG, listing, mttd
from tests.helpers_watcher import save_atomically, synthetic_xmeml, wait_for


def test_a_fifo_named_xml_never_stalls_the_watcher(daemon_home, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    os.mkfifo(folder / "pipe.xml")  # nobody ever writes to it: open() without O_NONBLOCK blocks for good
    mttd("watch", "add", str(folder))
    save_atomically(folder / "ok.xml", synthetic_xmeml(1))
    assert wait_for(lambda: (folder / "ok.mtt.xml").exists(), timeout=30), "the FIFO stalled the watcher"
    assert wait_for(lambda: listing()["queue"] == 0, timeout=10)
    assert not (folder / "pipe.mtt.json").exists()
    started = time.monotonic()
    mttd("stop")
    assert time.monotonic() - started < 8, "stop waited for a stuck worker"


def test_a_fifo_is_refused_at_open_without_blocking(tmp_path):
    from daemon.watch import files as watch_files
    from model.timeline.errors import TimelineParseError
    from model.timeline.kinds import BY_SUFFIX, timeline_kinds
    from model.timeline.safe_xml import read_capped

    fifo = tmp_path / "swapped-in.xml"
    os.mkfifo(fifo)  # as if renamed over a timeline between the stat and the open
    with pytest.raises(OSError, match="not a regular file"):
        watch_files.sniff(fifo, BY_SUFFIX[".xml"])
    with pytest.raises(TimelineParseError, match="not a regular file"):
        read_capped(fifo, 1024)
    assert list(watch_files.walk_candidates(tmp_path, timeline_kinds(False))) == []


def test_a_second_timeline_with_the_same_sidecar_name_is_refused_not_mixed_up(daemon_home, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    mttd("watch", "add", str(folder))
    first, second = folder / "case.xml", folder / "case.XML"  # one sidecar name: case.mtt.json
    save_atomically(first, synthetic_xmeml(1, name="first"))
    assert wait_for(lambda: (folder / "case.mtt.xml").exists(), timeout=30)
    save_atomically(second, synthetic_xmeml(2, name="second"))
    assert wait_for(lambda: listing()["watches"][0]["failed"] == 1, timeout=30)
    doc = json.loads((folder / "case.mtt.json").read_text())
    assert doc["source"]["path"] == str(first), "the sidecar of case.xml now describes case.XML"
    assert "first" in (folder / "case.mtt.xml").read_text() and "second" not in (folder / "case.mtt.xml").read_text()
    error = listing()["watches"][0]["last_error"]
    assert str(second) in error and str(first) in error and "rename one of the two" in error
    assert "case.XML" in mttd("logs").stdout  # one warning line in the daemon's log
    first.unlink()  # the owner is gone: the name is free for the other one
    save_atomically(second, synthetic_xmeml(3, name="second"))
    assert wait_for(lambda: json.loads((folder / "case.mtt.json").read_text())["source"]["path"] == str(second), timeout=30)


def test_a_long_file_name_gets_its_sidecars(daemon_home, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    mttd("watch", "add", str(folder))
    stem = "a" * 240  # NAME.mtt.json is 249 bytes, within the 255-byte limit; a temp name built on it was not
    save_atomically(folder / f"{stem}.xml", synthetic_xmeml(1), temp_name=".t.tmp")
    assert wait_for(lambda: (folder / f"{stem}.mtt.xml").exists() and (folder / f"{stem}.mtt.json").exists(), timeout=30)
    assert listing()["watches"][0]["failed"] == 0
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_symlinks_are_skipped_and_sidecars_are_never_wider_than_their_source(daemon_home, tmp_path):
    import stat

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    secret = private / "secret.xml"
    secret.write_text(synthetic_xmeml(5, name="SECRET SEQUENCE"))
    secret.chmod(0o600)
    folder = tmp_path / "drop"
    folder.mkdir(mode=0o755)
    mttd("watch", "add", str(folder))
    (folder / "link.xml").symlink_to(secret)
    own = folder / "own.xml"
    save_atomically(own, synthetic_xmeml(6))
    own.chmod(0o600)
    os.utime(own)  # an event after the chmod
    assert wait_for(lambda: (folder / "own.mtt.xml").exists(), timeout=30)
    assert wait_for(lambda: listing()["queue"] == 0, timeout=10)
    for sidecar in ("own.mtt.json", "own.mtt.xml"):
        assert stat.S_IMODE((folder / sidecar).stat().st_mode) == 0o600, sidecar
    mttd("watch", "add", str(folder), "--poll")  # re-added: a reconcile scan sees link.xml again
    time.sleep(2.0)
    assert not (folder / "link.mtt.json").exists() and not (folder / "link.mtt.xml").exists()
    # Allowed by the setting, the symlink is processed, and its sidecars are as private as its target.
    (daemon_home / "config" / "config.toml").write_text(CONFIG + "follow_symlinks = true\n")
    mttd("restart")
    assert wait_for(lambda: (folder / "link.mtt.json").exists(), timeout=30)
    assert stat.S_IMODE((folder / "link.mtt.json").stat().st_mode) == 0o600


def test_a_full_disk_writes_both_sidecars_or_neither_and_a_rescan_repairs(daemon_home, tmp_path):
    """The daemon runs with a 64 KB file-size limit (RLIMIT_FSIZE: a write past it fails with EFBIG
    as on a full disk): the XML sidecar of a 5-minute timeline (~150 KB) cannot be written."""
    import resource

    folder = tmp_path / "drop"
    folder.mkdir()
    limit = 64 * 1024

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    started = subprocess.run([sys.executable, "-m", "daemon", "watch", "add", str(folder)], cwd=REPO, capture_output=True,
                             text=True, timeout=90, preexec_fn=limited)
    assert started.returncode == 0, started.stderr
    pid = json.loads(mttd("status", "--json").stdout)["pid"]
    cut = folder / "cut.xml"
    save_atomically(cut, synthetic_xmeml(1, seconds=300))
    assert wait_for(lambda: listing()["watches"][0]["failed"] == 1, timeout=30)
    assert not (folder / "cut.mtt.json").exists() and not (folder / "cut.mtt.xml").exists(), "a half pair was left"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert [line for line in mttd("logs").stdout.splitlines() if str(cut) in line and "File too large" in line]
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space freed
    mttd("watch", "add", str(folder), "--poll")  # re-added: a rescan
    assert wait_for(lambda: (folder / "cut.mtt.xml").exists() and (folder / "cut.mtt.json").exists(), timeout=30)
    # A half pair left by an older mttd (or a crash) is made whole by the next rescan too.
    (folder / "cut.mtt.xml").unlink()
    mttd("watch", "add", str(folder))
    assert wait_for(lambda: (folder / "cut.mtt.xml").exists(), timeout=30), "the half pair was never repaired"


def test_stop_cancels_the_watchers_long_job_and_exits_by_itself(mttd_home, tmp_path):
    """A long timeline is being suggested for when `mttd stop` comes: the work is cancelled and
    the daemon exits at once (before, it waited for the watcher and the engine, then SIGTERM)."""
    from tests.helpers_watcher import wait_for as wait

    (mttd_home / "config").mkdir(mode=0o700)
    (mttd_home / "config" / "config.toml").write_text('backend = "torch"\n[watch]\nsettle_ms = 200\n')
    folder = tmp_path / "drop"
    folder.mkdir()
    mttd("watch", "add", str(folder))
    try:
        save_atomically(folder / "long.xml", synthetic_xmeml(1, seconds=3000, tracks=2))
        assert wait(lambda: json.loads(mttd("status", "--json").stdout)["queue"]["busy"], timeout=60)
        started = time.monotonic()
        stop = mttd("stop")
        took = time.monotonic() - started
        assert "mttd: stopped" in stop.stdout and took < 8, (stop.stdout, f"{took:.1f} s")
        assert not (folder / "long.mtt.json").exists()  # cancelled: no sidecar, the next start does it
    finally:
        mttd("stop", check=False)


def _read_only(folder: Path):
    """Make `folder` read-only for this user: a read-only bind mount when root (whom modes do not
    stop), else mode 0555. Returns the undo."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        return lambda: subprocess.run(["umount", str(folder)], check=True)
    folder.chmod(0o555)
    return lambda: folder.chmod(0o755)


def test_watcher_faults_each_leave_a_line_in_mttd_logs(daemon_home, tmp_path):
    """Issue 21, defect 6: a corrupt watches.json, a name too long for its sidecar and a read-only
    folder each give one line in `mttd logs` (before, they reached only serve.stderr)."""
    store = daemon_home / "config" / "watches.json"
    store.write_text('{"schema": "mttd.watches/1", "watches": [oops')
    folder, locked = tmp_path / "drop", tmp_path / "locked"
    folder.mkdir()
    locked.mkdir()
    save_atomically(locked / "cut.xml", synthetic_xmeml(2))
    mttd("watch", "add", str(folder))  # starts the daemon, which cannot read the saved list
    assert (daemon_home / "config" / "watches.json.bad").read_text().endswith("[oops"), "the broken list was not kept"
    assert [w["path"] for w in listing()["watches"]] == [str(folder)]
    long_name = "x" * 250 + ".xml"  # fits; x...x.mtt.json (259 bytes) does not
    save_atomically(folder / long_name, synthetic_xmeml(1), temp_name=".t.tmp")
    undo = _read_only(locked)
    try:
        mttd("watch", "add", str(locked))
        assert wait_for(lambda: listing()["watches"][0]["failed"] == 1 and listing()["watches"][1]["failed"] == 1, timeout=30)
    finally:
        undo()
    logs = mttd("logs", "-n", "200").stdout
    assert "watches.json" in logs and "watches.json.bad" in logs
    assert [line for line in logs.splitlines() if long_name in line and "File name too long" in line]
    assert [line for line in logs.splitlines()
            if str(locked / "cut.xml") in line and ("Read-only file system" in line or "Permission denied" in line)]


def test_a_folder_that_comes_back_clears_its_missing_error(daemon_home, tmp_path):
    import shutil

    folder = tmp_path / "share"
    folder.mkdir()
    mttd("watch", "add", str(folder))
    shutil.rmtree(folder)
    assert wait_for(lambda: listing()["watches"][0]["missing"], timeout=10)
    folder.mkdir()
    assert wait_for(lambda: not listing()["watches"][0]["missing"], timeout=10)
    assert listing()["watches"][0]["last_error"] == "", "last_error still says the folder is missing"
    save_atomically(folder / "cut.xml", synthetic_xmeml(1))
    assert wait_for(lambda: (folder / "cut.mtt.xml").exists(), timeout=30)


def test_a_file_deleted_while_it_is_processed_leaves_no_sidecar(mttd_home, tmp_path):
    (mttd_home / "config").mkdir(mode=0o700)
    # settle_ms 1: the save is due at once, so the worker takes the regular path (prepare and
    # write in one go), not the early one (which drops a save that changes during its settle time).
    config = CONFIG.replace("[watch]", "debug_job_delay = 2.0\n[watch]").replace("settle_ms = 200", "settle_ms = 1")
    (mttd_home / "config" / "config.toml").write_text(config)
    folder = tmp_path / "drop"
    folder.mkdir()
    mttd("watch", "add", str(folder))
    try:
        cut = folder / "cut.xml"
        save_atomically(cut, synthetic_xmeml(1))
        assert wait_for(lambda: json.loads(mttd("status", "--json").stdout)["queue"]["busy"], timeout=30)
        cut.unlink()  # while the engine works on it
        assert wait_for(lambda: not json.loads(mttd("status", "--json").stdout)["queue"]["busy"], timeout=30)
        assert wait_for(lambda: listing()["queue"] == 0, timeout=10)
        assert not (folder / "cut.mtt.json").exists() and not (folder / "cut.mtt.xml").exists(), "an orphan sidecar"
    finally:
        mttd("stop", check=False)


def test_temp_files_left_by_a_killed_write_are_cleared_by_the_next_scan(daemon_home, tmp_path):
    folder = tmp_path / "drop"
    (folder / "sub").mkdir(parents=True)
    old, fresh = folder / "sub" / ".mtt-k1ll3d0x.tmp", folder / ".mtt-wr1t1ng0.tmp"
    old.write_bytes(b"half a sidecar")  # what kill -9 between write and rename leaves
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh.write_bytes(b"a write in progress")
    mine = folder / ".mtt-notes.tmp.keep"  # not one of mttd's temp names: never touched
    mine.write_bytes(b"user file")
    mttd("watch", "add", str(folder))  # a scan at once
    save_atomically(folder / "cut.xml", synthetic_xmeml(1))
    assert wait_for(lambda: (folder / "cut.mtt.xml").exists(), timeout=30)
    assert wait_for(lambda: not old.exists(), timeout=10), "a killed write's temp file stayed"
    assert fresh.exists() and mine.exists()


def test_a_timeline_too_long_for_max_steps_is_refused_by_the_watcher_too(daemon_home, tmp_path):
    (daemon_home / "config" / "config.toml").write_text(CONFIG.replace("[watch]", "max_steps = 2000\n[watch]"))
    folder = tmp_path / "drop"
    folder.mkdir()
    mttd("watch", "add", str(folder))
    save_atomically(folder / "long.xml", synthetic_xmeml(1, seconds=300))  # 3,000 steps of 0.1 s
    save_atomically(folder / "short.xml", synthetic_xmeml(2, seconds=20))
    assert wait_for(lambda: (folder / "short.mtt.xml").exists(), timeout=30)
    assert wait_for(lambda: listing()["watches"][0]["failed"] == 1, timeout=30)
    assert "max_steps = 2000" in listing()["watches"][0]["last_error"]
    assert not (folder / "long.mtt.json").exists()
