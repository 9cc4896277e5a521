"""From one Hull user to a [`UserPlan`][hull_customerio.UserPlan]."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .._serialization import is_encodable, unsendable
from .._time import utc_now
from ..models.hull import HullEvent, UserUpdateMessage, attribute_data
from ..models.plan import Action, OutgoingEvent, UserPlan
from ..settings import Settings
from ._compiled import compiled, lookup
from ._ids import read_id, usable_string
from .accounts import account_object_id
from .attributes import attributes_of
from .chunking import chunk_attributes
from .events import to_anonymous_event, to_person_event
from .hashing import hashed_person
from .segments import in_any, in_synchronized_segments
from .validation import (
    UNSENDABLE_ERRORS,
    event_too_large,
    flat_object_size,
    plainly_valid,
    plainly_valid_json,
    validate_person,
)
from .writeback import OBJECT_ID_TRAIT, deletion_traits, hull_claims, identify_traits

__all__ = ["EVENT_REASON_MESSAGES", "REASON_MESSAGES", "plan_user_update"]

#: One sentence for people per reason code of a user's plan.
REASON_MESSAGES: Mapping[str, str] = {
    "no_email": "User has no email and will not be sent to Customer.io.",
    "not_in_segments": (
        "User is not in the synchronized segments and will not be sent to Customer.io."
    ),
    "left_segments": ("User left the synchronized segments and will be deleted from Customer.io."),
    "already_deleted": (
        "User left the synchronized segments and was already deleted from Customer.io."
    ),
    "suppressed": "User is suppressed in Customer.io and will not be sent to Customer.io.",
    "no_customer_id": (
        "User has no value for the attribute used as the Customer.io id and will not be sent "
        "to Customer.io."
    ),
    "new": "User is new to Customer.io and will be created.",
    "no_changes": "User has not changed since the last sync and has no new events to send.",
    "changed": "User has changed or has new events and will be updated in Customer.io.",
    "invalid_attributes": (
        "User has values Customer.io would reject and will not be sent to Customer.io."
    ),
}

#: One sentence per reason code an event is skipped for (besides its user's plan reason).
EVENT_REASON_MESSAGES: Mapping[str, str] = {
    "not_whitelisted": "Event is not in the events filter.",
    "page_without_url": "Page view has no url and cannot be sent to Customer.io.",
    "no_identifier": "Event belongs to a user without email, id or anonymous id.",
    "event_too_large": (
        "Event name or data is larger than Customer.io accepts (max_event_name_length, "
        "max_event_data_size) and will not be sent."
    ),
    "invalid_event": (
        "Event holds text that is not valid Unicode, a number that is not finite or nesting "
        "too deep, and cannot be sent."
    ),
}


def _is_set(value: object) -> bool:
    return value is not None and value != ""


class _Planner:
    """The decision for one message; a class only to share the values every rule reads."""

    __slots__ = (
        "batch",
        "claims",
        "compiled",
        "data",
        "document",
        "events_filter",
        "links",
        "message",
        "now",
        "settings",
        "user",
    )

    def __init__(
        self, message: UserUpdateMessage, settings: Settings, batch: bool, now: datetime
    ) -> None:
        self.message = message
        self.settings = settings
        self.batch = batch
        self.now = now
        self.user = message.user
        # The user's attributes as they arrived, read with `lookup` (either form of a name).
        self.data = attribute_data(message.user)
        self.compiled = compiled(settings)
        self.events_filter = self.compiled.events_filter
        self.claims = hull_claims(message.user, settings.user_id_mapping)
        self.document: str | None = None  # the person's canonical JSON, once hashed
        self.links: tuple[str | None, str | None] | None = None  # see account_links

    def plan(self) -> UserPlan:
        settings, data = self.settings, self.data
        in_segments = in_synchronized_segments(self.message, self.compiled.segment_ids)
        synced = _is_set(lookup(data, "customerio/created_at", "traits_customerio/created_at"))
        deleted = _is_set(lookup(data, "customerio/deleted_at", "traits_customerio/deleted_at"))
        mapped_id = read_id(lookup(data, *self.compiled.user_id_mapping))
        may_go_anonymous = settings.anonymous_events and (in_segments or self.batch)

        if usable_string(lookup(data, "email", "traits_email")) is None:  # rule 1
            return self.skip("no_email", anonymous=may_go_anonymous, customer_id=mapped_id)
        if not in_segments:
            if not settings.enable_user_deletion and not self.batch:  # rule 2
                return self.skip("not_in_segments", customer_id=mapped_id)
            if settings.enable_user_deletion:
                if synced and not deleted:  # rule 3
                    return self.delete(mapped_id)
                if deleted:  # rule 4
                    return self.skip("already_deleted", customer_id=mapped_id)
                return self.skip("not_in_segments", customer_id=mapped_id)  # rule 5
        suppressed_at = lookup(data, "customerio/suppressed_at", "traits_customerio/suppressed_at")
        if _is_set(suppressed_at):  # rule 6
            return self.skip("suppressed", customer_id=mapped_id)
        if mapped_id is None:  # rule 7
            return self.skip("no_customer_id", anonymous=may_go_anonymous)

        attributes = attributes_of(self.message, settings, data, self.compiled)
        try:
            digest, document = hashed_person(mapped_id, attributes)
        except UNSENDABLE_ERRORS:
            # Something JSON cannot carry; validation names what (or, failing that, we do).
            problems = validate_person(mapped_id, attributes, settings)
            return self.error(mapped_id, attributes, problems or [_UNSENDABLE_PERSON])
        self.document = document
        events, skipped = self.sort_events(to_person_event)
        if not synced:  # rule 8
            return self.identify(
                "new",
                customer_id=mapped_id,
                attributes=attributes,
                digest=digest,
                events=events,
                skipped=skipped,
            )
        stored_hash = lookup(data, "customerio/hash", "traits_customerio/hash")
        link, stored_link = self.account_links()
        if stored_hash == digest and not events and link == stored_link:  # rule 9
            return self.skip("no_changes", customer_id=mapped_id, attributes=attributes,
                             digest=digest, event_skips=skipped)  # fmt: skip
        return self.identify(
            "changed",
            customer_id=mapped_id,
            attributes=attributes,
            digest=digest,
            events=events,
            skipped=skipped,
        )  # rule 10

    def account_links(self) -> tuple[str | None, str | None]:
        """``(link, stored)``: the object this person is related to now, and the one stored.

        ``link`` is the id of the user's account object when ``link_users_to_accounts`` is
        on, the message has the account, one of its account segments is synchronized, and
        the account has a usable object id (see `account_object_id`); else ``None``.
        ``stored`` is the user's ``customerio/object_id`` (``None`` when unset).
        """
        if self.links is None:
            message, settings = self.message, self.settings
            link = None
            account = message.account
            if (
                settings.link_users_to_accounts
                and account is not None
                and in_any(message.account_segments, self.compiled.account_segment_ids)
            ):
                link = account_object_id(account, settings)
            stored = read_id(lookup(self.data, OBJECT_ID_TRAIT, _TRAITS_OBJECT_ID))
            self.links = (link, stored)
        return self.links

    def sort_events(
        self, convert: Callable[[HullEvent], OutgoingEvent | str | None]
    ) -> tuple[list[OutgoingEvent], list[tuple[str, str]]]:
        """Events to send and ``(name, reason)`` of the others, both in arrival order.

        ``convert`` turns a whitelisted event into what to send, or the reason it is skipped
        (``None``: a page view without url).
        """
        events: list[OutgoingEvent] = []
        skipped: list[tuple[str, str]] = []
        events_filter, settings = self.events_filter, self.settings
        for event in self.message.events:
            if event.event not in events_filter:  # see is_whitelisted
                skipped.append((event.event, "not_whitelisted"))
                continue
            try:
                outcome = convert(event)
            except UNSENDABLE_ERRORS:
                outcome = "invalid_event"
            if outcome is None:
                outcome = "page_without_url"
            elif not isinstance(outcome, str):
                problem = _event_problem(outcome, settings)
                if problem is None:
                    events.append(outcome)
                    continue
                outcome = problem
            skipped.append((event.event, outcome))
        return events, skipped

    def anonymous_events(self) -> tuple[list[OutgoingEvent], list[tuple[str, str]]]:
        user_anonymous_ids = self.user.anonymous_ids

        def convert(event: HullEvent) -> OutgoingEvent | str | None:
            anonymous_id = _anonymous_id(user_anonymous_ids, event)
            if anonymous_id is None:
                return "no_identifier"
            return to_anonymous_event(event, anonymous_id)

        return self.sort_events(convert)

    def not_sent(self, reason: str) -> list[tuple[str, str]]:
        """Every event skipped: whitelisted ones because of the user's ``reason``."""
        return self.sort_events(lambda _: reason)[1]

    def skip(
        self,
        reason: str,
        *,
        anonymous: bool = False,
        customer_id: str | None = None,
        attributes: dict[str, Any] | None = None,
        digest: str = "",
        event_skips: list[tuple[str, str]] | None = None,
    ) -> UserPlan:
        if anonymous:
            events, skipped = self.anonymous_events()
        else:
            events = []
            skipped = event_skips if event_skips is not None else self.not_sent(reason)
        return UserPlan(
            user_id=self.user.id,
            action=Action.SKIP,
            reason=reason,
            message=REASON_MESSAGES[reason],
            customer_id=customer_id,
            attributes=attributes or {},
            events=events,
            skipped_events=skipped,
            hash=digest,
            hull_claims=self.claims,
        )

    def delete(self, mapped_id: str | None) -> UserPlan:
        customer_id = (
            usable_string(lookup(self.data, "customerio/id", "traits_customerio/id")) or mapped_id
        )
        if customer_id is None:
            return self.skip("no_customer_id")
        errors = validate_person(customer_id, {}, self.settings) + self.claim_problems()
        if errors:
            return self.error(customer_id, {}, errors)
        traits = deletion_traits(self.now)
        if self.account_links()[1] is not None:
            traits[OBJECT_ID_TRAIT] = None  # deleting the person removed its relationships
        return UserPlan(
            user_id=self.user.id,
            action=Action.DELETE,
            reason="left_segments",
            message=REASON_MESSAGES["left_segments"],
            customer_id=customer_id,
            skipped_events=self.not_sent("left_segments"),
            traits=traits,
            hull_claims=self.claims,
        )

    def identify(
        self,
        reason: str,
        *,
        customer_id: str,
        attributes: dict[str, Any],
        digest: str,
        events: list[OutgoingEvent],
        skipped: list[tuple[str, str]],
    ) -> UserPlan:
        errors = self.person_problems(customer_id, attributes)
        claim_problems = self.claim_problems()
        if errors or claim_problems:
            return self.error(customer_id, attributes, errors + claim_problems, digest)
        link, stored = self.account_links()
        traits = identify_traits(customer_id, attributes, digest, self.now)
        if link is not None or stored is not None:
            # Only then: a user never linked keeps exactly the write-back it always had.
            traits[OBJECT_ID_TRAIT] = link
        return UserPlan(
            user_id=self.user.id,
            action=Action.IDENTIFY,
            reason=reason,
            message=REASON_MESSAGES[reason],
            customer_id=customer_id,
            attributes=attributes,
            chunks=chunk_attributes(attributes, self.settings.max_attributes_per_call),
            events=events,
            skipped_events=skipped,
            hash=digest,
            traits=traits,
            hull_claims=self.claims,
            object_id=link,
            unlinked_object_id=stored if stored is not None and stored != link else None,
        )

    def person_problems(self, customer_id: str, attributes: dict[str, Any]) -> list[str]:
        """`validate_person`'s answer; a person plainly within every limit skips the full check."""
        names_fit = self.compiled.attribute_names_fit
        document = self.document
        if document is not None and plainly_valid_json(
            customer_id, attributes, document, self.settings, names_fit
        ):
            return []
        if plainly_valid(customer_id, attributes, self.settings, names_fit):
            return []
        return validate_person(customer_id, attributes, self.settings)

    def claim_problems(self) -> list[str]:
        """The identity claims Hull could not be sent (text that is not valid Unicode)."""
        claims = self.claims
        if all(map(str.isascii, claims.values())):  # the usual case, in one C loop
            return []
        return [
            f"The user's {name} is not valid Unicode text."
            for name, value in self.claims.items()
            if not (value.isascii() or is_encodable(value))
        ]

    def error(
        self, customer_id: str, attributes: dict[str, Any], errors: list[str], digest: str = ""
    ) -> UserPlan:
        return UserPlan(
            user_id=self.user.id,
            action=Action.ERROR,
            reason="invalid_attributes",
            message=REASON_MESSAGES["invalid_attributes"],
            customer_id=customer_id,
            attributes=attributes,
            skipped_events=self.not_sent("invalid_attributes"),
            hash=digest,
            hull_claims=self.claims,
            errors=errors,
        )


