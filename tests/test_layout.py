"""The design card's layout: the packages import from this checkout, and the layers stay apart."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("daemon", "model", "plugin_bridge", "protos")


def test_packages_import_from_this_checkout():
    # "daemon" is also the name of an unrelated PyPI package: make sure ours is the one imported.
    for name in PACKAGES:
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == REPO / name, name


def _imported_roots(folder: Path) -> set[tuple[str, str]]:
    found = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(str(path), a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path), node.module.split(".")[0]))
    return found


def test_model_never_imports_grpc_protos_or_daemon():
    bad = {(p, m) for p, m in _imported_roots(REPO / "model") if m in {"grpc", "protos", "daemon"}}
    assert not bad, bad


def test_bridge_never_imports_torch_or_model():
    bad = {(p, m) for p, m in _imported_roots(REPO / "plugin_bridge") if m in {"torch", "model", "daemon"}}
    assert not bad, bad


def test_every_listed_command_module_exists_and_registers():
    """daemon/cli.py skips a missing module quietly (a partial checkout still runs): check here."""
    import argparse
    import importlib

    from daemon.cli import COMMAND_MODULES

    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"daemon.commands.{name}").register(sub)
        assert sub.choices, f"daemon/commands/{name}.py registers no command"
