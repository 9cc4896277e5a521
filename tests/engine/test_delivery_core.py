"""SPEC §7.1 in the engine's shared core: how Hull and Customer.io failures become answers."""

from __future__ import annotations

from typing import Any

import pytest

from builders import message, settings
from hull_customerio.engine import _core
from hull_customerio.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    DeliveryError,
    make_status_error,
)
from hull_customerio.hull import DeliveryTicket
from hull_customerio.hull._base import FirehoseQueue, build_traits_message
from hull_customerio.models.plan import Action, UserPlan
from hull_customerio.models.report import SyncReport
from hull_customerio.rules.plan import plan_user_update


def status(service: str, code: int) -> APIError:
    return make_status_error(service=service, method="POST", url="u", status_code=code, body=None)


def connection(service: str, *, timeout: bool = False) -> APIConnectionError:
    cls = APITimeoutError if timeout else APIConnectionError
    return cls("no route", service=service, method="POST", url="u")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (status("hull", 401), True),  # wrong Hull credentials: keep the data, retry later
        (status("hull", 403), True),
        (status("customerio", 401), False),  # Customer.io refusing its key is not retried
        (status("hull", 400), False),
        (status("hull", 422), False),
        (status("hull", 429), True),
        (status("hull", 503), True),
        (connection("hull"), True),
        (connection("customerio"), True),
    ],
)
def test_is_transient_keeps_data_for_hull_credentials_and_drops_permanent_refusals(
    error: APIError, transient: bool
) -> None:
    assert _core.is_transient(error) is transient


def _delivery_error(cause: APIError) -> DeliveryError:
    error = DeliveryError(
        "1 Hull firehose message not delivered", service="hull", method="POST", url="u",
        undelivered=[],
    )  # fmt: skip
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(("code", "transient"), [(400, False), (503, True), (401, True)])
def test_a_delivery_error_is_as_transient_as_its_cause(code: int, transient: bool) -> None:
    assert _core.is_transient(_delivery_error(status("hull", code))) is transient


def _plan(user_id: str) -> UserPlan:
    raw = {"id": user_id, "email": f"{user_id}@example.com", "external_id": user_id}
    return plan_user_update(message(raw), settings())


def _settled_execution(error: APIError | None) -> _core.Execution:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    queued = build_traits_message("jwt", {"customerio/id": "u1"})
    queue.add(queued, ticket)
    (batch,) = queue.take_all()
    queue.settle(batch, error)
    execution = _core.Execution(_plan("u1"))
    execution.request_id = queued.request_id
    _core.apply_delivery([execution], ticket)
    return execution


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (None, None),
        (status("hull", 400), "writeback_rejected"),
        (status("hull", 404), "writeback_rejected"),
        (status("hull", 401), "writeback_failed"),
        (status("hull", 429), "writeback_failed"),
        (status("hull", 500), "writeback_failed"),
        (connection("hull"), "writeback_failed"),
    ],
)
def test_a_write_back_failure_is_rejected_only_when_hull_refused_it_for_good(
    error: APIError | None, reason: str | None
) -> None:
    execution = _settled_execution(error)

    assert execution.failure == reason
    if error is not None:
        assert isinstance(execution.exception, DeliveryError)
        assert execution.exception.__cause__ is error
        outcome = execution.outcome()
        assert outcome.status == "error"
        expected = "retry" if reason == "writeback_failed" else "next"
        report = SyncReport(outcomes=[outcome])
        assert _core.flow_control_for(report)["flow_control"]["type"] == expected


def test_customerio_unavailable_trips_at_the_threshold_not_before() -> None:
    unreachable = _core.Unreachable(threshold=2)
    failed = _core.Execution(_plan("a"))
    failed.fail("identify_failed", connection("customerio"), "refused")

    unreachable.note(failed)
    assert not unreachable.tripped
    unreachable.note(failed)
    assert unreachable.tripped

    skipped = unreachable.skip(_plan("c")).outcome()
    assert (skipped.status, skipped.reason) == ("error", "customerio_unavailable")
    assert _core.is_transient(skipped.exception)
    assert skipped.reason in _core.FAILURE_MESSAGES


@pytest.mark.parametrize(
    "error",
    [
        connection("customerio", timeout=True),  # slow is not unreachable
        connection("hull"),  # Hull's trouble is not Customer.io's
        status("customerio", 503),
        None,
    ],
)
def test_only_an_unreachable_customerio_counts_toward_stopping(error: APIError | None) -> None:
    unreachable = _core.Unreachable(threshold=1)
    execution = _core.Execution(_plan("a"))
    if error is not None:
        execution.fail("identify_failed", error, "failed")

    unreachable.note(execution)

    assert not unreachable.tripped


def test_batch_mode_marks_users_failed_by_an_unreachable_customerio() -> None:
    unreachable, slow = _core.Execution(_plan("a")), _core.Execution(_plan("b"))
    unreachable.fail("identify_failed", connection("customerio"), "refused")
    slow.fail("identify_failed", connection("customerio", timeout=True), "timed out")

    _core.mark_unreachable([unreachable, slow])

    assert unreachable.failure == "customerio_unavailable"
    assert slow.failure == "identify_failed"


@pytest.mark.parametrize("value", [0, -1, float("nan"), True, "3"])
def test_webhook_timeout_must_be_a_positive_number_or_none(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="webhook_timeout"):
        _core.check_webhook_timeout(value)


def test_webhook_timeout_accepts_none_and_positive_numbers() -> None:
    assert _core.check_webhook_timeout(None) is None
    assert _core.check_webhook_timeout(2) == 2.0


def test_the_plan_fixture_identifies() -> None:
    assert _plan("u1").action is Action.IDENTIFY
