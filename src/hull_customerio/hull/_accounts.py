"""Writers acting as one Hull account, for the sync and the async client.

A Hull account (a company) receives ``traits`` messages like a user does; the message's token
names the account (``io.hull.asAccount``) instead of a user. The clients' ``as_account`` make
these scopes; their messages share the client's queue, batches and delivery tickets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._firehose import DeliveryTicket, build_traits_message

if TYPE_CHECKING:  # the clients import this module
    from .async_client import AsyncHullClient
    from .client import HullClient

__all__ = ["AsyncHullAccountScope", "HullAccountScope"]


class HullAccountScope:
    """Writes to Hull as one account, returned by
    [`HullClient.as_account`][hull_customerio.HullClient.as_account].

    The account's token is signed once, when the scope is made. Each write is queued on the
    client and posted with the next firehose batch, under the same delivery ticket rules as a
    user's; it returns the message's ``requestId``.
    """

    __slots__ = ("_claim_names", "_client", "_ticket", "_token")

    def __init__(
        self,
        client: HullClient,
        token: str,
        claim_names: Sequence[str],
        ticket: DeliveryTicket | None = None,
    ) -> None:
        self._client = client
        self._token = token
        self._claim_names = tuple(claim_names)
        self._ticket = ticket

    def __repr__(self) -> str:
        # The token is a credential: the claim names only.
        return f"HullAccountScope(claims={list(self._claim_names)!r})"

    def traits(self, attributes: Mapping[str, Any], *, source: str | None = None) -> str:
        """Queue a ``traits`` message setting ``attributes`` on this account.

        Args:
            attributes: trait names and values; a ``None`` value unsets the trait in Hull.
            source: a group for the names: ``source="customerio"`` sends ``x`` as
                ``customerio/x``; a name already holding a ``/`` is sent as is.

        Returns:
            The message's ``requestId``.

        Raises:
            ValidationError: a name is blank or a value is not JSON.
        """
        return self._client._enqueue(
            build_traits_message(self._token, attributes, source=source), self._ticket
        )


class AsyncHullAccountScope:
    """Writes to Hull as one account, returned by
    [`AsyncHullClient.as_account`][hull_customerio.AsyncHullClient.as_account].

    The asyncio twin of [`HullAccountScope`][hull_customerio.hull.HullAccountScope].
    """

    __slots__ = ("_claim_names", "_client", "_ticket", "_token")

    def __init__(
        self,
        client: AsyncHullClient,
        token: str,
        claim_names: Sequence[str],
        ticket: DeliveryTicket | None = None,
    ) -> None:
        self._client = client
        self._token = token
        self._claim_names = tuple(claim_names)
        self._ticket = ticket

    def __repr__(self) -> str:
        return f"AsyncHullAccountScope(claims={list(self._claim_names)!r})"

    async def traits(self, attributes: Mapping[str, Any], *, source: str | None = None) -> str:
        """Queue a ``traits`` message setting ``attributes`` on this account.

        Args:
            attributes: trait names and values; a ``None`` value unsets the trait in Hull.
            source: a group for the names: ``source="customerio"`` sends ``x`` as
                ``customerio/x``; a name already holding a ``/`` is sent as is.

        Returns:
            The message's ``requestId``.

        Raises:
            ValidationError: a name is blank or a value is not JSON.
        """
        return await self._client._enqueue(
            build_traits_message(self._token, attributes, source=source), self._ticket
        )
