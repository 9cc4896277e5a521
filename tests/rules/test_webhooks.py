"""Customer.io webhook payloads → Hull events (SPEC §4.2-§4.6)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hull_customerio.errors import WebhookPayloadError
from hull_customerio.models.webhook import IncomingEvent
from hull_customerio.rules.webhooks import (
    CHANNEL_LABELS,
    WEBHOOK_EVENT_NAMES,
    extract_email,
    parse_webhook,
    webhook_event_name,
)
from hull_customerio.settings import Settings

FIXTURES = Path(__file__).parent.parent / "data" / "webhooks"
DEFAULT = Settings()


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def reporting(object_type: str, metric: str, **data: Any) -> dict[str, Any]:
    return {
        "object_type": object_type,
        "metric": metric,
        "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
        "timestamp": 1613063089,
        "data": {"identifiers": {"id": "42", "email": "test@example.com"}, **data},
    }


def legacy(event_type: str, **data: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "event_id": "5b68360d2bf711479352",
        "timestamp": 1352005930,
        "data": {"customer_id": "568", "email_address": "customer@example.com", **data},
    }


def outcome(payload: object, settings: Settings = DEFAULT) -> IncomingEvent | WebhookPayloadError:
    """The event, or the payload error: never anything else."""
    try:
        return parse_webhook(payload, settings)  # type: ignore[arg-type]
    except WebhookPayloadError as error:
        return error


def payload_error(payload: object, settings: Settings = DEFAULT) -> WebhookPayloadError:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_webhook(payload, settings)  # type: ignore[arg-type]
    return caught.value


# --- the fixtures ------------------------------------------------------------------------------


def test_fixture_legacy_email_delivered() -> None:
    assert parse_webhook(load("legacy-email-delivered.json"), DEFAULT) == IncomingEvent(
        event="Email Delivered",
        properties={
            "customer_id": "568",
            "campaign_id": "33",
            "campaign_name": "Inactivity Teaser",
            "email_subject": "Why haven't you visited lately?",
            "email_id": "34",
            "email_address": "customer@example.com",
        },
        claims={"email": "customer@example.com", "external_id": "568"},
        event_id="5b68360d2bf711479352",
        created_at="2012-11-04T05:12:10Z",
        key="email_delivered",
        format="legacy",
    )


def test_fixture_reporting_customer_subscribed() -> None:
    assert parse_webhook(load("reporting-customer-subscribed.json"), DEFAULT) == IncomingEvent(
        event="Customer Subscribed",
        properties={"customer_id": "0200000001", "email_address": "test@example.com"},
        # identifiers.id wins over the deprecated data.customer_id
        claims={"email": "test@example.com", "external_id": "42"},
        event_id="01E4C4CT6YDC7Y5M7FE1GWWPQJ",
        created_at="2021-02-11T17:04:49Z",
        key="customer_subscribed",
        format="reporting",
    )


def test_fixture_reporting_email_sent() -> None:
    assert parse_webhook(load("reporting-email-sent.json"), DEFAULT) == IncomingEvent(
        event="Email Sent",
        properties={
            "customer_id": "0200000001",
            "action_id": 42,
            "broadcast_id": 9,
            "email_id": "RPILAgUBcRhIBqSfeiIwdIYJKxTY",
            "email_address": "test@example.com",
        },
        claims={"email": "test@example.com", "external_id": "42"},
        event_id="01E4C4CT6YDC7Y5M7FE1GWWPQJ",
        created_at="2021-02-11T17:04:49Z",
        key="email_sent",
        format="reporting",
    )


def test_fixture_reporting_sms_sent() -> None:
    incoming = parse_webhook(load("reporting-sms-sent.json"), DEFAULT)
    assert incoming.event == "SMS Sent"
    assert incoming.properties == {
        "customer_id": "0200000001",
        "action_id": 42,
        "broadcast_id": 9,
        # §4.4: other channels keep delivery_id, and an SMS recipient (a phone number) is
        # kept as recipient only, never as an email_address.
        "delivery_id": "RPILAgUBcRhIBqSfeiIwdIYJKxTY",
        "recipient": "+15551234567",
    }
    # a phone number is no email: the email claim comes from identifiers.email
    assert incoming.claims == {"email": "test@example.com", "external_id": "42"}
    assert incoming.key == "sms_sent"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_every_fixture_becomes_an_event(path: Path) -> None:
    incoming = parse_webhook(json.loads(path.read_text(encoding="utf-8")), DEFAULT)
    assert incoming.source == "customerio"
    assert incoming.claims
    assert None not in incoming.properties.values()


# --- §4.3 event names --------------------------------------------------------------------------

TABLE = [
    ("customer", "subscribed", "Customer Subscribed"),
    ("customer", "unsubscribed", "Customer Unsubscribed"),
    ("customer", "cio_subscription_preferences_changed", "Subscription Preferences Changed"),
    ("email", "drafted", "Email Drafted"),
    ("email", "attempted", "Email Attempted"),
    ("email", "sent", "Email Sent"),
    ("email", "delivered", "Email Delivered"),
    ("email", "opened", "Email Opened"),
    ("email", "converted", "Email Converted"),
    ("email", "bounced", "Email Bounced"),
    ("email", "dropped", "Email Dropped"),
    ("email", "failed", "Email Failed"),
    ("email", "deferred", "Email Deferred"),
    ("email", "undeliverable", "Email Undeliverable"),
    ("email", "clicked", "Email Link Clicked"),
    ("email", "spammed", "Email Marked as Spam"),
    ("email", "unsubscribed", "Unsubscribed"),
]


@pytest.mark.parametrize(("object_type", "metric", "name"), TABLE)
def test_reporting_event_names(object_type: str, metric: str, name: str) -> None:
    incoming = parse_webhook(reporting(object_type, metric), DEFAULT)
    assert incoming.event == name
    assert incoming.key == f"{object_type}_{metric}"


@pytest.mark.parametrize(("object_type", "metric", "name"), TABLE)
def test_legacy_event_names(object_type: str, metric: str, name: str) -> None:
    assert parse_webhook(legacy(f"{object_type}_{metric}"), DEFAULT).event == name


def test_the_table_has_exactly_the_spec_rows() -> None:
    assert dict(WEBHOOK_EVENT_NAMES) == {f"{o}_{m}": n for o, m, n in TABLE}


CHANNELS = [
    ("push", "Push"),
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("in_app", "In-App"),
    ("slack", "Slack"),
    ("webhook", "Webhook"),
]
METRICS = [
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opened", "Opened"),
    ("clicked", "Clicked"),
    ("bounced", "Bounced"),
    ("converted", "Converted"),
    ("failed", "Failed"),
    ("human_clicked", "Human Clicked"),
]


@pytest.mark.parametrize(("channel", "label"), CHANNELS)
@pytest.mark.parametrize(("metric", "rendered"), METRICS)
def test_channel_events_are_named_channel_and_capitalised_metric(
    channel: str, label: str, metric: str, rendered: str
) -> None:
    incoming = parse_webhook(reporting(channel, metric, recipient="device-token"), DEFAULT)
    assert incoming.event == f"{label} {rendered}"
    assert incoming.properties["recipient"] == "device-token"


def test_channel_labels_cover_the_spec() -> None:
    assert dict(CHANNEL_LABELS) == dict(CHANNELS)


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("push_delivered", "Push Delivered"),
        ("sms_clicked", "SMS Clicked"),
        ("in_app_opened", "In-App Opened"),
        ("webhook_human_clicked", "Webhook Human Clicked"),
        ("email_clicked", "Email Link Clicked"),
    ],
)
def test_webhook_event_name_examples(key: str, name: str) -> None:
    assert webhook_event_name(key) == name


@pytest.mark.parametrize(
    "key",
    [
        "email_exploded",
        "customer_deleted",
        "fax_sent",
        "push_",
        "sms",
        "sms_Sent",
        "sms_sent now",
        "in_app__opened",
        "EMAIL_SENT",
        "",
    ],
)
def test_unknown_keys_have_no_name(key: str) -> None:
    assert webhook_event_name(key) is None


def test_an_unknown_reporting_event_is_unknown_event_with_the_key_quoted() -> None:
    error = payload_error(reporting("email", "exploded"))
    assert error.reason == "unknown_event"
    assert "'email_exploded'" in str(error)


def test_an_unknown_legacy_event_is_unknown_event_with_the_key_quoted() -> None:
    error = payload_error(legacy("fax_sent"))
    assert error.reason == "unknown_event"
    assert "'fax_sent'" in str(error)


# --- §4.2 formats ------------------------------------------------------------------------------


def test_the_legacy_format_is_checked_first() -> None:
    payload = {**legacy("email_opened"), "object_type": "sms", "metric": "sent"}
    incoming = parse_webhook(payload, DEFAULT)
    assert (incoming.format, incoming.key, incoming.event) == (
        "legacy",
        "email_opened",
        "Email Opened",
    )


def test_a_null_event_type_falls_through_to_the_reporting_format() -> None:
    payload = {**reporting("email", "opened"), "event_type": None}
    assert parse_webhook(payload, DEFAULT).format == "reporting"


@pytest.mark.parametrize("payload", [[], [1, 2], "email_sent", 42, 4.2, True, None])
def test_a_payload_that_is_not_an_object_is_invalid(payload: object) -> None:
    error = payload_error(payload)
    assert error.reason == "invalid_payload"
    assert "JSON object" in str(error)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"data": {"email_address": "a@b.io"}, "event_id": "x", "timestamp": 1},
        {"type": "email_sent", "data": {}},
    ],
)
def test_neither_format_is_invalid(payload: dict[str, Any]) -> None:
    error = payload_error(payload)
    assert error.reason == "invalid_payload"
    assert "neither" in str(error)


@pytest.mark.parametrize("make", [lambda: legacy("email_sent"), lambda: reporting("email", "sent")])
@pytest.mark.parametrize("data", ["absent", None, [], "data", 3])
def test_missing_or_non_object_data_is_invalid(make: Any, data: object) -> None:
    payload = make()
    if data == "absent":
        del payload["data"]
    else:
        payload["data"] = data
    error = payload_error(payload)
    assert error.reason == "invalid_payload"
    assert "data" in str(error)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_type", ""),
        ("event_type", 3),
        ("event_type", ["email_sent"]),
    ],
)
def test_a_legacy_event_type_must_be_a_string(field: str, value: object) -> None:
    payload = {**legacy("email_sent"), field: value}
    assert payload_error(payload).reason == "invalid_payload"


@pytest.mark.parametrize(
    ("field", "value"),
    [("object_type", None), ("metric", None), ("metric", ""), ("object_type", 1), ("metric", {})],
)
def test_reporting_needs_object_type_and_metric(field: str, value: object) -> None:
    payload = {**reporting("email", "sent"), field: value}
    error = payload_error(payload)
    assert error.reason == "invalid_payload"
    assert field in str(error)


# --- §4.6 dedupe and time ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["absent", None, "", "  ", True, 1.5, [], {}])
def test_an_event_id_is_required(value: object) -> None:
    payload = reporting("email", "sent")
    if value == "absent":
        del payload["event_id"]
    else:
        payload["event_id"] = value
    error = payload_error(payload)
    assert error.reason == "invalid_payload"
    assert "event_id" in str(error)


def test_a_numeric_event_id_is_kept_as_text() -> None:
    assert parse_webhook({**reporting("email", "sent"), "event_id": 123}, DEFAULT).event_id == "123"


@pytest.mark.parametrize(
    ("timestamp", "created_at"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1613063089, "2021-02-11T17:04:49Z"),
        (1613063089.25, "2021-02-11T17:04:49.250Z"),
        (1613063089.0, "2021-02-11T17:04:49Z"),
        (253_402_300_799.9999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_created_at_is_the_timestamp_in_iso_utc(timestamp: float, created_at: str) -> None:
    payload = {**reporting("email", "sent"), "timestamp": timestamp}
    assert parse_webhook(payload, DEFAULT).created_at == created_at


@pytest.mark.parametrize(
    "timestamp",
    [
        "absent",
        None,
        "1613063089",
        True,
        False,
        -1,
        math.nan,
        math.inf,
        -math.inf,
        10**20,
        10**400,
        [],
        {},
    ],
)
def test_a_timestamp_must_be_unix_seconds(timestamp: object) -> None:
    payload = reporting("email", "sent")
    if timestamp == "absent":
        del payload["timestamp"]
    else:
        payload["timestamp"] = timestamp
    error = payload_error(payload)
    assert error.reason == "invalid_payload"
    assert "timestamp" in str(error)


def test_track_arguments_carry_dedupe_and_time() -> None:
    incoming = parse_webhook(load("reporting-email-sent.json"), DEFAULT)
    arguments = incoming.track_arguments()
    assert arguments == {
        "event": "Email Sent",
        "properties": incoming.properties,
        "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
        "created_at": "2021-02-11T17:04:49Z",
        "source": "customerio",
        "ip": "0",
    }
    arguments["properties"]["extra"] = 1
    assert "extra" not in incoming.properties


# --- §4.4 properties ---------------------------------------------------------------------------

ALL_COPIED = {
    "customer_id": "c1",
    "campaign_id": 33,
    "campaign_name": "Teaser",
    "template_id": 7,
    "tags": ["a", "b"],
    "content_id": 2,
    "action_id": 42,
    "broadcast_id": 9,
    "newsletter_id": 11,
    "journey_id": "j-1",
    "href": "https://example.com/x",
    "link_id": 5,
    "failure_message": "mailbox full",
}


def test_every_listed_property_is_copied_as_is() -> None:
    incoming = parse_webhook(reporting("email", "clicked", **ALL_COPIED), DEFAULT)
    # identifiers are claims, not properties; without email_address/recipient there is none
    assert incoming.properties == ALL_COPIED


def test_absent_and_null_keys_are_omitted() -> None:
    data = dict.fromkeys([*ALL_COPIED, "subject", "delivery_id", "email_id", "recipient"])
    payload = reporting("email", "sent", **data)
    payload["data"]["email_address"] = None
    assert parse_webhook(payload, DEFAULT).properties == {}


def test_subject_becomes_email_subject() -> None:
    incoming = parse_webhook(reporting("email", "sent", subject="Hello"), DEFAULT)
    assert incoming.properties["email_subject"] == "Hello"
    assert "subject" not in incoming.properties


def test_reporting_delivery_id_becomes_email_id() -> None:
    payload = reporting("email", "sent", delivery_id="RPIL", email_id="old")
    assert parse_webhook(payload, DEFAULT).properties["email_id"] == "RPIL"


def test_legacy_email_id_is_email_id() -> None:
    payload = legacy("email_sent", email_id="34", delivery_id="ignored")
    assert parse_webhook(payload, DEFAULT).properties["email_id"] == "34"


def test_email_recipient_becomes_email_address_raw() -> None:
    payload = reporting("email", "delivered", recipient="Sven <sven@example.com>")
    properties = parse_webhook(payload, DEFAULT).properties
    assert properties["email_address"] == "Sven <sven@example.com>"
    assert "recipient" not in properties


def test_customer_email_address_is_kept_raw() -> None:
    payload = reporting("customer", "subscribed", email_address="Sven <sven@example.com>")
    assert parse_webhook(payload, DEFAULT).properties["email_address"] == "Sven <sven@example.com>"


@pytest.mark.parametrize("channel", [c for c, _ in CHANNELS])
def test_non_email_channels_keep_recipient_only_as_recipient(channel: str) -> None:
    properties = parse_webhook(reporting(channel, "sent", recipient="+1555"), DEFAULT).properties
    assert properties["recipient"] == "+1555"
    assert "email_address" not in properties


@pytest.mark.parametrize("channel", [c for c, _ in CHANNELS])
def test_non_email_channels_keep_delivery_id(channel: str) -> None:
    properties = parse_webhook(reporting(channel, "sent", delivery_id="RPIL"), DEFAULT).properties
    assert properties["delivery_id"] == "RPIL"
    assert "email_id" not in properties


def test_unlisted_data_keys_are_not_copied() -> None:
    payload = reporting("email", "sent", content="<html>", headers={"x": "y"}, cio_id="d9")
    properties = parse_webhook(payload, DEFAULT).properties
    assert not {"content", "headers", "cio_id", "identifiers"} & properties.keys()


# --- §4.5 which Hull user ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "email"),
    [
        ("sven+x@hull.io", "sven+x@hull.io"),
        ("Sven <sven+x@hull.io>", "sven+x@hull.io"),
        ('"Doe, Sven" <sven+x@hull.io>', "sven+x@hull.io"),
        ("<sven@hull.io>", "sven@hull.io"),
        ("  Sven   < sven@hull.io >  ", "sven@hull.io"),
        ("Sven.Case@Hull.IO", "Sven.Case@Hull.IO"),
        ("+15551234567", None),
        ("Sven <>", None),
        ("not an email", None),
        ("a@b@c", None),
        ("", None),
        (None, None),
        (42, None),
        (["a@b.io"], None),
    ],
)
def test_extract_email(raw: object, email: str | None) -> None:
    assert extract_email(raw) == email


def test_a_display_name_recipient_yields_the_bare_address_claim() -> None:
    payload = reporting("email", "sent", recipient="Sven <sven+x@hull.io>")
    del payload["data"]["identifiers"]
    assert parse_webhook(payload, Settings(user_id_mapping="email")).claims == {
        "email": "sven+x@hull.io"
    }


def test_email_sources_in_order() -> None:
    data = {
        "identifiers": {"email": "Id <first@x.io>"},
        "email_address": "second@x.io",
        "recipient": "third@x.io",
    }
    payload = {**reporting("email", "sent"), "data": data}
    assert parse_webhook(payload, DEFAULT).claims == {"email": "first@x.io"}
    del data["identifiers"]
    assert parse_webhook(payload, DEFAULT).claims == {"email": "second@x.io"}
    del data["email_address"]
    assert parse_webhook(payload, DEFAULT).claims == {"email": "third@x.io"}


def test_an_unusable_email_falls_back_to_the_next_source() -> None:
    data = {"identifiers": {"email": "nope"}, "recipient": "Sven <sven@x.io>"}
    payload = {**reporting("email", "sent"), "data": data}
    assert parse_webhook(payload, DEFAULT).claims == {"email": "sven@x.io"}


@pytest.mark.parametrize(
    ("mapping", "claims"),
    [
        ("external_id", {"email": "test@example.com", "external_id": "42"}),
        ("id", {"email": "test@example.com", "id": "42"}),
        ("email", {"email": "test@example.com"}),
        ("traits_salesforce/id", {"email": "test@example.com"}),
    ],
)
def test_user_id_mapping_decides_the_claims(mapping: str, claims: dict[str, str]) -> None:
    settings = Settings(user_id_mapping=mapping)
    assert parse_webhook(load("reporting-email-sent.json"), settings).claims == claims


@pytest.mark.parametrize(("mapping", "claim"), [("external_id", "external_id"), ("id", "id")])
def test_the_deprecated_customer_id_is_the_fallback(mapping: str, claim: str) -> None:
    payload = reporting("email", "sent", customer_id="568")
    payload["data"]["identifiers"] = {"email": "test@example.com"}
    claims = parse_webhook(payload, Settings(user_id_mapping=mapping)).claims
    assert claims == {"email": "test@example.com", claim: "568"}


def test_an_id_alone_identifies_the_user_under_an_id_mapping() -> None:
    payload = {**reporting("customer", "unsubscribed"), "data": {"identifiers": {"id": 7}}}
    assert parse_webhook(payload, DEFAULT).claims == {"external_id": "7"}


@pytest.mark.parametrize("identifiers", [None, [], "x", {"id": None, "email": None}])
def test_wrongly_typed_identifiers_are_ignored(identifiers: object) -> None:
    payload = reporting("email", "sent", customer_id="568", recipient="a@x.io")
    payload["data"]["identifiers"] = identifiers
    assert parse_webhook(payload, DEFAULT).claims == {"email": "a@x.io", "external_id": "568"}


@pytest.mark.parametrize("bad_id", [True, "", "   ", 1.5, [], {}])
def test_unusable_ids_are_not_claims(bad_id: object) -> None:
    payload = {
        **reporting("customer", "subscribed"),
        "data": {"identifiers": {"id": bad_id}, "customer_id": bad_id},
    }
    assert payload_error(payload).reason == "no_identifier"


def test_a_customer_event_without_any_identifier_is_no_identifier() -> None:
    payload = {**reporting("customer", "subscribed"), "data": {"campaign_id": 1}}
    error = payload_error(payload)
    assert error.reason == "no_identifier"
    assert "'customer_subscribed'" in str(error)


def test_an_id_alone_is_not_enough_when_the_mapping_is_not_an_id() -> None:
    payload = {**reporting("customer", "subscribed"), "data": {"identifiers": {"id": "42"}}}
    error = payload_error(payload, Settings(user_id_mapping="email"))
    assert error.reason == "no_identifier"
    assert "'email'" in str(error)


def test_an_sms_to_a_phone_number_without_identifiers_is_no_identifier() -> None:
    payload = {**reporting("sms", "sent"), "data": {"recipient": "+15551234567"}}
    assert payload_error(payload, Settings(user_id_mapping="email")).reason == "no_identifier"


# --- any input: an event or a WebhookPayloadError ----------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value, sometimes any JSON: reaches both the success and error paths."""
    return st.integers(0, 99).flatmap(lambda n: json_values if n < 15 else valid)


