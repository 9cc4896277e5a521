"""Batch mode's rounds, sans-IO (SPEC §3.2, §3.4, §6.4, issue 15)."""

from __future__ import annotations

import json
from typing import Any

from pytest_httpx import HTTPXMock

import hull_customerio as hc
from builders import event, message, settings, user
from hull_customerio.customerio import AnonymousTrack, Identify, Track, event_operation
from hull_customerio.customerio._base import MAX_BATCH_OPERATION_BYTES, dumps
from hull_customerio.engine import _core
from hull_customerio.errors import BadRequestError
from hull_customerio.models.customerio import BatchError, BatchResult

NO_RETRY = hc.RetryPolicy(max_attempts=1)


def identify(customer_id: str) -> Identify:
    return Identify(customer_id, {"email": f"{customer_id}@example.com"})


def track(customer_id: str, size: int = 10) -> Track:
    return Track(customer_id, "Signed Up", {"blob": "x" * size}, id="u")


def test_anonymous_events_never_go_in_a_v2_batch() -> None:
    anonymous = AnonymousTrack("anon-1", "Signed Up", {})

    round_ = _core.batch_operations({0: [identify("a")], 1: [anonymous]})

    assert [op["action"] for op in round_.operations] == ["identify"]
    assert round_.owners == [(0, 0)]
    assert round_.calls == [(1, 0, anonymous)]


def test_an_operation_over_32_kb_goes_through_its_v1_call() -> None:
    fits, too_big = track("a", 100), track("a", MAX_BATCH_OPERATION_BYTES)

    round_ = _core.batch_operations({0: [fits, too_big]})

    assert [op["name"] for op in round_.operations] == ["Signed Up"]
    assert round_.owners == [(0, 0)]
    assert round_.calls == [(0, 1, too_big)]


def test_an_operation_of_exactly_32_kb_stays_in_the_batch() -> None:
    base = len(dumps(event_operation("a", "Signed Up", {"blob": ""}, id="u")))
    exact = track("a", MAX_BATCH_OPERATION_BYTES - base)

    round_ = _core.batch_operations({0: [exact]})

    assert len(dumps(round_.operations[0])) == MAX_BATCH_OPERATION_BYTES
    assert round_.calls == []


def test_results_map_207_entries_and_v1_answers_back_to_each_user() -> None:
    anonymous = AnonymousTrack("anon-1", "E", {})
    round_ = _core.batch_operations({0: [identify("a")], 1: [identify("b")], 2: [anonymous]})
    refused = BadRequestError("no", service="customerio", method="POST", url="u", status_code=400)
    result = BatchResult(
        size=2,
        errors={1: BatchError(batch_index=1, reason="invalid", field="attributes", message="bad")},
        requests=1,
    )

    answers = _core.batch_results(round_, result, [refused])

    assert answers[0] == {0: None}
    error = answers[1][0]
    assert isinstance(error, _core.BatchOperationError)
    assert "bad (field attributes)" in str(error)
    assert answers[2] == {0: refused}


def _plans(*messages: Any) -> list[Any]:
    config = settings(events_filter=["Signed Up"], anonymous_events=True)
    return [hc.plan_user_update(m, config) for m in messages]


def test_events_wait_for_the_round_after_their_users_identify() -> None:
    plans = _plans(
        message(user(external_id="a"), events=[event("Signed Up")]),
        message(user(external_id="b"), events=[event("Signed Up")]),
    )
    rounds = _core.batch_steps(plans)

    first = next(rounds)
    assert [(op["action"], op["identifiers"]) for op in first.operations] == [
        ("identify", {"id": "a"}),
        ("identify", {"id": "b"}),
    ]
    refused = _core.BatchOperationError("refused")
    second = rounds.send({0: {0: None}, 1: {0: refused}})
    # Only the accepted user's event follows.
    assert [(op["action"], op["identifiers"]) for op in second.operations] == [
        ("event", {"id": "a"})
    ]
    try:
        rounds.send({0: {0: None}})
    except StopIteration as stop:
        accepted, rejected = stop.value
    assert [e.name for e in accepted.events_sent] == ["Signed Up"]
    assert rejected.failure == "identify_failed"
    assert rejected.events_skipped == [("Signed Up", "identify_failed")]


