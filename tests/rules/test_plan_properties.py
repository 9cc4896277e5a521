"""Property tests of the pure rules (STYLE habit 9): any JSON-shaped message gives a plan or a
clear ``ValidationError`` — never another exception — and every plan keeps the spec's promises."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hull_customerio.errors import ValidationError
from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.models.plan import Action, UserPlan
from hull_customerio.rules.dedupe import deduplicate_messages
from hull_customerio.rules.plan import EVENT_REASON_MESSAGES, REASON_MESSAGES, plan_user_update
from hull_customerio.settings import Settings

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

SEGMENT_IDS = ["seg_1", "seg_2", "seg_3"]
EVENT_NAMES = ["Signed Up", "Ordered", "page", "Other"]
ATTRIBUTE_NAMES = [
    "first_name", "traits_first_name", "clearbit/name", "traits_clearbit/name", "id",
    "signup_at", "traits_renewal_date", "email", "created_at", "tags", "x" * 160,
]  # fmt: skip
ACCOUNT_NAMES = ["account.name", "account.clearbit/founded_at", "account.traits_plan"]


def rarely(
    strategy: st.SearchStrategy[Any], other: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``strategy`` about 39 times in 40, else ``other``."""
    # Not 0 or 39: hypothesis favours the bounds of a range, which would make `other` common.
    return st.integers(min_value=0, max_value=39).flatmap(lambda n: other if n == 7 else strategy)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-typed value; now and then any JSON value (often the wrong type)."""
    return rarely(strategy, json_values)


timestamps = st.one_of(
    st.none(),
    st.integers(min_value=-(10**13), max_value=10**14),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["2024-01-15", "2024-01-15T10:00:00+02:00", "2018-03-30 14:38:02 UTC",
         "2017-09-18T12:18:04Z", "1705312800", "not a date", "", "2024-02-30"]
    ),
)  # fmt: skip
identifiers = st.one_of(st.none(), st.just(""), st.just("   "), st.text(min_size=1, max_size=160))
usable_ids = st.text(min_size=1, max_size=20).filter(str.strip)

user_fields: dict[str, st.SearchStrategy[Any]] = {
    "email": maybe(rarely(st.emails(), identifiers)),
    "external_id": maybe(rarely(usable_ids, identifiers)),
    "anonymous_ids": maybe(st.none() | st.lists(st.text(max_size=10), max_size=3)),
    "created_at": maybe(timestamps),
    "indexed_at": maybe(timestamps),
    "segment_ids": maybe(st.lists(st.sampled_from(SEGMENT_IDS), max_size=3)),
}
trait_fields: dict[str, st.SearchStrategy[Any]] = {
    "customerio/created_at": maybe(timestamps),
    "customerio/deleted_at": maybe(timestamps),
    "customerio/suppressed_at": maybe(timestamps),
    "customerio/id": maybe(identifiers),
    "customerio/hash": maybe(st.text(max_size=64)),
    "first_name": json_values,
    "clearbit/name": json_values,
    "signup_at": maybe(timestamps),
    "renewal_date": maybe(timestamps),
    "tags": json_values,
    "x" * 160: json_values,
}


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    user: dict[str, Any] = {"id": draw(maybe(st.sampled_from(["u1", "u2", "u3"])))}
    for name, strategy in user_fields.items():
        if draw(
            rarely(st.just(True), st.booleans())
            if name in {"email", "external_id"}
            else st.booleans()
        ):
            user[name] = draw(strategy)
    for name, strategy in trait_fields.items():
        if draw(st.booleans()):
            prefix = draw(st.sampled_from(["", "traits_"]))
            user[prefix + name] = draw(strategy)
    user.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return user


segments = st.fixed_dictionaries(
    {"id": maybe(st.sampled_from(SEGMENT_IDS))}, optional={"name": maybe(st.text(max_size=10))}
)
events = st.fixed_dictionaries(
    {"event": maybe(st.sampled_from(EVENT_NAMES))},
    optional={
        "event_id": maybe(st.sampled_from(["e1", "e2", "e3"]) | st.none()),
        "created_at": maybe(timestamps),
        "anonymous_id": maybe(st.none() | st.text(max_size=5)),
        "properties": maybe(
            st.dictionaries(st.sampled_from(["url", "referrer", "title", "x"]), json_values)
        ),
        "context": maybe(
            st.dictionaries(
                st.sampled_from(["page_url", "referrer_url", "page", "referrer", "ip"]),
                maybe(st.fixed_dictionaries({"url": maybe(st.text(max_size=10))})),
            )
        ),
    },
)
message_dicts = st.fixed_dictionaries(
    {
        "user": maybe(users()),
        "segments": maybe(
            rarely(st.lists(maybe(segments), min_size=1, max_size=3),
                   st.none() | st.lists(segments, max_size=3))
        ),
        "events": maybe(rarely(st.lists(maybe(events), max_size=4), st.none())),
    },
    optional={
        "message_id": maybe(st.text(max_size=5)),
        "segment_ids": maybe(st.lists(st.sampled_from(SEGMENT_IDS), max_size=3)),
        "account": maybe(
            st.none()
            | st.dictionaries(st.sampled_from(["name", "clearbit/founded_at", "traits_plan"]),
                              json_values)
        ),
        "changes": maybe(st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
        "extra": json_values,
    },
)  # fmt: skip

any_settings = st.builds(
    Settings,
    synchronized_segments=rarely(
        st.lists(st.sampled_from(SEGMENT_IDS), min_size=1, max_size=3), st.just(())
    ),
    synchronized_attributes=st.lists(st.sampled_from(ATTRIBUTE_NAMES + ACCOUNT_NAMES), max_size=6),
    user_id_mapping=st.sampled_from(["external_id", "id", "email", "customerio/id", "first_name"]),
    enable_user_deletion=st.booleans(),
    events_filter=st.lists(st.sampled_from(EVENT_NAMES), max_size=4),
    anonymous_events=st.booleans(),
    max_attributes_per_call=st.integers(min_value=1, max_value=300),
    max_attribute_name_length=st.just(150) | st.integers(min_value=1, max_value=200),
    max_attribute_value_length=st.just(1000) | st.integers(min_value=1, max_value=1200),
    max_identifier_value_length=st.just(150) | st.integers(min_value=1, max_value=200),
)
segment_names = st.dictionaries(st.sampled_from(SEGMENT_IDS), st.text(max_size=10), max_size=3)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


def parse(raw: object, names: dict[str, str] | None = None) -> UserUpdateMessage | None:
    """The message, or ``None`` for a ``ValidationError`` that says where (never another error)."""
    error: ValidationError | None = None
    try:
        return UserUpdateMessage.from_dict(raw, segment_names=names)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc
    assert str(error)
    assert error.problems
    assert all(problem.startswith("$") for problem in error.problems)
    return None


def check_plan(message: UserUpdateMessage, plan: UserPlan, config: Settings) -> None:
    """What every plan promises, whatever the input."""
    assert isinstance(plan, UserPlan)
    assert plan.user_id == message.user.id
    assert plan.message == REASON_MESSAGES[plan.reason]
    # Every event is either sent or reported skipped, exactly once, with a known reason.
    assert len(plan.events) + len(plan.skipped_events) == len(message.events)
    for _, reason in plan.skipped_events:
        assert reason in EVENT_REASON_MESSAGES or reason in REASON_MESSAGES
    for event in plan.events:
        assert ULID.match(event.id)
        assert event.timestamp is None or isinstance(event.timestamp, int)
        assert (event.kind == "anonymous") == (event.anonymous_id is not None)
    if plan.action is Action.IDENTIFY:
        assert plan.reason in {"new", "changed"}
        assert plan.customer_id
        merged = [item for chunk in plan.chunks for item in chunk.items()]
        assert merged == list(plan.attributes.items())
        assert all(len(chunk) <= config.max_attributes_per_call for chunk in plan.chunks)
        assert next(iter(plan.attributes)) == "email"
        assert isinstance(plan.attributes["hull_segments"], list)
        assert plan.traits is not None
        assert plan.traits["customerio/hash"] == plan.hash
        assert all(event.kind != "anonymous" for event in plan.events)
    else:
        assert plan.chunks == []
    if plan.action is Action.DELETE:
        assert plan.reason == "left_segments"
        assert plan.traits is not None
        assert plan.events == []
    if plan.action is Action.ERROR:
        assert plan.reason == "invalid_attributes"
        assert plan.errors
        assert (plan.events, plan.traits) == ([], None)
    else:
        assert plan.errors == []
    if plan.action is Action.SKIP:
        assert plan.traits is None
        assert all(event.kind == "anonymous" for event in plan.events)


@EXAMPLES
@given(raw=json_values)
def test_any_json_value_is_a_message_or_a_validation_error(raw: object) -> None:
    message = parse(raw)
    if message is not None:
        check_plan(message, plan_user_update(message, Settings(), now=NOW), Settings())


@EXAMPLES
@given(raw=message_dicts, config=any_settings, batch=st.booleans(), names=segment_names)
def test_any_message_shaped_dict_gives_a_plan_or_a_validation_error(
    raw: dict[str, Any], config: Settings, batch: bool, names: dict[str, str]
) -> None:
    message = parse(raw, names)
    if message is not None:
        check_plan(message, plan_user_update(message, config, batch=batch, now=NOW), config)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raws=st.lists(message_dicts, max_size=5), config=any_settings)
def test_any_batch_deduplicates_and_plans(raws: list[dict[str, Any]], config: Settings) -> None:
    messages = [m for m in (parse(raw) for raw in raws) if m is not None]

    kept = deduplicate_messages(messages)

    assert [m.user.id for m in kept] == list(dict.fromkeys(m.user.id for m in messages))
    for message in kept:
        check_plan(message, plan_user_update(message, config, now=NOW), config)


@EXAMPLES
@given(raw=message_dicts, config=any_settings)
def test_planning_is_deterministic(raw: dict[str, Any], config: Settings) -> None:
    message = parse(raw)
    if message is not None:
        first = plan_user_update(message, config, now=NOW)
        again = plan_user_update(message, config, now=NOW)
        assert repr(first) == repr(again)
        assert first.hash == again.hash
        assert [e.id for e in first.events] == [e.id for e in again.events]
