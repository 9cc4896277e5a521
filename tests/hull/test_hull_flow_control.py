"""SPEC §5.3: the flow-control answers to a smart-notifier notification."""

from __future__ import annotations

import pytest

from hull_customerio.hull import flow_control_next, flow_control_retry


def test_success_answers_next() -> None:
    assert flow_control_next() == {"flow_control": {"type": "next"}}


def test_transient_failure_answers_retry_10_in_1000_ms_by_default() -> None:
    assert flow_control_retry() == {"flow_control": {"type": "retry", "size": 10, "in": 1000}}


def test_retry_size_and_delay_are_configurable() -> None:
    answer = flow_control_retry(size=5, delay_ms=30_000)

    assert answer == {"flow_control": {"type": "retry", "size": 5, "in": 30_000}}


@pytest.mark.parametrize(("size", "delay_ms"), [(0, 1000), (10, -1)])
def test_retry_rejects_impossible_parameters(size: int, delay_ms: int) -> None:
    with pytest.raises(ValueError, match="must"):
        flow_control_retry(size=size, delay_ms=delay_ms)


def test_answers_are_fresh_dicts_the_caller_may_change() -> None:
    first = flow_control_next()
    first["flow_control"]["type"] = "retry"

    assert flow_control_next() == {"flow_control": {"type": "next"}}
