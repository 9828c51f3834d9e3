"""`mttd start/status/stop/restart/logs` with real daemon processes in a private MTTD_HOME:
idempotent start, kill -9 recovery, health only after the model loads, idle unload, refusal of
an unsafe directory, and the version handshake. Every test leaves no daemon process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers_daemon import (
    REPO,
    SAMPLE,
    bridge,
    client_for,
    env_for,
    kill_leftovers,
    make_home,
    mttd,
    running_daemon,
    serve_processes,
    status_record,
    wait_for,
)

STATUS_KEYS = {"running", "pid", "endpoint", "version", "uptime_s", "model", "queue", "log"}


def _stable(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("created", "elapsed_ms")}


def test_start_status_suggest_stop_leaves_nothing_running(tmp_path: Path) -> None:
    from model.inference.predictor import PersistencePredictor
    from model.suggest.document import document_for_file

    home = make_home(tmp_path, model="persistence")
    before = mttd(home, "status", "--json")
    assert before.returncode == 3 and json.loads(before.stdout)["running"] is False
    try:
        started = mttd(home, "start")
        assert started.returncode == 0, started.stderr
        record = status_record(home)
        assert f"pid {record['pid']}, {record['endpoint']}" in started.stdout
        status = mttd(home, "status", "--json")
        doc = json.loads(status.stdout)
        assert status.returncode == 0 and STATUS_KEYS <= set(doc)
        assert doc["running"] and doc["pid"] == record["pid"] and doc["model"]["name"] == "persistence"
        assert doc["queue"]["capacity"] == 8 and doc["log"] == str(home / "log" / "mttd.log")
        assert "running (pid" in mttd(home, "status").stdout

        suggested = bridge(home, "suggest", str(SAMPLE), "--json")
        assert suggested.returncode == 0, suggested.stderr
        assert len(suggested.stdout.strip().splitlines()) == 1  # one JSON document on one line
        assert _stable(json.loads(suggested.stdout)) == _stable(document_for_file(SAMPLE, PersistencePredictor()))
        info = bridge(home, "info")
        assert info.returncode == 0 and json.loads(info.stdout)["pid"] == record["pid"]

        logs = mttd(home, "logs", "-n", "5")
        assert logs.returncode == 0 and "serving" in logs.stdout
    finally:
        stopped = mttd(home, "stop")
    assert stopped.returncode == 0 and f"(pid {record['pid']})" in stopped.stdout
    after = mttd(home, "status")
    assert after.returncode == 3 and "not running" in after.stdout
    assert serve_processes(home) == []
    assert status_record(home) is None and not Path(record["endpoint"].removeprefix("unix:")).exists()
    assert mttd(home, "stop").stdout.strip() == "mttd: not running"


def test_the_bridge_starts_the_daemon_unless_told_not_to(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    try:
        refused = bridge(home, "--no-start", "suggest", str(SAMPLE))
        assert refused.returncode == 3 and json.loads(refused.stdout)["error"]["code"] == "NOT_RUNNING"
        assert serve_processes(home) == []
        status = bridge(home, "status")
        assert status.returncode == 3 and json.loads(status.stdout) == {"running": False}
        started = bridge(home, "suggest", str(SAMPLE))
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["schema"] == "mtt.suggestions/1"
        assert len(serve_processes(home)) == 1
        status = bridge(home, "status")
        assert status.returncode == 0 and json.loads(status.stdout)["running"] is True
        bad = bridge(home, "suggest", "-", stdin='{"fps": [25, 1], "tracks": [{"items": [{"start": 5, "end": 1, "source": {"key": "a"}}]}]}')
        assert bad.returncode == 4 and "end 1 must be greater than start 5" in json.loads(bad.stdout)["error"]["message"]
    finally:
        mttd(home, "stop")
        assert kill_leftovers(home) == []


def test_start_twice_gives_one_daemon(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    command = [sys.executable, "-m", "daemon", "start"]
    try:
        racers = [subprocess.Popen(command, env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
                  for _ in range(2)]
        outputs = [r.communicate(timeout=60) for r in racers]
        assert [r.returncode for r in racers] == [0, 0], outputs
        pids = serve_processes(home)
        assert len(pids) == 1
        assert all(f"pid {pids[0]}," in out for out, _err in outputs)
        again = mttd(home, "start")
        assert again.returncode == 0 and "running: pid" in again.stdout and serve_processes(home) == pids
    finally:
        mttd(home, "stop")
        assert kill_leftovers(home) == []


def test_kill_9_then_start_recovers_without_touching_other_processes(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert mttd(home, "start").returncode == 0
        old = status_record(home)
        os.kill(old["pid"], signal.SIGKILL)
        assert wait_for(lambda: serve_processes(home) == [], timeout=10)
        assert mttd(home, "status").returncode == 3  # the status file it left is not trusted
        # A stale file naming a live process that is not the daemon: nothing may signal it.
        stale = {**old, "pid": bystander.pid}
        (home / "state" / "mttd.json").write_text(json.dumps(stale))
        assert mttd(home, "stop").stdout.strip() == "mttd: not running"
        restarted = mttd(home, "start")
        assert restarted.returncode == 0, restarted.stderr
        new = status_record(home)
        assert new["pid"] != old["pid"] and serve_processes(home) == [new["pid"]]
        assert bridge(home, "suggest", str(SAMPLE)).returncode == 0
        assert bystander.poll() is None
    finally:
        mttd(home, "stop")
        bystander.kill()
        bystander.wait()
        assert kill_leftovers(home) == []


def test_health_is_serving_only_after_the_model_loads_and_idle_unload_reloads(tmp_path: Path) -> None:
    from daemon.client import DaemonClient
    from protos.mtt.v1 import suggester_pb2 as pb

    home = make_home(tmp_path, model="persistence", debug_load_delay=1.0, keep_alive=0.5)
    serve = subprocess.Popen([sys.executable, "-m", "daemon", "serve", "--foreground"], env=env_for(home),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, start_new_session=True)
    try:
        record = wait_for(lambda: status_record(home), timeout=20)
        assert record and record["serving"] is False
        token = (home / "state" / "token").read_text().strip()
        with DaemonClient(record["endpoint"], token) as client:
            assert client.health() == "NOT_SERVING"
            loading = client.status()
            assert not loading.serving and not loading.model.loaded
            assert wait_for(lambda: client.health() == "SERVING", timeout=20)
            assert client.status().model.loaded and status_record(home)["serving"] is True

            assert wait_for(lambda: not client.status().model.loaded, timeout=10)  # idle unload
            assert client.health() == "SERVING"  # unloaded is still ready: the next call reloads
            started = time.monotonic()
            reply = client.suggest(pb.SuggestRequest(path=str(SAMPLE)))
            assert reply.sequences and time.monotonic() - started >= 1.0  # it waited for the reload
            assert client.status().model.loads == 2
        log = (home / "log" / "mttd.log").read_text()
        assert "model unloaded (idle" in log and log.count("model persistence 1 loaded") == 2
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=20) == 0  # exit 0: supervisors do not restart a clean stop
        assert status_record(home) is None and not Path(record["endpoint"].removeprefix("unix:")).exists()
    finally:
        serve.kill()
        serve.wait()
        assert kill_leftovers(home) == []


def test_an_unsafe_directory_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    (home / "run").mkdir(mode=0o700)
    (home / "run").chmod(0o755)
    for command, code in ((("start",), 1), (("serve", "--foreground"), 2)):
        done = mttd(home, *command)
        assert done.returncode == code
        assert "refusing to start" in done.stderr and "chmod 700" in done.stderr and str(home / "run") in done.stderr
        assert "Traceback" not in done.stderr
    assert serve_processes(home) == [] and status_record(home) is None


def test_an_older_daemon_is_restarted_by_a_newer_client(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    old_code = "import sys, model; model.__version__ = '0.0.1'; from daemon.cli import main; sys.exit(main(['serve']))"
    old = subprocess.Popen([sys.executable, "-c", old_code], env=env_for(home), cwd=REPO, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (status_record(home) or {}).get("serving"), timeout=30)
        assert status_record(home)["version"] == "0.0.1"
        info = bridge(home, "info")  # the bridge sees an older daemon and has `mttd start` replace it
        assert info.returncode == 0, info.stderr
        from model import __version__

        assert json.loads(info.stdout)["version"] == __version__
        assert old.wait(timeout=20) == 0  # asked to shut down, it exited cleanly
        assert serve_processes(home) == [status_record(home)["pid"]]
    finally:
        old.kill()
        old.wait()
        mttd(home, "stop")
        assert kill_leftovers(home) == []


def test_restart_replaces_the_daemon_and_config_show_names_sources(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence", keep_alive=60)
    with running_daemon(home) as record:
        restarted = mttd(home, "restart")
        assert restarted.returncode == 0, restarted.stderr
        new_pid = status_record(home)["pid"]
        assert new_pid != record["pid"] and serve_processes(home) == [new_pid]
        with client_for(home) as client:
            assert client.info().keep_alive_s == 60
            assert client.shutdown("test").pid == new_pid
            assert status_record(home) is None  # removed before the reply arrived
        assert wait_for(lambda: serve_processes(home) == [], timeout=15)
    env = {**env_for(home), "MTTD_QUEUE_SIZE": "3"}
    shown = subprocess.run([sys.executable, "-m", "daemon", "config", "show", "--json"], env=env, capture_output=True, text=True, cwd=REPO)
    settings = json.loads(shown.stdout)["settings"]
    assert settings["queue_size"] == {"value": 3, "source": "env MTTD_QUEUE_SIZE"}
    assert settings["keep_alive"] == {"value": 60.0, "source": f"file {home / 'config' / 'config.toml'}"}
    assert settings["threads"]["source"] == "default"


@pytest.mark.slow
def test_the_bundled_model_serves_the_same_suggestions_as_in_process(tmp_path: Path) -> None:
    from model.inference.load import load_predictor
    from model.suggest.document import document_for_file

    home = make_home(tmp_path)
    with running_daemon(home):
        done = bridge(home, "suggest", str(SAMPLE), "--json")
        assert done.returncode == 0, done.stderr
        with client_for(home) as client:
            model = client.info().model
        assert model.name != "persistence" and model.loaded and model.sha256
    same = load_predictor(None, "auto", threads=1)  # the daemon's default backend and threads
    assert _stable(json.loads(done.stdout)) == _stable(document_for_file(SAMPLE, same))


def test_logs_follow_prints_new_lines(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    (home / "log").mkdir(mode=0o700)
    log = home / "log" / "mttd.log"
    log.write_text("old line\n")
    follower = subprocess.Popen([sys.executable, "-m", "daemon", "logs", "-f", "-n", "1"], env=env_for(home),
                                stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert follower.stdout.readline() == "old line\n"
        with log.open("a") as f:
            f.write("new line\n")
        assert follower.stdout.readline() == "new line\n"
        log.rename(log.with_suffix(".log.1"))  # rotation: the next line is in a new file
        log.write_text("after rotation\n")
        assert follower.stdout.readline() == "after rotation\n"
    finally:
        follower.kill()
        follower.wait()


def test_start_spawns_the_daemon_before_grpc_or_torch_is_imported(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    code = (
        "import json, subprocess, sys\n"
        "seen = []\nreal = subprocess.Popen\n"
        "def spy(*args, **kwargs):\n"
        "    seen.append({'command': args[0][-3:], 'loaded': sorted({'grpc', 'torch'} & set(sys.modules)),\n"
        "                 'new_session': kwargs.get('start_new_session')})\n"
        "    return real(*args, **kwargs)\n"
        "subprocess.Popen = spy\n"
        "from daemon.cli import main\nrc = main(['start'])\nprint(json.dumps({'rc': rc, 'seen': seen}))\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], env=env_for(home), capture_output=True, text=True, cwd=REPO, timeout=60)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["rc"] == 0
        assert result["seen"] == [{"command": ["daemon", "serve", "--foreground"],
                                   "loaded": [], "new_session": True}]
    finally:
        mttd(home, "stop")
        assert kill_leftovers(home) == []
