"""Authenticating and answering Hull notifications, once for both connectors.

This module holds the drivers and what follows authentication, and gives the other parts'
names from one place. The parts, each on its own concern:

- `_answers`: the answers a web view gives Hull, and reading a body into an envelope;
- `_keys`: Hull's public keys: trusted URLs, reading, the cache, and the fetch;
- `_guard`: the signature and `NotificationGuard`, which decides and does no I/O.

Authentication is written once, as steps the guard *yields* (`authenticating`): a
`KeyRequest` when it needs Hull's public key, then a `ReadBody` once the signature is accepted.
Two drivers perform them: `run_checks` (``httpx.Client``, the body parsed in place) and
`arun_checks` (``httpx.AsyncClient``, a large body parsed on a worker thread). That is the only
difference between the sync and the async path.

What a connector checks, in order, before anything of a notification is used:

1. its ``configuration`` (``id``, ``organization``, ``secret``) against the connector's Hull
   client: id and organization equal, secret equal in constant time (skipped without a Hull
   client, which then accepts only signed notifications);
2. Hull's signature, when the ``x-hull-smart-notifier-signature`` header is present, and
   required when ``require_signature`` is on or there is no Hull client: an RS256 JWT whose
   ``jti`` is the notification's ``notification_id``, verified with the configured public key
   or with the key fetched from the ``...-public-key-url`` header -- only an ``https`` URL on a
   trusted host is ever fetched, and the key is cached.

What the signature covers: Hull signs a JWT whose ``jti`` is the notification id, not the body.
So the signature proves that Hull issued a notification with that id; the body's credentials
(step 1) are what tie the body to this connector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from typing import Any, Final, Generic, TypeVar

import attrs
import httpx

from ..errors import NotificationAuthenticationError
from ..models.notification import ACCOUNT_UPDATE, Notification
from ..models.report import SyncReport
from . import _accounts, _core
from ._answers import (
    NotificationAnswer,
    NotificationEnvelope,
    _next_answer,
    envelope_of,
    processed_answer,
    read_notification_body,
    read_notification_payload,
    refused_answer,
)
from ._guard import (
    KEY_URL_HEADER,
    MAX_SIGNATURE_LENGTH,
    REFUSAL_MESSAGES,
    SIGNATURE_HEADER,
    SIGNATURE_LEEWAY,
    SIGNATURE_VERSION_HEADER,
    HullIdentity,
    NotificationGuard,
    RefusalReason,
    body_names_notification,
    lower_headers,
    unverified_jti,
    verify_notification_signature,
)
from ._keys import (
    HULL_KEY_HOSTS,
    KEY_FETCH_TIMEOUT,
    MAX_KEY_SIZE,
    KeyRequest,
    KeyResponse,
    NotificationKeyCache,
    afetch_key,
    fetch_key,
    is_trusted_key_host,
    load_public_key,
    parse_configured_key,
    read_public_key,
    trusted_key_url,
)

__all__ = [
    "HULL_KEY_HOSTS",
    "KEY_FETCH_TIMEOUT",
    "KEY_URL_HEADER",
    "MAX_KEY_SIZE",
    "MAX_SIGNATURE_LENGTH",
    "REFUSAL_MESSAGES",
    "SIGNATURE_HEADER",
    "SIGNATURE_LEEWAY",
    "SIGNATURE_VERSION_HEADER",
    "GuardStep",
    "HullIdentity",
    "KeyRequest",
    "KeyResponse",
    "NotificationAnswer",
    "NotificationEnvelope",
    "NotificationGuard",
    "NotificationKeyCache",
    "ReadBody",
    "RefusalReason",
    "afetch_key",
    "arun_checks",
    "authenticating",
    "body_names_notification",
    "envelope_of",
    "fetch_key",
    "is_trusted_key_host",
    "load_public_key",
    "lower_headers",
    "parse_configured_key",
    "prepare_notification",
    "processed_answer",
    "read_notification_body",
    "read_notification_payload",
    "read_public_key",
    "refused_answer",
    "run_checks",
    "trusted_key_url",
    "unverified_jti",
    "verify_notification_signature",
]

logger = _core.logger

#: What the guard's steps end with.
_T = TypeVar("_T")


#: The channels this library synchronises; other channels are answered ``next``.
USER_UPDATE: Final = "user:update"
_CHANNELS: Final = frozenset({USER_UPDATE, ACCOUNT_UPDATE})
#: How much of a name read from the notification (an unsupported channel, another workspace's
#: site id) an answer, an outcome and a log line repeat.
_NAME_SHOWN = 100


# --------------------------------------------------------------------------------------------
# Driving the guard over a raw body: the sync and the async loop.

#: A body longer than this is parsed on a worker thread by the async drivers, so that parsing
#: it does not hold up the event loop (about a millisecond of parsing per 100 kB).
PARSE_IN_THREAD_BYTES: Final = 256 * 1024


@attrs.frozen
class ReadBody:
    """The signature is accepted: parse the body into an envelope (the async driver parses a
    large one on a worker thread)."""

    body: bytes


#: What authenticating a notification asks its driver to do.
GuardStep = KeyRequest | ReadBody


def authenticating(
    guard: NotificationGuard,
    body: bytes,
    headers: object,
    envelope_guard: Callable[[NotificationEnvelope], NotificationGuard] | None = None,
) -> Generator[GuardStep, Any, NotificationEnvelope | NotificationAnswer]:
    """Authenticate and read a raw notification: the signature before the body is parsed.

    Run it with `run_checks` or `arun_checks`. ``envelope_guard`` gives the guard that checks
    the parsed envelope (a hub's depends on the connector the envelope names); by default
    ``guard`` itself.

    Returns:
        The envelope once accepted; else the answer: ``401`` refused, ``400`` not JSON.
    """
    try:
        jti = yield from guard.authenticate_body(body, headers)
    except NotificationAuthenticationError as exc:
        return refused_answer(exc)
    read: NotificationEnvelope | NotificationAnswer = yield ReadBody(body)
    if isinstance(read, NotificationAnswer):
        return read
    try:
        (envelope_guard or (lambda _: guard))(read).check_envelope(read, jti)
    except NotificationAuthenticationError as exc:
        return refused_answer(exc)
    return read


def run_checks(steps: Generator[GuardStep, Any, _T], http: httpx.Client | None) -> _T:
    """Run a guard's ``steps`` to their end, fetching each key they ask for with ``http``
    and reading the body they accept; their result."""
    step = _advance(steps, None)
    while not isinstance(step, _Done):
        if isinstance(step, KeyRequest):
            step = _advance(steps, fetch_key(http, step))
        else:
            step = _advance(steps, read_notification_body(step.body))
    return step.result


async def arun_checks(steps: Generator[GuardStep, Any, _T], http: httpx.AsyncClient | None) -> _T:
    """The async `run_checks`: keys are fetched with the ``httpx.AsyncClient``, and a body
    over `PARSE_IN_THREAD_BYTES` is parsed on a worker thread."""
    step = _advance(steps, None)
    while not isinstance(step, _Done):
        if isinstance(step, KeyRequest):
            answer: object = await afetch_key(http, step)
        elif len(step.body) > PARSE_IN_THREAD_BYTES:
            answer = await asyncio.to_thread(read_notification_body, step.body)
        else:
            answer = read_notification_body(step.body)
        step = _advance(steps, answer)
    return step.result


@attrs.frozen
class _Done(Generic[_T]):
    result: _T


def _advance(steps: Generator[GuardStep, Any, _T], answer: object) -> GuardStep | _Done[_T]:
    """The guard's next step after ``answer`` (``None`` to start), or its result."""
    try:
        return steps.send(answer)
    except StopIteration as stop:
        return _Done(stop.value)


# --------------------------------------------------------------------------------------------
# After authentication: what to do with the notification.


def prepare_notification(
    envelope: NotificationEnvelope, *, site_id: str
) -> Notification | NotificationAnswer:
    """The notification to synchronise, or the answer when there is nothing to send.

    Answered ``next`` without sending anything: a channel other than ``user:update`` and
    ``account:update`` (``unsupported_channel``), a malformed envelope or invalid settings
    (``invalid_notification``), and settings naming a Customer.io workspace other than
    ``site_id``, the one the connector's client sends to (``credentials_mismatch``: every user,
    or every account, gets that error).
    """
    context = _core.LogContext(
        notification_id=envelope.notification_id,
        organization=envelope.configuration.organization,
    )
    if envelope.channel is not None and envelope.channel not in _CHANNELS:
        # Only the channel's start is repeated: a megabyte channel name is not copied on.
        channel = envelope.channel[:_NAME_SHOWN]
        _core.log_event(
            logging.INFO, "incoming.notification.skip", context,
            reason="unsupported_channel", channel=channel,
        )  # fmt: skip
        return _next_answer(
            "unsupported_channel",
            f"The channel {channel!r} is not synchronized; only 'user:update' and "
            "'account:update' are.",
        )
    notification = _core.read_notification(envelope.payload, context)
    if notification is None:
        return _next_answer(
            "invalid_notification", "The notification is malformed or its settings are invalid."
        )
    named = (notification.settings.site_id or "").strip()
    if named != site_id.strip():
        message = (
            f"The notification's settings name the Customer.io workspace "
            f"{named[:_NAME_SHOWN]!r}, but this "
            f"connector sends to {site_id.strip()!r}; nothing was sent."
            if named
            else "The notification's settings name no Customer.io workspace; nothing was sent."
        )
        _core.log_event(
            logging.ERROR, "incoming.notification.error", context,
            reason="credentials_mismatch", error=message,
        )  # fmt: skip
        if notification.channel == ACCOUNT_UPDATE:
            outcomes = _accounts.credentials_mismatch_accounts(
                notification.account_messages, notification.malformed, message, context
            )
            report = SyncReport(outcomes=[], account_outcomes=outcomes)
        else:
            report = _core.credentials_mismatch_report(notification, message, context)
        return _next_answer("credentials_mismatch", message, report)
    return notification
