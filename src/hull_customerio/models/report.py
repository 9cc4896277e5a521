"""What the engine reports: one outcome per user, per webhook, and the connector's status."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

import attrs

from ..errors import HullCustomerIOError
from .account import AccountPlan
from .plan import Action, OutgoingEvent, UserPlan
from .webhook import IncomingEvent

__all__ = [
    "AccountOutcome",
    "OutcomeStatus",
    "Status",
    "SyncReport",
    "UserOutcome",
    "WebhookOutcome",
]

OutcomeStatus = Literal["success", "skipped", "error"]


@attrs.frozen(kw_only=True)
class UserOutcome:
    """What happened to one user of a sync.

    Attributes:
        user_id: the Hull user id (``None`` for a message too malformed to tell).
        customer_id: the Customer.io id, when there is one.
        action: what the plan decided (``identify``, ``delete``, ``skip`` or ``error``).
        status: ``success`` (everything planned was done), ``skipped`` (nothing was to be
            done for the person) or ``error`` (something failed or could not be sent).
        reason: the plan's reason code, or when something failed the failure's code:
            ``identify_failed``, ``delete_failed``, ``event_failed``, ``writeback_failed``
            (Hull did not take the write-back: retry), ``writeback_rejected`` (Hull refused it
            for good: not retried), ``customerio_unavailable`` (Customer.io could not be
            reached, so the user was not sent), ``rate_limiter_unavailable`` (the shared rate
            limiter's Redis could not be reached, so nothing was sent for the user),
            ``malformed_message``, ``invalid_attributes``,
            ``internal_error``, ``credentials_mismatch`` (a notification naming another
            Customer.io workspace).
        message: the reason as a sentence for people.
        calls: the calls made for this user, in order (``delete_relationships`` when the
            person's relationship to an old account object is removed, ``identify``,
            ``delete``, ``event``, ``page``, ``anonymous``, ``batch`` and ``hull_traits``).
        events_sent: the events Customer.io accepted.
        events_skipped: ``(event name, reason code)`` of every event not sent (``send_failed``
            for an event Customer.io did not accept).
        error: what went wrong, for people; ``None`` unless ``status`` is ``error``.
        exception: the exception behind ``error``, when there was one.
        plan: the plan that was executed, if the message could be planned.
    """

    user_id: str | None
    customer_id: str | None
    action: Action
    status: OutcomeStatus
    reason: str
    message: str
    calls: list[str] = attrs.field(factory=list)
    events_sent: list[OutgoingEvent] = attrs.field(factory=list)
    events_skipped: list[tuple[str, str]] = attrs.field(factory=list)
    error: str | None = None
    exception: HullCustomerIOError | None = attrs.field(default=None, eq=False, repr=False)
    plan: UserPlan | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class AccountOutcome:
    """What happened to one account of a sync.

    Attributes:
        account_id: the Hull account id (``None`` for a message too malformed to tell).
        object_id: the Customer.io object id, when there is one.
        action: what the plan decided.
        status: ``success``, ``skipped`` or ``error``, as for users.
        reason: the plan's reason code, or when something failed the failure's code
            (``object_failed``, ``writeback_failed``, ``writeback_rejected``,
            ``customerio_unavailable``, ``malformed_message``, ``invalid_attributes``...).
        message: the reason as a sentence for people.
        calls: the calls made for this account, in order (``object_identify``,
            ``object_delete``, ``batch``, ``hull_traits``).
        error: what went wrong, for people; ``None`` unless ``status`` is ``error``.
        exception: the exception behind ``error``, when there was one.
        plan: the plan that was executed, if the message could be planned.
    """

    account_id: str | None
    object_id: str | None
    action: Action
    status: OutcomeStatus
    reason: str
    message: str
    calls: list[str] = attrs.field(factory=list)
    error: str | None = None
    exception: HullCustomerIOError | None = attrs.field(default=None, eq=False, repr=False)
    plan: AccountPlan | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class SyncReport:
    """The outcome of every user of a
    [`sync_user_updates`][hull_customerio.Connector.sync_user_updates] call.

    Attributes:
        outcomes: one per user (after de-duplication) and one per malformed message, in input
            order.
        account_outcomes: one per account (after de-duplication) and one per malformed
            ``account:update`` message, in input order; empty for a sync of users.
    """

    outcomes: list[UserOutcome]
    account_outcomes: list[AccountOutcome] = attrs.field(factory=list)

    @property
    def succeeded(self) -> int:
        """How many users ended in ``success``."""
        return sum(1 for o in self.outcomes if o.status == "success")

    @property
    def skipped(self) -> int:
        """How many users ended in ``skipped``."""
        return sum(1 for o in self.outcomes if o.status == "skipped")

    @property
    def failed(self) -> int:
        """How many users ended in ``error``."""
        return sum(1 for o in self.outcomes if o.status == "error")

    def for_user(self, user_id: str) -> UserOutcome:
        """The outcome of the Hull user ``user_id``.

        Raises:
            KeyError: no outcome for that user.
        """
        return _first(self.outcomes, lambda outcome: outcome.user_id == user_id, user_id)

    def for_account(self, account_id: str) -> AccountOutcome:
        """The outcome of the Hull account ``account_id``.

        Raises:
            KeyError: no outcome for that account.
        """
        return _first(
            self.account_outcomes, lambda outcome: outcome.account_id == account_id, account_id
        )


_Outcome = TypeVar("_Outcome")


def _first(outcomes: Iterable[_Outcome], wanted: Callable[[_Outcome], bool], key: str) -> _Outcome:
    """The first of ``outcomes`` that is ``wanted``, else a ``KeyError`` naming ``key``."""
    for outcome in outcomes:
        if wanted(outcome):
            return outcome
    raise KeyError(key)


@attrs.frozen(kw_only=True)
class WebhookOutcome:
    """What became of one Customer.io webhook, and what to answer Customer.io.

    Attributes:
        http_status: the status to answer: ``200`` when Hull accepted the event or the payload
            can never be used (Customer.io holds back later webhooks until a failed one
            succeeds), ``401`` for a failed signature, ``503`` when Hull could not be reached,
            refused the connector's credentials or did not confirm in time (Customer.io
            retries).
        reason: ``None`` when the event was forwarded, else a code: ``signature_mismatch``,
            ``missing_signature``, ``missing_timestamp``, ``invalid_timestamp``,
            ``stale_timestamp``, ``invalid_payload``, ``unknown_event``, ``no_identifier``,
            ``hull_unavailable``, ``hull_unauthorized``, ``hull_timeout``, ``hull_rejected``,
            ``hull_not_configured``.
        message: a sentence for people.
        event: the Hull event, when the payload could be read.
    """

    http_status: int
    reason: str | None
    message: str
    event: IncomingEvent | None = None

    @property
    def forwarded(self) -> bool:
        """Whether Hull accepted the event."""
        return self.reason is None


@attrs.frozen(kw_only=True)
class Status:
    """The connector's health, as Hull's status API takes it.

    Attributes:
        status: ``ok``, ``warning`` or ``error``.
        messages: sentences explaining a warning or an error.
    """

    status: Literal["ok", "warning", "error"]
    messages: list[str] = attrs.field(factory=list)
