"""Every entry point survives any input (SPEC §10): hypothesis drives hostile JSON at each one.

Three kinds of input: arbitrary JSON from a hypothesis strategy whose leaves include what breaks
naive code (lone surrogates, ints of hundreds of digits, floats past 1e308, NaN, megabyte
strings) and whose containers may be nested thousands deep; mutations of the real payloads in
``data/``; and raw bytes. The checks (``fuzz_harness``) accept only documented results. The
example counts are small so the suite stays fast; ``benchmarks/fuzz_entry_points.py`` runs the
same checks 100,000 times per entry point.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator
from typing import Any

import fuzz_harness as harness
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def _quiet_engine_logs() -> Iterator[None]:
    # Every bad user is logged; thousands of records would only slow the suite down.
    logger = logging.getLogger("hull_customerio")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


hostile_text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=8),  # surrogates too
    st.sampled_from(harness.SPECIAL_STRINGS),
    st.integers(1, 6).map(lambda n: "x" * 10**n),
)
hostile_numbers = st.one_of(
    st.integers(),
    st.integers(300, 4000).map(lambda digits: 10**digits),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308]),
)
hostile_scalars = st.none() | st.booleans() | hostile_numbers | hostile_text
known_keys = st.sampled_from(
    ["user", "id", "email", "events", "segments", "messages", "connector", "private_settings",
     "data", "event", "event_id", "timestamp", "indexed_at", "created_at", "properties",
     "object_type", "metric", "event_type", "identifiers", "recipient"]
)  # fmt: skip


def deeply(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value wrapped in up to 10,000 lists or objects (built without recursion)."""
    return st.tuples(children, st.sampled_from([99, 101, 999, 1000, 10_000]), st.booleans()).map(
        lambda t: harness.nest(t[0], t[1], as_object=t[2])
    )


hostile_json = st.recursive(
    hostile_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(known_keys | hostile_text, children, max_size=4),
        deeply(children),
    ),
    max_leaves=12,
)


def from_random(make: Any) -> st.SearchStrategy[Any]:
    """Inputs from the shared generator (mutated fixtures, raw bytes), seeded by hypothesis."""
    return st.randoms(use_true_random=False).map(lambda rng: make(harness.Hostile(rng)))


# ------------------------------------------------------------------------------ pure parsing


@FUZZ
@given(st.one_of(hostile_json, from_random(harness.Hostile.notification)))
def test_parse_notification_gives_a_notification_or_a_short_documented_error(
    payload: object,
) -> None:
    harness.check_parse_notification(payload)


@FUZZ
@given(st.one_of(hostile_json, from_random(harness.Hostile.message)))
def test_from_dict_gives_a_message_or_a_short_validation_error(raw: object) -> None:
    harness.check_from_dict(raw)


@FUZZ
@given(st.lists(st.one_of(hostile_json, from_random(harness.Hostile.message)), max_size=4))
def test_deduplicate_messages_keeps_one_message_per_user_whatever_the_values(
    raws: list[object],
) -> None:
    harness.check_deduplicate(raws)


@FUZZ
@given(from_random(harness.Hostile.messages))
def test_plan_user_update_never_raises_and_plans_only_sendable_data(raws: list[object]) -> None:
    harness.check_plan(raws)


@FUZZ
@given(st.one_of(hostile_json, from_random(harness.Hostile.private_settings),
                 st.dictionaries(st.sampled_from([*sorted(harness.PRIVATE_SETTINGS),
                                                  "max_attributes_per_call", "region"]),
                                 hostile_json)))  # fmt: skip
def test_settings_are_built_or_refused_with_a_short_configuration_error(raw: object) -> None:
    harness.check_settings(raw)


@FUZZ
@given(st.one_of(hostile_json, from_random(harness.Hostile.webhook)))
def test_parse_webhook_gives_a_forwardable_event_or_a_payload_error(payload: object) -> None:
    harness.check_parse_webhook(payload)


# ------------------------------------------------------------------------------ the engine


any_body = st.one_of(
    st.binary(max_size=200),
    from_random(harness.Hostile.webhook_body),
    hostile_json.map(harness._json_bytes),
)


@FUZZ
@given(any_body)
def test_handle_webhook_never_raises_for_any_bytes(body: bytes) -> None:
    harness.check_handle_webhook(body)


@FUZZ
@given(any_body)
def test_async_handle_webhook_never_raises_for_any_bytes(body: bytes) -> None:
    harness.check_async_handle_webhook(body)


@FUZZ
@given(st.one_of(hostile_json, from_random(harness.Hostile.notification)))
def test_handle_notification_answers_flow_control_for_any_payload(payload: object) -> None:
    harness.check_handle_notification(payload)


@FUZZ
@given(st.one_of(hostile_json, from_random(harness.Hostile.notification)))
def test_async_handle_notification_answers_flow_control_for_any_payload(payload: object) -> None:
    harness.check_async_handle_notification(payload)


