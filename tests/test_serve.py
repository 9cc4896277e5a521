"""`hull-customerio serve` (SPEC §8.5, §8.7 "Logs", §8.8): the hub's app under uvicorn,
configured from the environment, with no credential in any log line."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import hull_customerio as hc
from hull_customerio.cli import main
from hull_customerio.testing import FakeCustomerIO, FakeHull
from serve_support import TOKEN_KEY, Served, running_serve

HULL_SECRET = "hull-secret-Zq8vX2"
API_KEY = "cio-api-key-Pw41nR"
SIGNING_KEY = "cio-signing-key-Kt7Lm3"
PASSWORD = "password-value-Hy6Jd0"
SETTINGS = {
    "site_id": "site-serve",
    "api_key": API_KEY,
    "synchronized_segments": ["seg_paying"],
    "events_filter": ["Signed Up"],
    "webhook_signing_key": SIGNING_KEY,
}
WEBHOOK = {
    "metric": "sent", "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ", "object_type": "email",
    "timestamp": 1613063089,
    "data": {"action_id": 42, "customer_id": "0200000001", "delivery_id": "RPILAgUBcRhIBqSf",
             "identifiers": {"id": "42", "email": "test@example.com"},
             "recipient": "test@example.com"},
}  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("CUSTOMERIO_", "HULL_")):
            monkeypatch.delenv(name)


# --------------------------------------------------------------------------------------------
# in-process: arguments and configuration


def test_serve_needs_the_token_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "HULL_CUSTOMERIO_TOKEN_KEY" in err


def test_serve_refuses_a_weak_token_key_and_says_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", "short-secret")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "token_key must be at least 32 bytes" in err
    assert "secrets.token_urlsafe(32)" in err
    assert "short-secret" not in err


def test_serve_runs_the_hub_app_with_uvicorn_and_its_own_logging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        seen["app"], seen["options"] = app, options

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", TOKEN_KEY)
    code = main(["serve", "--port", "8123", "--batch-host", "files.example.com"])
    assert code == 0
    assert seen["options"] == {
        "host": "127.0.0.1",
        "port": 8123,
        "log_config": None,  # ours, with the masking filter, not uvicorn's
        "log_level": "info",
        "access_log": True,
        "timeout_graceful_shutdown": 30.0,  # a running batch cannot hold a shutdown forever
    }
    routes = {route.path for route in seen["app"].routes}
    assert routes == {"/smart-notifier", "/batch", "/webhook", "/status", "/credentials",
                      "/health", "/manifest.json"}  # fmt: skip


def test_no_access_log_turns_uvicorns_access_log_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", TOKEN_KEY)
    assert main(["serve", "--no-access-log", "--log-level", "warning",
                 "--graceful-timeout", "5"]) == 0  # fmt: skip
    assert (seen["access_log"], seen["log_level"]) == (False, "warning")
    assert seen["timeout_graceful_shutdown"] == 5.0


def test_serve_refuses_an_unreadable_public_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", TOKEN_KEY)
    assert main(["serve", "--public-key", "/nonexistent.pem"]) == 2
    assert "--public-key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CUSTOMERIO_RATE_LIMIT", "fast", "CUSTOMERIO_RATE_LIMIT"),
        ("HULL_CUSTOMERIO_REDIS_URL", f"http://:{PASSWORD}@redis.example", "REDIS_URL"),
        ("HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS", " , ", "TRUSTED_HULL_HOSTS"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", TOKEN_KEY)
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: pytest.fail("must not serve"))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert named in err
    assert PASSWORD not in err


def test_serve_builds_the_hub_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Any] = {}

    class RecordingHub(hc.AsyncConnectorHub):
        def __init__(self, **options: Any) -> None:
            built.update(options)
            super().__init__(**options)

    monkeypatch.setattr("hull_customerio.hub.AsyncConnectorHub", RecordingHub)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    for name, value in {
        "HULL_CUSTOMERIO_TOKEN_KEY": TOKEN_KEY,
        "CUSTOMERIO_BASE_URL": "http://127.0.0.1:9001",
        "CUSTOMERIO_RATE_LIMIT": "25",
        "HULL_API_URL": "http://127.0.0.1:9002",
        "HULL_FIREHOSE_URL": "http://127.0.0.1:9003",
        "HULL_CUSTOMERIO_TRUSTED_KEY_HOSTS": "keys.example.com, hullapp.io",
        "HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS": "hullapp.io,hullbeta.io",
    }.items():
        monkeypatch.setenv(name, value)

    assert main(["serve", "--mode", "batch", "--allow-unsigned"]) == 0

    assert built == {
        "token_key": TOKEN_KEY,
        "customerio_options": {"base_url": "http://127.0.0.1:9001", "rate_limit": 25.0},
        "hull_options": {
            "api_url": "http://127.0.0.1:9002",
            "firehose_url": "http://127.0.0.1:9003",
        },
        "trusted_key_hosts": ("keys.example.com", "hullapp.io"),
        "trusted_hull_hosts": ("hullapp.io", "hullbeta.io"),
        "notification_public_key": None,
        "require_signature": False,
        "mode": "batch",
    }


def test_public_url_is_given_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    given: dict[str, Any] = {}

    def create_app(hub: Any, **options: Any) -> str:
        given.update(options)
        return "app"

    monkeypatch.setattr("hull_customerio.server.create_app", create_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", TOKEN_KEY)
    assert main(["serve", "--public-url", "https://hooks.example.com/hull"]) == 0
    assert given == {"batch_hosts": None, "public_url": "https://hooks.example.com/hull"}


def test_the_hubs_import_without_starlette() -> None:
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
    server = logging.getLogger("uvicorn")
    server_state = (list(server.handlers), server.level, server.propagate)

    errors = logging.getLogger("uvicorn.error")
    errors_level = errors.level

    def run(app: Any, **options: Any) -> None:
        # uvicorn.run sets its own loggers' level from log_level (another test's uvicorn may
        # have left it at WARNING), then logs.
        errors.setLevel(options["log_level"].upper())
        logging.getLogger("hull_customerio.hub").info("incoming.webhook.success user=%s", "u-1")
        logging.getLogger("hull_customerio.customerio").debug("Customer.io attempt 1 failed")
        errors.info("Started server process")

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", TOKEN_KEY)

    try:
        assert main(["serve"]) == 0
    finally:
        errors.setLevel(errors_level)

    err = capsys.readouterr().err
    assert " INFO hull_customerio.hub: incoming.webhook.success user=u-1\n" in err
    assert " INFO uvicorn.error: Started server process\n" in err
    assert "attempt 1 failed" not in err  # INFO and above only
    assert (library.handlers, library.level) == (handlers, level)
    assert (server.handlers, server.level, server.propagate) == server_state


# --------------------------------------------------------------------------------------------
# a real `hull-customerio serve` process against the fakes


@pytest.fixture
def fakes() -> Iterator[tuple[FakeCustomerIO, FakeHull]]:
    with (
        FakeCustomerIO(site_id=SETTINGS["site_id"], api_key=API_KEY) as customerio,
        FakeHull(secret=HULL_SECRET, private_settings=SETTINGS) as hull,
    ):
        yield customerio, hull


@pytest.fixture
def start_serve(
    fakes: tuple[FakeCustomerIO, FakeHull], tmp_path: Path
) -> Iterator[Callable[..., Served]]:
    with contextlib.ExitStack() as stack:

        def start(*arguments: str) -> Served:
            return stack.enter_context(running_serve(tmp_path, *fakes, *arguments))

        yield start


def _signed_webhook(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "content-type": "application/json",
        "x-cio-timestamp": timestamp,
        "x-cio-signature": hc.sign_webhook(body, timestamp=timestamp, signing_key=SIGNING_KEY),
    }


def _user(number: int) -> dict[str, Any]:
    return {
        "user": {"id": f"u{number}", "external_id": f"ext-{number}",
                 "email": f"user{number}@example.com"},
        "segments": [{"id": "seg_paying", "name": "Paying customers"}],
        "events": [],
    }  # fmt: skip


def _exercise(served: Served, hull: FakeHull) -> str:
    """Every endpoint, credentials in the URL as Hull and Customer.io put them; the token."""
    credentials = {"organization": hull.organization, "id": hull.id, "secret": hull.secret}
    notification = hull.notification(
        [_user(1)], segments=[{"id": "seg_paying", "name": "Paying customers"}]
    )
    answer = hull.send_notification(served.url, notification)
    assert answer.status_code == 200, answer.text

    answer = httpx.get(f"{served.url}/status", params=credentials)
    assert answer.status_code == 200, answer.text

    webhook_url = hc.AsyncConnectorHub(token_key=TOKEN_KEY).webhook_url(
        served.url, organization=hull.organization, connector_id=hull.id, secret=hull.secret
    )
    body = json.dumps(WEBHOOK).encode()
    answer = httpx.post(webhook_url, content=body, headers=_signed_webhook(body))
    assert answer.status_code == 200, answer.text

    answer = hull.send_batch(served.url, [_user(2)])
    assert answer.status_code == 200, answer.text

    # The same names in every spelling a caller may use: case, repetition, percent-encoding.
    query = (
        f"organization={hull.organization}&id={hull.id}&SECRET={hull.secret}"
        f"&Secret={hull.secret}&%73ecret={hull.secret}&api%5Fkey={API_KEY}"
        f"&API_KEY={API_KEY}&password={PASSWORD}&Token={TOKEN_KEY}"
    )
    httpx.get(f"{served.url}/status?{query}")
    httpx.post(f"{served.url}/batch?{query}", json={})
    # A request uvicorn cannot parse: its error log must not show the line either.
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(f"GET /status?secret={hull.secret} HTTP/1.1\r\nbroken\r\n\r\n".encode())
        sock.settimeout(5)
        sock.recv(1024)
    return webhook_url.split("token=", 1)[1]


def test_serve_uses_the_fakes_named_in_the_environment_and_logs_no_credential(
    start_serve: Callable[..., Served], fakes: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, hull = fakes
    served = start_serve()

    token = _exercise(served, hull)
    logs = served.stop()

    # Everything reached the fakes: the environment pointed serve at them, not at real hosts.
    assert sorted(customerio.people) == ["ext-1", "ext-2"]
    assert hull.traits_for(external_id="ext-1")["customerio/id"] == "ext-1"
    # Twice: `%73ecret` is `secret` to the app too.
    assert [status.status for status in hull.statuses] == ["ok", "ok"]
    assert [track.event for track in hull.tracks] == ["Email Sent"]
    # The access log is on, and masked.
    access = [line for line in logs.splitlines() if " uvicorn.access: " in line]
    assert any("/status?" in line and "secret=***" in line for line in access), logs
    assert any("/webhook?token=*** " in line for line in access), logs
    assert any("&%73ecret=***&api%5Fkey=***&API_KEY=***&password=***" in line for line in access)
    for secret in (hull.secret, token, API_KEY, PASSWORD, TOKEN_KEY, SIGNING_KEY):
        assert secret not in logs
    assert "Traceback" not in logs


def test_json_log_format_writes_one_object_per_line_masked(
    start_serve: Callable[..., Served], fakes: tuple[FakeCustomerIO, FakeHull]
) -> None:
    _, hull = fakes
    served = start_serve("--log-format", "json")

    token = _exercise(served, hull)
    logs = served.stop()

    entries = [json.loads(line) for line in logs.splitlines() if line.strip()]
    loggers = {entry["logger"] for entry in entries}
    assert {"uvicorn.error", "uvicorn.access", "hull_customerio"} <= loggers
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(
        entry["logger"] == "uvicorn.access" and "/webhook?token=*** " in entry["message"]
        for entry in entries
    )
    for secret in (hull.secret, token, API_KEY, PASSWORD, TOKEN_KEY):
        assert secret not in logs


def test_public_url_makes_the_webhook_urls_the_service_shows(
    start_serve: Callable[..., Served], fakes: tuple[FakeCustomerIO, FakeHull]
) -> None:
    _, hull = fakes
    served = start_serve("--public-url", "https://hooks.example.com/hull")
    credentials = {"organization": hull.organization, "id": hull.id, "secret": hull.secret}

    health = httpx.get(f"{served.url}/health")
    shown = httpx.get(f"{served.url}/credentials", params=credentials)
    assert (health.status_code, shown.status_code) == (200, 200), shown.text
    url = shown.json()["url"]
    assert url.startswith("https://hooks.example.com/hull/webhook?token=")
    # The token is this service's: a webhook posted with it reaches the connector's Hull.
    body = json.dumps(WEBHOOK).encode()
    token = url.split("?", 1)[1]
    answer = httpx.post(
        f"{served.url}/webhook?{token}", content=body, headers=_signed_webhook(body)
    )
    logs = served.stop()

    assert answer.status_code == 200, answer.text
    assert [track.event for track in hull.tracks] == ["Email Sent"]
    assert "/credentials?organization=" in logs
    assert hull.secret not in logs
    assert token.split("=", 1)[1] not in logs


def test_trusted_hull_hosts_from_the_environment_decide_which_organizations_are_served(
    fakes: tuple[FakeCustomerIO, FakeHull], tmp_path: Path
) -> None:
    customerio, hull = fakes
    # Hull's URL not pinned: the service derives it from the organization, under these hosts
    # only. `.test` never resolves, so nothing here can reach a real host.
    environment = {"HULL_API_URL": "", "HULL_FIREHOSE_URL": "",
                   "HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS": "hull.test"}  # fmt: skip
    with running_serve(tmp_path, customerio, hull, environment=environment) as served:

        def status(organization: str) -> httpx.Response:
            query = {"organization": organization, "id": hull.id, "secret": hull.secret}
            return httpx.get(f"{served.url}/status", params=query, timeout=30)

        hull_domain = status("acme42.hullapp.io")  # Hull's own domain: not listed any more
        listed = status("acme.hull.test")
        logs = served.stop()

    assert hull_domain.status_code == 403, hull_domain.text
    assert hull_domain.json()["error"]["code"] == "untrusted_organization"
    assert listed.status_code != 403, listed.text  # tried (and failed to resolve), not refused
    assert "untrusted_organization" not in listed.text
    assert hull.requests == []
    assert hull.secret not in logs


def test_no_access_log_writes_no_request_line(
    start_serve: Callable[..., Served], fakes: tuple[FakeCustomerIO, FakeHull]
) -> None:
    _, hull = fakes
    served = start_serve("--no-access-log")

    answer = httpx.get(
        f"{served.url}/status",
        params={"organization": hull.organization, "id": hull.id, "secret": hull.secret},
    )
    logs = served.stop()

    assert answer.status_code == 200
    assert "Uvicorn running on" in logs  # the server's own log is still there
    assert "uvicorn.access" not in logs
    assert "/status" not in logs
