"""Writers acting as one Hull user or one Hull account, for the sync and the async client.

A user and an account (a company) both receive ``traits`` messages; the message's token names
the subject (``io.hull.asUser`` or ``io.hull.asAccount``), and only a user receives ``track``
messages. The clients' ``as_user`` and ``as_account`` make these scopes; their messages share
the client's queue, batches and delivery tickets. What the four scopes share — holding the
signed token, the claim names, the ticket, and building each message — is written once in
`_Scope`; the sync and async scopes differ only in handing the message to the client's queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._firehose import DeliveryTicket, QueuedMessage, build_track_message, build_traits_message

if TYPE_CHECKING:  # the clients import this module
    from .async_client import AsyncHullClient  # noqa: F401 -- named in a quoted base class
    from .client import HullClient  # noqa: F401 -- named in a quoted base class

__all__ = ["AsyncHullAccountScope", "AsyncHullUserScope", "HullAccountScope", "HullUserScope"]

_ClientT = TypeVar("_ClientT")


class _Scope(Generic[_ClientT]):
    """A subject's signed token on a client; builds the messages its writes queue."""

    __slots__ = ("_claim_names", "_client", "_ticket", "_token")

    def __init__(
        self,
        client: _ClientT,
        token: str,
        claim_names: Sequence[str],
        ticket: DeliveryTicket | None = None,
    ) -> None:
        self._client = client
        self._token = token
        self._claim_names = tuple(claim_names)
        self._ticket = ticket

    def __repr__(self) -> str:
        # Claim values are personal data and the token is a credential: names only.
        return f"{type(self).__name__}(claims={list(self._claim_names)!r})"

    def _traits_message(self, attributes: Mapping[str, Any], source: str | None) -> QueuedMessage:
        return build_traits_message(self._token, attributes, source=source)


class _SyncScope(_Scope["HullClient"]):
    __slots__ = ()

    def traits(self, attributes: Mapping[str, Any], *, source: str | None = None) -> str:
        """Queue a ``traits`` message setting ``attributes`` on this user or account.

        Args:
            attributes: trait names and values; a ``None`` value unsets the trait in Hull.
            source: a group for the names: ``source="customerio"`` sends ``x`` as
                ``customerio/x``; a name already holding a ``/`` is sent as is.

        Returns:
            The message's ``requestId``.

        Raises:
            ValidationError: a name is blank or a value is not JSON.
        """
        return self._client._enqueue(self._traits_message(attributes, source), self._ticket)


class _AsyncScope(_Scope["AsyncHullClient"]):
    __slots__ = ()

    async def traits(self, attributes: Mapping[str, Any], *, source: str | None = None) -> str:
        """Queue a ``traits`` message setting ``attributes`` on this user or account.

        The awaitable form of [`HullUserScope.traits`][hull_customerio.hull.HullUserScope.traits]:
        the same arguments, answer and errors.
        """
        return await self._client._enqueue(self._traits_message(attributes, source), self._ticket)


class HullAccountScope(_SyncScope):
    """Writes to Hull as one account, returned by
    [`HullClient.as_account`][hull_customerio.HullClient.as_account].

    The account's token is signed once, when the scope is made. Each write is queued on the
    client and posted with the next firehose batch, under the same delivery ticket rules as a
    user's; it returns the message's ``requestId``.
    """

    __slots__ = ()


class AsyncHullAccountScope(_AsyncScope):
    """Writes to Hull as one account, returned by
    [`AsyncHullClient.as_account`][hull_customerio.AsyncHullClient.as_account].

    The asyncio twin of [`HullAccountScope`][hull_customerio.hull.HullAccountScope].
    """

    __slots__ = ()


class HullUserScope(_SyncScope):
    """Writes to Hull as one user, returned by
    [`HullClient.as_user`][hull_customerio.HullClient.as_user].

    The user's token is signed once, when the scope is made. Each write is queued on the client
    and posted with the next firehose batch; it returns the message's ``requestId`` so a
    [`DeliveryError`][hull_customerio.errors.DeliveryError] can be traced back to the user.
    """

    __slots__ = ()

    def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        event_id: str | None = None,
        created_at: str | datetime | None = None,
        source: str | None = None,
        type: str | None = None,
        ip: str | None = "0",
    ) -> str:
        """Queue a ``track`` message recording ``event`` for this user.

        Args:
            event: the event name.
            properties: the event's properties.
            event_id: Hull overwrites an event with the same id instead of duplicating it; a
                new uuid4 is fixed now when none is given, so retries never duplicate.
            created_at: when the event happened (ISO-8601 string or aware datetime); ``None``
                lets Hull use the time it receives the event.
            source: the event's ``source`` (e.g. ``"customerio"``).
            type: the event's ``type``.
            ip: the client IP; ``"0"`` (the default) tells Hull not to geolocate.

        Returns:
            The message's ``requestId``.

        Raises:
            ValidationError: a blank event name, a naive datetime or a property that is not JSON.
        """
        message = build_track_message(
            self._token,
            event,
            properties,
            event_id=event_id,
            created_at=created_at,
            source=source,
            type=type,
            ip=ip,
        )
        return self._client._enqueue(message, self._ticket)


class AsyncHullUserScope(_AsyncScope):
    """Writes to Hull as one user, returned by
    [`AsyncHullClient.as_user`][hull_customerio.AsyncHullClient.as_user].

    The asyncio twin of [`HullUserScope`][hull_customerio.hull.HullUserScope].
    """

    __slots__ = ()

    async def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        event_id: str | None = None,
        created_at: str | datetime | None = None,
        source: str | None = None,
        type: str | None = None,
        ip: str | None = "0",
    ) -> str:
        """Queue a ``track`` message recording ``event`` for this user.

        The awaitable form of [`HullUserScope.track`][hull_customerio.hull.HullUserScope.track]:
        the same arguments, defaults, answer and errors.
        """
        message = build_track_message(
            self._token,
            event,
            properties,
            event_id=event_id,
            created_at=created_at,
            source=source,
            type=type,
            ip=ip,
        )
        return await self._client._enqueue(message, self._ticket)
