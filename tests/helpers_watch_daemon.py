"""A real daemon with a watcher under a temporary MTTD_HOME, driven through the `mttd` command
(the `daemon_home` fixture in conftest.py starts from CONFIG and stops the daemon afterwards)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

# The persistence baseline keeps these tests fast; next and fill make every sidecar non-empty.
CONFIG = 'model = "persistence"\n[watch]\nsettle_ms = 200\nkinds = ["next", "fill"]\n'


def mttd(*args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(f"mttd {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def listing() -> dict:
    return json.loads(mttd("watch", "list", "--json").stdout)
