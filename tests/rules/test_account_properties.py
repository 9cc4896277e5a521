"""Property tests of the account rules (issue 24, SPEC §10 and §11): any JSON-shaped
``account:update`` message gives an account plan or a clear ``ValidationError`` — never
another exception — and every plan keeps the rules' promises. A user with any account data is
planned and linked without raising too."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hull_customerio.errors import ValidationError
from hull_customerio.models.account import AccountPlan, AccountUpdateMessage
from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.models.plan import Action
from hull_customerio.rules.accounts import (
    ACCOUNT_REASON_MESSAGES,
    plan_account_update,
    validate_object,
)
from hull_customerio.rules.dedupe import deduplicate_account_messages
from hull_customerio.rules.plan import plan_user_update
from hull_customerio.settings import Settings

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
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
ACCOUNT_SEGMENT_IDS = ["aseg_1", "aseg_2", "aseg_3"]
ATTRIBUTE_NAMES = [
    "name", "domain", "external_id", "id", "traits_plan", "plan", "clearbit/name",
    "founded_at", "renewal_date", "x" * 160, "customerio/object_id",
]  # fmt: skip
ACCOUNT_KEYS = [*ATTRIBUTE_NAMES, "customerio/hash", "traits_customerio/object_id", "indexed_at"]


def rarely(
    strategy: st.SearchStrategy[Any], other: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``strategy`` about 19 times in 20, else ``other`` (often of the wrong type)."""
    return st.integers(min_value=0, max_value=19).flatmap(lambda n: other if n == 7 else strategy)


ids = st.sampled_from(["a-1", "acme.example", "old"]) | st.integers() | st.text(max_size=160)
attribute_values = st.one_of(ids, json_values, st.sampled_from(["2020-01-02", 1_700_000_000]))


@st.composite
def accounts(draw: st.DrawFn) -> dict[str, Any]:
    account: dict[str, Any] = {"id": draw(rarely(st.sampled_from(["h1", "h2"]), json_scalars))}
    for key in ACCOUNT_KEYS:
        if draw(st.booleans()):
            account[key] = draw(attribute_values)
    account.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return account


segment_dicts = st.fixed_dictionaries(
    {"id": rarely(st.sampled_from(ACCOUNT_SEGMENT_IDS), json_scalars)},
    optional={"name": rarely(st.text(max_size=10), json_scalars)},
)
account_segments = st.lists(rarely(segment_dicts, json_values), max_size=3)
account_message_dicts = st.fixed_dictionaries(
    {"account": rarely(accounts(), json_values)},
    optional={
        "account_segments": rarely(account_segments, json_values),
        "message_id": rarely(st.text(max_size=5), json_scalars),
        "changes": rarely(
            st.dictionaries(st.text(max_size=8), json_values, max_size=3), json_values
        ),
    },
)
any_settings = st.builds(
    Settings,
    synchronized_segments=st.just(("seg_1",)),
    synchronized_account_segments=rarely(
        st.lists(st.sampled_from(ACCOUNT_SEGMENT_IDS), min_size=1, max_size=3), st.just(())
    ),
    synchronized_account_attributes=st.lists(st.sampled_from(ATTRIBUTE_NAMES), max_size=6),
    account_id_mapping=st.sampled_from(["external_id", "id", "domain", "plan", "founded_at"]),
    object_type_id=st.sampled_from(["1", "2", "17"]),
    link_users_to_accounts=st.booleans(),
    enable_account_deletion=st.booleans(),
    max_attribute_name_length=st.just(150) | st.integers(min_value=1, max_value=200),
    max_attribute_value_length=st.just(1000) | st.integers(min_value=1, max_value=1200),
    max_identifier_value_length=st.just(150) | st.integers(min_value=1, max_value=200),
)
segment_names = st.dictionaries(
    st.sampled_from(ACCOUNT_SEGMENT_IDS), st.text(max_size=10), max_size=3
)


