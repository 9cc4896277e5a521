"""Hull accounts as Customer.io objects: the ``account:update`` message, what the rules decide
for one account ([`AccountPlan`][hull_customerio.AccountPlan])."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._serialization import JsonObject, describe, structure
from .hull import HullAccount, Segment, _malformed, _named_segments, _not_an_object
from .plan import Action

__all__ = ["AccountPlan", "AccountUpdateMessage"]


@attrs.frozen(kw_only=True)
class AccountUpdateMessage:
    """One ``account:update`` message: an account and the account segments it is in.

    Attributes:
        account: the account's attributes; ``account["id"]`` is Hull's id of it.
        account_segments: the account segments it belongs to, in message order.
        changes: what changed since the last message (as Hull sent it).
        message_id: Hull's id of the message, if any.
    """

    account: HullAccount
    account_segments: tuple[Segment, ...] = ()
    changes: JsonObject = attrs.field(factory=dict)
    message_id: str | None = None

    @property
    def account_id(self) -> str:
        """Hull's id of the account."""
        return str(self.account.get("id", ""))

    @classmethod
    def from_dict(
        cls,
        mapping: Mapping[str, Any],
        *,
        segment_names: Mapping[str, str] | None = None,
        index: int | None = None,
    ) -> AccountUpdateMessage:
        """Parse one message as Hull sends it.

        Account segments without a name are named from ``segment_names`` (the notification's
        ``accounts_segments`` list).

        Args:
            mapping: the message.
            segment_names: account-segment id to name.
            index: the message's position in its batch, quoted in errors.

        Raises:
            ValidationError: naming the message and every field at fault (an account without
                a non-blank string ``id`` included).
        """
        if not isinstance(mapping, Mapping):
            raise _not_an_object(mapping, index, "account")
        data = dict(mapping)
        problems: list[str] = []
        account = data.get("account")
        if not isinstance(account, Mapping):
            problems.append(f"$.account: expected an object, got {describe(account)}")
        elif not (isinstance(account.get("id"), str) and account["id"].strip()):
            # A blank id could not address the account when its sync state is written back.
            got = describe(account.get("id"))
            problems.append(f"$.account.id: expected a non-blank string, got {got}")
        if data.get("account_segments") is None:
            data["account_segments"] = []
        elif segment_names:
            data["account_segments"] = _named_segments(data["account_segments"], segment_names)
        if problems:  # the other fields are still checked, so that every problem is listed
            message, others = None, structure({**data, "account": {}}, cls)[1]
            problems += others
        else:
            message, problems = structure(data, cls)
        if message is None or problems:
            raise _malformed(mapping, index, "account", problems)
        return message


@attrs.frozen(kw_only=True)
class AccountPlan:
    """The decision for one account, computed without any I/O.

    Attributes:
        account_id: the Hull account id.
        action: ``IDENTIFY`` (create or update the object), ``DELETE``, ``SKIP`` or ``ERROR``
            (the object cannot be sent as it is: ``errors`` says why; nothing is sent).
        reason: a stable code for why, e.g. ``not_in_segments``.
        message: the reason as a sentence for people.
        object_type_id: the Customer.io object type.
        object_id: the object's id, when there is one (for a deletion: the stored one).
        attributes: the object's attributes in key order.
        hash: the change-detection hash, ``""`` when the account was not hashed.
        traits: the Hull account write-back after success; ``None`` when nothing is written.
        hull_claims: how the Hull account is addressed for the write-back.
        errors: validation problems; empty unless ``action`` is ``ERROR``.
    """

    account_id: str
    action: Action
    reason: str
    message: str
    object_type_id: str
    object_id: str | None = None
    attributes: dict[str, Any] = attrs.field(factory=dict, repr=False)
    hash: str = ""
    traits: dict[str, Any] | None = attrs.field(default=None, repr=False)
    hull_claims: dict[str, str] = attrs.field(factory=dict, repr=False)
    errors: list[str] = attrs.field(factory=list)
