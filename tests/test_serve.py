"""`hull-customerio serve` (SPEC §8.5): the hub's app under uvicorn, configured from the CLI."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

import hull_customerio as hc
from hull_customerio.cli import main


def test_serve_needs_the_token_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HULL_CUSTOMERIO_TOKEN_KEY", raising=False)
    assert main(["serve"]) == 2
    assert "HULL_CUSTOMERIO_TOKEN_KEY" in capsys.readouterr().err


def test_serve_refuses_a_weak_token_key_and_says_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", "short-secret")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "token_key must be at least 32 bytes" in err
    assert "secrets.token_urlsafe(32)" in err
    assert "short-secret" not in err


def test_serve_runs_the_hub_app_with_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        seen["app"], seen["options"] = app, options

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", "service-secret-of-32-bytes-at-least")
    code = main(["serve", "--port", "8123", "--batch-host", "files.example.com"])
    assert code == 0
    assert seen["options"] == {"host": "127.0.0.1", "port": 8123, "log_level": "info"}
    routes = {route.path for route in seen["app"].routes}
    assert routes == {"/smart-notifier", "/batch", "/webhook", "/status"}


def test_serve_refuses_an_unreadable_public_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", "service-secret-of-32-bytes-at-least")
    assert main(["serve", "--public-key", "/nonexistent.pem"]) == 2
    assert "--public-key" in capsys.readouterr().err


def test_the_hubs_import_without_starlette() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys; import hull_customerio as hc; hc.ConnectorHub; hc.AsyncConnectorHub; "
        "assert 'starlette' not in sys.modules and 'uvicorn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
    assert hc.AsyncConnectorHub.__module__ == "hull_customerio.hub.async_hub"


def test_serve_writes_the_librarys_info_records_to_stderr_while_it_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging  # noqa: PLC0415

    library = logging.getLogger("hull_customerio")
    handlers, level = list(library.handlers), library.level

    def run(app: Any, **options: Any) -> None:
        logging.getLogger("hull_customerio.hub").info("incoming.webhook.success user=%s", "u-1")
        logging.getLogger("hull_customerio.customerio").debug("Customer.io attempt 1 failed")

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", "service-secret-of-32-bytes-at-least")

    assert main(["serve"]) == 0

    err = capsys.readouterr().err
    assert " INFO hull_customerio.hub: incoming.webhook.success user=u-1\n" in err
    assert "attempt 1 failed" not in err  # INFO and above only
    assert (library.handlers, library.level) == (handlers, level)
