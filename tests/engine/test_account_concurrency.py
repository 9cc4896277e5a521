"""SPEC §7.1 and §11: one connector shared by many threads or tasks syncing accounts while Hull
fails at random (the loopback fakes). Every account reported ``success`` has its write-back at
Hull; every write-back failure reported to a call is one of its own accounts, and is not at
Hull. The users' twin of these scenarios is ``tests/e2e/test_concurrency.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from accounts_support import AccountHull, AsyncAccountHull, Planner, account_message

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

SETTINGS = hc.Settings(site_id="site-123", api_key="key-456")
FAST = hc.RetryPolicy(max_attempts=4, initial_backoff=0.005, max_backoff=0.02, max_elapsed=5)
# Two tries per firehose batch: with 70 % of the requests failing, about half the batches fail
# for good, so every run has failures to report (and deliveries to check).
HULL_RETRY = hc.RetryPolicy(max_attempts=2, initial_backoff=0.005, max_backoff=0.01, max_elapsed=5)
CALLS = 10
ACCOUNTS_PER_CALL = 6


@pytest.fixture
def planner(monkeypatch: pytest.MonkeyPatch) -> Planner:
    return Planner(monkeypatch)


@pytest.fixture
def customerio() -> Iterator[FakeCustomerIO]:
    with FakeCustomerIO(site_id="site-123", api_key="key-456") as fake:
        yield fake


@pytest.fixture
def hull() -> Iterator[FakeHull]:
    with FakeHull(id="5c8a1f2e3b4d5e6f7a8b9c0d", secret="connector-secret-for-tests",
                  organization="acme42.hullapp.io") as fake:  # fmt: skip
        fake.fail_randomly(0.7, 503, seed=21)
        fake.fail_randomly(0.08, 400, seed=22)
        yield fake


def hull_options(fake: FakeHull) -> dict[str, Any]:
    return {"api_url": fake.url, "firehose_url": fake.url, "retry": HULL_RETRY,
            "flush_at": 4, "max_in_flight": 3}  # fmt: skip


def messages(call: int) -> list[dict[str, Any]]:
    return [account_message(f"acc-{call}-{n}", f"obj-{call}-{n}") for n in range(ACCOUNTS_PER_CALL)]


def at_hull(hull: FakeHull, object_id: str) -> bool:
    found = hull.account(external_id=object_id)
    return found is not None and found.traits.get("customerio/object_id") == object_id


def assert_reports_tell_the_truth(hull: FakeHull, reports: dict[int, hc.SyncReport]) -> None:
    succeeded = failed = 0
    for call, report in reports.items():
        mine = {f"obj-{call}-{n}" for n in range(ACCOUNTS_PER_CALL)}
        assert {o.object_id for o in report.account_outcomes} == mine
        for outcome in report.account_outcomes:
            assert outcome.object_id is not None
            if outcome.status == "success":
                succeeded += 1
                assert at_hull(hull, outcome.object_id), outcome
                continue
            failed += 1
            assert outcome.reason in {"writeback_failed", "writeback_rejected"}, outcome
            assert not at_hull(hull, outcome.object_id), outcome
            error = outcome.exception
            assert isinstance(error, hc.DeliveryError)
            # Only this account's own write-back is named: never another call's message.
            named = [m["body"]["customerio/object_id"] for m in error.undelivered]
            assert named == [outcome.object_id]
    assert min(succeeded, failed) > 0  # the faults did bite, and not always
    # Some firehose request carried write-backs of several calls.
    assert any(
        len({m["body"]["customerio/object_id"].split("-")[1] for m in r.json["batch"]}) > 1
        for r in hull.requests
    )


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_threads_sharing_one_connector_are_told_the_truth_about_their_own_accounts(
    planner: Planner, customerio: FakeCustomerIO, hull: FakeHull, mode: str
) -> None:
    reports: dict[int, hc.SyncReport] = {}
    with hc.CustomerIOClient(customerio.site_id, customerio.api_key, base_url=customerio.url,
                             retry=FAST, rate_limit=None) as cio:  # fmt: skip
        hull_api = AccountHull(hull.id, hull.secret, hull.organization, **hull_options(hull))
        connector = hc.Connector(SETTINGS, customerio=cio, hull=hull_api, mode=mode)

        def sync(call: int) -> None:
            reports[call] = connector.sync_account_updates(messages(call))

        threads = [threading.Thread(target=sync, args=(call,)) for call in range(CALLS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        hull_api.close()

    assert len(reports) == CALLS
    assert_reports_tell_the_truth(hull, reports)


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_tasks_sharing_one_connector_are_told_the_truth_about_their_own_accounts(
    planner: Planner, customerio: FakeCustomerIO, hull: FakeHull, mode: str
) -> None:
    async def run() -> dict[int, hc.SyncReport]:
        async with hc.AsyncCustomerIOClient(
            customerio.site_id, customerio.api_key, base_url=customerio.url, retry=FAST,
            rate_limit=None,
        ) as cio:  # fmt: skip
            hull_api = AsyncAccountHull(
                hull.id, hull.secret, hull.organization, **hull_options(hull)
            )
            connector = hc.AsyncConnector(SETTINGS, customerio=cio, hull=hull_api, mode=mode)
            calls = [connector.sync_account_updates(messages(call)) for call in range(CALLS)]
            results = await asyncio.wait_for(asyncio.gather(*calls), 60)
            await hull_api.close()
        return dict(enumerate(results))

    assert_reports_tell_the_truth(hull, asyncio.run(run()))
