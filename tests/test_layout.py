"""The design card's layout: the packages import from this checkout, and the layers stay apart."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

from tests import import_graph
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
    bad = {(p, m) for p, m in _imported_roots(REPO / "plugin_bridge") if m in {"torch", "model"}}
    assert not bad, bad


def test_the_bridge_finds_the_daemon_through_rendezvous_alone():
    """The bridge shares the daemon's rules for finding it (daemon.rendezvous) and nothing else of
    the daemon; rendezvous itself imports only the standard library (platformdirs when present)."""
    from_bridge = {i.target for i in import_graph.imports(REPO, ("plugin_bridge",)) if i.target.startswith("daemon")}
    assert from_bridge == {"daemon.rendezvous"}, from_bridge
    tree = ast.parse((REPO / "daemon" / "rendezvous.py").read_text(encoding="utf-8"))
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert roots - {"__future__", "platformdirs"} <= set(sys.stdlib_module_names), roots


def test_every_listed_command_module_exists_and_registers():
    """daemon/cli.py skips a missing module quietly (a partial checkout still runs): check here."""
    import argparse
    import importlib

    from daemon.cli import COMMAND_MODULES

    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"daemon.commands.{name}").register(sub)
        assert sub.choices, f"daemon/commands/{name}.py registers no command"


# -- import circles (tests/import_graph.py reads the imports with ast) ---------------------------

SERVICE_SIDE = ("daemon", "plugin_bridge", "installer")


def test_no_import_circle_in_the_daemon_the_bridge_or_the_installer():
    """Function-level and TYPE_CHECKING imports count too: a circle is a circle to the reader."""
    edges = import_graph.graph(import_graph.imports(REPO), type_checking=True)
    circles = [c for c in import_graph.cycles(edges) if any(m.split(".")[0] in SERVICE_SIDE for m in c)]
    assert not circles, circles


def test_the_packages_import_each_other_one_way():
    edges: dict[str, set[str]] = {}
    for imp in import_graph.imports(REPO):
        source, target = imp.source.split(".")[0], imp.target.split(".")[0]
        if source != target:
            edges.setdefault(source, set()).add(target)
    assert not import_graph.cycles(edges), edges


def test_a_function_level_import_of_our_own_modules_says_why():
    """Lazy imports keep torch, numpy and grpc out of light start-ups; each such block carries a
    one-line comment with its reason, every other import sits at the top of its module."""
    silent = [f"{i.path.relative_to(REPO)}:{i.line} imports {i.target}"
              for i in import_graph.imports(REPO, SERVICE_SIDE) if i.in_function and not i.commented]
    assert not silent, "\n".join(silent)


def test_the_import_graph_sees_circles():
    """The checks above can fail: a made-up circle through a function-level import is found."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_graph.cycles(edges) == [["a", "b", "c"]]
    found = import_graph.imports(REPO, ("daemon",))
    assert any(i.in_function and i.target == "daemon.server" for i in found)  # `mttd serve` imports it late


def test_no_import_circle_in_model():
    """model/ too: module-level, function-level and TYPE_CHECKING imports alike, each circle listed."""
    edges = import_graph.graph(import_graph.imports(REPO, ("model",)), type_checking=True)
    circles = import_graph.cycles(edges)
    assert not circles, "\n".join(" <-> ".join(c) for c in circles)


def test_a_function_level_import_in_model_says_why():
    """model/ imports its own modules at the top; the few lazy ones (torch off the ONNX path) say why."""
    silent = [f"{i.path.relative_to(REPO)}:{i.line} imports {i.target}"
              for i in import_graph.imports(REPO, ("model",)) if i.in_function and not i.commented]
    assert not silent, "\n".join(silent)
