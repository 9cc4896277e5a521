"""The app under a real uvicorn server with the fakes (SPEC §8.3-§8.5): two tenants."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from server_support import PUBLIC_KEY, Tenant, hub_options, notification, user_message
from uvicorn_support import serve

import hull_customerio as hc
from hull_customerio.server import create_app
from hull_customerio.testing import FakeHull

WEBHOOK = {
    "metric": "sent", "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ", "object_type": "email",
    "timestamp": 1613063089,
    "data": {"action_id": 42, "customer_id": "0200000001", "delivery_id": "RPILAgUBcRhIBqSf",
             "identifiers": {"id": "42", "email": "test@example.com"},
             "recipient": "test@example.com"},
}  # fmt: skip


@pytest.fixture
def app_url(tenants: dict[str, Tenant]) -> Iterator[str]:
    hub = hc.AsyncConnectorHub(
        token_key="service-token-key-of-32-bytes-at-least",
        mode="batch",
        notification_public_key=PUBLIC_KEY,
        **hub_options(tenants),
    )
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
    hub = hc.AsyncConnectorHub(token_key="service-token-key-of-32-bytes-at-least")
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
    assert alpha.hull.tracks == []
    assert beta.hull.tracks == []


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
        foreign = hc.AsyncConnectorHub(token_key="someone-elses-token-key-of-32-bytes-or-more")
        url = foreign.webhook_url(
            app_url,
            organization=alpha.hull.organization,
            connector_id=alpha.hull.id,
            secret=alpha.hull.secret,
        )
    body = json.dumps(WEBHOOK).encode()
    answer = httpx.post(url, content=body, headers=_signed_headers(body, alpha.signing_key))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_token"
    assert alpha.hull.requests == []


_user = user_message


def _send(
    app_url: str, tenant: Tenant, payload: dict[str, Any], *, signed: bool = True
) -> httpx.Response:
    return tenant.hull.send_notification(app_url, payload, sign=signed, timeout=60)


def test_two_tenants_notifications_each_reach_only_their_own_workspace_and_organization(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    first = _send(app_url, alpha, notification(alpha, [_user(1), _user(2)]))
    second = _send(app_url, beta, notification(beta, [_user(3)]))
    assert first.status_code == 200, first.text
    assert first.json() == {"flow_control": {"type": "next"}}
    assert second.json() == {"flow_control": {"type": "next"}}
    assert sorted(alpha.customerio.people) == ["ext-1", "ext-2"]
    assert sorted(beta.customerio.people) == ["ext-3"]
    assert alpha.hull.traits_for(external_id="ext-1")["customerio/id"] == "ext-1"
    assert alpha.hull.user(external_id="ext-3") is None
    assert beta.hull.user(external_id="ext-1") is None


def test_concurrent_notifications_of_two_tenants_stay_apart(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    jobs = [(alpha, range(0, 40, 2)), (beta, range(1, 40, 2))] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(
                lambda job: _send(app_url, job[0], notification(job[0], list(map(_user, job[1])))),
                jobs,
            )
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(alpha.customerio.people) == sorted(f"ext-{n}" for n in range(0, 40, 2))
    assert sorted(beta.customerio.people) == sorted(f"ext-{n}" for n in range(1, 40, 2))


def test_an_unsigned_notification_is_refused_by_default_and_nothing_is_sent(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    answer = _send(app_url, alpha, notification(alpha, [_user(1)]), signed=False)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_signature"
    assert alpha.customerio.requests == []
    assert alpha.hull.requests == []


def test_a_notification_signed_with_another_key_is_refused(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    payload = notification(alpha, [_user(1)])
    forger = FakeHull()  # a key pair of its own
    answer = alpha.hull.send_notification(app_url, forger.sign_payload(payload))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "bad_signature"
    assert alpha.customerio.requests == []


def test_an_account_update_puts_the_object_in_its_own_tenants_workspace_only(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    payload = notification(
        alpha,
        [{"account": {"id": "acc-1", "external_id": "acme", "name": "Acme"},
          "account_segments": [{"id": "aseg", "name": "Customers"}]}],
        channel="account:update",
    )  # fmt: skip
    payload["connector"]["private_settings"]["synchronized_account_segments"] = ["aseg"]
    answer = _send(app_url, alpha, payload)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"flow_control": {"type": "next"}}
    assert alpha.customerio.objects == {
        ("1", "acme"): {"name": "Acme", "hull_segments": ["Customers"]}
    }
    assert alpha.hull.account_traits("acc-1")["customerio/object_id"] == "acme"
    assert beta.customerio.objects == {}
    assert beta.customerio.requests == []


def test_an_account_update_without_synchronized_account_segments_sends_nothing(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    payload = notification(alpha, [{"account": {"id": "acc-1"}}], channel="account:update")
    answer = _send(app_url, alpha, payload)
    assert answer.status_code == 200
    assert answer.json() == {"flow_control": {"type": "next"}}
    assert alpha.customerio.requests == []


def test_a_notification_whose_settings_name_no_workspace_is_answered_next_without_sending(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    payload = notification(alpha, [_user(1)])
    payload["connector"]["private_settings"] = {"synchronized_segments": ["seg_paying"]}
    answer = _send(app_url, alpha, payload)
    assert answer.status_code == 200
    assert answer.json() == {"flow_control": {"type": "next"}}
    assert alpha.customerio.requests == []
    assert alpha.hull.requests == []


def test_an_unsigned_unparseable_notification_is_refused_before_it_is_parsed(
    app_url: str,
) -> None:
    # The hub requires Hull's signature, and checks it before reading the body: an unsigned
    # body is refused as such, whatever it holds.
    answer = httpx.post(f"{app_url}/smart-notifier", content=b"{not json")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_signature"


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


def _unchanged(number: int, settings: hc.Settings) -> dict[str, Any]:
    """A user Customer.io already has as it is: the batch rules skip it (``no_changes``)."""
    record = _user(number)
    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(record), settings, batch=True)
    record["user"]["traits_customerio/created_at"] = "2024-01-01T00:00:00Z"
    record["user"]["traits_customerio/hash"] = plan.hash
    return record


def test_twenty_thousand_users_of_a_batch_file_are_streamed_in_chunks(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    settings = hc.Settings.from_private_settings(alpha.hull.private_settings)
    # One user in 100 is new; the others are unchanged, so the 20,000 lines are all read and
    # planned while only the new ones are sent (keeps this test fast; the benchmark sends all).
    records = [_user(n) if n % 100 == 0 else _unchanged(n, settings) for n in range(20_000)]
    answer = alpha.hull.send_batch(app_url, records)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"users": 20_000, "succeeded": 200, "skipped": 19_800, "failed": 0}
    assert sorted(alpha.customerio.people) == sorted(f"ext-{n}" for n in range(0, 20_000, 100))
    # Sent chunk by chunk (500 users each) while the file streamed in, not as one request.
    batches = [r for r in alpha.customerio.requests if r.path == "/api/v2/batch"]
    assert len(batches) == 40
    assert all(len(r.json["batch"]) == 5 for r in batches)


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


# Operating the service (SPEC §8.8): health, manifest, credentials, over the real server.


def test_health_answers_without_credentials_or_any_outbound_call(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    answer = httpx.get(f"{app_url}/health")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    for tenant in tenants.values():
        assert tenant.hull.requests == []
        assert tenant.customerio.requests == []


def test_the_manifest_is_served_as_json_with_the_apps_endpoints(app_url: str) -> None:
    from hull_customerio.manifest import build_manifest  # noqa: PLC0415

    answer = httpx.get(f"{app_url}/manifest.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    manifest = answer.json()
    assert manifest == build_manifest()
    assert manifest["subscriptions"][0]["url"] == "/smart-notifier"
    assert manifest["status"]["url"] == "/status"


def test_credentials_give_the_connectors_own_webhook_url_which_brings_its_webhooks_home(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    query = {"organization": alpha.hull.organization, "id": alpha.hull.id,
             "secret": alpha.hull.secret}  # fmt: skip
    answer = httpx.get(f"{app_url}/credentials", params=query)
    assert answer.status_code == 200
    url = answer.json()["url"]
    assert url.startswith(f"{app_url}/webhook?token=")
    body = json.dumps(WEBHOOK).encode()
    delivered = httpx.post(url, content=body, headers=_signed_headers(body, alpha.signing_key))
    assert delivered.status_code == 200
    assert tenants["beta"].hull.tracks == []
    assert len(alpha.hull.tracks) == 1


def test_credentials_that_hull_refuses_get_401_and_no_url(
    app_url: str, tenants: dict[str, Tenant]
) -> None:
    alpha = tenants["alpha"]
    query = {"organization": alpha.hull.organization, "id": alpha.hull.id, "secret": "wrong"}
    answer = httpx.post(f"{app_url}/credentials", params=query)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "wrong_connector"
    assert "url" not in answer.json()


def test_a_single_connectors_credentials_name_its_webhook_under_the_public_url(
    tenants: dict[str, Tenant],
) -> None:
    alpha = tenants["alpha"].hull
    connector = hc.AsyncConnector(
        hc.Settings(site_id="site-alpha", api_key="key-alpha"),
        customerio=hc.AsyncCustomerIOClient("site-alpha", "key-alpha"),
        hull=hc.AsyncHullClient(alpha.id, alpha.secret, alpha.organization, api_url=alpha.url),
    )
    app = create_app(connector, public_url="https://connector.example.com/hull/")
    with serve(app) as url:
        query = {"organization": alpha.organization, "id": alpha.id}
        good = httpx.get(f"{url}/credentials", params={**query, "secret": alpha.secret})
        bad = httpx.get(f"{url}/credentials", params={**query, "secret": "nope"})
    assert (good.status_code, good.json()) == (
        200, {"url": "https://connector.example.com/hull/webhook"})  # fmt: skip
    assert bad.status_code == 401
