"""Writers acting as one Hull user or one Hull account, for the sync and the async client.

A user and an account (a company) both receive ``traits`` messages; the message's token names
the subject (``io.hull.asUser`` or ``io.hull.asAccount``), and only a user receives ``track``
messages. The clients' ``as_user`` and ``as_account`` make these scopes; their messages share
the client's queue, batches and delivery tickets.

Each write is written once, in `_Scope` and `_UserScope`: it builds the message and hands it
to the client's queue, and answers what the client's ``_enqueue`` answers. That is the
``requestId`` itself on a [`HullClient`][hull_customerio.HullClient] and an awaitable of it on
an [`AsyncHullClient`][hull_customerio.AsyncHullClient], so the sync and async scopes are the
same classes over two kinds of client.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from ._firehose import DeliveryTicket, QueuedMessage, build_track_message, build_traits_message

__all__ = ["AsyncHullAccountScope", "AsyncHullUserScope", "HullAccountScope", "HullUserScope"]

_AnswerT_co = TypeVar("_AnswerT_co", covariant=True)


class _Queue(Protocol[_AnswerT_co]):
    """A client as a scope sees it: where its messages are queued."""

    def _enqueue(self, message: QueuedMessage, ticket: DeliveryTicket | None) -> _AnswerT_co: ...


_AnswerT = TypeVar("_AnswerT")


class _Scope(Generic[_AnswerT]):
    """A subject's signed token on a client; each write queues one message there."""

    __slots__ = ("_claim_names", "_client", "_ticket", "_token")

    def __init__(
        self,
        client: _Queue[_AnswerT],
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

    def traits(self, attributes: Mapping[str, Any], *, source: str | None = None) -> _AnswerT:
        """Queue a ``traits`` message setting ``attributes`` on this user or account.

        Args:
            attributes: trait names and values; a ``None`` value unsets the trait in Hull.
            source: a group for the names: ``source="customerio"`` sends ``x`` as
                ``customerio/x``; a name already holding a ``/`` is sent as is.

        Returns:
            The message's ``requestId`` (an awaitable of it on an async client's scope).

        Raises:
            ValidationError: a name is blank or a value is not JSON (raised by the call
                itself, before anything is queued or awaited).
        """
        message = build_traits_message(self._token, attributes, source=source)
        return self._client._enqueue(message, self._ticket)


class _UserScope(_Scope[_AnswerT]):
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
    ) -> _AnswerT:
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
            The message's ``requestId`` (an awaitable of it on an async client's scope).

        Raises:
            ValidationError: a blank event name, a naive datetime or a property that is not
                JSON (raised by the call itself, before anything is queued or awaited).
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


class HullAccountScope(_Scope[str]):
    """Writes to Hull as one account, returned by
    [`HullClient.as_account`][hull_customerio.HullClient.as_account].

    The account's token is signed once, when the scope is made. Each write is queued on the
    client and posted with the next firehose batch, under the same delivery ticket rules as a
    user's; it returns the message's ``requestId``.
    """

    __slots__ = ()


class AsyncHullAccountScope(_Scope[Coroutine[Any, Any, str]]):
    """The asyncio twin of [`HullAccountScope`][hull_customerio.hull.HullAccountScope], returned
    by [`AsyncHullClient.as_account`][hull_customerio.AsyncHullClient.as_account]: each write
    answers an awaitable of the ``requestId``."""

    __slots__ = ()


class HullUserScope(_UserScope[str]):
    """Writes to Hull as one user, returned by
    [`HullClient.as_user`][hull_customerio.HullClient.as_user].

    The user's token is signed once, when the scope is made. Each write is queued on the client
    and posted with the next firehose batch; it returns the message's ``requestId`` so a
    [`DeliveryError`][hull_customerio.errors.DeliveryError] can be traced back to the user.
    """

    __slots__ = ()


class AsyncHullUserScope(_UserScope[Coroutine[Any, Any, str]]):
    """The asyncio twin of [`HullUserScope`][hull_customerio.hull.HullUserScope], returned by
    [`AsyncHullClient.as_user`][hull_customerio.AsyncHullClient.as_user]: each write answers an
    awaitable of the ``requestId``."""

    __slots__ = ()
