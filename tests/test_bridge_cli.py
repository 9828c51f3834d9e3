"""mtt-bridge: never imports torch, the model or the daemon (daemon.rendezvous, the one stdlib
module that finds the daemon, aside); finds the daemon where the daemon says it is; documents its
exit codes; its Python API validates before calling."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_bridge import bridge
from tests.helpers_daemon import REPO, SAMPLE, env_for, make_home, running_daemon

FORBIDDEN = ("torch", "model", "daemon", "numpy", "lxml")
ALLOWED = ("daemon", "daemon.rendezvous")  # the package and its stdlib-only rendezvous module


def _loaded_after(code: str, env: dict[str, str]) -> dict:
    probe = (
        "import json, sys, time\nt0 = time.perf_counter()\n" + code +
        f"\nbad = sorted({{m.split('.')[0] for m in sys.modules if m not in {ALLOWED!r}}} & set({FORBIDDEN!r}))"
        "\nprint(json.dumps({'forbidden': bad, 'seconds': time.perf_counter() - t0, 'result': result}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_bridge_imports_only_grpc_and_protos_even_while_calling_the_daemon(tmp_path: Path) -> None:
    home = make_home(tmp_path, model="persistence")
    with running_daemon(home):
        code = (
            "from plugin_bridge import bridge\n"
            f"doc = bridge.suggest_file({str(SAMPLE)!r}, kinds=['next'])\n"
            "result = [doc['schema'], bridge.info()['protocol'], bridge.status()['running']]"
        )
        probe = _loaded_after(code, env_for(home))
    assert probe["forbidden"] == []
    assert probe["result"] == ["mtt.suggestions/1", 1, True]


def test_the_bridge_looks_where_the_daemon_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon import paths as paths_mod
    from daemon import rendezvous

    monkeypatch.setenv("MTTD_HOME", str(tmp_path / "h"))
    assert rendezvous.state_dir() == paths_mod.resolve().state_dir
    monkeypatch.delenv("MTTD_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state-home"))
    assert rendezvous.state_dir() == paths_mod.resolve().state_dir == tmp_path / "state-home" / "mttd"
    # Inside a plugin host without platformdirs the spelled-out rules give the same place.
    env = {**os.environ, "MTTD_HOME": ""}
    code = "import sys; sys.modules['platformdirs'] = None\nfrom daemon import rendezvous\nresult = str(rendezvous.state_dir())"
    assert _loaded_after(code, env)["result"] == str(tmp_path / "state-home" / "mttd")


def test_a_stale_status_file_is_not_a_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = make_home(tmp_path)
    (home / "state").mkdir(mode=0o700)
    (home / "state" / "mttd.json").write_text(json.dumps({"pid": os.getpid(), "endpoint": "unix:/nowhere", "protocol": 1}))
    monkeypatch.setenv("MTTD_HOME", str(home))
    assert bridge.find_daemon() is None  # alive pid, but no daemon holds the lock
    with pytest.raises(bridge.BridgeError) as err:
        bridge.info(start=False)
    assert err.value.exit_code == bridge.EXIT_NOT_RUNNING and err.value.code == "NOT_RUNNING"


def test_bad_timeline_json_is_refused_before_any_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTTD_HOME", str(tmp_path / "never-started"))
    for doc, message in (({"tracks": [{"itemz": []}]}, 'no field named "itemz"'),
                         ({"fps": [25.5, 1]}, "Couldn't parse integer"), ([1, 2], "not in the bridge timeline format")):
        with pytest.raises(bridge.BridgeError) as err:
            bridge.suggest_timeline(doc, start=False)
        assert err.value.exit_code == bridge.EXIT_BAD_INPUT and message in err.value.message
        assert "\n" not in err.value.message
    assert bridge.BridgeError("X", "m", 4, 7).to_json() == {"error": {"code": "X", "message": "m", "line": 7}}


def test_invalid_json_on_stdin_exits_4_with_an_error_document(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "plugin_bridge.bridge", "--no-start", "suggest", "-"], input="{\n oops",
                          env=env_for(tmp_path / "h"), capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 4
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["line"] == 2 and done.stderr.startswith("mtt-bridge: <stdin>:2:")


def test_the_mttd_command_is_found_beside_this_python_or_through_mttd_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTTD_BIN", "/opt/mttd/bin/mttd")
    assert bridge.mttd_command() == ["/opt/mttd/bin/mttd"]
    monkeypatch.delenv("MTTD_BIN")
    command = bridge.mttd_command()
    assert command[0] == str(Path(sys.executable).parent / "mttd") or command[-2:] == ["-m", "daemon"]


def test_every_exit_code_is_documented() -> None:
    readme = (REPO / "plugin_bridge" / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d) \| (.+) \|$", readme, re.MULTILINE))
    codes = {v for k, v in vars(bridge).items() if k.startswith("EXIT_")}
    assert codes == {int(c) for c in table}
    assert "busy" in table[str(bridge.EXIT_BUSY)] and "not running" in table[str(bridge.EXIT_NOT_RUNNING)]


def test_the_bridge_reads_the_installed_version_without_importing_it() -> None:
    from model import __version__

    assert bridge._installed_version() == __version__
