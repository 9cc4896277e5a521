"""Customer.io webhook payloads → Hull user events.

Pure: a parsed JSON payload and the settings in, an [`IncomingEvent`][hull_customerio.IncomingEvent]
or a [`WebhookPayloadError`][hull_customerio.errors.WebhookPayloadError] out. The payload is
untrusted input, so every value is type-checked before use: a wrong type anywhere is an
``invalid_payload`` (or, for optional fields, ignored), never another exception.

Two payload shapes exist, and the legacy one is recognised first:

- Legacy "Email Activity Webhooks": ``{"event_type": "email_delivered", "event_id",
  "timestamp", "data"}``.
- Reporting webhooks: ``{"object_type": "email", "metric": "delivered", "event_id",
  "timestamp", "data"}``, looked up as ``email_delivered``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Literal, NoReturn

from hull_customerio._serialization import describe, unsendable
from hull_customerio.errors import WebhookPayloadError
from hull_customerio.models.webhook import IncomingEvent, WebhookFormat
from hull_customerio.settings import Settings

__all__ = [
    "CHANNEL_LABELS",
    "SUBSCRIPTION_EVENT_NAMES",
    "WEBHOOK_EVENT_NAMES",
    "PayloadFailure",
    "extract_email",
    "parse_webhook",
    "webhook_event_name",
]

#: The ``reason`` codes of `WebhookPayloadError`.
PayloadFailure = Literal["invalid_payload", "unknown_event", "no_identifier"]

#: Hull event names of the customer and email events, by Customer.io key.
WEBHOOK_EVENT_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "customer_subscribed": "Customer Subscribed",
        "customer_unsubscribed": "Customer Unsubscribed",
        "customer_cio_subscription_preferences_changed": "Subscription Preferences Changed",
        "email_drafted": "Email Drafted",
        "email_attempted": "Email Attempted",
        "email_sent": "Email Sent",
        "email_delivered": "Email Delivered",
        "email_opened": "Email Opened",
        "email_converted": "Email Converted",
        "email_bounced": "Email Bounced",
        "email_dropped": "Email Dropped",
        "email_failed": "Email Failed",
        "email_deferred": "Email Deferred",
        "email_undeliverable": "Email Undeliverable",
        "email_clicked": "Email Link Clicked",
        "email_spammed": "Email Marked as Spam",
        "email_unsubscribed": "Unsubscribed",
    }
)

#: Subscription changes by metric, named the same whichever channel triggered them;
#: ``email_unsubscribed`` keeps its own name (see `WEBHOOK_EVENT_NAMES`).
SUBSCRIPTION_EVENT_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "subscribed": "Customer Subscribed",
        "unsubscribed": "Customer Unsubscribed",
        "cio_subscription_preferences_changed": "Subscription Preferences Changed",
    }
)

#: The message channels whose every metric is forwarded, as ``<label> <Metric>``.
CHANNEL_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "push": "Push",
        "sms": "SMS",
        "whatsapp": "WhatsApp",
        "in_app": "In-App",
        "slack": "Slack",
        "webhook": "Webhook",
    }
)

# Every object_type Customer.io reports: the person ("customer") and each message channel.
_OBJECT_TYPES = ("customer", "email", *CHANNEL_LABELS)

# Customer.io metrics are snake_case words ("delivered", "human_clicked"); anything else after
# a channel prefix is not a metric we can name.
_METRIC = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")

_COPIED_PROPERTIES = (
    "customer_id",
    "campaign_id",
    "campaign_name",
    "template_id",
    "tags",
    "content_id",
    "action_id",
    "broadcast_id",
    "newsletter_id",
    "journey_id",
    "href",
    "link_id",
    "failure_message",
    "transactional_message_id",
    "trigger_event_id",
    "parent_action_id",
    "machine",
    "proxied",
    "prefetched",
    "tracked_response",
    "inbound_event_id",
    "topics",
)

_ANGLE_ADDRESS = re.compile(r"<([^<>]*)>")
_EMAIL = re.compile(r"[^\s@<>]+@[^\s@<>]+")

#: 9999-12-31T23:59:59Z, the last second ``datetime`` can hold.
_MAX_TIMESTAMP = 253_402_300_799
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Keeps error messages readable when a payload carries a huge value.
_QUOTE_LIMIT = 100
#: The longest event key forwarded; Customer.io's are a few words (``sms_human_clicked``).
_MAX_KEY_LENGTH = 100


def webhook_event_name(key: str) -> str | None:
    """The Hull event name for a Customer.io event key, or ``None`` if it has none.

    Customer and email events come from `WEBHOOK_EVENT_NAMES`. A subscription change
    (metric ``subscribed``, ``unsubscribed`` or ``cio_subscription_preferences_changed``) is
    named by `SUBSCRIPTION_EVENT_NAMES` whichever channel triggered it, except
    ``email_unsubscribed``, which stays ``Unsubscribed``. Every other metric of the channels in
    `CHANNEL_LABELS` is named ``<channel label> <Metric>``, each word of the metric
    capitalised: ``sms_clicked`` → ``SMS Clicked``, ``in_app_opened`` → ``In-App Opened``,
    ``webhook_human_clicked`` → ``Webhook Human Clicked``.

    Args:
        key: the legacy ``event_type`` or the reporting ``<object_type>_<metric>``.
    """
    name = WEBHOOK_EVENT_NAMES.get(key)
    if name is not None:
        return name
    object_type = _object_type_of(key)
    if object_type is None:
        return None
    metric = key[len(object_type) + 1 :]
    subscription = SUBSCRIPTION_EVENT_NAMES.get(metric)
    if subscription is not None:
        return subscription
    if object_type not in CHANNEL_LABELS or not _METRIC.fullmatch(metric):
        return None
    return " ".join(
        [CHANNEL_LABELS[object_type], *(word.capitalize() for word in metric.split("_"))]
    )


def extract_email(value: object) -> str | None:
    """The email address in a recipient field, or ``None`` when there is none.

    A display name is dropped: ``Sven <sven+x@hull.io>`` → ``sven+x@hull.io``. The address is
    otherwise kept as written (no case folding). A phone number, a device token or a non-string
    has no address.

    Args:
        value: ``data.identifiers.email``, ``data.email_address`` or ``data.recipient``.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    bracketed = _ANGLE_ADDRESS.search(text)
    if bracketed is not None:
        text = bracketed.group(1).strip()
    return text if _EMAIL.fullmatch(text) else None


