"""The library reaches httpx and httpcore through their public interfaces only (issue 23).

A private attribute of theirs may change in any release, and code that reaches for one falls
back or breaks silently. The library's sources are read as Python syntax trees and checked for
the three ways such an attribute is reached:

- a private module or name of the packages themselves (``httpx._config``,
  ``from httpcore._async import ...``);
- a private attribute named in a string (``getattr(transport, "_pool", None)``);
- a private attribute read or set on another object (``pool._network_backend = ...``), where
  the name is one httpx or httpcore use privately (collected from their installed sources).
  Private attributes of the library's own objects on ``self``/``cls`` are its own business;
  those reached on another object of the library's own are listed in ``OWN`` with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpcore
import httpx
import pytest

import hull_customerio

SOURCES = Path(hull_customerio.__file__).parent
DEPENDENCIES = ("httpx", "httpcore")

#: Private attributes reached on another object that is the library's own, not httpx's or
#: httpcore's, although the name is one they use too: (file under src, expression, why).
OWN = {
    ("models/hull.py", "attributes._data"): "the library's own Attributes mapping",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _dependency_private_names() -> set[str]:
    """Every private attribute, method and class name that httpx and httpcore use."""
    names: set[str] = set()
    for package in (httpx, httpcore):
        assert package.__file__ is not None
        for path in Path(package.__file__).parent.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and _private(node.attr):
                    names.add(node.attr)
                elif isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                ) and _private(node.name):
                    names.add(node.name)
    return names


PRIVATE_NAMES = _dependency_private_names()


def findings(source: str, where: str = "<text>") -> list[str]:
    """Each place in ``source`` that reaches a private part of httpx or httpcore."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] in DEPENDENCIES and (
                any(_private(p) for p in parts) or any(_private(a.name) for a in node.names)
            ):
                found.append(f"{where}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in DEPENDENCIES and any(_private(p) for p in parts):
                    found.append(f"{where}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            value = node.value
            if isinstance(value, ast.Name) and value.id in DEPENDENCIES:
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(value, ast.Name) and value.id in ("self", "cls"):
                continue
            elif node.attr in PRIVATE_NAMES and (where, ast.unparse(node)) not in OWN:
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_private_part_of_httpx_or_httpcore_is_used_in_the_library() -> None:
    found: list[str] = []
    for path in sorted(SOURCES.rglob("*.py")):
        where = path.relative_to(SOURCES).as_posix()
        found += findings(path.read_text(encoding="utf-8"), where)

    assert found == []


def test_every_own_exception_is_still_in_the_library() -> None:
    # A stale entry would let a dependency's private attribute of the same name through.
    for where, expression in OWN:
        tree = ast.parse((SOURCES / where).read_text(encoding="utf-8"))
        used = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert expression in used, (where, expression)


# The check itself, on the shapes it must catch and those it must let through.


@pytest.mark.parametrize(
    "source",
    [
        # the hook this library had until issue 23
        'pool = getattr(transport, "_pool", None)',
        "pool._network_backend = AsyncioBackend()",
        "client._transport.handle_async_request(request)",
        "self._http._mounts.clear()",
        "context = httpx._config.create_ssl_context()",
        "from httpx._transports.default import map_httpcore_exceptions",
        "from httpx import _exceptions",
        "import httpcore._async.connection_pool",
        'hasattr(pool, "_network_backend")',
    ],
)
def test_the_check_catches_a_private_part_reached(source: str) -> None:
    assert findings(source)


@pytest.mark.parametrize(
    "source",
    [
        "self.pool = httpcore.AsyncConnectionPool(network_backend=backend)",
        "self._transport = transport",
        "response = await self._transport.handle_async_request(outgoing)",
        "context = httpx.create_ssl_context()",
        "from httpx import AsyncBaseTransport",
        'getattr(type_, "__origin__", type_)',
        "ticket._pending.add(key)",  # a name neither httpx nor httpcore use
    ],
)
def test_the_check_lets_public_parts_and_own_attributes_through(source: str) -> None:
    assert findings(source) == []
