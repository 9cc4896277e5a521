"""The one vocabulary of Customer.io operations (issue 23): each operation builds its v1
request and its v2 batch operation; ``client.send(op)`` sends exactly what the named client
method sends, sync and async alike (see ``conftest.py``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from hull_customerio.customerio import (
    AnonymousTrack,
    Delete,
    Identify,
    Operation,
    Page,
    Track,
)
from hull_customerio.engine._core import event_operation_of
from hull_customerio.errors import ValidationError
from hull_customerio.models.plan import OutgoingEvent

US = "https://track.customer.io"
TS = 1_700_000_000
ULID = "01HF0000000000000000000000"
Runner = Any  # conftest.Runner: a client of either flavour with synchronous methods


def same(*case: Any, id: str) -> Any:
    """One row: named client method, its args and kwargs, the operation it builds, verb, path."""
    return pytest.param(case, id=id)


SAME_REQUEST = [
    same(
        "identify",
        ("42", {"email": "a@x.io", "n": 1}),
        {},
        Identify("42", {"email": "a@x.io", "n": 1}),
        "PUT",
        "/api/v1/customers/42",
        id="identify",
    ),
    same("delete", ("a/b",), {}, Delete("a/b"), "DELETE", "/api/v1/customers/a%2Fb", id="delete"),
    same(
        "track",
        ("42", "Signed Up", {"plan": "pro"}),
        {"timestamp": TS, "id": ULID},
        Track("42", "Signed Up", {"plan": "pro"}, timestamp=TS, id=ULID),
        "POST",
        "/api/v1/customers/42/events",
        id="track",
    ),
    same(
        "track_page",
        ("42", "https://x.io/", {"referrer": "r"}),
        {"id": ULID},
        Page("42", "https://x.io/", {"referrer": "r"}, id=ULID),
        "POST",
        "/api/v1/customers/42/events",
        id="page",
    ),
    same(
        "track_anonymous",
        ("anon-1", "https://x.io/"),
        {"type": "page", "timestamp": TS},
        AnonymousTrack("anon-1", "https://x.io/", type="page", timestamp=TS),
        "POST",
        "/api/v1/events",
        id="anonymous",
    ),
]


@pytest.mark.parametrize("case", SAME_REQUEST)
def test_send_sends_byte_for_byte_what_the_named_method_sends(
    httpx_mock: HTTPXMock, client: Runner, case: tuple[Any, ...]
) -> None:
    method, args, kwargs, operation, verb, path = case
    httpx_mock.add_response(method=verb, url=US + path, json={}, is_reusable=True)

    getattr(client, method)(*args, **kwargs)
    assert client.send(operation) is None

    named, sent = httpx_mock.get_requests()
    assert (sent.method, str(sent.url)) == (verb, US + path)
    assert (named.method, str(named.url), named.content) == (
        sent.method,
        str(sent.url),
        sent.content,
    )


def test_v1_requests_omit_none_fields_and_name_a_safe_endpoint() -> None:
    track = Track("42", "Ping").v1_request()
    page = Page("42", "https://x.io/", {"k": 1}, timestamp=TS).v1_request()
    anonymous = AnonymousTrack("anon-1", "Viewed", type="event").v1_request()

    assert json.loads(track.content or b"") == {"name": "Ping"}
    assert track.endpoint == "/api/v1/customers/{id}/events"  # no identifier in a metric tag
    assert json.loads(page.content or b"") == {
        "name": "https://x.io/",
        "type": "page",
        "data": {"k": 1},
        "timestamp": TS,
    }
    # Customer.io's own default type is not sent.
    assert json.loads(anonymous.content or b"") == {"name": "Viewed", "anonymous_id": "anon-1"}
    assert Delete("42").v1_request().content is None


def test_v2_operations_address_the_person_and_omit_none_fields() -> None:
    person = {"type": "person", "identifiers": {"email": "a@x.io"}}

    assert Identify("a@x.io", {"n": 1}).v2_operation() == {
        **person,
        "action": "identify",
        "attributes": {"n": 1},
    }
    assert Delete("a@x.io").v2_operation() == {**person, "action": "delete"}
    assert Track("a@x.io", "Ping", id=ULID).v2_operation() == {
        **person,
        "action": "event",
        "name": "Ping",
        "id": ULID,
    }
    assert Page("a@x.io", "https://x.io/", {"k": 1}, timestamp=TS).v2_operation() == {
        **person,
        "action": "page",
        "name": "https://x.io/",
        "attributes": {"k": 1},
        "timestamp": TS,
    }
    assert AnonymousTrack("anon-1", "https://x.io/", type="page").v2_operation() == {
        "type": "person",
        "identifiers": {"anonymous_id": "anon-1"},
        "action": "page",
        "name": "https://x.io/",
    }


def test_only_anonymous_events_stay_off_the_v2_batch() -> None:
    batchable = {cls.__name__: cls.batchable for cls in (Identify, Delete, Track, Page)}

    assert batchable == {"Identify": True, "Delete": True, "Track": True, "Page": True}
    assert AnonymousTrack.batchable is False


@pytest.mark.parametrize(
    "operation",
    [Identify("", {}), Delete(""), Track("", "E"), Page("", "u"), AnonymousTrack("", "E")],
    ids=["identify", "delete", "track", "page", "anonymous"],
)
def test_an_empty_identifier_is_refused_in_both_forms(operation: Operation) -> None:
    with pytest.raises(ValidationError, match="must be a non-empty string"):
        operation.v1_request()
    with pytest.raises(ValidationError, match="must be a non-empty string"):
        operation.v2_operation()


def test_send_refuses_an_invalid_operation_before_any_request(client: Runner) -> None:
    # pytest-httpx fails the test on any request made.
    with pytest.raises(ValidationError):
        client.send(AnonymousTrack("", "E"))


def test_a_repr_leaves_the_personal_data_out() -> None:
    shown = repr(Identify("42", {"email": "secret@x.io"})) + repr(Track("42", "E", {"ssn": "9"}))

    assert "secret@x.io" not in shown
    assert "ssn" not in shown
    assert "Identify(customer_id='42'" in shown


def _event(kind: Any, **fields: Any) -> OutgoingEvent:
    defaults: dict[str, Any] = {"name": "n", "data": {"k": 1}, "timestamp": TS, "id": ULID}
    return OutgoingEvent(kind=kind, **{**defaults, **fields})


def test_each_planned_event_kind_maps_to_its_operation() -> None:
    assert event_operation_of(_event("event"), "42") == Track(
        "42", "n", {"k": 1}, timestamp=TS, id=ULID
    )
    assert event_operation_of(_event("page", type="page"), "42") == Page(
        "42", "n", {"k": 1}, timestamp=TS, id=ULID
    )
    anonymous = _event("anonymous", type="page", anonymous_id="anon-1")
    assert event_operation_of(anonymous, None) == AnonymousTrack(
        "anon-1", "n", {"k": 1}, type="page", timestamp=TS, id=ULID
    )
