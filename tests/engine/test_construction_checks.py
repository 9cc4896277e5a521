"""SPEC §12: misuse fails loudly at construction, naming the argument and what to pass.

Fix (issue 22): a sync `Connector` given the async Customer.io client reported `success` and
sent nothing; a dict given as settings made every user fail later with `internal_error`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import hull_customerio as hc

SETTINGS = hc.Settings(site_id="site-1", api_key="cio-api-key-never-shown")
HULL = ("5c8a1f2e3b4d5e6f7a8b9c0d", "hull-secret-never-shown", "acme42.hullapp.io")
CONNECTORS: dict[str, type[Any]] = {"sync": hc.Connector, "async": hc.AsyncConnector}


def sync_customerio() -> hc.CustomerIOClient:
    return hc.CustomerIOClient("site-1", "cio-api-key-never-shown")


def async_customerio() -> hc.AsyncCustomerIOClient:
    return hc.AsyncCustomerIOClient("site-1", "cio-api-key-never-shown")


def sync_hull() -> hc.HullClient:
    return hc.HullClient(*HULL)


def async_hull() -> hc.AsyncHullClient:
    return hc.AsyncHullClient(*HULL)


# flavour, the misused argument, a builder of its value, what the message must say
MISUSES: list[tuple[str, str, Callable[[], Any], list[str]]] = [
    ("sync", "customerio", async_customerio,
     ["customerio must be a hull_customerio.CustomerIOClient", "got an AsyncCustomerIOClient",
      "pass hull_customerio.CustomerIOClient(...)", "or use AsyncConnector"]),
    ("async", "customerio", sync_customerio,
     ["customerio must be a hull_customerio.AsyncCustomerIOClient", "got a CustomerIOClient",
      "pass hull_customerio.AsyncCustomerIOClient(...)", "or use Connector"]),
    ("sync", "hull", async_hull,
     ["hull must be a hull_customerio.HullClient", "got an AsyncHullClient",
      "or use AsyncConnector"]),
    ("async", "hull", sync_hull,
     ["hull must be a hull_customerio.AsyncHullClient", "got a HullClient", "or use Connector"]),
    ("sync", "key_http_client", httpx.AsyncClient,
     ["key_http_client must be a httpx.Client", "got a httpx.AsyncClient"]),
    ("async", "key_http_client", httpx.Client,
     ["key_http_client must be a httpx.AsyncClient", "got a httpx.Client"]),
    *[
        (flavour, "customerio", lambda: "site-1:cio-api-key-never-shown",
         ["customerio must be a hull_customerio.", "or None, got a str"])
        for flavour in ("sync", "async")
    ],
    *[
        (flavour, "settings", factory,
         ["settings must be a hull_customerio.Settings", expected,
          "hull_customerio.Settings.from_private_settings(mapping)"])
        for flavour in ("sync", "async")
        for factory, expected in (
            (lambda: {"site_id": "site-1", "api_key": "cio-api-key-never-shown"}, "got a dict"),
            (lambda: types.MappingProxyType({"site_id": "site-1"}), "got a mappingproxy"),
            (lambda: None, "got None"),
            (lambda: "site-1", "got a str"),
        )
    ],
]  # fmt: skip


@pytest.mark.parametrize(
    ("flavour", "argument", "value", "expected"),
    MISUSES,
    ids=[f"{row[0]}-{row[1]}-{row[3][1].removeprefix('got ')}" for row in MISUSES],
)
def test_a_misused_argument_is_a_type_error_at_construction_naming_it_and_what_to_pass(
    flavour: str, argument: str, value: Callable[[], Any], expected: list[str]
) -> None:
    arguments: dict[str, Any] = {"settings": SETTINGS, argument: value()}
    settings = arguments.pop("settings")
    with pytest.raises(TypeError) as refused:
        CONNECTORS[flavour](settings, **arguments)
    text = str(refused.value)
    for fragment in expected:
        assert fragment in text
    assert text.startswith(f"{argument} must be")
    # Secrets of the clients or settings handed over are never part of the message.
    assert "never-shown" not in text


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_arguments_of_the_right_kind_build_a_connector(flavour: str) -> None:
    if flavour == "sync":
        connector: Any = hc.Connector(
            SETTINGS, customerio=sync_customerio(), hull=sync_hull(), key_http_client=httpx.Client()
        )
    else:
        connector = hc.AsyncConnector(
            SETTINGS,
            customerio=async_customerio(),
            hull=async_hull(),
            key_http_client=httpx.AsyncClient(),
        )
    assert connector.settings is SETTINGS
    # None stays allowed: a webhook-only connector, or one that writes nothing back.
    assert CONNECTORS[flavour](SETTINGS).customerio is None


@pytest.mark.parametrize(
    ("site_id", "api_key", "expected"),
    [
        (12345, "key", "site_id must be a string (the workspace's Site ID), got a number"),
        ("site-1", 98765, "api_key must be a string (the workspace's Track API key), got a number"),
        ("", "key", "site_id is required"),
        ("site-1", None, "api_key is required"),
    ],
)
@pytest.mark.parametrize("client", [hc.CustomerIOClient, hc.AsyncCustomerIOClient])
def test_a_customerio_client_says_what_is_wrong_with_site_id_and_api_key(
    client: type[Any], site_id: Any, api_key: Any, expected: str
) -> None:
    with pytest.raises(hc.ConfigurationError) as refused:
        client(site_id, api_key)
    assert expected in str(refused.value)
    assert "98765" not in str(refused.value)