def test_batch_mode_posts_anonymous_events_to_the_v1_endpoint(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url="https://track.customer.io/api/v1/events")
    anonymous = message(user(email=None, anonymous_ids=["anon-1"]), events=[event("Signed Up")])
    config = settings(events_filter=["Signed Up"], anonymous_events=True)

    with hc.CustomerIOClient("site", "key", retry=NO_RETRY, rate_limit=None) as client:
        report = hc.Connector(config, customerio=client, mode="batch").sync_user_updates(
            [anonymous]
        )

    (request,) = httpx_mock.get_requests()
    body = json.loads(request.content)
    assert (body["name"], body["anonymous_id"]) == ("Signed Up", "anon-1")
    assert "identifiers" not in body
    assert report.outcomes[0].calls == ["anonymous"]


# -- write-backs may start once a user's person calls are settled (issue 16) --


def _answer_all(round_: _core.BatchRound, refused: set[int] = frozenset()) -> dict[int, Any]:
    error = _core.BatchOperationError("refused")
    answers: dict[int, dict[int, Any]] = {}
    for owner, position in round_.owners:
        answers.setdefault(owner, {})[position] = error if owner in refused else None
    for owner, position, _ in round_.calls:
        answers.setdefault(owner, {})[position] = None
    return answers


def test_users_settled_by_a_round_are_named_in_the_next_one() -> None:
    config = settings(
        events_filter=["Signed Up"],
        synchronized_attributes=["plan", "seats", "tier"],
        max_attributes_per_call=2,
    )
    plans = [
        hc.plan_user_update(m, config)
        for m in (
            message(user(external_id="a"), events=[event("Signed Up")]),  # 1 chunk, an event
            message(user(external_id="b"), events=[event("Signed Up")]),  # identify refused
            message(
                user(external_id="c", plan="pro", seats=3, tier=1), events=[event("Signed Up")]
            ),
            message(user(external_id="d")),  # 1 chunk, no event
        )
    ]
    assert [len(plan.chunks) for plan in plans] == [1, 1, 3, 1]
    rounds = _core.batch_steps(plans)

    first = next(rounds)
    assert first.settled == []  # nothing is answered yet
    second = rounds.send(_answer_all(first, refused={1}))
    # a and d are done with their person (d with everything); b's identify failed; c has
    # chunks left.
    assert second.settled == [0, 3]
    third = rounds.send(_answer_all(second))
    assert third.settled == []
    fourth = rounds.send(_answer_all(third))
    assert fourth.settled == [2]  # c's last chunk was answered: its event follows
    try:
        rounds.send(_answer_all(fourth))
    except StopIteration as stop:
        executions = stop.value
    assert [_core.writes_back(execution) for execution in executions] == [
        True,
        False,
        True,
        True,
    ]


def test_a_write_back_queued_ahead_is_recorded_as_if_performed_at_the_end() -> None:
    plan = _plans(message(user(external_id="a"), events=[event("Signed Up")]))[0]
    ahead, at_the_end = _core.Execution(plan), _core.Execution(plan)
    for execution in (ahead, at_the_end):
        execution.calls += ["identify", "event"]
        execution.fail("event_failed", None, "event 'Signed Up': refused")
    refused = BadRequestError("no", service="hull", method="POST", url="u", status_code=400)

    settled = _core.settle_write_back(ahead, refused)
    steps = _core.write_back_steps(at_the_end)
    assert next(steps) == _core.write_back_step(plan)
    try:
        steps.send(refused)
    except StopIteration as stop:
        performed = stop.value

    assert settled.outcome() == performed.outcome()
    assert settled.outcome().reason == "event_failed"  # the first failure still names it
    assert settled.calls == ["identify", "event", "hull_traits"]
