"""Golden account plans: varied ``account:update`` cases and what ``plan_account_update`` made
of them, as ``golden_plans.py`` does for users.

``tests/rules/data/golden_account_plans.json`` holds each case's input (the message as Hull
sends it, the notification's account-segment names, the private settings, the sync time) next
to the whole plan it produced when the file was written: object type and id, attributes, hash,
traits, claims, reasons, errors. ``test_account_plan_golden.py`` plans every stored input again
and requires the same JSON text, byte for byte.

The inputs are data in the file, not code: regenerate only when a behaviour change is
intended, and say so in the commit:

    .venv/bin/python tests/rules/golden_account_plans.py
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hull_customerio.models.account import AccountPlan, AccountUpdateMessage
from hull_customerio.rules.accounts import plan_account_update
from hull_customerio.settings import Settings

GOLDEN_PATH = Path(__file__).parent / "data" / "golden_account_plans.json"
CASES = 200
SEED = 20261206

DATE_FORMS: tuple[Any, ...] = (
    "2018-03-30 14:38:02 UTC",
    "2017-09-18T12:18:04Z",
    "2021-02-03T04:05:06.789Z",
    "2020-07-01",
    1_700_000_000,
    1_700_000_000_123,
    "1700000000",
    "not a date",
    "",
    None,
)

ACCOUNT_SEGMENTS = (
    {"id": "aseg_customers", "name": "Customers"},
    {"id": "aseg_trial", "name": "Trial"},
    {"id": "aseg_enterprise", "name": "Enterprise"},
    {"id": "aseg_unnamed"},
)

ATTRIBUTE_NAMES = (
    "plan",
    "traits_score",
    "clearbit/name",
    "clearbit/employees",
    "founded_at",
    "traits_renewal_date",
    "id",
    "name",
    "domain",
    "tags",
    "café_ünïcode",
)


def _value(rng: random.Random, name: str) -> Any:
    if name.endswith(("_at", "_date")):
        return rng.choice(DATE_FORMS)
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randrange(-10_000, 10_000_000)
    if kind == 1:
        return round(rng.uniform(-1e6, 1e6), rng.randrange(0, 6))
    if kind == 2:
        return rng.random() < 0.5
    if kind == 3:
        return None
    if kind == 4:
        return rng.choice(["", "x", "Zo\u00eb \u2013 \u2615", 'line\nbreak "quoted"'])
    if kind == 5:
        return [rng.randrange(100), "two", None]
    return f"{name} value {rng.randrange(1000)}" * rng.choice((1, 1, 3, 12))


def _settings(rng: random.Random) -> dict[str, Any]:
    private: dict[str, Any] = {
        "synchronized_account_segments": (
            [] if rng.random() < 0.08 else rng.sample(("aseg_customers", "aseg_trial", "x"), 2)
        ),
        "synchronized_account_attributes": rng.sample(
            ATTRIBUTE_NAMES, rng.randrange(len(ATTRIBUTE_NAMES) + 1)
        ),
        "account_id_mapping": rng.choice(("external_id", "external_id", "id", "domain", "crm")),
        "object_type_id": rng.choice(("1", "1", "2", 7)),
        "enable_account_deletion": rng.random() < 0.4,
    }
    if rng.random() < 0.15:
        private["max_attribute_value_length"] = rng.choice((5, 20, 100))
    if rng.random() < 0.1:
        private["max_identifier_value_length"] = rng.choice((3, 8))
    return private


def _account(rng: random.Random, number: int) -> dict[str, Any]:
    account: dict[str, Any] = {"id": f"5b{number:022x}"}
    if rng.random() < 0.85:
        account["external_id"] = rng.choice((f"acc-{number}",) * 4 + ("", " "))
    if rng.random() < 0.8:
        account["domain"] = rng.choice((f"company{number}.example", "", None))
    if rng.random() < 0.8:
        account["name"] = rng.choice((f"Company {number}", "", None))
    if rng.random() < 0.6:
        account["crm"] = rng.choice((number, number + 0.5, f"C-{number}", "", True))
    if rng.random() < 0.7:
        account["indexed_at"] = rng.choice(DATE_FORMS[:4])
    for name in ATTRIBUTE_NAMES:
        if name not in ("id", "name", "domain") and rng.random() < 0.6:
            account[name] = _value(rng, name)
    state = rng.randrange(4)
    prefix = "traits_" if rng.random() < 0.3 else ""
    if state >= 1:
        account[prefix + "customerio/object_id"] = rng.choice((f"acc-{number}", "old-id", ""))
        account[prefix + "customerio/synced_at"] = "2024-01-01T00:00:00.000Z"
    if state == 2:
        account[prefix + "customerio/hash"] = "0" * 64
    return account


def _case(rng: random.Random, number: int) -> dict[str, Any]:
    segments = rng.sample(ACCOUNT_SEGMENTS, rng.randrange(len(ACCOUNT_SEGMENTS) + 1))
    if rng.random() < 0.5:
        first = ACCOUNT_SEGMENTS[0]
        segments = [first, *(segment for segment in segments if segment is not first)]
    segment_names = None
    if rng.random() < 0.25:
        # Named by the notification's accounts_segments, not in the message.
        segments = [{"id": segment["id"]} for segment in segments]
        segment_names = {"aseg_customers": "Customers", "aseg_trial": "Trial"}
    message: dict[str, Any] = {
        "message_id": f"m-{number}",
        "account": _account(rng, number),
        "account_segments": segments,
        "changes": {},
    }
    now = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc) + timedelta(
        seconds=rng.randrange(10**7), microseconds=rng.randrange(10**6)
    )
    case = {
        "message": message,
        "segment_names": segment_names,
        "settings": _settings(rng),
        "now": now.isoformat(),
    }
    if rng.random() < 0.15:
        # Sent before exactly as it is now: the stored id and hash are the current ones.
        result = plan_case(case)
        if result["hash"]:
            message["account"]["customerio/object_id"] = result["object_id"]
            message["account"]["customerio/hash"] = result["hash"]
    return case


def plan_dict(plan: AccountPlan) -> dict[str, Any]:
    """Everything a plan holds, as JSON-ready values (key order kept)."""
    return {
        "account_id": plan.account_id,
        "action": plan.action.value,
        "reason": plan.reason,
        "message": plan.message,
        "object_type_id": plan.object_type_id,
        "object_id": plan.object_id,
        "attributes": plan.attributes,
        "hash": plan.hash,
        "traits": plan.traits,
        "hull_claims": plan.hull_claims,
        "errors": plan.errors,
    }


def plan_case(case: dict[str, Any]) -> dict[str, Any]:
    """The plan of one stored case, as :func:`plan_dict`."""
    message = AccountUpdateMessage.from_dict(case["message"], segment_names=case["segment_names"])
    plan = plan_account_update(
        message,
        Settings.from_private_settings(case["settings"]),
        now=datetime.fromisoformat(case["now"]),
    )
    return plan_dict(plan)


def dumps(value: Any) -> str:
    """The JSON text plans are compared by: key order kept, floats as ``repr``, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