_UNSENDABLE_PERSON = "The user's attributes cannot be encoded as JSON."
_TRAITS_OBJECT_ID = "traits_" + OBJECT_ID_TRAIT


def _event_problem(event: OutgoingEvent, settings: Settings) -> str | None:
    """Why the event cannot be sent (``invalid_event``, ``event_too_large``), or ``None``.

    ``invalid_event``: JSON cannot carry its name, data or anonymous id. ``event_too_large``:
    see `event_too_large`. Data of the usual flat shape with ASCII name and anonymous id is
    measured in one pass (such data is always sendable); anything else by the general rules.
    """
    name, anonymous_id = event.name, event.anonymous_id
    size = flat_object_size(event.data)
    if size is None or not name.isascii() or not (anonymous_id is None or anonymous_id.isascii()):
        if unsendable([name, event.data, anonymous_id]) is not None:
            return "invalid_event"
        return "event_too_large" if event_too_large(name, event.data, settings) else None
    if len(name) > settings.max_event_name_length or size > settings.max_event_data_size:
        return "event_too_large"
    return None


def _anonymous_id(user_anonymous_ids: list[str], event: HullEvent) -> str | None:
    if user_anonymous_ids:
        return user_anonymous_ids[0]
    return usable_string(event.anonymous_id)


