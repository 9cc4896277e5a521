"""What a Customer.io webhook becomes: one Hull user event."""

from __future__ import annotations

from typing import Literal, TypedDict

import attrs

__all__ = ["IncomingEvent", "TrackArguments", "WebhookFormat"]

#: Which of Customer.io's two webhook payloads an event came from.
WebhookFormat = Literal["legacy", "reporting"]


class TrackArguments(TypedDict):
    """The keyword arguments of a Hull track call, as
    [`IncomingEvent.track_arguments`][hull_customerio.IncomingEvent.track_arguments] builds.

    Pass them straight to the scoped Hull client: ``scoped.track(**incoming.track_arguments())``.
    """

    event: str
    properties: dict[str, object]
    event_id: str
    created_at: str
    source: str
    ip: str


@attrs.frozen(kw_only=True)
class IncomingEvent:
    """A Customer.io webhook turned into a Hull user event, ready to track.

    Built by [`rules.webhooks.parse_webhook`][hull_customerio.parse_webhook]; the constructor is for
    code and tests that already hold the values.

    Attributes:
        event: the Hull event name, e.g. ``"Email Delivered"``.
        properties: the event properties copied from the webhook's ``data``; keys
            Customer.io did not send are absent, never ``None``.
        claims: the Hull user claims: ``email`` and/or ``external_id`` or ``id``;
            never empty.
        event_id: Customer.io's ``event_id``; Hull overwrites rather than duplicates an event
            delivered again with the same id.
        created_at: when it happened, the webhook ``timestamp`` as ISO-8601 UTC
            (``2021-02-11T17:04:49Z``).
        key: Customer.io's name for the event: the legacy ``event_type`` or the reporting
            ``<object_type>_<metric>``, e.g. ``"email_delivered"``.
        format: ``"legacy"`` (email activity webhooks) or ``"reporting"`` (reporting webhooks).
        source: the Hull event source, always ``"customerio"``.
    """

    event: str
    properties: dict[str, object]
    claims: dict[str, str]
    event_id: str
    created_at: str
    key: str
    format: WebhookFormat
    source: Literal["customerio"] = "customerio"

    def track_arguments(self) -> TrackArguments:
        """The arguments of the Hull track call that records this event.

        ``ip`` is ``"0"`` so Hull does not geolocate the event from the address of the server
        that relays it.

        Returns:
            A fresh dict; changing it does not change this event.
        """
        return TrackArguments(
            event=self.event,
            properties=dict(self.properties),
            event_id=self.event_id,
            created_at=self.created_at,
            source=self.source,
            ip="0",
        )
