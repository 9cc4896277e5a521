"""Track API v2 batches (SPEC §6.4): operations, splitting at the size limits, 207 mapping.

Size rules, as the client defines them: an operation is measured as its compact-JSON UTF-8
bytes and may be at most 32 000 bytes; a request body (``{"batch":[...]}``, compact JSON) must
be smaller than 500 000 bytes, i.e. at most 499 999.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.retry import RetryPolicy
from hull_customerio.customerio import (
    MAX_BATCH_OPERATION_BYTES,
    MAX_BATCH_REQUEST_BYTES,
    anonymous_event_operation,
    delete_operation,
    event_operation,
    identifiers_for,
    identify_operation,
    page_operation,
)
from hull_customerio.customerio._base import dumps
from hull_customerio.customerio._batch import plan_batch
from hull_customerio.errors import AuthenticationError, ServerError, ValidationError
from hull_customerio.models.customerio import BatchError, BatchResult

BATCH_URL = "https://track.customer.io/api/v2/batch"
ENVELOPE = len(b'{"batch":[]}')
Runner = Any


def op_of_size(size: int, customer: str = "1") -> dict[str, Any]:
    """An identify operation exactly ``size`` bytes long as compact JSON."""
    empty = len(dumps(identify_operation(customer, {"pad": ""})))
    operation = identify_operation(customer, {"pad": "x" * (size - empty)})
    assert len(dumps(operation)) == size
    return operation


def sent_batch(request: httpx.Request) -> list[dict[str, Any]]:
    body = json.loads(request.content)
    assert list(body) == ["batch"]
    return list(body["batch"])


# ------------------------------------------------------------------------ operation builders


@pytest.mark.parametrize(
    ("customer_id", "identifiers"),
    [
        ("42", {"id": "42"}),
        ("user-abc", {"id": "user-abc"}),
        ("a@x.io", {"email": "a@x.io"}),
        ("first.last+tag@sub.example.com", {"email": "first.last+tag@sub.example.com"}),
        ("not an@email.io", {"id": "not an@email.io"}),
        ("no-at-sign.io", {"id": "no-at-sign.io"}),
        ("a@localhost", {"id": "a@localhost"}),
        ("cio_03000001", {"cio_id": "03000001"}),
        ("cio_", {"id": "cio_"}),
    ],
)
def test_identifier_typing(customer_id: str, identifiers: dict[str, str]) -> None:
    assert identifiers_for(customer_id) == identifiers


def test_identify_operation() -> None:
    assert identify_operation("a@x.io", {"plan": "pro"}) == {
        "type": "person",
        "identifiers": {"email": "a@x.io"},
        "action": "identify",
        "attributes": {"plan": "pro"},
    }


def test_event_operation_names_event_data_attributes() -> None:
    assert event_operation("42", "Signed Up", {"plan": "pro"}, timestamp=1, id="U") == {
        "type": "person",
        "identifiers": {"id": "42"},
        "action": "event",
        "name": "Signed Up",
        "attributes": {"plan": "pro"},
        "timestamp": 1,
        "id": "U",
    }


def test_event_operation_omits_none_fields() -> None:
    assert event_operation("cio_9", "Ping") == {
        "type": "person",
        "identifiers": {"cio_id": "9"},
        "action": "event",
        "name": "Ping",
    }


def test_page_operation() -> None:
    assert page_operation("42", "https://x.io/", {"referrer": "r"}, timestamp=2) == {
        "type": "person",
        "identifiers": {"id": "42"},
        "action": "page",
        "name": "https://x.io/",
        "attributes": {"referrer": "r"},
        "timestamp": 2,
    }


def test_anonymous_event_operation_is_addressed_by_anonymous_id() -> None:
    assert anonymous_event_operation("anon-1", "Viewed", {"k": 1}, id="U") == {
        "type": "person",
        "identifiers": {"anonymous_id": "anon-1"},
        "action": "event",
        "name": "Viewed",
        "attributes": {"k": 1},
        "id": "U",
    }
    assert anonymous_event_operation("anon-1", "https://x.io/", type="page")["action"] == "page"


def test_delete_operation() -> None:
    assert delete_operation("42") == {
        "type": "person",
        "identifiers": {"id": "42"},
        "action": "delete",
    }


def test_builders_refuse_empty_identifiers() -> None:
    with pytest.raises(ValidationError):
        delete_operation("")
    with pytest.raises(ValidationError):
        anonymous_event_operation("", "x")


# ---------------------------------------------------------------------- splitting (pure)


def test_the_limits_as_defined() -> None:
    assert MAX_BATCH_OPERATION_BYTES == 32_000
    assert MAX_BATCH_REQUEST_BYTES == 500_000


def test_an_operation_of_exactly_32_kb_goes_and_one_byte_more_does_not() -> None:
    plan = plan_batch([op_of_size(32_000, "1"), op_of_size(32_001, "2")])

    assert [r.indexes for r in plan.requests] == [(0,)]
    assert set(plan.rejected) == {1}
    assert plan.rejected[1].reason == "operation_too_large"
    assert "32001" in plan.rejected[1].message


def fifteen_full_ops() -> list[dict[str, Any]]:
    return [op_of_size(32_000, str(i)) for i in range(15)]


def test_a_body_of_499_999_bytes_is_one_request() -> None:
    operations = fifteen_full_ops()
    # 15 x 32 000 + 14 commas + envelope = 480 026; one comma + 19 972 more = 499 999.
    operations.append(op_of_size(19_972, "15"))

    plan = plan_batch(operations)

    assert len(plan.requests) == 1
    assert plan.requests[0].request.content is not None
    assert len(plan.requests[0].request.content) == MAX_BATCH_REQUEST_BYTES - 1


def test_a_body_that_would_reach_500_000_bytes_is_split() -> None:
    operations = fifteen_full_ops()
    operations.append(op_of_size(19_973, "15"))

    plan = plan_batch(operations)

    assert [r.indexes for r in plan.requests] == [tuple(range(15)), (15,)]
    sizes = [len(r.request.content or b"") for r in plan.requests]
    assert sizes == [ENVELOPE + 15 * 32_000 + 14, ENVELOPE + 19_973]


def test_request_body_is_the_exact_compact_json_of_its_operations() -> None:
    operations = [identify_operation("42", {"é": "ü"}), delete_operation("7")]

    plan = plan_batch(operations)

    content = plan.requests[0].request.content
    assert (
        content
        == json.dumps({"batch": operations}, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_an_operation_json_cannot_encode_is_rejected_alone() -> None:
    plan = plan_batch([{"attributes": {"x": float("nan")}}, delete_operation("1")])

    assert plan.rejected[0].reason == "invalid_operation"
    assert [r.indexes for r in plan.requests] == [(1,)]


def test_no_operations_no_requests() -> None:
    assert plan_batch([]).requests == ()


# ----------------------------------------------------------------------- through a client


def test_split_batch_goes_out_as_two_requests_in_order(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    operations = fifteen_full_ops()
    operations.append(op_of_size(19_973, "15"))
    httpx_mock.add_response(method="POST", url=BATCH_URL, json={})
    httpx_mock.add_response(method="POST", url=BATCH_URL, json={})

    result = client.batch(operations)

    first, second = httpx_mock.get_requests()
    assert sent_batch(first) == operations[:15]
    assert sent_batch(second) == operations[15:]
    assert result.requests == 2
    assert result.errors == {}
    assert all(result.ok(i) for i in range(16))


def test_oversized_operation_is_reported_and_the_others_still_go(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    operations = [delete_operation("1"), op_of_size(32_001, "2"), delete_operation("3")]
    httpx_mock.add_response(method="POST", url=BATCH_URL, json={})

    result = client.batch(operations)

    assert sent_batch(httpx_mock.get_request()) == [operations[0], operations[2]]
    assert result.ok(0)
    assert result.ok(2)
    assert not result.ok(1)
    assert result.errors[1].reason == "operation_too_large"
    assert result.errors[1].request is None
    assert result.errors[1].exception is None


def test_207_errors_are_mapped_back_to_the_callers_indexes(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    # Op 0 is too large and never sent, so Customer.io's batch_index 1 is the caller's op 2.
    operations = [op_of_size(40_000, "0"), delete_operation("1"), identify_operation("2", {})]
    httpx_mock.add_response(
        method="POST",
        url=BATCH_URL,
        status_code=207,
        json={
            "errors": [
                {
                    "batch_index": 1,
                    "reason": "invalid",
                    "field": "identifiers",
                    "message": "bad id",
                }
            ]
        },
    )

    result = client.batch(operations)

    assert result.failed == [0, 2]
    assert result.succeeded == [1]
    assert result.errors[2] == BatchError(
        batch_index=2, reason="invalid", field="identifiers", message="bad id", request=0
    )


def test_207_in_the_second_request_maps_relative_to_that_request(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    operations = [*fifteen_full_ops(), op_of_size(19_973, "15"), delete_operation("16")]
    httpx_mock.add_response(
        method="POST",
        url=BATCH_URL,
        status_code=207,
        json={"errors": [{"batch_index": 3, "reason": "r3", "message": "m3"}]},
    )
    httpx_mock.add_response(
        method="POST",
        url=BATCH_URL,
        status_code=207,
        json={
            "errors": [
                {"batch_index": 1, "reason": "r16", "field": None, "message": "m16"},
                {"reason": "orphan", "message": "no index"},
                {"batch_index": 9, "reason": "out", "message": "out of range"},
            ]
        },
    )

    result = client.batch(operations)

    assert sorted(result.errors) == [3, 16]
    assert result.errors[3].request == 0
    assert result.errors[16].request == 1
    assert result.errors[16].field is None
    assert result.unmatched_errors == ("no index", "out of range")
    assert not result.all_ok


def test_a_failed_request_fails_only_its_own_operations(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    operations = [*fifteen_full_ops(), op_of_size(19_973, "15"), delete_operation("16")]
    httpx_mock.add_response(method="POST", url=BATCH_URL, json={})
    httpx_mock.add_response(method="POST", url=BATCH_URL, status_code=401)

    result = client.batch(operations)  # does not raise

    assert result.requests == 2
    assert result.succeeded == list(range(15))
    assert result.failed == [15, 16]
    for index in (15, 16):
        error = result.errors[index]
        assert error.reason == "request_failed"
        assert error.request == 1
        assert isinstance(error.exception, AuthenticationError)


def test_a_request_failing_after_retries_carries_its_exception(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    httpx_mock.add_response(method="POST", url=BATCH_URL, status_code=503, is_reusable=True)

    result = client.batch([delete_operation("1")])

    error = result.errors[0]
    assert isinstance(error.exception, ServerError)
    assert error.exception.attempts == 2
    assert len(httpx_mock.get_requests()) == 2


def test_empty_batch_sends_nothing(client: Runner) -> None:
    result = client.batch([])
    assert result == BatchResult(size=0)
    assert result.requests == 0


def test_batch_result_ok_checks_the_index() -> None:
    result = BatchResult(size=2, errors={1: BatchError(batch_index=1, reason="x")})
    assert result.ok(0)
    assert not result.ok(1)
    with pytest.raises(IndexError):
        result.ok(2)