#: Cases whose object is over a size limit, appended after the random ones (their own seed).
OVERSIZE_CASES = 6


def _oversize_case(rng: random.Random, number: int) -> dict[str, Any]:
    case = _case(rng, number)
    case["settings"]["synchronized_account_segments"] = ["aseg_customers"]
    case["settings"]["account_id_mapping"] = "id"
    case["message"]["account_segments"] = [ACCOUNT_SEGMENTS[0]]
    account = case["message"]["account"]
    account.pop("customerio/hash", None)
    many = [f"field_{n:03d}" for n in range(rng.choice((296, 320)))]
    account.update(dict.fromkeys(many, "v" * rng.choice((10, 120))))
    case["settings"]["synchronized_account_attributes"] = many
    return case


def generate() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    cases = [_case(rng, number) for number in range(CASES)]
    oversize_rng = random.Random(SEED + 1)
    cases += [
        _oversize_case(oversize_rng, number) for number in range(CASES, CASES + OVERSIZE_CASES)
    ]
    return [{"input": case, "plan": plan_case(case)} for case in cases]


if __name__ == "__main__":
    golden = generate()
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    with GOLDEN_PATH.open("w", encoding="utf-8") as out:
        out.write("[\n")
        out.write(",\n".join(dumps(entry) for entry in golden))
        out.write("\n]\n")
    print(f"wrote {len(golden)} golden account plans to {GOLDEN_PATH}")