def parse(raw: object, names: dict[str, str] | None = None) -> AccountUpdateMessage | None:
    """The message, or ``None`` for a ``ValidationError`` that says where (never another error)."""
    error: ValidationError | None = None
    try:
        return AccountUpdateMessage.from_dict(raw, segment_names=names)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc
    assert str(error)
    assert error.problems
    assert all(problem.startswith("$") for problem in error.problems)
    return None


def check_plan(message: AccountUpdateMessage, plan: AccountPlan, config: Settings) -> None:
    """What every account plan promises, whatever the input."""
    assert plan.account_id == message.account_id
    assert plan.message == ACCOUNT_REASON_MESSAGES[plan.reason]
    assert plan.object_type_id == config.object_type_id
    assert plan.hull_claims["id"] == message.account_id
    if plan.action is Action.IDENTIFY:
        assert plan.reason in {"new", "changed"}
        assert plan.object_id is not None
        assert plan.hash
        assert plan.errors == []
        assert validate_object(config.object_type_id, plan.object_id, plan.attributes, config) == []
        assert plan.traits is not None
        assert plan.traits["customerio/object_id"] == plan.object_id
        assert plan.traits["customerio/hash"] == plan.hash
        assert isinstance(plan.attributes["hull_segments"], list)
    elif plan.action is Action.DELETE:
        assert plan.reason == "left_segments"
        assert config.enable_account_deletion
        assert plan.object_id is not None
        assert plan.traits is not None
        assert plan.traits["customerio/object_id"] is None
    elif plan.action is Action.ERROR:
        assert plan.reason == "invalid_attributes"
        assert plan.errors
        assert plan.traits is None
    else:
        assert plan.traits is None
        assert plan.errors == []
    if not config.synchronized_account_segments:
        assert (plan.action, plan.reason) == (Action.SKIP, "no_segments")


@EXAMPLES
@given(raw=rarely(account_message_dicts, json_values), config=any_settings, names=segment_names)
def test_any_account_message_gives_a_plan_or_a_validation_error(
    raw: Any, config: Settings, names: dict[str, str]
) -> None:
    message = parse(raw, names)
    if message is None:
        return
    plan = plan_account_update(message, config, now=NOW)
    check_plan(message, plan, config)
    assert plan_account_update(message, config, now=NOW) == plan  # pure: the same plan again


@EXAMPLES
@given(raws=st.lists(account_message_dicts, max_size=6))
def test_account_dedupe_keeps_one_message_per_account_whatever_they_hold(
    raws: list[Any],
) -> None:
    messages = [m for m in (parse(raw) for raw in raws) if m is not None]
    kept = deduplicate_account_messages(messages)
    assert [m.account_id for m in kept] == list(dict.fromkeys(m.account_id for m in messages))
    assert all(m in messages for m in kept)


@EXAMPLES
@given(
    account=accounts() | st.none(),
    segments=account_segments,
    stored=st.none() | st.sampled_from(["a-1", "old", ""]) | json_scalars,
    config=any_settings,
)
def test_any_account_on_a_user_gives_a_plan_whose_link_keeps_its_promises(
    account: Any, segments: Any, stored: Any, config: Settings
) -> None:
    raw = {
        "user": {"id": "u1", "email": "a@example.com", "external_id": "c-1",
                 "customerio/created_at": 1, "customerio/object_id": stored},
        "segments": [{"id": "seg_1"}],
        "account": account,
        "account_segments": segments,
    }  # fmt: skip
    try:
        message = UserUpdateMessage.from_dict(raw)
    except ValidationError:
        return
    plan = plan_user_update(message, config, now=NOW)
    if plan.action is not Action.IDENTIFY:
        assert (plan.object_id, plan.unlinked_object_id) == (None, None)
        return
    assert plan.unlinked_object_id is None or plan.unlinked_object_id != plan.object_id
    if not config.link_users_to_accounts or not config.synchronized_account_segments:
        assert plan.object_id is None
    assert plan.traits is not None
    if plan.object_id is not None or plan.unlinked_object_id is not None:
        assert plan.traits["customerio/object_id"] == plan.object_id
