"""Retry decisions (SPEC §6.3): pure functions in tables, then the tenacity wiring.

Nothing waits: every sleep is injected and only records what it was asked.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import Any

import pytest

from hull_customerio._http.retry import (
    CUSTOMERIO_RETRY_STATUSES,
    HULL_RETRY_STATUSES,
    RetryPolicy,
    async_call_with_retries,
    call_with_retries,
    parse_retry_after,
    retry_wait,
    should_retry,
)
from hull_customerio.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    DeliveryError,
    make_status_error,
)

NOW = 1_700_000_000.0


def status(code: int, retry_after: float | None = None) -> APIStatusError:
    return make_status_error(
        service="customerio", method="PUT", url="u", status_code=code, retry_after=retry_after
    )


def connection() -> APIConnectionError:
    return APIConnectionError("refused", service="customerio", method="PUT", url="u")


def timeout() -> APITimeoutError:
    return APITimeoutError("slow", service="customerio", method="PUT", url="u")


# ------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("2", 2.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("nan", None),
        ("soon", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not an RFC 9110 date
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


# ------------------------------------------------------------------------- what retries


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        *[(status(code), True) for code in (408, 429, 500, 502, 503, 504, 522, 524)],
        *[(status(code), False) for code in (400, 401, 403, 404, 409, 422, 501, 505)],
        (connection(), True),
        (timeout(), True),
        (ValueError("a bug"), False),
        (
            DeliveryError("x", service="hull", method="POST", url="u", undelivered=[]),
            False,
        ),
    ],
)
def test_should_retry_customerio(exc: BaseException, retried: bool) -> None:
    assert should_retry(exc, RetryPolicy()) is retried


@pytest.mark.parametrize(
    ("code", "retried"),
    [
        (408, True),
        (429, True),
        (500, True),
        (501, True),
        (599, True),
        (400, False),
        (401, False),
        (404, False),
    ],
)
def test_should_retry_with_hull_statuses(code: int, retried: bool) -> None:
    policy = RetryPolicy(retry_statuses=HULL_RETRY_STATUSES)
    assert should_retry(status(code), policy) is retried


def test_default_statuses_are_the_specs() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504, 522, 524}) == CUSTOMERIO_RETRY_STATUSES
    assert RetryPolicy().retry_statuses == CUSTOMERIO_RETRY_STATUSES


# ------------------------------------------------------------------------ how long to wait


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0)]
)
def test_backoff_is_exponential_and_capped(attempt: int, expected: float) -> None:
    assert retry_wait(attempt, status(503), RetryPolicy(), random=lambda: 0.0) == expected


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 1.0), (0.5, 0.875), (1.0, 0.75)])
def test_jitter_takes_off_up_to_its_fraction(draw: float, factor: float) -> None:
    wait = retry_wait(2, connection(), RetryPolicy(jitter=0.25), random=lambda: draw)
    assert wait == pytest.approx(1.0 * factor)


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(2.0, 2.0), (0.0, 0.0), (60.0, 60.0), (3600.0, 60.0)]
)
def test_retry_after_comes_first_and_is_capped(retry_after: float, expected: float) -> None:
    wait = retry_wait(5, status(429, retry_after), RetryPolicy(), random=lambda: 1.0)
    assert wait == expected


# --------------------------------------------------------------------- the tenacity wiring


def failing(errors: list[BaseException], result: str = "done") -> Callable[[], str]:
    """A call that raises each of ``errors`` in turn, then returns ``result``."""
    pending = list(errors)

    def call() -> str:
        if pending:
            raise pending.pop(0)
        return result

    return call


def test_retries_until_success_and_records_the_waits() -> None:
    sleeps: list[float] = []
    call = failing([status(429, 2.0), status(503)])

    result = call_with_retries(call, RetryPolicy(jitter=0), sleep=sleeps.append)

    assert result == "done"
    assert sleeps == [2.0, 1.0]


@pytest.mark.parametrize("max_attempts", [1, 2, 4])
def test_gives_up_after_max_attempts_and_says_how_many(max_attempts: int) -> None:
    sleeps: list[float] = []
    call = failing([status(503)] * 10)

    with pytest.raises(APIStatusError) as caught:
        call_with_retries(call, RetryPolicy(max_attempts=max_attempts), sleep=sleeps.append)

    assert caught.value.attempts == max_attempts
    assert len(sleeps) == max_attempts - 1


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_final_statuses_are_raised_at_once(code: int) -> None:
    sleeps: list[float] = []

    with pytest.raises(APIStatusError) as caught:
        call_with_retries(failing([status(code)]), RetryPolicy(), sleep=sleeps.append)

    assert caught.value.attempts == 1
    assert sleeps == []


def test_other_exceptions_pass_through_untouched() -> None:
    with pytest.raises(ValueError, match="bug"):
        call_with_retries(failing([ValueError("bug")]), RetryPolicy(), sleep=lambda _: None)


def test_a_retry_that_would_end_past_the_time_budget_is_not_started() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=10, max_elapsed=5.0)

    with pytest.raises(APIStatusError) as caught:
        call_with_retries(failing([status(429, 3.0)] * 5), policy, sleep=sleeps.append)

    assert sleeps == [3.0]  # a second 3 s wait would end at 6 s > 5 s
    assert caught.value.attempts == 2


def test_no_time_budget() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=4, max_elapsed=None)

    call_with_retries(failing([status(429, 50.0)] * 3), policy, sleep=sleeps.append)

    assert sleeps == [50.0, 50.0, 50.0]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"initial_backoff": -1}, {"backoff_multiplier": 0.5}, {"jitter": 2}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - attrs validators raise plain ValueError
        RetryPolicy(**kwargs)


# ------------------------------------------------------------------------------ async twin


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_retries_until_success() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    pending: list[BaseException] = [status(429, 2.0), timeout()]

    async def call() -> str:
        if pending:
            raise pending.pop(0)
        return "done"

    assert await async_call_with_retries(call, RetryPolicy(jitter=0), sleep=sleep) == "done"
    assert sleeps == [2.0, 1.0]


@pytest.mark.anyio
async def test_async_retries_a_plain_callable_returning_an_awaitable() -> None:
    # Regression: tenacity only awaits coroutine *functions*; a lambda's coroutine was
    # returned unawaited and never retried.
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        raise status(503)

    async def sleep(seconds: float) -> None:
        return None

    with pytest.raises(APIStatusError) as caught:
        await async_call_with_retries(
            lambda: call(),  # noqa: PLW0108 - a plain callable is the case under test
            RetryPolicy(max_attempts=3),
            sleep=sleep,
        )

    assert calls == 3
    assert caught.value.attempts == 3


@pytest.mark.anyio
async def test_async_final_status_is_raised_at_once() -> None:
    async def call() -> str:
        raise status(400)

    async def sleep(seconds: float) -> None:
        raise AssertionError("must not wait")

    with pytest.raises(APIStatusError) as caught:
        await async_call_with_retries(call, RetryPolicy(), sleep=sleep)
    assert caught.value.attempts == 1


# ------------------------------------------------- the first try is made before tenacity


def test_the_time_budget_counts_the_first_try_made_before_tenacity_takes_over() -> None:
    # The first try is a plain call; its duration still counts toward max_elapsed.
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=5, initial_backoff=0.01, jitter=0, max_elapsed=0.05)
    pending = [status(503)] * 5

    def slow_failure() -> str:
        import time  # noqa: PLC0415

        time.sleep(0.045)
        raise pending.pop(0)

    with pytest.raises(APIStatusError) as caught:
        call_with_retries(slow_failure, policy, sleep=sleeps.append)

    assert sleeps == []  # 45 ms spent + a 10 ms wait would end past the 50 ms budget
    assert caught.value.attempts == 1


def test_a_first_try_that_succeeds_is_called_once() -> None:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        return "done"

    assert call_with_retries(call, RetryPolicy(), sleep=lambda _: None) == "done"
    assert calls == [1]


@pytest.mark.anyio
async def test_async_retried_failures_are_tried_again_and_counted_from_the_first() -> None:
    sleeps: list[float] = []
    calls = 0
    first = status(503)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def call() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise first
        raise status(502)

    with pytest.raises(APIStatusError) as caught:
        await async_call_with_retries(call, RetryPolicy(max_attempts=3, jitter=0), sleep=sleep)

    assert calls == 3  # the first try is not made twice
    assert sleeps == [0.5, 1.0]
    assert caught.value.status_code == 502
    assert caught.value.attempts == 3
