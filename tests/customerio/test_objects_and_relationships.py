"""Objects and relationships on the wire (issue 24, SPEC §11, §6.3, §6.4), sync and async alike.

Expected bodies are the shapes of Customer.io's Track API reference (``object_identify``,
``object_delete``, ``person_delete_relationships``, the v1 ``cio_relationships`` of an
identify, ``POST /api/v2/entity``), compared byte for byte: the client sends compact JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from hull_customerio.customerio import (
    MAX_BATCH_OPERATION_BYTES,
    DeleteRelationships,
    Identify,
    ObjectDelete,
    ObjectIdentify,
    ObjectRef,
)
from hull_customerio.errors import BadRequestError, ValidationError

US = "https://track.customer.io"
ENTITY = US + "/api/v2/entity"
BATCH = US + "/api/v2/batch"
ACME = ObjectRef("1", "acme")
Runner = Any  # conftest.Runner: a client of either flavour with synchronous methods


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------------------- v1 forms


def test_identify_with_relationships_adds_them_in_the_same_put(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="PUT", url=US + "/api/v1/customers/42", json={})

    client.identify("42", {"plan": "pro"}, relationships=[ACME, ObjectRef("2", "course-9")])

    (sent,) = httpx_mock.get_requests()
    assert sent.content == compact(
        {
            "plan": "pro",
            "cio_relationships": {
                "action": "add_relationships",
                "relationships": [
                    {"identifiers": {"object_type_id": "1", "object_id": "acme"}},
                    {"identifiers": {"object_type_id": "2", "object_id": "course-9"}},
                ],
            },
        }
    )


def test_identify_without_relationships_sends_only_the_attributes(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="PUT", url=US + "/api/v1/customers/42", json={})

    client.identify("42", {"plan": "pro"})

    assert httpx_mock.get_requests()[0].content == b'{"plan":"pro"}'


def test_delete_relationships_is_a_put_holding_only_cio_relationships(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="PUT", url=US + "/api/v1/customers/a%2Fb", json={})

    client.delete_relationships("a/b", [ACME])

    (sent,) = httpx_mock.get_requests()
    assert sent.content == compact(
        {
            "cio_relationships": {
                "action": "delete_relationships",
                "relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}],
            }
        }
    )


def test_identify_object_posts_one_object_operation_to_the_entity_endpoint(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY, json={})

    client.identify_object("1", "acme", {"name": "Acme Corp", "plan": "enterprise", "seats": 50})

    (sent,) = httpx_mock.get_requests()
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.content == compact(
        {
            "type": "object",
            "identifiers": {"object_type_id": "1", "object_id": "acme"},
            "action": "identify",
            "attributes": {"name": "Acme Corp", "plan": "enterprise", "seats": 50},
        }
    )


def test_delete_object_posts_the_delete_operation_without_attributes(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY, json={})

    client.delete_object("1", "acme")

    (sent,) = httpx_mock.get_requests()
    assert sent.content == compact(
        {
            "type": "object",
            "identifiers": {"object_type_id": "1", "object_id": "acme"},
            "action": "delete",
        }
    )


SAME_REQUEST = [
    ("identify_object", ("1", "acme", {"n": 1}), {}, ObjectIdentify(ACME, {"n": 1})),
    ("delete_object", ("1", "acme"), {}, ObjectDelete(ACME)),
    ("delete_relationships", ("42", [ACME]), {}, DeleteRelationships("42", (ACME,))),
    ("identify", ("42", {"n": 1}), {"relationships": [ACME]},
     Identify("42", {"n": 1}, relationships=(ACME,))),
]  # fmt: skip


@pytest.mark.parametrize(
    "case",
    SAME_REQUEST,
    ids=["identify_object", "delete_object", "delete_relationships", "identify+relationships"],
)
def test_send_sends_byte_for_byte_what_the_named_method_sends(
    httpx_mock: HTTPXMock, client: Runner, case: tuple[Any, ...]
) -> None:
    method, args, kwargs, operation = case
    httpx_mock.add_response(json={}, is_reusable=True)

    getattr(client, method)(*args, **kwargs)
    client.send(operation)

    named, sent = httpx_mock.get_requests()
    assert (named.method, str(named.url), named.content) == (
        sent.method,
        str(sent.url),
        sent.content,
    )


def test_the_entity_endpoint_is_the_metric_tag_of_object_requests() -> None:
    request = ObjectIdentify(ACME, {"n": 1}).v1_request()

    assert (request.method, request.path, request.endpoint) == (
        "POST",
        "/api/v2/entity",
        "/api/v2/entity",
    )


# ------------------------------------------------------------------------ errors and limits


def test_a_v2_error_answer_is_a_typed_error_with_masked_capped_text(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    long = "x" * 400
    errors = [
        {"reason": "invalid", "field": "identifiers.object_id", "message": "jane@example.com bad"},
        {"reason": "invalid", "field": "attributes", "message": long},
    ]
    httpx_mock.add_response(method="POST", url=ENTITY, status_code=400, json={"errors": errors})

    with pytest.raises(BadRequestError) as caught:
        client.identify_object("1", "acme", {"email": "jane@example.com"})

    text = str(caught.value)
    assert "identifiers.object_id: j***@example.com bad" in text
    assert "jane@example.com" not in text
    assert long not in text
    prefix = f"Customer.io answered 400 to POST {ENTITY}: "
    assert text.startswith(prefix)
    assert len(text) - len(prefix) <= 300  # Customer.io's own text, capped
    assert caught.value.status_code == 400
    assert caught.value.body == {"errors": errors}  # the full answer stays on the exception
    assert len(httpx_mock.get_requests()) == 1  # a 400 is never retried


def test_a_server_error_on_the_entity_endpoint_is_retried(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY, status_code=503)
    httpx_mock.add_response(method="POST", url=ENTITY, json={})

    client.delete_object("1", "acme")

    first, second = httpx_mock.get_requests()
    assert first.content == second.content


def _object_of_size(size: int) -> ObjectIdentify:
    """An object identify whose v2 operation is exactly ``size`` bytes of compact JSON."""
    empty = len(compact(ObjectIdentify(ACME, {"pad": ""}).v2_operation()))
    return ObjectIdentify(ACME, {"pad": "p" * (size - empty)})


def test_an_object_operation_of_exactly_32_kb_is_sent(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY, json={})
    operation = _object_of_size(MAX_BATCH_OPERATION_BYTES)

    client.send(operation)

    assert len(httpx_mock.get_requests()[0].content) == MAX_BATCH_OPERATION_BYTES


def test_an_object_operation_one_byte_over_32_kb_is_refused_before_sending(
    client: Runner,
) -> None:
    # pytest-httpx fails the test on any request made.
    with pytest.raises(ValidationError, match="32000"):
        client.send(_object_of_size(MAX_BATCH_OPERATION_BYTES + 1))


@pytest.mark.parametrize(
    "operation",
    [
        ObjectIdentify(ObjectRef("", "acme"), {}),
        ObjectDelete(ObjectRef("1", "")),
        DeleteRelationships("42", (ObjectRef("1", ""),)),
        DeleteRelationships("42", ()),
        Identify("42", {}, relationships=(ObjectRef("", "acme"),)),
    ],
    ids=["identify-no-type", "delete-no-id", "unlink-no-id", "unlink-nothing", "link-no-type"],
)
def test_an_operation_without_a_usable_object_is_refused_in_both_forms(
    client: Runner, operation: Any
) -> None:
    with pytest.raises(ValidationError):
        operation.v2_operation()
    with pytest.raises(ValidationError):
        client.send(operation)  # and nothing is sent


# ------------------------------------------------------------------------------- v2 forms


def test_v2_forms_are_customerio_documented_shapes() -> None:
    assert ObjectIdentify(ACME, {"name": "Acme Corp"}).v2_operation() == {
        "type": "object",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "action": "identify",
        "attributes": {"name": "Acme Corp"},
    }
    assert ObjectDelete(ACME).v2_operation() == {
        "type": "object",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "action": "delete",
    }
    assert DeleteRelationships("42", (ACME,)).v2_operation() == {
        "type": "person",
        "identifiers": {"id": "42"},
        "action": "delete_relationships",
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}],
    }
    assert Identify("a@x.io", {"n": 1}, relationships=(ACME,)).v2_operation() == {
        "type": "person",
        "identifiers": {"email": "a@x.io"},
        "action": "identify",
        "attributes": {"n": 1},
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}],
    }
    assert "cio_relationships" not in Identify("42", {"n": 1}).v2_operation()


def test_batch_packs_object_and_relationship_operations_in_order(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="POST", url=BATCH, json={})
    operations = [
        DeleteRelationships("42", (ObjectRef("1", "old"),)).v2_operation(),
        Identify("42", {"n": 1}, relationships=(ACME,)).v2_operation(),
        ObjectIdentify(ACME, {"name": "Acme"}).v2_operation(),
        ObjectDelete(ObjectRef("1", "gone")).v2_operation(),
    ]

    result = client.batch(operations)

    (sent,) = httpx_mock.get_requests()
    assert sent.content == compact({"batch": operations})
    assert result.errors == {}


def test_a_207_error_maps_back_to_the_object_operation(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    answer = {
        "errors": [
            {
                "batch_index": 1,
                "reason": "invalid",
                "field": "identifiers.object_type_id",
                "message": "unknown type for ann@example.com",
            }
        ]
    }
    httpx_mock.add_response(method="POST", url=BATCH, status_code=207, json=answer)
    operations = [
        Identify("42", {"n": 1}, relationships=(ACME,)).v2_operation(),
        ObjectIdentify(ObjectRef("9", "acme"), {"name": "Acme"}).v2_operation(),
        ObjectDelete(ACME).v2_operation(),
    ]

    result = client.batch(operations)

    assert set(result.errors) == {1}
    error = result.errors[1]
    assert (error.reason, error.field) == ("invalid", "identifiers.object_type_id")
    assert error.message == "unknown type for a***@example.com"


def test_a_batched_object_operation_over_32_kb_is_rejected_and_the_rest_is_sent(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(method="POST", url=BATCH, json={})
    small = ObjectDelete(ACME).v2_operation()
    too_large = _object_of_size(MAX_BATCH_OPERATION_BYTES + 1).v2_operation()

    result = client.batch([too_large, small])

    (sent,) = httpx_mock.get_requests()
    assert sent.content == compact({"batch": [small]})
    assert set(result.errors) == {0}
    assert result.errors[0].reason == "operation_too_large"
