"""From one Hull account to an [`AccountPlan`][hull_customerio.AccountPlan]: the Customer.io
object it becomes (or stops being), with the limits objects must keep."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._serialization import compact_json, is_encodable
from .._time import utc_now
from ..models.account import AccountPlan, AccountUpdateMessage
from ..models.hull import HullAccount, attribute_data
from ..models.plan import Action
from ..settings import Settings
from ._compiled import CompiledSettings, compiled, lookup
from ._ids import read_id
from .hashing import hashed_object
from .segments import in_any, names_of
from .validation import UNSENDABLE_ERRORS, attribute_problems, identifier_problems
from .writeback import (
    OBJECT_ID_TRAIT,
    account_claims,
    account_deletion_traits,
    account_identify_traits,
)

__all__ = [
    "ACCOUNT_REASON_MESSAGES",
    "MAX_OBJECT_ATTRIBUTES",
    "MAX_OBJECT_ATTRIBUTES_BYTES",
    "MAX_OPERATION_BYTES",
    "account_object_id",
    "build_object_attributes",
    "plan_account_update",
    "validate_object",
]

#: One sentence for people per reason code of an account's plan.
ACCOUNT_REASON_MESSAGES: Mapping[str, str] = {
    "no_segments": (
        "No account segment is synchronized, so no account is sent to Customer.io as an object."
    ),
    "not_in_segments": (
        "Account is not in the synchronized account segments and will not be sent to Customer.io."
    ),
    "left_segments": (
        "Account left the synchronized account segments and its object will be deleted from "
        "Customer.io."
    ),
    "no_object_id": (
        "Account has no value for the attribute used as the object id and will not be sent "
        "to Customer.io."
    ),
    "new": "Account is new to Customer.io and its object will be created.",
    "no_changes": "Account has not changed since the last sync.",
    "changed": "Account has changed and its object will be updated in Customer.io.",
    "invalid_attributes": (
        "Account has values Customer.io would reject and will not be sent to Customer.io."
    ),
}

#: Attributes one object may carry (Customer.io's limit).
MAX_OBJECT_ATTRIBUTES = 300
#: Bytes an object's attributes may take together, as compact JSON (100 KB, read as 1000-byte
#: kilobytes: the stricter reading).
MAX_OBJECT_ATTRIBUTES_BYTES = 100_000
#: Bytes one Track v2 operation may take as compact JSON (32 kB). The same figure as the batch
#: planner's ``MAX_BATCH_OPERATION_BYTES``, repeated here because rules never import the client
#: (a test keeps the two equal).
MAX_OPERATION_BYTES = 32_000

_STORED_ID = (OBJECT_ID_TRAIT, "traits_" + OBJECT_ID_TRAIT)
_STORED_HASH = ("customerio/hash", "traits_customerio/hash")
_UNSENDABLE_OBJECT = "The account's attributes cannot be encoded as JSON."


def build_object_attributes(message: AccountUpdateMessage, settings: Settings) -> dict[str, Any]:
    """The object's attributes, in this key order.

    ``name`` and ``domain`` (each when the account has one that is not null), ``hull_segments``
    (the names of all the account's segments, in message order; ``[]`` when it has none), then
    each attribute of ``synchronized_account_attributes`` the account has, named and cast as a
    person's whitelisted attributes are: ``clearbit/name`` is sent as ``clearbit-name``, ``id``
    as ``hull_id``, a leading ``traits_`` is dropped, and a date under a ``*_at`` / ``*_date``
    name becomes integer unix seconds. A whitelisted ``name`` or ``domain`` replaces the value
    above, in its place.
    """
    return _attributes(message, attribute_data(message.account), compiled(settings))


def _attributes(
    message: AccountUpdateMessage, data: Mapping[str, Any], derived: CompiledSettings
) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name in ("name", "domain"):
        value = lookup(data, name, "traits_" + name)
        if value is not None:
            attributes[name] = value
    attributes["hull_segments"] = names_of(message.account_segments)
    derived.read_account_whitelisted(data.get, data.get, attributes)
    return attributes


def account_object_id(account: HullAccount, settings: Settings) -> str | None:
    """The id the account's object has in Customer.io, or ``None`` when it has none usable.

    The value of the ``account_id_mapping`` attribute (with or without ``traits_``): a
    non-blank string as it is, or a number as text. A value that Customer.io would refuse as an
    id (more than ``max_identifier_value_length`` bytes, or text that is not valid Unicode)
    counts as none here; `plan_account_update` reports it as an error of the account.
    """
    object_id = read_id(lookup(attribute_data(account), *compiled(settings).account_id_mapping))
    if object_id is None or identifier_problems(object_id, "", settings):
        return None
    return object_id


def validate_object(
    object_type_id: str, object_id: str, attributes: Mapping[str, Any], settings: Settings
) -> list[str]:
    """Every limit the object breaks, each as a sentence quoting the limit (values unquoted).

    The object id against ``max_identifier_value_length``; each attribute's name and value
    against ``max_attribute_name_length`` / ``max_attribute_value_length``, as a person's;
    at most `MAX_OBJECT_ATTRIBUTES` attributes, `MAX_OBJECT_ATTRIBUTES_BYTES` bytes of
    attributes as compact JSON, and `MAX_OPERATION_BYTES` for the whole identify operation as
    compact JSON.
    """
    problems = identifier_problems(object_id, "The object id", settings)
    count = len(attributes)
    if count > MAX_OBJECT_ATTRIBUTES:
        problems.append(
            f"The object has {count} attributes; Customer.io accepts at most "
            f"{MAX_OBJECT_ATTRIBUTES}."
        )
    problems += attribute_problems(attributes, settings)
    try:
        attributes_size = _json_size(attributes)
        operation_size = _json_size(_operation(object_type_id, object_id, attributes))
    except UNSENDABLE_ERRORS:
        if not problems:  # what JSON cannot carry is named above; failing that, say so
            problems.append(_UNSENDABLE_OBJECT)
        return problems
    if attributes_size > MAX_OBJECT_ATTRIBUTES_BYTES:
        problems.append(
            f"The object's attributes are {attributes_size} bytes as JSON; Customer.io "
            f"accepts at most {MAX_OBJECT_ATTRIBUTES_BYTES} bytes."
        )
    if operation_size > MAX_OPERATION_BYTES:
        problems.append(
            f"The object's identify operation is {operation_size} bytes as JSON; Customer.io "
            f"accepts at most {MAX_OPERATION_BYTES} bytes per operation."
        )
    return problems


def _json_size(value: object) -> int:
    return len(compact_json(value, strict=True).encode())


def _operation(object_type_id: str, object_id: str, attributes: Mapping[str, Any]) -> Any:
    # The Track v2 operation as the client sends it (`ObjectIdentify.v2_operation`), to measure.
    return {
        "type": "object",
        "identifiers": {"object_type_id": object_type_id, "object_id": object_id},
        "action": "identify",
        "attributes": attributes,
    }


class _AccountPlanner:
    """The decision for one account; a class only to share what every rule reads."""

    __slots__ = ("claims", "data", "derived", "message", "now", "settings")

    def __init__(self, message: AccountUpdateMessage, settings: Settings, now: datetime) -> None:
        self.message = message
        self.settings = settings
        self.now = now
        self.data = attribute_data(message.account)
        self.derived = compiled(settings)
        self.claims = account_claims(message.account)

    def plan(self) -> AccountPlan:
        settings, data = self.settings, self.data
        mapped = read_id(lookup(data, *self.derived.account_id_mapping))
        if not self.derived.account_segment_ids:
            return self.skip("no_segments", mapped)
        stored_id = read_id(lookup(data, *_STORED_ID))
        if not in_any(self.message.account_segments, self.derived.account_segment_ids):
            if settings.enable_account_deletion and stored_id is not None:
                return self.delete(stored_id)
            return self.skip("not_in_segments", mapped)
        if mapped is None:
            return self.skip("no_object_id", None)

        type_id = settings.object_type_id
        attributes = _attributes(self.message, data, self.derived)
        try:
            digest = hashed_object(type_id, mapped, attributes)[0]
        except UNSENDABLE_ERRORS:
            problems = validate_object(type_id, mapped, attributes, settings)
            problems = (problems or [_UNSENDABLE_OBJECT]) + self.claim_problems()
            return self.error(mapped, attributes, problems)
        if stored_id == mapped and lookup(data, *_STORED_HASH) == digest:
            return self.skip("no_changes", mapped, attributes, digest)
        problems = validate_object(type_id, mapped, attributes, settings) + self.claim_problems()
        if problems:
            return self.error(mapped, attributes, problems, digest)
        reason = "new" if stored_id is None else "changed"
        return self.result(
            Action.IDENTIFY,
            reason,
            object_id=mapped,
            attributes=attributes,
            digest=digest,
            traits=account_identify_traits(mapped, digest, self.now),
        )

    def delete(self, stored_id: str) -> AccountPlan:
        problems = (
            identifier_problems(stored_id, "The stored object id", self.settings)
            + self.claim_problems()
        )
        if problems:
            return self.error(stored_id, {}, problems)
        return self.result(
            Action.DELETE,
            "left_segments",
            object_id=stored_id,
            traits=account_deletion_traits(self.now),
        )

    def skip(
        self,
        reason: str,
        object_id: str | None,
        attributes: dict[str, Any] | None = None,
        digest: str = "",
    ) -> AccountPlan:
        return self.result(
            Action.SKIP, reason, object_id=object_id, attributes=attributes, digest=digest
        )

    def error(
        self,
        object_id: str,
        attributes: dict[str, Any],
        problems: list[str],
        digest: str = "",
    ) -> AccountPlan:
        return self.result(
            Action.ERROR,
            "invalid_attributes",
            object_id=object_id,
            attributes=attributes,
            digest=digest,
            errors=problems,
        )

    def claim_problems(self) -> list[str]:
        """The identity claims Hull could not be sent (text that is not valid Unicode)."""
        return [
            f"The account's {name} is not valid Unicode text."
            for name, value in self.claims.items()
            if not is_encodable(value)
        ]

    def result(
        self,
        action: Action,
        reason: str,
        *,
        object_id: str | None,
        attributes: dict[str, Any] | None = None,
        digest: str = "",
        traits: dict[str, Any] | None = None,
        errors: list[str] | None = None,
    ) -> AccountPlan:
        return AccountPlan(
            account_id=self.message.account_id,
            action=action,
            reason=reason,
            message=ACCOUNT_REASON_MESSAGES[reason],
            object_type_id=self.settings.object_type_id,
            object_id=object_id,
            attributes=attributes or {},
            hash=digest,
            traits=traits,
            hull_claims=self.claims,
            errors=errors or [],
        )


def plan_account_update(
    message: AccountUpdateMessage, settings: Settings, *, now: datetime | None = None
) -> AccountPlan:
    """Decide what happens to one Hull account's Customer.io object (first rule wins).

    Pure: no I/O. The same message and settings give the same plan.

    1. ``no_segments`` (skip): ``synchronized_account_segments`` is empty; no object is ever
       sent, nor deleted.
    2. Not in any synchronized account segment: with ``enable_account_deletion`` on and an
       object sent earlier (a stored ``customerio/object_id``), ``left_segments`` (delete):
       the delete addresses the **stored** id, even when the mapped attribute now holds
       another one. Otherwise ``not_in_segments`` (skip).
    3. ``no_object_id`` (skip): the ``account_id_mapping`` attribute is missing, null, blank or
       not a string or number.
    4. ``no_changes`` (skip): the stored ``customerio/hash`` is the hash of the object now
       (its type, id and attributes) and the stored id is the id now.
    5. ``invalid_attributes`` (error): the object breaks a limit (see `validate_object`);
       every problem is listed and nothing is sent.
    6. ``new`` (identify) when no object id is stored, else ``changed`` (identify).

    Args:
        message: the account's (de-duplicated) ``account:update`` message.
        settings: the connector settings.
        now: the sync time written back to Hull (default: the current time, UTC).

    Returns:
        The plan: ``identify``, ``delete``, ``skip`` or ``error``, with its reason, the object
        type and id, the attributes, the hash and the Hull account write-back.
    """
    return _AccountPlanner(message, settings, now if now is not None else utc_now()).plan()
