"""Account plans stay byte-identical: stored inputs give exactly the stored plans (issue 24).

The golden file (written by ``golden_account_plans.py``) pins every output of
``plan_account_update``: object type and id, attributes, hashes, traits, claims, reasons,
errors. A deliberate behaviour change regenerates the file in the same commit.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from golden_account_plans import GOLDEN_PATH, dumps, plan_case

from hull_customerio.rules.accounts import ACCOUNT_REASON_MESSAGES

GOLDEN: list[dict[str, Any]] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "entry", GOLDEN, ids=[f"case-{n}-{e['plan']['reason']}" for n, e in enumerate(GOLDEN)]
)
def test_account_plan_is_byte_identical_to_the_golden_plan(entry: dict[str, Any]) -> None:
    assert dumps(plan_case(entry["input"])) == dumps(entry["plan"])


def test_golden_account_plans_cover_every_reason_and_limit() -> None:
    plans = [entry["plan"] for entry in GOLDEN]
    assert len(plans) >= 200
    reasons = Counter(plan["reason"] for plan in plans)
    assert set(reasons) == set(ACCOUNT_REASON_MESSAGES)
    assert min(reasons.values()) >= 3
    errors = "\n".join(error for plan in plans for error in plan["errors"])
    for limit in ("(max_identifier_value_length)", "(max_attribute_value_length)",
                  "attributes; Customer.io accepts at most 300", "per operation"):  # fmt: skip
        assert limit in errors
    inputs = [entry["input"] for entry in GOLDEN]
    assert any(case["segment_names"] for case in inputs)  # names from the notification
    assert len({case["settings"]["object_type_id"] for case in inputs}) > 1