def parse_webhook(payload: Mapping[str, object], settings: Settings) -> IncomingEvent:
    """Turn a Customer.io webhook payload into the Hull event it reports.

    Args:
        payload: the webhook body, parsed from JSON. Any JSON value is accepted; anything that
            is not a usable webhook raises
            [`WebhookPayloadError`][hull_customerio.errors.WebhookPayloadError].
        settings: the connector settings; ``user_id_mapping`` decides the Hull claim the
            Customer.io id becomes.

    Returns:
        The event, with its Hull name, properties, user claims, ``event_id`` and ``created_at``.

    Raises:
        WebhookPayloadError: ``reason`` is ``invalid_payload`` (not an object, neither format,
            no ``data`` object, no ``event_id``, no usable ``timestamp``, or a forwarded value
            JSON cannot carry: text that is not valid Unicode, NaN, nesting too deep),
            ``unknown_event`` (the key is not one Customer.io documents; the message quotes it)
            or ``no_identifier`` (neither an email address nor, under an ``external_id`` or
            ``id`` mapping, a Customer.io id). Such a webhook can never become a Hull event.
    """
    if not isinstance(payload, Mapping):
        _fail(
            "invalid_payload", f"A webhook payload must be a JSON object, got {describe(payload)}."
        )
    fmt, key = _format_and_key(payload)
    data = payload.get("data")
    if not isinstance(data, Mapping):
        problem = "has no data" if data is None else f"has data that is {describe(data)}"
        _fail("invalid_payload", f"The webhook {problem}; an object is required.")
    event = webhook_event_name(key)
    if event is None:
        _fail(
            "unknown_event",
            f"Unknown Customer.io event {_quote(key)}: it has no Hull event name, so it is "
            "not forwarded.",
        )
    event_id = _event_id(payload.get("event_id"))
    created_at = _created_at(payload.get("timestamp"))
    claims = _claims(data, settings.user_id_mapping)
    if not claims:
        _fail(
            "no_identifier",
            f"The {_quote(key)} webhook names no Hull user: no email address in "
            "data.identifiers.email, data.email_address or data.recipient"
            + (
                ", and no Customer.io id in data.identifiers.id or data.customer_id."
                if settings.user_id_mapping in ("external_id", "id")
                else f" (with user_id_mapping {_quote(settings.user_id_mapping)} only the "
                "email identifies the user)."
            ),
        )
    if len(key) > _MAX_KEY_LENGTH:
        # A channel's metrics are named freely, but none is this long: no event to forward.
        _fail(
            "unknown_event",
            f"Unknown Customer.io event {_quote(key)}: a key of {len(key)} characters is none.",
        )
    properties = _properties(data, fmt, key)
    # Hull must be able to read what is forwarded: no lone surrogates, NaN, absurd nesting.
    unusable = unsendable([event, event_id, claims, properties])
    if unusable is not None:
        _fail("invalid_payload", f"The {_quote(key)} webhook cannot be forwarded: {unusable}.")
    return IncomingEvent(
        event=event,
        properties=properties,
        claims=claims,
        event_id=event_id,
        created_at=created_at,
        key=key,
        format=fmt,
    )


