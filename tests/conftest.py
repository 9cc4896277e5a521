"""Shared test configuration.

This file also makes ``tests/`` importable (pytest puts a rootdir-less ``conftest.py``'s folder
on ``sys.path``), so test modules in sub-folders can ``import builders``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from hull_customerio._http.transport import AsyncPoolTransport


class _UnexplainedLines(logging.Handler):
    """Collects the library's warning and error lines that do not say why in the line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if " reason=" not in message or " cause=" not in message:
            self.found.append(message)


@pytest.fixture(autouse=True)
def _every_warning_states_its_reason_and_cause() -> Iterator[None]:
    """SPEC §8.8: every warning and error line of the library states its reason code and the
    short cause in the line itself. Checked for every line any test makes the library log."""
    handler = _UnexplainedLines()
    library = logging.getLogger("hull_customerio")
    library.addHandler(handler)
    try:
        yield
    finally:
        library.removeHandler(handler)
    assert not handler.found, f"log lines without reason= and cause=: {handler.found[:5]}"


@pytest.fixture(autouse=True)
def _httpx_mock_answers_for_our_own_transport(request: pytest.FixtureRequest) -> None:
    """pytest-httpx answers in place of ``httpx.AsyncHTTPTransport``; the async clients build
    their own transport (`AsyncPoolTransport`, an ``httpx.AsyncBaseTransport``), which the
    plugin does not know. Where a test uses ``httpx_mock``, that transport hands its requests
    to the plugin as httpx's own would, so the exact requests are checked as before."""
    if "httpx_mock" not in request.fixturenames:
        return
    request.getfixturevalue("httpx_mock")  # the plugin's patch is in place from here on
    patch = request.getfixturevalue("monkeypatch")
    patch.setattr(
        AsyncPoolTransport, "handle_async_request", httpx.AsyncHTTPTransport.handle_async_request
    )