keys = st.sampled_from(
    [
        "customer_id",
        "email_address",
        "recipient",
        "identifiers",
        "email",
        "id",
        "subject",
        "delivery_id",
        "email_id",
        "tags",
        "href",
    ]
)
ids = st.one_of(st.text(min_size=1, max_size=8).filter(str.strip), st.integers())
emails = st.one_of(st.emails(), st.just("Sven <sven+x@hull.io>"), st.just("+15551234567"))
identifiers = mostly(
    st.fixed_dictionaries({}, optional={"id": mostly(ids), "email": mostly(emails)})
)
data = st.one_of(
    json_values,
    st.dictionaries(keys, json_values, max_size=6),
    st.fixed_dictionaries(
        {},
        optional={
            "identifiers": identifiers,
            "email_address": mostly(emails),
            "recipient": mostly(emails),
            "customer_id": mostly(ids),
            "subject": json_values,
            "delivery_id": json_values,
            "tags": json_values,
        },
    ),
)
common = {
    "event_id": mostly(ids),
    "timestamp": mostly(st.integers(0, 4 * 10**9) | st.floats(0, 4e9)),
    "data": data,
}
legacy_shaped = st.fixed_dictionaries(
    {"event_type": mostly(st.sampled_from(sorted(WEBHOOK_EVENT_NAMES))), **common},
    optional={"object_type": json_values, "metric": json_values},
)
reporting_shaped = st.fixed_dictionaries(
    {
        "object_type": mostly(st.sampled_from(["email", "customer", "in_app", "sms", "fax"])),
        "metric": mostly(st.sampled_from(["sent", "subscribed", "human_clicked", "x y"])),
        **common,
    },
    optional={"event_type": st.none()},
)
random_keys = st.dictionaries(st.text(max_size=8), json_values, max_size=2)
webhook_shaped = st.one_of(legacy_shaped, reporting_shaped).flatmap(
    lambda payload: random_keys.map(lambda extra: {**extra, **payload})
) | st.fixed_dictionaries({}, optional=dict.fromkeys(("event_type", "metric", "data"), json_values))
mappings = st.sampled_from(["external_id", "id", "email", "custom/attr"])


