"""The app under a real uvicorn server with the fakes (SPEC §8.3–§8.5): two tenants."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Tenant, hub_options
from uvicorn_support import serve

import hull_customerio as hc
from hull_customerio.server import create_app

WEBHOOK = {
    "metric": "sent", "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ", "object_type": "email",
    "timestamp": 1613063089,
    "data": {"action_id": 42, "customer_id": "0200000001", "delivery_id": "RPILAgUBcRhIBqSf",
             "identifiers": {"id": "42", "email": "test@example.com"},
             "recipient": "test@example.com"},
}  # fmt: skip


@pytest.fixture
def app_url(tenants: dict[str, Tenant]) -> Iterator[str]:
    hub = hc.AsyncConnectorHub(token_key="service-token-key", mode="batch", **hub_options(tenants))
    with serve(create_app(hub, batch_hosts=["127.0.0.1"])) as url:
        yield url


def _signed_headers(body: bytes, key: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "content-type": "application/json",
        "x-cio-timestamp": timestamp,
        "x-cio-signature": hc.sign_webhook(body, timestamp=timestamp, signing_key=key),
    }


def _webhook_url(app_url: str, tenant: Tenant) -> str:
    hub = hc.AsyncConnectorHub(token_key="service-token-key")
    return hub.webhook_url(
        app_url,
        organization=tenant.hull.organization,
        connector_id=tenant.hull.id,
        secret=tenant.hull.secret,
    )


def test_webhook_urls_bring_each_tenants_webhook_to_its_own_organization(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    body = json.dumps(WEBHOOK).encode()
    answer = httpx.post(
        _webhook_url(app_url, alpha), content=body, headers=_signed_headers(body, alpha.signing_key)
    )
    assert answer.status_code == 200, answer.text
    assert [t.event for t in alpha.hull.tracks] == ["Email Sent"]
    assert beta.hull.tracks == []
    assert beta.hull.requests == []


def test_a_webhook_signed_with_the_other_tenants_key_is_refused(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    body = json.dumps(WEBHOOK).encode()
    answer = httpx.post(
        _webhook_url(app_url, alpha), content=body, headers=_signed_headers(body, beta.signing_key)
    )
    assert answer.status_code == 401
    assert alpha.hull.tracks == [] and beta.hull.tracks == []


@pytest.mark.parametrize("mangle", ["missing", "tampered", "foreign"])
def test_a_webhook_with_a_missing_tampered_or_foreign_token_is_refused_and_nothing_is_forwarded(
    app_url: str, tenants: dict[str, Tenant], mangle: str
) -> None:
    alpha = tenants["alpha"]
    url = _webhook_url(app_url, alpha)
    if mangle == "missing":
        url = url.split("?", 1)[0]
    elif mangle == "tampered":
        last = url[-2]
        url = url[:-2] + ("A" if last != "A" else "B") + url[-1]
    else:
        foreign = hc.AsyncConnectorHub(token_key="someone-elses-key")
        url = foreign.webhook_url(
            app_url,
            organization=alpha.hull.organization,
            connector_id=alpha.hull.id,
            secret=alpha.hull.secret,
        )
    body = json.dumps(WEBHOOK).encode()
    answer = httpx.post(url, content=body, headers=_signed_headers(body, alpha.signing_key))
    assert answer.status_code == 401
    assert answer.json()["reason"] == "invalid_token"
    assert alpha.hull.requests == []


def _user(number: int, segment: str = "seg_paying") -> dict[str, Any]:
    return {
        "user": {"id": f"u{number:06d}", "external_id": f"ext-{number}",
                 "email": f"user{number}@example.com", "traits_plan": "pro"},
        "segments": [{"id": segment, "name": "Paying customers"}],
        "account": {},
        "events": [],
    }  # fmt: skip


def test_a_batch_file_is_streamed_to_the_workspace_its_connectors_settings_name(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    answer = alpha.hull.send_batch(app_url, [_user(n) for n in range(3)])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"users": 3, "succeeded": 3, "skipped": 0, "failed": 0}
    assert sorted(alpha.customerio.people) == ["ext-0", "ext-1", "ext-2"]
    assert beta.customerio.people == {}
    assert alpha.hull.traits_for(external_id="ext-1")["customerio/id"] == "ext-1"


def test_twenty_thousand_users_of_a_batch_file_are_streamed_in_chunks(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    answer = alpha.hull.send_batch(app_url, (_user(n) for n in range(20_000)))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"users": 20_000, "succeeded": 20_000, "skipped": 0, "failed": 0}
    assert len(alpha.customerio.people) == 20_000
    # Sent chunk by chunk while the file streamed in, not as one request.
    batches = [r for r in alpha.customerio.requests if r.path == "/api/v2/batch"]
    assert len(batches) >= 40


def test_a_batch_with_the_wrong_secret_is_refused_and_nothing_is_sent(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    query = {"organization": alpha.hull.organization, "id": alpha.hull.id, "secret": "wrong"}
    answer = alpha.hull.send_batch(app_url, [_user(1)], query=query)
    assert answer.status_code == 401
    assert alpha.customerio.requests == []


def test_status_is_published_to_each_connectors_own_organization(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    query = {"organization": beta.hull.organization, "id": beta.hull.id,
             "secret": beta.hull.secret}  # fmt: skip
    answer = httpx.get(f"{app_url}/status", params=query)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ok", "messages": []}
    assert [s.status for s in beta.hull.statuses] == ["ok"]
    assert alpha.hull.statuses == []
