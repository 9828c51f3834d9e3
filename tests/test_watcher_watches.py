"""The watch list, its file, the `[watch]` settings, and the names the watcher acts on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.config import ConfigError, WatchSettings, watch_settings
from daemon.watch import files as watch_files
from daemon.watch.registry import WatchRegistry
from daemon.watch.store import WatchError, WatchSpec, WatchStore
from daemon.watch.watcher import Watcher
from model.timeline.kinds import BY_SUFFIX, timeline_kinds
from tests.helpers_watcher import StubProcessor, synthetic_xmeml


def test_the_store_round_trips_and_names_a_broken_file(tmp_path):
    store = WatchStore(tmp_path / "config" / "watches.json")
    assert store.load() == []
    specs = [WatchSpec("/a", False), WatchSpec("/b c", True)]
    store.save(specs)
    assert store.load() == specs
    assert [p.name for p in store.path.parent.iterdir()] == ["watches.json"]  # no temp file left
    store.path.write_text("{not json")
    with pytest.raises(WatchError, match=r"watches\.json"):
        store.load()
    store.path.write_text(json.dumps({"schema": "other/1", "watches": []}))
    with pytest.raises(WatchError, match="not a mttd.watches/1 document"):
        store.load()


def test_watch_settings_come_from_the_watch_table_and_refuse_bad_keys():
    assert watch_settings({}) == WatchSettings()
    got = watch_settings({"watch": {"settle_ms": 250, "reconcile_minutes": 1, "kinds": ["next"]}})
    assert (got.settle_ms, got.reconcile_minutes, got.kinds) == (250, 1.0, ("next",))
    with pytest.raises(ConfigError, match="unknown setting \\[watch\\] 'settle'"):
        watch_settings({"watch": {"settle": 1}})
    with pytest.raises(ConfigError, match="positive number"):
        watch_settings({"watch": {"queue_max": 0}})
    with pytest.raises(ConfigError, match="kinds must be a list"):
        watch_settings({"watch": {"kinds": ["everything"]}})


def test_the_registry_checks_paths_persists_and_restores(tmp_path):
    folder = tmp_path / "edits"
    folder.mkdir()
    (tmp_path / "file.xml").write_text("x")
    store = WatchStore(tmp_path / "watches.json")
    registry = WatchRegistry(Watcher(StubProcessor()), store)
    for bad, reason in (("edits", "absolute path"), (tmp_path / "nope", "no such folder"),
                        (tmp_path / "file.xml", "not a folder")):
        with pytest.raises(WatchError, match=reason):
            registry.add(str(bad))
    info = registry.add(str(folder), poll=True)
    assert (info.path, info.poll, info.missing) == (str(folder), True, False)
    assert store.load() == [WatchSpec(str(folder), True)]

    folder.rmdir()  # gone while the daemon was down: restored, and reported missing
    restored = WatchRegistry(Watcher(StubProcessor()), store)
    assert restored.restore() == ""
    [info] = restored.list()
    assert info.missing and "folder missing" in info.last_error
    assert restored.remove(str(folder)) and store.load() == []
    assert not restored.remove(str(folder))


@pytest.mark.parametrize(
    ("name", "acted_on"),
    [("cut.xml", True), ("CUT.XML", True), ("cut.v2.xml", True), ("cut.mtt.xml", False), ("cut.mtt.json", False),
     (".cut.xml", False), ("~$cut.xml", False), (".~lock.cut.xml#", False), (".goutputstream-X1", False),
     ("cut.xml.tmp", False), ("cut.xml.part", False), ("cut.xml.crdownload", False), ("cut.mov", False)],
)
def test_which_names_are_candidates(tmp_path, name, acted_on):
    kinds = timeline_kinds(with_extras=False)
    assert (watch_files.candidate_kind(tmp_path / name, tmp_path, kinds) is not None) == acted_on


def test_a_timeline_is_known_by_its_root_and_complete_by_its_end(tmp_path):
    kind = BY_SUFFIX[".xml"]
    full = tmp_path / "full.xml"
    full.write_text(synthetic_xmeml(1))
    half = tmp_path / "half.xml"
    half.write_bytes(full.read_bytes()[:500])
    plist = tmp_path / "plist.xml"
    plist.write_text("<?xml version='1.0'?><plist/>")
    assert watch_files.sniff(full, kind) and watch_files.sniff(half, kind) and not watch_files.sniff(plist, kind)
    assert watch_files.scan_file(full, kind).complete and not watch_files.scan_file(half, kind).complete
    assert watch_files.sidecar_json_path(Path("/x/cut.v2.xml")) == Path("/x/cut.v2.mtt.json")
    assert set(timeline_kinds(with_extras=True)) == {".xml", ".fcpxml", ".kdenlive", ".mlt", ".otio"}
