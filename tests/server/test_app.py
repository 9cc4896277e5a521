"""The ASGI app's routes (SPEC §8.5), fast: httpx.ASGITransport over in-process fakes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import hull_customerio as hc
from hull_customerio.server import create_app
from hull_customerio.testing import FakeCustomerIO, FakeHull

SETTINGS = {"site_id": "site", "api_key": "key", "synchronized_segments": ["seg"],
            "webhook_signing_key": "sign"}  # fmt: skip
MESSAGE = {"user": {"id": "u1", "external_id": "e1", "email": "a@x.io"},
           "segments": [{"id": "seg", "name": "S"}]}  # fmt: skip


@pytest.fixture
def fakes() -> tuple[FakeHull, FakeCustomerIO]:
    return FakeHull(private_settings=SETTINGS), FakeCustomerIO(site_id="site", api_key="key")


class AppClient:
    """Calls an ASGI app through ``httpx.ASGITransport`` (in process), as plain sync calls.

    (Starlette's ``TestClient`` warns about httpx since Starlette 1.0.)
    """

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://app"
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._http.aclose())
        self._loop.close()


@pytest.fixture
def client(fakes: tuple[FakeHull, FakeCustomerIO]) -> Iterator[AppClient]:
    """The app over one AsyncConnector (its own settings and clients)."""
    test_client = AppClient(create_app(_connector(fakes)))
    yield test_client
    test_client.close()


def _connector(fakes: tuple[FakeHull, FakeCustomerIO]) -> hc.AsyncConnector:
    hull, customerio = fakes
    return hc.AsyncConnector(
        hc.Settings.from_private_settings(SETTINGS),
        customerio=hc.AsyncCustomerIOClient(
            "site", "key", http_client=httpx.AsyncClient(transport=customerio.transport())
        ),
        hull=hc.AsyncHullClient(
            hull.id, hull.secret, hull.organization, api_url="https://acme42.hullapp.io",
            http_client=httpx.AsyncClient(transport=hull.transport()),
        ),
        notification_public_key=hull.notification_public_key,
    )  # fmt: skip


def _query(hull: FakeHull, **changes: str) -> dict[str, str]:
    return {"organization": hull.organization, "id": hull.id, "secret": hull.secret, **changes}


def test_smart_notifier_answers_the_flow_control(
    client: AppClient, fakes: tuple[FakeHull, FakeCustomerIO]
) -> None:
    hull, customerio = fakes
    signed = hull.signed_notification([MESSAGE])
    answer = client.post("/smart-notifier", content=signed.body, headers=signed.headers)
    assert answer.status_code == 200
    assert answer.json() == {"flow_control": {"type": "next"}}
    assert list(customerio.people) == ["e1"]


def test_smart_notifier_refuses_another_connectors_notification_with_401(
    client: AppClient, fakes: tuple[FakeHull, FakeCustomerIO]
) -> None:
    _, customerio = fakes
    stranger = FakeHull(id="f" * 24, secret="other", private_settings=SETTINGS)
    signed = stranger.signed_notification([MESSAGE])
    answer = client.post("/smart-notifier", content=signed.body, headers=signed.headers)
    assert answer.status_code == 401
    # The stranger signs with a key of its own: the signature, checked before the body is
    # even parsed, is what refuses it.
    assert answer.json()["error"]["code"] == "bad_signature"
    assert customerio.requests == []


@pytest.mark.parametrize("body", [b"", b"nope", b"[1]", b"[" * 20_000])
def test_smart_notifier_answers_400_to_an_unreadable_body(client: AppClient, body: bytes) -> None:
    answer = client.post("/smart-notifier", content=body)
    assert answer.status_code == 400


def test_an_account_update_is_answered_next(
    client: AppClient, fakes: tuple[FakeHull, FakeCustomerIO]
) -> None:
    hull, customerio = fakes
    signed = hull.signed_notification([{"account": {"id": "a"}}], channel="account:update")
    answer = client.post("/smart-notifier", content=signed.body, headers=signed.headers)
    assert (answer.status_code, answer.json()) == (200, {"flow_control": {"type": "next"}})
    assert customerio.requests == []


def test_webhook_goes_to_the_connector(
    client: AppClient, fakes: tuple[FakeHull, FakeCustomerIO]
) -> None:
    hull, _ = fakes
    text = json.dumps({"metric": "sent", "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
                       "object_type": "email", "timestamp": 1613063089,
                       "data": {"identifiers": {"id": "42"}, "delivery_id": "d"}})  # fmt: skip
    body = text.encode()
    stamp = str(int(time.time()))
    signature = hc.sign_webhook(body, timestamp=stamp, signing_key="sign")
    headers = {"x-cio-timestamp": stamp, "x-cio-signature": signature}
    answer = client.post("/webhook", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert len(hull.tracks) == 1
    bad = client.post("/webhook", content=body, headers={**headers, "x-cio-signature": "0" * 64})
    assert bad.status_code == 401


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_status_publishes_to_hull(
    client: AppClient, fakes: tuple[FakeHull, FakeCustomerIO], method: str
) -> None:
    hull, _ = fakes
    answer = client.request(method, "/status", params=_query(hull))
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "messages": []}
    assert [s.status for s in hull.statuses] == ["ok"]


@pytest.mark.parametrize("query", [{}, {"secret": "wrong"}, {"id": "0" * 24}])
def test_status_and_batch_refuse_missing_or_wrong_credentials(
    client: AppClient, fakes: tuple[FakeHull, FakeCustomerIO], query: dict[str, str]
) -> None:
    hull, customerio = fakes
    params = _query(hull, **query) if query else {}
    assert client.get("/status", params=params).status_code == 401
    body = {"url": "https://files.example.com/x.json"}
    assert client.post("/batch", params=params, json=body).status_code == 401
    assert hull.statuses == []
    assert customerio.requests == []


def test_batch_refuses_a_url_the_app_does_not_allow(
    client: AppClient, fakes: tuple[FakeHull, FakeCustomerIO]
) -> None:
    hull, _ = fakes
    body = {"url": "http://127.0.0.1:9/x.json", "format": "json", "object_type": "user_report"}
    answer = client.post("/batch", params=_query(hull), json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "batch_url_refused"


def test_wrong_methods_and_paths(client: AppClient) -> None:
    assert client.get("/smart-notifier").status_code == 405
    assert client.get("/webhook").status_code == 405
    assert client.get("/nowhere").status_code == 404


@pytest.mark.parametrize("path", ["/smart-notifier", "/batch", "/webhook"])
def test_a_body_over_the_limit_is_refused_with_413(
    fakes: tuple[FakeHull, FakeCustomerIO], path: str
) -> None:
    small = AppClient(create_app(_connector(fakes), max_body_bytes=10))
    try:
        at_limit = small.post(path, content=b"x" * 10)
        over = small.post(path, content=b"x" * 11)
        # Without a Content-Length (chunked), the bytes are counted as they arrive.

        async def chunks() -> Any:
            yield b"x" * 6
            yield b"x" * 5

        chunked = small.post(path, content=chunks())
    finally:
        small.close()
    assert at_limit.status_code != 413
    assert over.status_code == 413
    assert over.json() == {
        "error": {"code": "body_too_large", "message": "The request body is too large."}
    }
    assert chunked.status_code == 413


def test_the_hub_app_over_asgi_transport_refuses_a_webhook_without_a_token() -> None:
    hub = hc.AsyncConnectorHub(token_key="a-service-token-key-of-32-bytes-at-least")
    app: Any = create_app(hub)

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            return await http.post("/webhook", content=b"{}")

    answer = asyncio.run(scenario())
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_token"
    asyncio.run(hub.aclose())
