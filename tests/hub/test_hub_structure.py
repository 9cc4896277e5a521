"""The two hubs are one design (issue 23): one constructor, and batch defaults shared with the
download functions. (That no package reaches into another's private modules, the hub's
included, is checked for the whole library by tests/test_private_imports.py.)"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import hull_customerio as hc
from hull_customerio.hub import async_hub, sync_hub
from hull_customerio.hub._core import HubCore
from hull_customerio.hub._flows import HubFlows


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


def test_the_hubs_constructor_is_written_once() -> None:
    # The hubs and the flows they share inherit HubCore's __init__: no second keyword list.
    for hub in (hc.ConnectorHub, hc.AsyncConnectorHub, HubFlows):
        assert "__init__" not in vars(hub)
    assert hc.ConnectorHub.__init__ is HubCore.__init__
