"""Golden plans: a few hundred varied planning cases and what ``plan_user_update`` made of them.

``tests/rules/data/golden_plans.json`` holds each case's input (the message as Hull sends it,
the private settings, ``batch``, the sync time) next to the whole plan it produced when the file
was written: ids, hashes, chunks, events with their ULIDs, traits, reasons, errors. The test
(``test_plan_golden.py``) plans every stored input again and requires the same JSON text, byte
for byte, so optimising the rules cannot change a single output.

The inputs are data in the file, not code, so changing this generator does not change what the
test checks. Regenerate only when a behaviour change is intended, and say so in the commit:

    .venv/bin/python tests/rules/golden_plans.py

The inputs stay within normal limits (small events, ordinary numbers and strings, shallow
values) so rules for hostile or oversized input can change without touching them.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.models.plan import OutgoingEvent, UserPlan
from hull_customerio.rules.plan import plan_user_update
from hull_customerio.settings import Settings

GOLDEN_PATH = Path(__file__).parent / "data" / "golden_plans.json"
CASES = 400
SEED = 20261129

# Every form of timestamp Hull sends, and some that are not timestamps.
DATE_FORMS: tuple[Any, ...] = (
    "2018-03-30 14:38:02 UTC",
    "2017-09-18T12:18:04Z",
    "2017-09-18t12:18:04z",
    "2021-02-03T04:05:06.789Z",
    "2021-02-03T04:05:06,5Z",
    "2021-02-03T04:05:06.123456789+02:00",
    "2020-07-01T23:30:00-0530",
    "2020-07-01T23:30:00+01",
    "2020-07-01 23:30 GMT",
    "2020-07-01T23:30:00",
    "2020-07-01",
    " 2019-12-31T23:59:59Z ",
    1_700_000_000,
    1_700_000_000_123,
    1_700_000_000.75,
    0,
    -86_400,
    "1700000000",
    "1700000000123",
    "not a date",
    "2024-13-01",
    "2024-02-30T00:00:00Z",
    "",
    None,
    True,
)

SEGMENTS = (
    {"id": "seg_customers", "name": "Customers"},
    {"id": "seg_trial", "name": "Trial"},
    {"id": "seg_news", "name": "Newsletter"},
    {"id": "seg_unnamed"},
)

USER_ATTRIBUTE_NAMES = (
    "plan",
    "traits_score",
    "clearbit/name",
    "traits_clearbit/employees",
    "last_seen_at",
    "traits_signup_date",
    "renewal_at",
    "id",
    "first_name",
    "tags",
    "nested",
    "café_ünïcode",
    "ratio",
)

ACCOUNT_ATTRIBUTE_NAMES = ("account.name", "account.clearbit/geo_state", "account.created_at")

EVENT_NAMES = ("Order Completed", "Signed Up", "page", "Not Whitelisted")


def _value(rng: random.Random, name: str) -> Any:
    if name.endswith(("_at", "_date")):
        return rng.choice(DATE_FORMS)
    kind = rng.randrange(9)
    if kind == 0:
        return rng.randrange(-10_000, 10_000_000)
    if kind == 1:
        return round(rng.uniform(-1e6, 1e6), rng.randrange(0, 8))
    if kind == 2:
        return rng.choice((0.1, 1.5e-7, 2.5e20, -0.0, 1e16, 123456789.123))
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return None
    if kind == 5:
        return rng.choice(["", "   ", "x", "Zo\u00eb \u2013 \u2615", 'line\nbreak "quoted"'])
    if kind == 6:
        return [rng.randrange(100), "two", rng.random() < 0.5, None]
    if kind == 7:
        return {"b": 1, "a": [1.25, "ü"], "c": {"d": None}}
    return f"{name} value {rng.randrange(1000)}" * rng.choice((1, 1, 3, 12))


def _event(rng: random.Random, index: int, user_number: int) -> dict[str, Any]:
    name = rng.choice(EVENT_NAMES)
    event: dict[str, Any] = {"event": name}
    if rng.random() < 0.8:
        event["event_id"] = f"evt-{user_number}-{index}"
    if rng.random() < 0.9:
        event["created_at"] = rng.choice(DATE_FORMS[:19])
    properties: dict[str, Any] = {}
    context: dict[str, Any] = {}
    if name == "page":
        where = rng.randrange(5)
        url = f"https://example.com/p/{rng.randrange(50)}?q=ü"
        if where == 0:
            properties["url"] = url
        elif where == 1:
            context["page_url"] = url
        elif where == 2:
            context["page"] = {"url": url}
        elif where == 3:
            properties["url"] = "  "
        referrer = rng.randrange(4)
        if referrer == 0:
            properties["referrer"] = "https://search.example.org/"
        elif referrer == 1:
            context["referrer_url"] = "https://ref.example.net/"
        elif referrer == 2:
            context["referrer"] = {"url": "https://nested.example.com/"}
        properties["title"] = "Shop"
    else:
        properties = {
            "order_id": f"o-{user_number}-{index}",
            "total": round(rng.uniform(0, 500), 2),
            "currency": rng.choice(("EUR", "USD")),
            "items": [{"sku": "A1", "qty": 2}],
        }
    if rng.random() < 0.7:
        event["properties"] = properties
    elif rng.random() < 0.5:
        event["properties"] = None
    if context or rng.random() < 0.5:
        event["context"] = context
    if rng.random() < 0.3:
        event["anonymous_id"] = rng.choice(("anon-evt-1", "", "  "))
    return event


def _settings(rng: random.Random) -> dict[str, Any]:
    attributes = rng.sample(
        USER_ATTRIBUTE_NAMES + ACCOUNT_ATTRIBUTE_NAMES,
        rng.randrange(len(USER_ATTRIBUTE_NAMES) + len(ACCOUNT_ATTRIBUTE_NAMES) + 1),
    )
    private: dict[str, Any] = {
        "synchronized_segments": rng.sample(("seg_customers", "seg_trial", "seg_other"), 2),
        "synchronized_attributes": attributes,
        "user_id_mapping": rng.choice(("external_id", "external_id", "email", "id", "account_no")),
        "enable_user_deletion": rng.random() < 0.4,
        "events_filter": (
            list(EVENT_NAMES[:3]) if rng.random() < 0.6 else rng.sample(EVENT_NAMES[:3], 1)
        ),
        "anonymous_events": rng.random() < 0.4,
    }
    if rng.random() < 0.3:
        private["max_attributes_per_call"] = rng.choice((1, 2, 3, 5))
    if rng.random() < 0.15:
        private["max_attribute_name_length"] = rng.choice((8, 12))
    if rng.random() < 0.2:
        private["max_attribute_value_length"] = rng.choice((5, 20, 100))
    if rng.random() < 0.1:
        private["max_identifier_value_length"] = rng.choice((3, 6))
    return private


def _user(rng: random.Random, number: int) -> dict[str, Any]:
    user: dict[str, Any] = {"id": f"5a{number:022x}"}
    if rng.random() < 0.95:
        user["email"] = (
            f"user{number}@example.com" if rng.random() < 0.85 else rng.choice(("", "  ", None))
        )
    if rng.random() < 0.85:
        user["external_id"] = rng.choice((f"cust-{number}", f"cust-{number}", "", " "))
    if rng.random() < 0.4:
        user["account_no"] = rng.choice((number, number + 0.5, f"A-{number}", "", True))
    if rng.random() < 0.5:
        user["anonymous_ids"] = [f"anon-{number}", f"anon-{number}-b"][: rng.randrange(3)]
    if rng.random() < 0.8:
        user["created_at"] = rng.choice(DATE_FORMS[:-1])  # Hull's own field: no boolean
    for name in USER_ATTRIBUTE_NAMES:
        if name != "id" and rng.random() < 0.6:  # "id" is the Hull id, set above
            user[name] = _value(rng, name)
    state = rng.randrange(6)
    prefix = "traits_" if rng.random() < 0.3 else ""
    if state >= 1:
        user[prefix + "customerio/created_at"] = 1_700_000_000
        user[prefix + "customerio/id"] = rng.choice((f"cust-{number}", "old-id", ""))
    if state == 2:
        user[prefix + "customerio/deleted_at"] = "2024-01-01T00:00:00.000Z"
    if state == 3:
        user[prefix + "customerio/suppressed_at"] = "2024-01-01T00:00:00.000Z"
    if state == 4:
        user[prefix + "customerio/hash"] = "0" * 64
    return user


def _case(rng: random.Random, number: int) -> dict[str, Any]:
    message: dict[str, Any] = {"user": _user(rng, number), "changes": {}}
    segments = rng.sample(SEGMENTS, rng.randrange(len(SEGMENTS) + 1))
    if rng.random() < 0.5:
        segments = [SEGMENTS[0], *(segment for segment in segments if segment is not SEGMENTS[0])]
    segment_names = None
    if rng.random() < 0.2:
        message["segment_ids"] = [segment["id"] for segment in segments]
        segment_names = {"seg_customers": "Customers", "seg_news": "Newsletter"}
    else:
        message["segments"] = segments
    if rng.random() < 0.5:
        message["account"] = {
            "name": rng.choice(("Acme", "", None)),
            "clearbit/geo_state": "Bavaria",
            "created_at": rng.choice(DATE_FORMS),
        }
    message["events"] = [_event(rng, index, number) for index in range(rng.randrange(5))]
    now = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc) + timedelta(
        seconds=rng.randrange(10**7), microseconds=rng.randrange(10**6)
    )
    case = {
        "message": message,
        "segment_names": segment_names,
        "settings": _settings(rng),
        "batch": rng.random() < 0.3,
        "now": now.isoformat(),
    }
    if rng.random() < 0.15:
        # Synced before with exactly these attributes: the stored hash is the current one, so
        # the plan is "no_changes" unless there are events to send.
        user = message["user"]
        user["customerio/created_at"] = 1_700_000_000
        digest = plan_case(case)["hash"]
        if digest:
            user["customerio/hash"] = digest
            if rng.random() < 0.6:
                message["events"] = message["events"][:0]
    return case


def _event_dict(event: OutgoingEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "name": event.name,
        "data": event.data,
        "timestamp": event.timestamp,
        "id": event.id,
        "type": event.type,
        "anonymous_id": event.anonymous_id,
        "source_event_id": event.source_event_id,
    }


def plan_dict(plan: UserPlan) -> dict[str, Any]:
    """Everything a plan holds, as JSON-ready values (key order kept)."""
    return {
        "user_id": plan.user_id,
        "action": plan.action.value,
        "reason": plan.reason,
        "message": plan.message,
        "customer_id": plan.customer_id,
        "attributes": plan.attributes,
        "chunks": plan.chunks,
        "events": [_event_dict(event) for event in plan.events],
        "skipped_events": [list(skip) for skip in plan.skipped_events],
        "hash": plan.hash,
        "traits": plan.traits,
        "hull_claims": plan.hull_claims,
        "errors": plan.errors,
    }


def plan_case(case: dict[str, Any]) -> dict[str, Any]:
    """The plan of one stored case, as :func:`plan_dict`."""
    message = UserUpdateMessage.from_dict(case["message"], segment_names=case["segment_names"])
    plan = plan_user_update(
        message,
        Settings.from_private_settings(case["settings"]),
        batch=case["batch"],
        now=datetime.fromisoformat(case["now"]),
    )
    return plan_dict(plan)


def dumps(value: Any) -> str:
    """The JSON text plans are compared by: key order kept, floats as ``repr``, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


