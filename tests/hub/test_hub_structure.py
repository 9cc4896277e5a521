"""The two hubs are one design (issue 23): one constructor, batch defaults shared with the
download functions, and the hub package reaching other subpackages only through their
internal interfaces (`_api` modules)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path

import hull_customerio as hc
from hull_customerio.hub import async_hub, sync_hub

HUB_PACKAGE = Path(hc.__file__).parent / "hub"


def _parameters(function: Callable[..., object]) -> list[tuple[str, object, object]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_both_hubs_take_the_same_arguments_with_the_same_defaults() -> None:
    sync_arguments = _parameters(hc.ConnectorHub)
    assert sync_arguments == _parameters(hc.AsyncConnectorHub)
    names = [name for name, _, _ in sync_arguments]
    assert names[:2] == ["token_key", "customerio_options"]
    assert {"batch_chunk_size", "max_batch_line_bytes", "http_client", "resolver"} <= set(names)


def test_a_hubs_batch_defaults_are_the_download_functions_defaults() -> None:
    hub_defaults = {name: default for name, _, default in _parameters(hc.ConnectorHub)}
    hub_names = {"chunk_size": "batch_chunk_size", "max_line_bytes": "max_batch_line_bytes",
                 "max_bytes": "max_batch_bytes", "max_seconds": "max_batch_seconds"}  # fmt: skip
    for function in (sync_hub.sync_from, async_hub.sync_from, async_hub.download_and_sync):
        defaults = {name: default for name, _, default in _parameters(function)}
        for name, hub_name in hub_names.items():
            assert defaults[name] == hub_defaults[hub_name], (function, name)


def _private_imports_from_other_subpackages(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level < 2 or node.module is None:
            continue
        parts = node.module.split(".")
        private = [part for part in parts[1:] if part.startswith("_")]
        if private and private != ["_api"]:
            found.append(f"{path.name}: from {'.' * node.level}{node.module}")
    return found


def test_the_hub_reaches_the_engine_and_hull_only_through_their_api_modules() -> None:
    found = []
    for path in sorted(HUB_PACKAGE.glob("*.py")):
        found += _private_imports_from_other_subpackages(path)
    assert found == []


def test_the_structure_check_sees_a_private_import_from_another_subpackage(
    tmp_path: Path,
) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "from ..engine._core import log_event\n"
        "from ..engine._api import log_event as ok\n"
        "from ..errors import APIError\n"
        "from ._flows import HubFlows\n"
    )
    assert _private_imports_from_other_subpackages(module) == ["module.py: from ..engine._core"]
