"""What a hub's flows ask their driver to do: every step that waits on the network.

A flow (see `_flows`) is a generator: it yields one of these effects, the driver performs it
— blocking in [`ConnectorHub`][hull_customerio.ConnectorHub], awaited in
[`AsyncConnectorHub`][hull_customerio.AsyncConnectorHub] — and sends back what it gave, or
throws in what it raised. Each effect names what it answers and what it may raise.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ..models.report import Status
from ._batch import BatchRequest
from ._core import WorkspaceKey
from ._download import DownloadTarget
from ._tokens import HullCredentials

__all__ = [
    "Answered",
    "CheckTarget",
    "Effect",
    "Flow",
    "HandleWebhook",
    "LeaseCustomerIO",
    "LeaseHull",
    "PublishStatus",
    "PutStatus",
    "ReadNotification",
    "ReadSettings",
    "SyncBatch",
    "SyncNotification",
    "advance",
]

T = TypeVar("T")


@attrs.frozen
class ReadNotification:
    """Check a raw notification's signature (a public key may be fetched), then read it.

    Answers the `NotificationEnvelope`, or the `NotificationAnswer` refusing it.
    """

    body: bytes
    headers: Mapping[str, str]


@attrs.frozen
class LeaseHull:
    """The tenant's Hull client, leased from the hub's cache until the flow ends.

    Raises ``UnusableCredentialsError`` when no client can be built for the credentials, and
    ``ConfigurationError`` when the hub is closed.
    """

    credentials: HullCredentials


@attrs.frozen
class LeaseCustomerIO:
    """The workspace's Customer.io client, leased until the flow ends (``ConfigurationError``
    when it cannot be built or the hub is closed)."""

    key: WorkspaceKey


@attrs.frozen
class ReadSettings:
    """The connector's settings: the cached ones, else read from Hull with ``hull`` (one read
    per connector at a time). Raises ``APIError`` or ``ConfigurationError``."""

    credentials: HullCredentials
    hull: Any


@attrs.frozen
class CheckTarget:
    """Where a batch file may be downloaded from: the URL checked, its host looked up once.

    Answers the `DownloadTarget`, or the 400 `NotificationAnswer` saying why not.
    """

    request: BatchRequest
    hosts: Sequence[str] | None


@attrs.frozen
class SyncBatch:
    """Download the batch file from ``target`` and sync its users (its accounts when
    ``accounts``) with ``connector``, within the hub's batch limits; answers the
    `NotificationAnswer`."""

    connector: Any
    target: DownloadTarget
    accounts: bool = False


@attrs.frozen
class SyncNotification:
    """``connector.sync_notification(notification)``; answers its `SyncReport`."""

    connector: Any
    notification: Any


@attrs.frozen
class HandleWebhook:
    """``connector.handle_webhook(body, headers)``; answers its `WebhookOutcome`."""

    connector: Any
    body: bytes
    headers: Mapping[str, str]


@attrs.frozen
class PublishStatus:
    """``connector.publish_status()``; answers the published `Status`."""

    connector: Any


@attrs.frozen
class PutStatus:
    """Publish ``status`` to Hull with the ``hull`` client; answers nothing."""

    hull: Any
    status: Status


Effect = (
    ReadNotification
    | LeaseHull
    | LeaseCustomerIO
    | ReadSettings
    | CheckTarget
    | SyncBatch
    | SyncNotification
    | HandleWebhook
    | PublishStatus
    | PutStatus
)

#: A hub's flow: yields effects, is sent what each gave, returns the flow's answer ``T``.
Flow = Generator[Effect, Any, T]


@attrs.frozen
class Answered(Generic[T]):
    """A flow has returned: ``value`` is its answer."""

    value: T


def advance(
    flow: Flow[T], result: Any = None, error: Exception | None = None
) -> Effect | Answered[T]:
    """Resume ``flow`` with what its last effect gave (``result``) or raised (``error``).

    Returns the next effect to perform, or `Answered` once the flow returned; whatever else the
    flow raises goes to the driver's caller. ``advance(flow)`` starts a flow.
    """
    try:
        return flow.send(result) if error is None else flow.throw(error)
    except StopIteration as stop:
        return Answered(stop.value)