def plan_user_update(
    message: UserUpdateMessage,
    settings: Settings,
    *,
    batch: bool = False,
    now: datetime | None = None,
) -> UserPlan:
    """Decide what happens to one Hull user in Customer.io (first rule wins).

    Pure: no I/O. The same message and settings give the same plan.

    Args:
        message: the user's (de-duplicated) ``user:update`` message.
        settings: the connector settings.
        batch: the message comes from a manual batch or an export, which bypasses the segment
            filter (deletion rules still apply when deletion is enabled).
        now: the sync time written back to Hull (default: the current time, UTC).

    Account link: an ``identify`` plan relates the person to their account's object
    (`UserPlan.object_id`) when ``link_users_to_accounts`` is on, the message has the account,
    one of its account segments is in ``synchronized_account_segments`` and the account has a
    usable object id. When the user's stored ``customerio/object_id`` is another id (another
    account now, the account left the synchronized account segments, or linking was switched
    off), that relationship is removed first (`UserPlan.unlinked_object_id`), and the plan is
    never ``no_changes`` while the link differs from the stored one. The write-back of an
    ``identify`` gains ``customerio/object_id`` (the link, ``None`` when there is none) only
    when a link exists or one is stored, and a ``delete``'s gains ``customerio/object_id:
    None`` only when one is stored: a user never linked is written back exactly as before.
    ``skip`` and ``error`` plans never change a link.

    Returns:
        The plan: ``identify``, ``delete``, ``skip`` or ``error``, with its reason, the
        attributes and identify chunks, the events to send and the skipped ones, the hash,
        the account link and the Hull write-back.
    """
    return _Planner(message, settings, batch, now if now is not None else utc_now()).plan()
