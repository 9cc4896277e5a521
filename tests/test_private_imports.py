"""Subpackages talk through their `_api` modules, never through each other's private modules
(issue 23).

A private module (a name part starting with ``_``) may be imported from inside its own package
only, with two exceptions: ``pkg._api``, a subpackage's internal interface, and the shared
basics at the root — root-level private modules (``_serialization``, ``_time``) and the private
subpackage ``_http`` with everything in it. Every import counts, also one inside a function or
under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from script_support import load_script

ROOT = Path(__file__).resolve().parents[1]


cycles = load_script("import_cycles")


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports anywhere in its text (``from pkg import mod``
    names the module ``pkg.mod``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            known = target
            while known and known not in modules:
                known = known.rpartition(".")[0]
            if known:
                found.add(known)
    return found


def crossing(importer: str, target: str) -> bool:
    """Whether ``importer`` reaches into a private module of a package it is not part of."""
    parts = target.split(".")
    private = [i for i, part in enumerate(parts) if part.startswith("_") and part[1:2] != "_"]
    if not private or private[0] == 1:  # public, or a shared basic at the root
        return False
    first = private[0]
    if parts[first] == "_api" and first == len(parts) - 1:
        return False
    owner = ".".join(parts[:first])
    return not (importer == owner or importer.startswith(f"{owner}."))


def crossings(src: Path, package: str = "hull_customerio") -> set[str]:
    """Every ``importer -> private module`` import that crosses a package's border."""
    modules = cycles.module_names(src, package)
    return {
        f"{name} -> {target}"
        for name, path in modules.items()
        for target in imported_modules(name, path, modules)
        if crossing(name, target)
    }


def test_no_subpackage_imports_another_ones_private_modules() -> None:
    assert crossings(ROOT / "src") == set()


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_check_sees_each_way_of_reaching_a_private_module(tmp_path: Path) -> None:
    src = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/tool.py": "def late():\n    from .engine._core import x\n",
        "pkg/engine/__init__.py": "",
        "pkg/engine/_core.py": "x = 1\n",
        "pkg/engine/_api.py": "from ._core import x\n",
        "pkg/hub/__init__.py": "",
        "pkg/hub/a.py": "from ..engine import _core\nimport pkg.engine._core\n",
        "pkg/hub/b.py": "from typing import TYPE_CHECKING\n"
                        "if TYPE_CHECKING:\n    from pkg.engine._core import x\n",
    })  # fmt: skip
    assert crossings(src, "pkg") == {
        "pkg.tool -> pkg.engine._core",
        "pkg.hub.a -> pkg.engine._core",
        "pkg.hub.b -> pkg.engine._core",
    }


def test_api_modules_own_modules_and_the_shared_basics_are_allowed(tmp_path: Path) -> None:
    src = _write(tmp_path, {
        "pkg/__init__.py": "from .engine._api import x\n",
        "pkg/_time.py": "t = 1\n",
        "pkg/_http/__init__.py": "",
        "pkg/_http/transport.py": "from .._time import t\n",
        "pkg/engine/__init__.py": "from ._core import x\n",
        "pkg/engine/_core.py": "from .._http.transport import t\nx = 1\n",
        "pkg/engine/_api.py": "from ._core import x\n",
        "pkg/hub/__init__.py": "",
        "pkg/hub/_flows.py": "from ..engine._api import x\nfrom .._time import t\n",
        "pkg/hub/a.py": "from ._flows import x\nfrom pkg._http import transport\n",
    })  # fmt: skip
    assert crossings(src, "pkg") == set()