@FUZZ
@given(from_random(harness.Hostile.messages))
def test_sync_user_updates_gives_every_user_one_outcome_whatever_the_values(
    raws: list[object],
) -> None:
    harness.check_sync(raws)


# ------------------------------------------------------------------------------ the CLI


@settings(FUZZ, max_examples=25)
@given(st.one_of(st.binary(max_size=200), from_random(harness.Hostile.cli_file)))
def test_cli_plan_exits_0_1_or_2_with_one_line_never_a_traceback(data: bytes) -> None:
    harness.check_cli(data, "plan")


@settings(FUZZ, max_examples=25)
@given(any_body)
def test_cli_webhook_exits_0_1_or_2_with_one_line_never_a_traceback(data: bytes) -> None:
    harness.check_cli(data, "webhook")


# ------------------------------------------------- past authentication: connectors, hubs, app
#
# Inputs come mostly from correctly signed notifications (FakeHull's key), a valid batch query
# and a valid webhook token, mutated inside, so the fuzzer reaches the sync behind the checks.

FEW = settings(FUZZ, max_examples=20)


def signed(make: Any = harness.signed_request) -> st.SearchStrategy[Any]:
    return st.randoms(use_true_random=False).map(lambda rng: make(harness.Hostile(rng)))


raw_request = st.tuples(st.binary(max_size=200), st.dictionaries(
    st.sampled_from(harness.HEADER_NAMES), hostile_text, max_size=3)).map(
    lambda t: harness.Request(t[0], t[1], {}))  # fmt: skip


@FEW
@given(st.one_of(signed(), raw_request, hostile_json.map(
    lambda v: harness.Request(harness._json_bytes(v), dict(harness.SIGNED_HEADERS), {})
)))  # fmt: skip
def test_answer_notification_answers_200_400_or_401_for_any_request(
    request_: harness.Request,
) -> None:
    harness.check_answer_notification(request_)


@FEW
@given(st.one_of(signed(), raw_request))
def test_async_answer_notification_answers_200_400_or_401_for_any_request(
    request_: harness.Request,
) -> None:
    harness.check_async_answer_notification(request_)


@FEW
@given(st.one_of(signed(), raw_request))
def test_hub_answer_notification_answers_200_400_or_401_for_any_request(
    request_: harness.Request,
) -> None:
    harness.check_hub_answer_notification(request_)


@FEW
@given(st.one_of(signed(), raw_request))
def test_async_hub_answer_notification_answers_200_400_or_401_for_any_request(
    request_: harness.Request,
) -> None:
    harness.check_async_hub_notification(request_)


batch_with_json_file = st.lists(hostile_json, min_size=1, max_size=3).map(
    lambda lines: harness.Request(harness._json_bytes(harness.BATCH_BODY), {},
                                  dict(harness.HULL_QUERY), harness._jsonl(lines)))  # fmt: skip


@FEW
@given(st.one_of(signed(harness.batch_request), batch_with_json_file))
def test_hub_answer_batch_answers_200_400_or_401_whatever_the_request_and_file(
    request_: harness.Request,
) -> None:
    harness.check_hub_answer_batch(request_)


@FEW
@given(st.one_of(signed(harness.batch_request), batch_with_json_file))
def test_async_hub_answer_batch_answers_200_400_or_401_whatever_the_request_and_file(
    request_: harness.Request,
) -> None:
    harness.check_async_hub_answer_batch(request_)


@FEW
@given(st.one_of(
    signed(harness.webhook_request),
    any_body.map(lambda b: harness.Request(b, {}, dict(harness.WEBHOOK_QUERY))),
))  # fmt: skip
def test_hub_answer_webhook_gives_a_webhook_outcome_for_any_token_and_body(
    request_: harness.Request,
) -> None:
    harness.check_hub_answer_webhook(request_)


@FEW
@given(signed(harness.webhook_request))
def test_async_hub_answer_webhook_gives_a_webhook_outcome_for_any_token_and_body(
    request_: harness.Request,
) -> None:
    harness.check_async_hub_answer_webhook(request_)


@FEW
@given(signed(harness.app_request))
def test_the_app_answers_2xx_or_4xx_to_any_request_never_5xx(request_: harness.Request) -> None:
    harness.check_app(request_)


@settings(FUZZ, max_examples=10)
@given(st.one_of(st.binary(max_size=200), from_random(harness.Hostile.cli_file)))
def test_cli_sync_exits_0_1_or_2_with_one_line_never_a_traceback(data: bytes) -> None:
    harness.check_cli_sync(data)


