"""What a connector's constructor refuses at once: arguments of the wrong kind.

A sync connector given an async client would call it without awaiting, report ``success`` and
send nothing; a dict given as settings would fail every user later. Both are refused here with
a `TypeError` naming the argument and what to pass instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import httpx

from ..customerio import AsyncCustomerIOClient, CustomerIOClient
from ..hull import AsyncHullClient, HullClient
from ..settings import Settings

__all__ = ["check_arguments"]

Flavour = Literal["sync", "async"]

# For each optional argument: the class each connector takes, and what to say to the other's.
_CLIENTS: Mapping[str, Mapping[Flavour, tuple[type, str]]] = {
    "customerio": {
        "sync": (CustomerIOClient, "hull_customerio.CustomerIOClient"),
        "async": (AsyncCustomerIOClient, "hull_customerio.AsyncCustomerIOClient"),
    },
    "hull": {
        "sync": (HullClient, "hull_customerio.HullClient"),
        "async": (AsyncHullClient, "hull_customerio.AsyncHullClient"),
    },
    "key_http_client": {
        "sync": (httpx.Client, "httpx.Client"),
        "async": (httpx.AsyncClient, "httpx.AsyncClient"),
    },
}

_CONNECTORS: Mapping[Flavour, str] = {"sync": "Connector", "async": "AsyncConnector"}


def check_arguments(flavour: Flavour, **arguments: object) -> None:
    """Refuse ``settings`` that is not `Settings` and clients of the wrong kind (or flavour).

    Args:
        flavour: the connector being built.
        **arguments: ``settings`` and any of ``customerio``, ``hull``, ``key_http_client``.

    Raises:
        TypeError: naming the first argument of the wrong kind and what to pass.
    """
    for name, value in arguments.items():
        if name == "settings":
            _check_settings(value)
        elif value is not None:
            _check_client(flavour, name, value)


def _check_settings(value: object) -> None:
    if isinstance(value, Settings):
        return
    if isinstance(value, Mapping):
        raise TypeError(
            f"settings must be a hull_customerio.Settings, got {_kind(value)}; build it with "
            "hull_customerio.Settings.from_private_settings(mapping), which checks "
            "every value"
        )
    raise TypeError(
        f"settings must be a hull_customerio.Settings, got {_kind(value)}; build it with "
        "hull_customerio.Settings(site_id=..., api_key=..., ...) or "
        "hull_customerio.Settings.from_private_settings(mapping)"
    )


def _check_client(flavour: Flavour, name: str, value: object) -> None:
    expected, expected_name = _CLIENTS[name][flavour]
    if isinstance(value, expected):
        return
    other: Flavour = "async" if flavour == "sync" else "sync"
    other_class, other_name = _CLIENTS[name][other]
    connector = _CONNECTORS[flavour]
    message = f"{name} must be {_a(expected_name)} or None, got {_kind(value)}"
    if isinstance(value, other_class):
        # The mistake that used to pass silently: a sync connector never awaits an async
        # client's calls (and an async one would block its event loop on a sync client).
        message = (
            f"{message}: {_a(connector)} needs the {flavour} client; pass "
            f"{expected_name}(...), or use {_CONNECTORS[other]} with {_a(other_name)}"
        )
    raise TypeError(message)


def _kind(value: object) -> str:
    if value is None:
        return "None"
    cls = type(value)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
    if name.startswith("hull_customerio."):
        # Our classes are known by their public name.
        name = cls.__name__
    return _a(name)


def _a(name: str) -> str:
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"
