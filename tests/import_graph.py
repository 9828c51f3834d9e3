"""The project's import graph, read from the source with ast (nothing is imported), for the
layout tests: which module imports which, at module level or inside a function, and the circles.

An import under `if TYPE_CHECKING:` counts only with `type_checking=True` (it never runs, but a
reader still follows it). `from pkg import name` counts as an import of `pkg.name` when that is
a module, else of `pkg`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PROJECT = ("daemon", "installer", "model", "plugin_bridge", "protos")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported project module, dotted
    path: Path
    line: int
    in_function: bool
    type_checking: bool  # under `if TYPE_CHECKING:`
    commented: bool  # a comment on the import's lines or on the line just above its block


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path, packages: tuple[str, ...] = PROJECT) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(root, path)] = path
    return found


def imports(root: Path, packages: tuple[str, ...] = PROJECT) -> list[Import]:
    """Every import of a project module made by the modules of `packages`."""
    known = modules(root, PROJECT)
    found: list[Import] = []
    for name, path in modules(root, packages).items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        is_package = path.name == "__init__.py"
        for node, in_function, type_checking, block in _import_nodes(tree):
            commented = any("#" in lines[i] for i in range(block[0].lineno - 2, block[-1].end_lineno) if i >= 0)
            for target in _targets(node, name, is_package, known):
                found.append(Import(name, target, path, node.lineno, in_function, type_checking, commented))
    return found


def _import_nodes(tree: ast.Module):
    """(node, in_function, type_checking, its block of consecutive import statements) for every import."""

    def visit(body: list[ast.stmt], in_function: bool, type_checking: bool = False):
        block: list[ast.stmt] = []
        for stmt in body + [None]:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                block.append(stmt)
                continue
            for node in block:
                yield node, in_function, type_checking, block
            block = []
            if stmt is None:
                break
            if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
                yield from visit(stmt.body, in_function, True)
                yield from visit(stmt.orelse, in_function, type_checking)
                continue
            inner = in_function or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(stmt, field, None)
                if isinstance(children, list) and children and isinstance(children[0], (ast.stmt, ast.ExceptHandler)):
                    if field == "handlers":
                        for handler in children:
                            yield from visit(handler.body, inner, type_checking)
                    else:
                        yield from visit(children, inner, type_checking)

    yield from visit(tree.body, False)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.stmt, source: str, is_package: bool, known: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] in PROJECT and a.name in known]
    base = node.module or ""
    if node.level:
        anchor = source.split(".") if is_package else source.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    if base.split(".")[0] not in PROJECT:
        return []
    targets = []
    for alias in node.names:
        full = f"{base}.{alias.name}"
        targets.append(full if full in known else base)
    return [t for t in dict.fromkeys(targets) if t in known]


def graph(found: list[Import], type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the modules it imports (those under TYPE_CHECKING too when asked)."""
    edges: dict[str, set[str]] = {}
    for imp in found:
        if imp.target != imp.source and (type_checking or not imp.type_checking):
            edges.setdefault(imp.source, set()).add(imp.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return sorted(found)