def test_the_signed_request_gets_past_authentication_to_the_sync() -> None:
    """Unmutated, the fuzzer's signed notification, batch and webhook are accepted and synced."""
    harness.FAKE_HULL.reset()
    request_ = harness.Request(harness.SIGNED.body, dict(harness.SIGNED_HEADERS), {})
    answers = [
        harness._signed_connector().answer_notification(request_.body, request_.headers),
        harness._hub().answer_notification(request_.body, request_.headers),
    ]
    for answer in answers:
        assert (answer.http_status, answer.reason) == (200, None)
        assert answer.report is not None
        assert answer.report.succeeded >= 1
    harness._batch_file[0] = harness._jsonl(harness.MESSAGES)
    batch = harness._hub().answer_batch(harness._json_bytes(harness.BATCH_BODY), {},
                                        harness.HULL_QUERY)  # fmt: skip
    assert (batch.http_status, batch.reason) == (200, None)
    assert batch.body["succeeded"] >= 1
    webhook = harness._hub().answer_webhook(harness._json_bytes(harness.WEBHOOKS[2]), {},
                                            harness.WEBHOOK_QUERY)  # fmt: skip
    assert webhook.http_status == 200
    assert webhook.reason is None


def test_the_mutated_signed_requests_mostly_get_past_authentication() -> None:
    hostile = harness.Hostile(random.Random(3))
    answers = [harness._signed_connector().answer_notification(r.body, r.headers)
               for r in (harness.signed_request(hostile) for _ in range(100))]  # fmt: skip
    synced = [a for a in answers if a.http_status == 200 and a.report is not None]
    assert len(synced) >= 40


def test_every_entry_point_has_a_fuzz_target() -> None:
    assert set(harness.TARGETS) == {
        "parse_notification", "UserUpdateMessage.from_dict", "deduplicate_messages",
        "plan_user_update", "Settings", "parse_webhook", "Connector.handle_webhook",
        "AsyncConnector.handle_webhook", "Connector.handle_notification",
        "Connector.sync_user_updates", "AsyncConnector.handle_notification", "cli plan",
        "cli webhook", "Connector.answer_notification", "AsyncConnector.answer_notification",
        "ConnectorHub.answer_notification", "AsyncConnectorHub.answer_notification",
        "ConnectorHub.answer_batch", "AsyncConnectorHub.answer_batch",
        "ConnectorHub.answer_webhook", "AsyncConnectorHub.answer_webhook", "app endpoints",
        "cli sync", "hub organizations", "key URLs", "app body limits",
    }  # fmt: skip


def test_the_generator_makes_every_kind_of_hostile_value() -> None:
    hostile = harness.Hostile(random.Random(1))
    values = [hostile.value() for _ in range(3000)]
    leaves = list(_leaves(values))
    assert "\ud800" in leaves
    assert any(isinstance(v, float) and math.isnan(v) for v in leaves)
    assert float("inf") in leaves
    assert any(isinstance(v, int) and v >= 10**400 for v in leaves)
    assert any(isinstance(v, str) and len(v) >= 100_000 for v in leaves)
    assert any(isinstance(v, list) and len(v) >= 1000 for v in values)
    assert max(_depth(v) for v in values) >= 1000
    bodies = [hostile.raw_bytes(harness.WEBHOOKS[0]) for _ in range(200)]
    assert any(b.startswith(b"[" * 1000) for b in bodies)


def _leaves(value: object) -> Iterator[object]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item[:50])
        elif isinstance(item, dict):
            stack.extend(list(item.values())[:50])
        else:
            yield item


def _depth(value: object) -> int:
    depth = 0
    while isinstance(value, (list, dict)) and value:
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    return depth


# The service's edge (SPEC §8.7): organizations, key URLs and bodies an attacker chooses.


@FEW
@given(st.one_of(signed(harness.hostile_host), hostile_text))
def test_a_hub_calls_hull_only_on_a_host_under_hulls_domains_whatever_the_organization(
    organization: str,
) -> None:
    harness.check_hub_organization(organization)


@FEW
@given(st.one_of(signed(harness.hostile_key_url), hostile_text))
def test_a_key_is_fetched_only_over_https_from_hulls_domains_whatever_the_key_url(
    key_url: str,
) -> None:
    harness.check_key_url(key_url)


@FEW
@given(signed(harness.hostile_body))
def test_the_app_answers_413_exactly_for_a_body_over_its_limit_and_frees_its_budget(
    request_: harness.BodyRequest,
) -> None:
    harness.check_body_limits(request_)


def test_the_edge_targets_reach_hull_for_a_hull_organization() -> None:
    """The organization check is not refusing everything: Hull's own host gets through."""
    hub, recording = harness._edge_hub()
    recording.urls.clear()
    query = {"organization": "acme42.hullapp.io", "id": "1", "secret": "s"}
    assert hub.answer_status(query).reason != "untrusted_organization"
    assert [url.host for url in recording.urls] == ["acme42.hullapp.io"] * len(recording.urls)
    assert recording.urls
