"""Issue 22, SPEC §9 and §8.7: a shared rate limiter whose Redis is down, seen by the engine.

A real redis-server (with a password) is started, used once, then stopped. A connector whose
Customer.io client holds that limiter then syncs a notification: nothing may reach Customer.io,
every user must say that the shared rate limiter could not be reached (not that Customer.io
refused the person), none may be written back to Hull as synced, the notification must be
answered ``retry``, and no log line may show the Redis password. Both connectors, both modes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from scaleout_support import RedisServer

import hull_customerio as hc
from builders import raw_message, user
from hull_customerio.customerio import Identify, Track
from hull_customerio.engine import _core
from hull_customerio.redis_limiter import RedisRateLimiter
from hull_customerio.testing import FakeCustomerIO, FakeHull

PASSWORD = "s3cret-Redis-pw"
USERS = 5
SETTINGS = hc.Settings(
    site_id="site", api_key="key", synchronized_segments=["seg_1"], events_filter=["Signed up"]
)
RETRY_POLICY = hc.RetryPolicy(max_attempts=3, initial_backoff=0.005, max_backoff=0.01, jitter=0)
EVENT = {"event": "Signed up", "event_id": "ev-1", "created_at": "2024-01-02T03:04:05Z",
         "properties": {}, "context": {}}  # fmt: skip


@pytest.fixture
def stopped_redis_url() -> Iterator[str]:
    """The URL of a password-protected redis-server that answered once and is now stopped."""
    server = RedisServer()
    server.start()
    try:
        admin = redis.Redis(port=server.port)
        admin.config_set("requirepass", PASSWORD)
        admin.close()
        url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
        working = RedisRateLimiter(url, key="warm", rate=10)
        working.acquire()  # the URL and its password work while the server runs
        working.close()
        server.stop()
        yield url
    finally:
        server.close()


@pytest.fixture
def hull() -> Iterator[FakeHull]:
    with FakeHull(id="5c8a1f2e3b4d5e6f7a8b9c0d", secret="connector-secret",
                  organization="acme.hullapp.io") as fake:  # fmt: skip
        yield fake


def notification(hull: FakeHull) -> hc.Notification:
    messages = [
        raw_message(
            user(id=f"hull-{n}", email=f"u{n}@example.com", external_id=f"c-{n}"),
            events=[EVENT] if n % 2 == 0 else [],
        )
        for n in range(USERS)
    ]
    return hc.parse_notification({
        "notification_id": "n-1",
        "configuration": {"id": hull.id, "organization": hull.organization, "secret": hull.secret},
        "connector": {"id": hull.id, "private_settings": {
            "site_id": "site", "api_key": "key", "synchronized_segments": ["seg_1"],
            "events_filter": ["Signed up"]}},
        "channel": "user:update",
        "segments": [{"id": "seg_1", "name": "Customers"}],
        "messages": messages,
    })  # fmt: skip


def sync_with(
    flavour: str, mode: str, limiter: RedisRateLimiter, fake: FakeCustomerIO, hull: FakeHull
) -> hc.SyncReport:
    options: dict[str, Any] = {"base_url": fake.url, "rate_limit": limiter, "retry": RETRY_POLICY}
    hull_options: dict[str, Any] = {"api_url": hull.url, "firehose_url": hull.url}
    parsed = notification(hull)
    if flavour == "sync":
        with (
            hc.CustomerIOClient("site", "key", **options) as cio,
            hc.HullClient(hull.id, hull.secret, hull.organization, **hull_options) as hull_api,
        ):
            connector = hc.Connector(SETTINGS, customerio=cio, hull=hull_api, mode=mode)
            return connector.sync_notification(parsed)

    async def run() -> hc.SyncReport:
        async with hc.AsyncCustomerIOClient("site", "key", **options) as cio:
            hull_api = hc.AsyncHullClient(hull.id, hull.secret, hull.organization, **hull_options)
            try:
                connector = hc.AsyncConnector(SETTINGS, customerio=cio, hull=hull_api, mode=mode)
                return await connector.sync_notification(parsed)
            finally:
                await hull_api.close()
                await limiter.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["v1", "batch"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_users_not_sent_because_redis_is_down_say_so_and_are_not_written_back(
    flavour: str, mode: str, stopped_redis_url: str, hull: FakeHull,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    limiter = RedisRateLimiter(stopped_redis_url, key="cio:site", rate=50, socket_timeout=0.5)
    with FakeCustomerIO(site_id="site", api_key="key") as fake:
        with caplog.at_level(logging.DEBUG):
            report = sync_with(flavour, mode, limiter, fake, hull)
        assert fake.requests == []  # nothing reached Customer.io
    limiter.close()

    assert len(report.outcomes) == USERS
    for outcome in report.outcomes:
        assert (outcome.status, outcome.reason) == ("error", "rate_limiter_unavailable")
        assert "shared rate limiter (Redis) could not be reached" in outcome.message
        assert "nothing was sent to Customer.io" in outcome.message
        assert "did not accept" not in f"{outcome.message} {outcome.error}"
        assert isinstance(outcome.exception, hc.RateLimiterUnavailableError)
        assert outcome.events_sent == []
        assert all(why == "rate_limiter_unavailable" for _, why in outcome.events_skipped)
        assert PASSWORD not in f"{outcome.message} {outcome.error} {outcome.exception!r}"
    # Their events are accounted for, not silently dropped.
    assert sum(len(o.events_skipped) for o in report.outcomes) == (USERS + 1) // 2
    # Hull is not told they were synced; Hull sends the notification again.
    assert hull.traits == {}
    assert _core.flow_control_for(report) == dict(hc.flow_control_retry())
    # The log says why, and never shows the password.
    logged = [record for record in caplog.records if record.name.startswith("hull_customerio")]
    user_errors = [r for r in logged if getattr(r, "hull_event", "") == "outgoing.user.error"]
    assert len(user_errors) == USERS
    assert all("reason=rate_limiter_unavailable" in r.getMessage() for r in user_errors)
    for record in caplog.records:
        shown = record.getMessage() + repr(vars(record))
        assert PASSWORD not in shown


def test_a_limiter_failing_after_the_person_was_sent_still_writes_the_person_back() -> None:
    # The identify went out; Redis then failed before the event: the event is reported not
    # sent for that reason, and the person (which Customer.io has) is written back to Hull.
    message = hc.UserUpdateMessage.from_dict(
        raw_message(user(id="hull-0", email="u0@example.com", external_id="c-0"), events=[EVENT])
    )
    plan = hc.plan_user_update(message, SETTINGS)
    error = hc.RateLimiterUnavailableError(
        "The shared rate limiter could not reach Redis", service="customerio",
        method="ACQUIRE", url="redis://***@127.0.0.1:1/0",
    )  # fmt: skip
    steps = _core.user_calls(plan)
    assert [type(call) for call in next(steps)] == [Identify]
    assert [type(call) for call in steps.send([None])] == [Track]
    with pytest.raises(StopIteration) as stop:
        steps.send([error])
    execution: _core.Execution = stop.value.value
    assert execution.failure == "rate_limiter_unavailable"
    assert execution.events_skipped == [("Signed up", "rate_limiter_unavailable")]
    assert _core.writes_back(execution)
    assert execution.outcome().reason == "rate_limiter_unavailable"
