"""Find import circles among the modules of ``src/hull_customerio`` and list the long modules.

Reads the source with `ast` (nothing is imported or run). Every ``import`` statement counts,
wherever it stands, except those under ``if TYPE_CHECKING:``: a circle through a function's
own import still ties the two modules together for a reader. ``from .pkg import name`` is an
arrow to ``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``).

Usage::

    python scripts/import_cycles.py            # circles, then modules over 500 lines
    python scripts/import_cycles.py --max 600  # exit 1 if any module is longer than 600 lines

Exits 1 when there is a circle (or a module over ``--max`` lines), else 0.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "hull_customerio"


def module_names(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    names: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
        return
    yield from _imports(node)


def arrows(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            known = target
            while known and known not in modules:
                known = known.rpartition(".")[0]
            if known and known != name:
                found.add(known)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module with the package's modules it imports.

    A module importing its own package's ``__init__`` is how packages work, not a circle a
    reader has to untangle: that arrow is left out.
    """
    graph = {name: arrows(name, path, modules) for name, path in modules.items()}
    return {
        name: {t for t in targets if not name.startswith(f"{t}.")}
        for name, targets in graph.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def main(argv: list[str] | None = None) -> int:
    """Print the circles and the long modules; the exit status says whether all is well."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT, help="the folder holding the package")
    parser.add_argument("--max", type=int, default=None, help="fail above this many lines")
    parser.add_argument("--show", type=int, default=500, help="list modules over this many lines")
    args = parser.parse_args(argv)
    modules = module_names(args.src)
    found = circles(import_graph(modules))
    for group in found:
        print("circle:", " <-> ".join(group))
    print(f"{len(found)} import circle(s) among {len(modules)} modules")
    too_long = False
    for path in sorted(modules.values()):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > args.show:
            print(f"{lines:6} {path.relative_to(args.src)}")
        if args.max is not None and lines > args.max:
            too_long = True
    return 1 if found or too_long else 0


if __name__ == "__main__":
    sys.exit(main())
