"""Plans stay byte-identical: a few hundred stored inputs give exactly the stored plans.

The golden file (written by ``golden_plans.py``) pins every output of ``plan_user_update``:
ids, hashes, chunks, event ULIDs, traits, reasons, errors. Speed work on the rules must leave
all of it unchanged; a deliberate behaviour change regenerates the file in the same commit.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from golden_plans import GOLDEN_PATH, dumps, plan_case

from hull_customerio.rules.plan import EVENT_REASON_MESSAGES, REASON_MESSAGES

GOLDEN: list[dict[str, Any]] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "entry", GOLDEN, ids=[f"case-{n}-{e['plan']['reason']}" for n, e in enumerate(GOLDEN)]
)
def test_plan_is_byte_identical_to_the_golden_plan(entry: dict[str, Any]) -> None:
    assert dumps(plan_case(entry["input"])) == dumps(entry["plan"])


def test_golden_plans_cover_every_reason_event_kind_and_chunking() -> None:
    plans = [entry["plan"] for entry in GOLDEN]
    assert len(plans) >= 300
    reasons = Counter(plan["reason"] for plan in plans)
    assert set(reasons) == set(REASON_MESSAGES)
    assert min(reasons.values()) >= 3
    event_skips = {reason for plan in plans for _, reason in plan["skipped_events"]}
    assert set(EVENT_REASON_MESSAGES) <= event_skips
    kinds = Counter(event["kind"] for plan in plans for event in plan["events"])
    assert min(kinds[kind] for kind in ("event", "page", "anonymous")) >= 10
    assert sum(len(plan["chunks"]) > 1 for plan in plans) >= 10
    assert any(event["timestamp"] is None for plan in plans for event in plan["events"])
    inputs = [entry["input"] for entry in GOLDEN]
    assert any(case["segment_names"] for case in inputs)  # segments given by ids
    assert any("account" in case["message"] for case in inputs)
