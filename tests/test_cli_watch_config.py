"""The watch calls of DaemonClient against a real daemon, the `[watch]` table checked when the
config loads, and a reader that goes away (`mttd features X | head`) ending mttd quietly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon import paths as paths_mod
from daemon.config import ConfigError, load
from tests.helpers_daemon import REPO, SAMPLE, client_for, env_for, make_home, mttd, running_daemon


def test_client_watch_unwatch_and_list_against_a_real_daemon(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    folder = tmp_path / "project"
    folder.mkdir()
    with running_daemon(home):
        with client_for(home) as client:
            state = client.watch(str(folder)).watch
            assert state.path == str(folder.resolve()) and not state.poll
            assert [w.path for w in client.list_watches()] == [str(folder.resolve())]
            listed = mttd(home, "watch", "list", "--json")
            assert listed.returncode == 0 and str(folder.resolve()) in listed.stdout
            assert client.unwatch(str(folder)) is True
            assert client.unwatch(str(folder)) is False
            assert client.list_watches() == []


def test_a_bad_watch_table_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    config = home / "config" / "config.toml"
    config.write_text("[watch]\nsettle = 1\n")
    paths = paths_mod.resolve({"MTTD_HOME": str(home)})
    with pytest.raises(ConfigError, match=r"unknown setting \[watch\] 'settle'"):
        load(paths, {})
    shown = mttd(home, "config", "show")
    assert shown.returncode != 0 and str(config) in shown.stderr and "Traceback" not in shown.stderr
    serve = mttd(home, "serve", "--foreground", timeout=60)
    assert serve.returncode == 2 and "[watch]" in serve.stderr  # the daemon does not start on it
    config.write_text("[watch]\nsettle_ms = 250\nkinds = [\"next\"]\n")
    assert load(paths, {}).tables == {"watch": {"settle_ms": 250, "kinds": ["next"]}}


def test_a_reader_that_goes_away_ends_mttd_quietly(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "cut.xml")
    home = make_home(tmp_path)
    # The document (~350 KB) is far larger than a pipe's buffer, so writing it must hit the closed end.
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "features", str(tmp_path / "cut.xml"), "--json", "--no-daemon"],
                            env=env_for(home), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()  # like `| head -c 1`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert stderr == ""


def test_config_show_hides_the_debug_settings_unless_set(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    shown = mttd(home, "config", "show")
    assert shown.returncode == 0 and "keep_alive" in shown.stdout and "debug_" not in shown.stdout
    env = {**env_for(home), "MTTD_DEBUG_JOB_DELAY": "0.5"}
    shown = subprocess.run([sys.executable, "-m", "daemon", "config", "show"], env=env, capture_output=True, text=True, cwd=REPO)
    assert "debug_job_delay" in shown.stdout and "env MTTD_DEBUG_JOB_DELAY" in shown.stdout
    assert "debug_load_delay" not in shown.stdout