#: Cases with small event limits, appended after the random ones (their own seed, so the first
#: ``CASES`` stay as they were): events skipped alone for a long name or large data.
EVENT_LIMIT_CASES = 12


def _event_limit_case(rng: random.Random, number: int) -> dict[str, Any]:
    case = _case(rng, number)
    case["settings"]["events_filter"] = list(EVENT_NAMES[:3])
    case["settings"]["max_event_name_length"] = rng.choice((8, 12))
    case["settings"]["max_event_data_size"] = rng.choice((40, 80))
    message = case["message"]
    message["events"] = [_event(rng, index, number) for index in range(2, 5)]
    return case


#: Cases with an event nested deeper than JSON carries, appended after those (their own seed):
#: the event is skipped alone as ``invalid_event``.
INVALID_EVENT_CASES = 4


def _invalid_event_case(rng: random.Random, number: int) -> dict[str, Any]:
    case = _case(rng, number)
    case["settings"]["events_filter"] = list(EVENT_NAMES[:3])
    message = case["message"]
    events = [_event(rng, index, number) for index in range(2, 5)]
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(120):
        nested = {"d": nested}
    events[0]["event"] = EVENT_NAMES[1]
    events[0]["properties"] = {"deep": nested}
    message["events"] = events
    return case


def generate() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    cases = [_case(rng, number) for number in range(CASES)]
    limits_rng = random.Random(SEED + 1)
    cases += [
        _event_limit_case(limits_rng, number) for number in range(CASES, CASES + EVENT_LIMIT_CASES)
    ]
    invalid_rng = random.Random(SEED + 2)
    first = CASES + EVENT_LIMIT_CASES
    cases += [
        _invalid_event_case(invalid_rng, number)
        for number in range(first, first + INVALID_EVENT_CASES)
    ]
    return [{"input": case, "plan": plan_case(case)} for case in cases]


if __name__ == "__main__":
    golden = generate()
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    with GOLDEN_PATH.open("w", encoding="utf-8") as out:
        out.write("[\n")
        out.write(",\n".join(dumps(entry) for entry in golden))
        out.write("\n]\n")
    print(f"wrote {len(golden)} golden plans to {GOLDEN_PATH}")
