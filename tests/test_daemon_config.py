"""Per-user paths, their safety checks, the token, the TOML config with env overrides, and the
process bookkeeping (lock, status file, pid verification) without starting a daemon."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from daemon import config as config_mod
from daemon import paths as paths_mod
from daemon import process, rendezvous


def _paths(home: Path) -> paths_mod.Paths:
    return paths_mod.resolve({"MTTD_HOME": str(home)})


def test_mttd_home_puts_every_directory_under_it(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    for directory in (p.config_dir, p.data_dir, p.state_dir, p.log_dir, p.runtime_dir):
        assert directory.parent == tmp_path
    assert p.config_file == tmp_path / "config" / "config.toml"
    assert p.status_file.parent == p.token_file.parent == p.lock_file.parent == tmp_path / "state"


def test_without_mttd_home_platformdirs_decides(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "st"), "XDG_CONFIG_HOME": str(tmp_path / "cf")}
    code = "from daemon import paths; p = paths.resolve({}); print(p.state_dir); print(p.config_dir)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env, "MTTD_HOME": ""}, capture_output=True, text=True)
    assert out.stdout.split() == [str(tmp_path / "st" / "mttd"), str(tmp_path / "cf" / "mttd")]


def test_private_dirs_are_created_0700_and_verified(tmp_path: Path) -> None:
    p = _paths(tmp_path / "home")
    paths_mod.ensure_dirs(p)
    for directory in (p.state_dir, p.socket_file.parent):
        st = os.stat(directory)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


def test_a_directory_open_to_others_is_refused_and_left_alone(tmp_path: Path) -> None:
    p = _paths(tmp_path / "home")
    p.runtime_dir.mkdir(parents=True)
    p.runtime_dir.chmod(0o755)
    with pytest.raises(paths_mod.UnsafeDirectory, match=r"open to other users \(mode 0755\); run: chmod 700"):
        paths_mod.ensure_dirs(p)
    assert stat.S_IMODE(p.runtime_dir.stat().st_mode) == 0o755  # never chmod what we did not create


def test_a_symlinked_state_dir_is_refused(tmp_path: Path) -> None:
    p = _paths(tmp_path / "home")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    p.state_dir.parent.mkdir(parents=True)
    p.state_dir.symlink_to(elsewhere)
    with pytest.raises(paths_mod.UnsafeDirectory, match="not a regular directory"):
        paths_mod.ensure_dirs(p)


def test_a_long_socket_path_falls_back_to_a_short_private_one(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    p = _paths(deep)
    assert len(os.fsencode(str(p.runtime_dir / "mttd.sock"))) > paths_mod.MAX_SOCKET_PATH
    sock = p.socket_file
    assert sock.parent == Path("/tmp") / f"mttd-{os.getuid()}"
    assert len(os.fsencode(str(sock))) <= paths_mod.MAX_SOCKET_PATH
    assert sock != _paths(deep / "other").socket_file  # side-by-side homes do not collide
    paths_mod.ensure_dirs(p)
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


def test_short_homes_keep_the_socket_in_the_runtime_dir(tmp_path: Path) -> None:
    p = _paths(Path("/tmp/mh"))
    assert p.socket_file == Path("/tmp/mh/run/mttd.sock")


def test_token_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    p = _paths(tmp_path / "home")
    paths_mod.ensure_dirs(p)
    token = paths_mod.ensure_token(p)
    assert len(token) >= 40
    assert stat.S_IMODE(p.token_file.stat().st_mode) == 0o600
    assert paths_mod.ensure_token(p) == token == paths_mod.read_token(p)
    p.token_file.chmod(0o644)
    with pytest.raises(paths_mod.UnsafeDirectory, match="chmod 600"):
        paths_mod.read_token(p)


def test_config_defaults_file_and_env_with_provenance(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    p.config_dir.mkdir(parents=True)
    p.config_file.write_text('keep_alive = 60\nqueue_size = 3\n[watch]\nsettle_ms = 200\n')
    cfg = config_mod.load(p, {"MTTD_QUEUE_SIZE": "5", "MTTD_MODEL": "persistence"})
    assert (cfg.keep_alive, cfg.sources["keep_alive"]) == (60.0, f"file {p.config_file}")
    assert (cfg.queue_size, cfg.sources["queue_size"]) == (5, "env MTTD_QUEUE_SIZE")
    assert (cfg.model, cfg.sources["model"]) == ("persistence", "env MTTD_MODEL")
    assert (cfg.threads, cfg.sources["threads"]) == (1, "default")
    assert cfg.tables == {"watch": {"settle_ms": 200}}


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("kep_alive = 1\n", {}, "unknown setting 'kep_alive'"),
        ("queue_size = 'many'\n", {}, "queue_size: expected a whole number"),
        ("queue_size = \n", {}, "config.toml: "),
        ("", {"MTTD_KEEP_ALIVE": "soon"}, "MTTD_KEEP_ALIVE: expected a number"),
        ("", {"MTTD_QUEUE_SIZE": "0"}, "queue_size = 0 (env MTTD_QUEUE_SIZE): must be at least 1"),
        ("keep_alive = -5\n", {}, "seconds >= 0, or -1 for never"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, env: dict, message: str) -> None:
    p = _paths(tmp_path)
    p.config_dir.mkdir(parents=True)
    p.config_file.write_text(text)
    with pytest.raises(config_mod.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_mod.load(p, env)


def test_status_file_is_written_atomically_and_private(tmp_path: Path) -> None:
    path = tmp_path / "mttd.json"
    process.write_status(path, {"pid": 1, "endpoint": "unix:/x"})
    assert json.loads(path.read_text()) == {"pid": 1, "endpoint": "unix:/x"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [q.name for q in tmp_path.iterdir()] == ["mttd.json"]  # no temp file left
    rendezvous.remove_status(path, pid=2)  # another process's file is never removed
    assert path.exists()
    rendezvous.remove_status(path, pid=1)
    assert not path.exists()


def test_the_lock_is_exclusive_and_probing_it_does_not_release_it(tmp_path: Path) -> None:
    lock_file = tmp_path / "mttd.lock"
    assert not rendezvous.lock_held(lock_file)
    holder = subprocess.Popen(
        [sys.executable, "-c", "from daemon.rendezvous import InstanceLock; import pathlib; "
         f"l = InstanceLock(pathlib.Path({str(lock_file)!r})); l.acquire(); print('ok', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        assert rendezvous.lock_held(lock_file) and rendezvous.lock_held(lock_file)
        with pytest.raises(rendezvous.AlreadyRunning):
            rendezvous.InstanceLock(lock_file).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert not rendezvous.lock_held(lock_file)  # the kernel dropped it with the process


def test_a_pid_is_only_ours_with_its_start_time(tmp_path: Path) -> None:
    me = os.getpid()
    assert rendezvous.same_process(me, rendezvous.process_start_time(me))
    assert not rendezvous.same_process(me, "12345")  # a reused pid has another start time
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not rendezvous.same_process(child.pid, None)


def test_a_stale_status_file_is_not_a_running_daemon(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    paths_mod.ensure_dirs(p)
    me = os.getpid()
    process.write_status(p.status_file, {"pid": me, "start_time": rendezvous.process_start_time(me), "endpoint": "unix:/nowhere"})
    assert process.find_daemon(p) is None  # alive pid, but nobody holds the lock
    lock = rendezvous.InstanceLock(p.lock_file)
    lock.acquire()
    try:
        # It holds the lock with the right start time, but this process is no `serve`: a stop must
        # never signal it (issue 21, defect 5), so it is no daemon. Real daemons: test_faults_state.
        assert process.find_daemon(p) is None
        process.write_status(p.status_file, {"pid": me, "start_time": "1", "endpoint": "unix:/nowhere"})
        assert process.find_daemon(p) is None  # pid reused by another process
    finally:
        lock.release()


def test_terminate_escalates_to_sigkill_and_only_for_the_verified_process() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert stubborn.stdout.readline().strip() == "ready"
        assert process.terminate(stubborn.pid, "not its start time", timeout=0.5) == "gone"  # not ours: untouched
        assert stubborn.poll() is None
        assert process.terminate(stubborn.pid, rendezvous.process_start_time(stubborn.pid), timeout=0.5) == "killed"
        assert stubborn.wait(5) == -9
    finally:
        stubborn.kill()
        stubborn.wait()
