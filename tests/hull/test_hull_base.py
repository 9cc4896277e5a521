"""The sans-IO core shared by both Hull clients: hosts, messages, batching, errors."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from hull_customerio._http.retry import HULL_RETRY_STATUSES
from hull_customerio.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
    make_status_error,
)
from hull_customerio.hull import DEFAULT_RETRY, DEFAULT_TIMEOUT, HullClient, firehose_url_for
from hull_customerio.hull._base import (
    DeliveryTicket,
    Entry,
    FirehoseQueue,
    QueuedMessage,
    RequestSpec,
    batch_content,
    build_track_message,
    build_traits_message,
    encode_json,
    error_from_response,
    hull_failure_kind,
    isoformat,
    transport_error,
)

SPEC = RequestSpec("POST", "https://firehose.hullapp.io", {"Hull-Access-Token": "secret"}, b"{}")


@pytest.mark.parametrize(
    ("organization", "url"),
    [
        ("abc123.hullapp.io", "https://firehose.hullapp.io"),
        ("org.eu.hullapp.io", "https://firehose.eu.hullapp.io"),
        (" https://abc123.hullapp.io/ ", "https://firehose.hullapp.io"),
    ],
)
def test_firehose_url_is_the_organization_minus_its_first_label(
    organization: str, url: str
) -> None:
    assert firehose_url_for(organization) == url


def test_an_organization_without_a_domain_asks_for_firehose_url() -> None:
    with pytest.raises(ConfigurationError, match="pass firehose_url"):
        firehose_url_for("localhost")


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"id": ""}, "id (the connector id) is missing"),
        ({"secret": ""}, "secret (the connector secret) is missing"),
        ({"organization": " "}, "organization (e.g. abc123.hullapp.io) is missing"),
        ({"flush_at": 0}, "flush_at must be a positive integer"),
    ],
)
def test_unusable_client_settings_are_configuration_errors(
    kwargs: dict[str, Any], problem: str
) -> None:
    arguments: dict[str, Any] = {"id": "c1", "secret": "s", "organization": "a.hullapp.io"}
    arguments.update(kwargs)

    with pytest.raises(ConfigurationError) as caught:
        HullClient(**arguments)

    assert caught.value.problems == [problem]


def test_defaults_retry_hull_statuses_with_an_explicit_timeout() -> None:
    assert DEFAULT_RETRY.retry_statuses == HULL_RETRY_STATUSES
    assert {429, 500, 503, 599} <= DEFAULT_RETRY.retry_statuses
    assert isinstance(DEFAULT_TIMEOUT, httpx.Timeout)


def test_isoformat_writes_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2024, 5, 6, 9, 8, 7, 123456, tzinfo=timezone(timedelta(hours=2)))

    assert isoformat(moment) == "2024-05-06T07:08:07.123Z"


def test_isoformat_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValidationError, match="naive datetime"):
        isoformat(datetime(2024, 5, 6))  # noqa: DTZ001 -- the naive datetime is the point


def test_traits_names_are_grouped_under_the_source_and_none_is_kept() -> None:
    message = build_traits_message(
        "jwt", {"id": "c1", "hash": None, "other/x": 1}, source="customerio"
    )

    assert message.message["body"] == {"customerio/id": "c1", "customerio/hash": None, "other/x": 1}


def test_traits_without_source_keep_their_names() -> None:
    assert build_traits_message("jwt", {"plan": "pro"}).message["body"] == {"plan": "pro"}


@pytest.mark.parametrize("attributes", [{"": 1}, {"  ": 1}, {3: "x"}])
def test_traits_names_must_be_non_blank_strings(attributes: dict[Any, Any]) -> None:
    with pytest.raises(ValidationError, match="trait names"):
        build_traits_message("jwt", attributes)


def test_track_fixes_a_new_uuid4_event_id_and_converts_datetimes(any_uuid4: Any) -> None:
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    body = build_track_message(
        "jwt",
        "Email Opened",
        {"when": date(2024, 1, 2)},
        event_id=None,
        created_at=created,
        source=None,
        type=None,
        ip="0",
    ).message["body"]

    assert body["event_id"] == any_uuid4
    assert body["created_at"] == "2024-01-02T03:04:05.000Z"
    assert json.loads(encode_json(body))["properties"] == {"when": "2024-01-02"}


@pytest.mark.parametrize("event", ["", "   "])
def test_track_needs_an_event_name(event: str) -> None:
    with pytest.raises(ValidationError, match="event must be a non-blank string"):
        build_track_message(
            "jwt", event, None, event_id=None, created_at=None, source=None, type=None, ip="0"
        )


def test_a_value_json_cannot_carry_is_named_by_type_not_value() -> None:
    with pytest.raises(ValidationError) as caught:
        build_traits_message("jwt", {"secret_thing": {"private-value"}})

    assert "set" in str(caught.value)
    assert "private-value" not in str(caught.value)


def test_nan_is_refused() -> None:
    with pytest.raises(ValidationError, match="NaN"):
        build_traits_message("jwt", {"score": float("nan")})


def test_message_is_encoded_once_so_retries_send_the_same_bytes() -> None:
    message = build_traits_message("jwt", {"plan": "pro"})

    assert json.loads(message.encoded) == message.message
    assert batch_content([message]).startswith(b'{"batch":[' + message.encoded + b"]")


def _messages(count: int) -> list[QueuedMessage]:
    return [build_traits_message("jwt", {"n": n}) for n in range(count)]


def _ids(batch: list[Entry]) -> list[str]:
    return [entry.message.request_id for entry in batch]


def _error(status: int) -> APIStatusError:
    return make_status_error(service="hull", method="POST", url="u", status_code=status, body=None)


def test_queue_hands_out_a_batch_when_flush_at_is_reached() -> None:
    queue = FirehoseQueue(flush_at=3)
    ticket = DeliveryTicket()
    first, second, third, fourth = _messages(4)

    assert queue.add(first, ticket) is None
    assert queue.add(second, ticket) is None
    batch = queue.add(third, ticket)
    assert batch is not None
    assert _ids(batch) == [first.request_id, second.request_id, third.request_id]
    assert queue.add(fourth, ticket) is None
    assert len(queue) == 1
    assert ticket.pending == 4  # handed out is not delivered


def test_queue_take_all_cuts_batches_of_flush_at() -> None:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    messages = _messages(5)
    for message in messages:
        queue.add(message, ticket)
    queue.flush_at = 2

    batches = queue.take_all()

    assert [_ids(b) for b in batches] == [
        [m.request_id for m in messages[i : i + 2]] for i in (0, 2, 4)
    ]
    assert queue.take_all() == []


def test_queue_put_back_restores_order_in_front() -> None:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    old, new = _messages(2)
    queue.add(old, ticket)
    taken = queue.take_all()
    queue.add(new, ticket)
    queue.put_back(taken)

    assert [_ids(b) for b in queue.take_all()] == [[old.request_id, new.request_id]]


def test_at_most_max_in_flight_batches_start_and_the_rest_wait_queued() -> None:
    queue = FirehoseQueue(flush_at=2, max_in_flight=2)
    ticket = DeliveryTicket()
    messages = _messages(7)
    first = queue.add(messages[0], ticket), queue.add(messages[1], ticket)
    second = queue.add(messages[2], ticket), queue.add(messages[3], ticket)
    for message in messages[4:]:
        assert queue.add(message, ticket) is None  # flush_at reached, but no slot is free

    assert first[1] is not None
    assert second[1] is not None
    assert queue.in_flight == 2
    assert queue.start() == []
    assert len(queue) == 3


def test_a_done_poster_takes_what_queued_meanwhile_when_someone_waits() -> None:
    queue = FirehoseQueue(flush_at=2, max_in_flight=1)
    ticket = DeliveryTicket()
    messages = _messages(3)
    queue.add(messages[0], ticket)
    batch = queue.add(messages[1], ticket)
    queue.add(messages[2], ticket)  # queued while the first batch is under way
    assert batch is not None
    queue.settle(batch, None)

    following = queue.next_batch(partial=True)

    assert following is not None
    assert _ids(following) == [messages[2].request_id]
    assert queue.in_flight == 1
    assert queue.next_batch(partial=True) is None
    assert queue.in_flight == 0


def test_with_nobody_waiting_a_done_poster_takes_only_a_full_batch() -> None:
    queue = FirehoseQueue(flush_at=2, max_in_flight=1)
    ticket = DeliveryTicket()
    messages = _messages(5)
    queue.add(messages[0], ticket)
    batch = queue.add(messages[1], ticket)
    for message in messages[2:]:  # queued while the first batch is under way
        queue.add(message, ticket)
    assert batch is not None
    queue.settle(batch, None)

    following = queue.next_batch(partial=False)

    assert following is not None
    assert _ids(following) == [m.request_id for m in messages[2:4]]
    # One message is left: not a full batch, so the slot is given back; it waits for `start`
    # (a wait, a flush, a close, post_pending) or for the queue to fill.
    assert queue.next_batch(partial=False) is None
    assert queue.in_flight == 0
    assert len(queue) == 1
    (rest,) = queue.start()
    assert _ids(rest) == [messages[4].request_id]


def test_an_interrupted_poster_gives_its_slot_and_messages_back() -> None:
    queue = FirehoseQueue(flush_at=5, max_in_flight=1)
    ticket = DeliveryTicket()
    (message,) = _messages(1)
    queue.add(message, ticket)
    started = queue.start()

    queue.put_back(started)

    assert queue.in_flight == 0
    assert [_ids(b) for b in queue.start()] == [[message.request_id]]


def test_an_accepted_batch_settles_each_message_in_its_own_ticket() -> None:
    queue = FirehoseQueue(flush_at=10)
    mine, theirs = DeliveryTicket(), DeliveryTicket()
    a, b, c = _messages(3)
    queue.add(a, mine)
    queue.add(b, theirs)
    queue.add(c, mine)
    (batch,) = queue.take_all()

    assert queue.settle(batch, None) == []

    assert mine.done
    assert theirs.done
    assert mine.delivered == {a.request_id, c.request_id}
    assert theirs.delivered == {b.request_id}
    assert queue.idle


def test_a_failed_batch_reports_to_every_ticket_only_its_own_messages() -> None:
    queue = FirehoseQueue(flush_at=10)
    mine, theirs = DeliveryTicket(), DeliveryTicket()
    a, b = _messages(2)
    queue.add(a, mine)
    queue.add(b, theirs)
    (batch,) = queue.take_all()
    error = _error(503)

    queue.settle(batch, error)

    assert mine.failures == {a.request_id: error}
    assert theirs.failures == {b.request_id: error}
    mine_error = mine.delivery_error("https://firehose.hullapp.io")
    assert mine_error is not None
    assert [m["requestId"] for m in mine_error.undelivered] == [a.request_id]


def test_a_refused_batch_is_split_in_halves_and_settles_nothing_yet() -> None:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    messages = _messages(5)
    for message in messages:
        queue.add(message, ticket)
    (batch,) = queue.take_all()

    halves = queue.settle(batch, _error(400))

    assert [_ids(h) for h in halves] == [_ids(batch[:2]), _ids(batch[2:])]
    assert ticket.pending == 5
    assert not queue.idle


def test_a_refused_single_message_fails_for_good() -> None:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    (message,) = _messages(1)
    queue.add(message, ticket)
    (batch,) = queue.take_all()
    error = _error(422)

    assert queue.settle(batch, error) == []

    assert ticket.done
    assert ticket.error_for(message.request_id) is error
    assert queue.idle


@pytest.mark.parametrize("status", [401, 403, 429, 503])
def test_credentials_and_transient_failures_are_not_split(status: int) -> None:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    for message in _messages(4):
        queue.add(message, ticket)
    (batch,) = queue.take_all()

    assert queue.settle(batch, _error(status)) == []

    assert len(ticket.failures) == 4


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_error(400), "refused"),
        (_error(404), "refused"),
        (_error(413), "refused"),
        (_error(422), "refused"),
        (_error(401), "credentials"),
        (_error(403), "credentials"),
        (_error(408), "transient"),
        (_error(429), "transient"),
        (_error(500), "transient"),
        (_error(503), "transient"),
        (APIConnectionError("refused", service="hull", method="POST", url="u"), "transient"),
        (APITimeoutError("slow", service="hull", method="POST", url="u"), "transient"),
    ],
)
def test_hull_failures_are_classified_transient_credentials_or_refused(
    error: Exception, kind: str
) -> None:
    assert hull_failure_kind(error) == kind


def test_a_ticket_reports_every_failed_message_once_with_the_last_error() -> None:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    messages = _messages(3)
    for message in messages:
        queue.add(message, ticket)
    queue.flush_at = 2
    first, second = queue.take_all()
    first_error = ServerError("first", service="hull", method="POST", url="u", status_code=500)
    last_error = ServerError("last", service="hull", method="POST", url="u", status_code=503)
    queue.settle(first, first_error)
    queue.settle(second, last_error)

    error = ticket.delivery_error("https://firehose.hullapp.io", clear=True)

    assert error is not None
    assert [m["requestId"] for m in error.undelivered] == [m.request_id for m in messages]
    assert error.__cause__ is last_error
    assert str(error) == "3 Hull firehose messages not delivered: last"
    assert ticket.delivery_error("https://firehose.hullapp.io") is None


def test_a_message_settled_twice_counts_once() -> None:
    queue = FirehoseQueue(flush_at=10)
    ticket = DeliveryTicket()
    (message,) = _messages(1)
    queue.add(message, ticket)
    (batch,) = queue.take_all()
    queue.settle(batch, None)

    queue.settle(batch, _error(503))

    assert ticket.failures == {}
    assert queue.idle


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, AuthenticationError), (404, NotFoundError), (429, RateLimitError), (502, ServerError)],
)
def test_non_2xx_responses_map_to_the_error_tree(status: int, cls: type[Exception]) -> None:
    response = httpx.Response(status, json={"message": "nope"}, headers={"Retry-After": "7"})

    error = error_from_response(response, SPEC)

    assert isinstance(error, cls)
    assert error.service == "hull"
    assert error.status_code == status
    assert error.errors == ["nope"]
    assert error.retry_after == 7.0
    assert "secret" not in str(error)


def test_a_2xx_response_is_no_error() -> None:
    assert error_from_response(httpx.Response(200, json={}), SPEC) is None


def test_transport_errors_map_to_connection_and_timeout_errors() -> None:
    timeout = transport_error(httpx.ReadTimeout("slow"), SPEC)
    refused = transport_error(httpx.ConnectError("refused"), SPEC)

    assert isinstance(timeout, APITimeoutError)
    assert type(refused) is APIConnectionError
    assert refused.url == "https://firehose.hullapp.io"
    assert "refused" in str(refused)


def test_request_spec_repr_hides_headers_and_content() -> None:
    assert "secret" not in repr(SPEC)
    assert "{}" not in repr(SPEC)


def test_a_ticket_that_does_not_keep_delivered_ids_stays_small_and_still_settles() -> None:
    queue = FirehoseQueue(flush_at=10)
    shared = DeliveryTicket(keep_delivered=False)  # the client's own, for untracked writes
    for message in _messages(3):
        queue.add(message, shared)
    (batch,) = queue.take_all()

    queue.settle(batch, None)

    assert shared.done
    assert shared.delivered == frozenset()
    assert queue.idle
