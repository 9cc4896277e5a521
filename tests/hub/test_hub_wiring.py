"""Issue #17 in the hubs: metrics given to everything they build, webhook-only tenants."""

from __future__ import annotations

from typing import Any

import pytest
from test_hub import WEBHOOK, Hubs, _org, _signed_webhook, _token_query

from hull_customerio.metrics import INCOMING_EVENTS, SERVICE_API_CALL, InMemoryMetrics
from hull_customerio.testing import FakeCustomerIO, FakeHull


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def setup(flavour: str) -> tuple[Hubs, FakeHull, FakeHull, FakeCustomerIO]:
    alpha, beta = _org("alpha", "site-1"), _org("beta", "site-1")
    workspace = FakeCustomerIO(site_id="site-1", api_key="key-site-1")
    return Hubs(flavour, [alpha, beta], [workspace]), alpha, beta, workspace


def test_a_webhook_of_a_connector_without_customerio_credentials_is_forwarded(
    flavour: str,
) -> None:
    alpha = _org("alpha", "site-1", site_id="", api_key="")
    hubs = Hubs(flavour, [alpha], [])
    hub = hubs.hub()

    outcome = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), _token_query(hub, alpha))

    assert (outcome.http_status, outcome.reason) == (200, None)
    assert [track.event for track in alpha.tracks] == [outcome.event.event]
    hubs.close(hub)


def test_a_webhook_only_tenant_still_checks_the_webhook_signature(flavour: str) -> None:
    alpha = _org("alpha", "site-1", site_id="", api_key="")
    hubs = Hubs(flavour, [alpha], [])
    hub = hubs.hub()

    outcome = hubs.call(
        hub.answer_webhook, WEBHOOK, _signed_webhook("forged"), _token_query(hub, alpha)
    )

    assert outcome.http_status == 401
    assert alpha.tracks == []
    hubs.close(hub)


def test_the_hubs_metrics_reach_its_clients_and_connectors(setup: Any) -> None:
    hubs, alpha, _, workspace = setup
    metrics = InMemoryMetrics()
    hub = hubs.hub(metrics=metrics)
    query = _token_query(hub, alpha)

    forwarded = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), query)
    refused = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), {"token": "nope"})

    assert (forwarded.http_status, refused.http_status) == (200, 401)
    assert metrics.count(INCOMING_EVENTS) == 2
    assert metrics.count(INCOMING_EVENTS, status="200", reason="forwarded") == 1
    assert metrics.count(INCOMING_EVENTS, status="401", reason="invalid_token") == 1
    # The Hull client the hub built counted its settings read and its firehose post.
    assert metrics.count(SERVICE_API_CALL, service="hull", endpoint="/api/v1/app") == 1
    assert metrics.count(SERVICE_API_CALL, service="hull", endpoint="firehose") == len(
        [r for r in alpha.requests if r.path != "/api/v1/app"]
    )
    assert metrics.count(SERVICE_API_CALL, service="customerio") == len(workspace.requests)
    hubs.close(hub)


def test_the_hub_counts_a_webhook_whose_settings_cannot_be_read(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    metrics = InMemoryMetrics()
    hub = hubs.hub(metrics=metrics)
    query = _token_query(hub, alpha)
    alpha.secret = "rotated-secret"

    outcome = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), query)

    assert (outcome.http_status, outcome.reason) == (503, "hull_credentials_refused")
    assert metrics.count(INCOMING_EVENTS) == 1
    assert metrics.count(INCOMING_EVENTS, status="503", reason="hull_credentials_refused") == 1
    app_reads = metrics.count(SERVICE_API_CALL, service="hull", endpoint="/api/v1/app")
    assert app_reads == metrics.count(SERVICE_API_CALL, service="hull", status="401") == 1
    hubs.close(hub)


def test_client_options_naming_their_own_metrics_win_over_the_hubs(flavour: str) -> None:
    alpha = _org("alpha", "site-1")
    workspace = FakeCustomerIO(site_id="site-1", api_key="key-site-1")
    hubs = Hubs(flavour, [alpha], [workspace])
    hub_metrics, hull_metrics = InMemoryMetrics(), InMemoryMetrics()

    def hull_options(organization: str) -> dict[str, Any]:
        return {"api_url": f"https://{organization}", "http_client": hubs._client(alpha),
                "sleep": hubs._no_wait(), "metrics": hull_metrics}  # fmt: skip

    hub = hubs.hub(metrics=hub_metrics, hull_options=hull_options)

    hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), _token_query(hub, alpha))

    assert hull_metrics.count(SERVICE_API_CALL, service="hull") >= 2  # settings read + post
    assert hub_metrics.count(SERVICE_API_CALL, service="hull") == 0
    assert hub_metrics.count(INCOMING_EVENTS) == 1
    hubs.close(hub)
