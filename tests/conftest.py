"""Shared fixtures: where the read-only corpus lives, and a private MTTD_HOME per test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_sequence(corpus_dir: Path):
    """`corpus_sequence(NAME)`: the first sequence of a corpus FCP7 XML file, read once per run."""
    from model.timeline.xmeml import read_xmeml  # the corpus tests need it, the daemon's tests do not

    cache = {}

    def first_sequence(name: str):
        if name not in cache:
            cache[name] = read_xmeml(corpus_dir / name).sequences[0]
        return cache[name]

    return first_sequence


@pytest.fixture()
def mttd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mttd-home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("MTTD_HOME", str(home))
    return home


@pytest.fixture()
def daemon_home(mttd_home: Path):
    """A private MTTD_HOME whose config runs the persistence baseline with a fast watcher; the
    daemon the test starts is stopped afterwards, and must really be gone."""
    from tests.helpers_watch_daemon import CONFIG, mttd  # the helper imports REPO from here

    (mttd_home / "config").mkdir(mode=0o700)
    (mttd_home / "config" / "config.toml").write_text(CONFIG)
    yield mttd_home
    mttd("stop", check=False)
    assert mttd("status", check=False).returncode == 3, "a daemon was left running"