@settings(max_examples=500)
@given(payload=st.one_of(json_values, webhook_shaped), mapping=mappings)
def test_any_json_gives_an_event_or_a_payload_error(payload: object, mapping: str) -> None:
    incoming = outcome(payload, Settings(user_id_mapping=mapping))
    if isinstance(incoming, WebhookPayloadError):
        assert incoming.reason in {"invalid_payload", "unknown_event", "no_identifier"}
        assert str(incoming)
    else:
        assert incoming.claims
        assert incoming.event
        assert incoming.created_at.endswith("Z")
        assert None not in incoming.properties.values()
        assert set(incoming.claims) <= {"email", "external_id", "id"}


well_formed = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(sorted(WEBHOOK_EVENT_NAMES)),
        "event_id": ids,
        "timestamp": st.integers(0, 4 * 10**9),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "identifiers": identifiers,
                "email_address": mostly(emails),
                "recipient": mostly(emails),
                "customer_id": mostly(ids),
            },
        ),
    }
)


@settings(max_examples=300)
@given(payload=well_formed, mapping=mappings)
def test_a_well_formed_webhook_is_an_event_unless_nobody_is_named(
    payload: dict[str, Any], mapping: str
) -> None:
    incoming = outcome(payload, Settings(user_id_mapping=mapping))
    if isinstance(incoming, WebhookPayloadError):
        if incoming.reason == "invalid_payload":
            # NaN and infinity in a forwarded field are never forwarded: Hull cannot read them.
            assert "not finite" in str(incoming)
            return
        assert incoming.reason == "no_identifier"
        return
    assert incoming.event == WEBHOOK_EVENT_NAMES[payload["event_type"]]
    assert incoming.event_id == str(payload["event_id"])
    email = incoming.claims.get("email")
    assert email is None or "@" in email
    if mapping not in {"external_id", "id"}:
        assert set(incoming.claims) == {"email"}