def _format_and_key(payload: Mapping[str, object]) -> tuple[WebhookFormat, str]:
    event_type = payload.get("event_type")
    if event_type is not None:
        if not isinstance(event_type, str) or not event_type.strip():
            _fail(
                "invalid_payload",
                f"The webhook's event_type must be a non-empty string, got {describe(event_type)}.",
            )
        return "legacy", event_type.strip()
    object_type, metric = payload.get("object_type"), payload.get("metric")
    if object_type is None and metric is None:
        _fail(
            "invalid_payload",
            "Not a Customer.io webhook: it has neither an event_type (email activity webhook) "
            "nor an object_type and a metric (reporting webhook).",
        )
    object_type = _reporting_field("object_type", object_type)
    metric = _reporting_field("metric", metric)
    return "reporting", f"{object_type}_{metric}"


def _reporting_field(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(
            "invalid_payload",
            f"The reporting webhook's {field} must be a non-empty string, got {describe(value)}.",
        )
    return value.strip()


def _object_type_of(key: str) -> str | None:
    for object_type in _OBJECT_TYPES:
        if key.startswith(object_type + "_"):
            return object_type
    return None


def _event_id(value: object) -> str:
    event_id = _identifier(value)
    if event_id is None:
        _fail(
            "invalid_payload",
            f"The webhook's event_id must be a non-empty string, got {describe(value)}; without "
            "it a re-delivery could not be told apart from a new event.",
        )
    return event_id


def _created_at(value: object) -> str:
    seconds: float
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(
            "invalid_payload",
            f"The webhook's timestamp must be a unix time in seconds, got {describe(value)}.",
        )
    seconds = value
    # The range is checked before isfinite(), which cannot convert a huge int to a float.
    if not (0 <= seconds < _MAX_TIMESTAMP + 1 and math.isfinite(seconds)):
        _fail(
            "invalid_payload",
            f"The webhook's timestamp {_quote(value)} is not a unix time in seconds.",
        )
    # Whole milliseconds, rounded down, so a fraction never rounds past the last valid second.
    whole, millis = divmod(math.floor(seconds * 1000), 1000)
    moment = _EPOCH + timedelta(seconds=whole)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _claims(data: Mapping[object, object], user_id_mapping: str) -> dict[str, str]:
    identifiers = data.get("identifiers")
    if not isinstance(identifiers, Mapping):
        identifiers = {}
    claims: dict[str, str] = {}
    for candidate in (
        identifiers.get("email"),
        data.get("email_address"),
        data.get("recipient"),
    ):
        email = extract_email(candidate)
        if email is not None:
            claims["email"] = email
            break
    if user_id_mapping in ("external_id", "id"):
        customer_id = _identifier(identifiers.get("id")) or _identifier(data.get("customer_id"))
        if customer_id is not None:
            claims[user_id_mapping] = customer_id
    return claims


def _identifier(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _properties(data: Mapping[object, object], fmt: WebhookFormat, key: str) -> dict[str, object]:
    properties: dict[str, object] = {}
    object_type = _object_type_of(key)
    metric = key[len(object_type) + 1 :] if object_type is not None else key
    is_email = object_type == "email"

    def copy(source: str, target: str) -> bool:
        value = data.get(source)
        if value is None:
            return False
        properties[target] = value
        return True

    for name in _COPIED_PROPERTIES:
        copy(name, name)
    copy("subject", "email_subject")
    # Reporting webhooks name the message delivery_id; the legacy ones called it email_id.
    # Only an email's delivery is an email_id; other channels keep delivery_id.
    if not (fmt == "reporting" and copy("delivery_id", "email_id" if is_email else "delivery_id")):
        copy("email_id", "email_id")
    copy("email_address", "email_address")
    # A recipient is an email address only for emails; an SMS or WhatsApp recipient is a phone
    # number, a push one a device.
    if is_email:
        if "email_address" not in properties:
            copy("recipient", "email_address")
    elif object_type != "customer":
        copy("recipient", "recipient")
    if metric in SUBSCRIPTION_EVENT_NAMES and key != "email_unsubscribed":
        if object_type not in (None, "customer"):
            properties["channel"] = object_type
        if metric == "cio_subscription_preferences_changed":
            preferences = _preferences(data.get("content"))
            if preferences is not None:
                properties["subscription_preferences"] = preferences
    return properties


def _preferences(content: object) -> object:
    """The preferences a preference change carries: its ``content``, parsed when it is JSON."""
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:  # not JSON after all: kept as the text it is
            return content
    return content


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


def _fail(reason: PayloadFailure, message: str) -> NoReturn:
    raise WebhookPayloadError(message, reason=reason)
