"""Retry decisions (pure functions) and the one tenacity configuration both clients use.

What is retryable and how long to wait are plain functions of the failure and the policy, so
they are tested with tables. `retrying` / `async_retrying` wire them into tenacity
with an injectable ``sleep`` so tests never wait.
"""

from __future__ import annotations

import email.utils
import math
import random as _random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import attrs
import tenacity

from ..errors import APIConnectionError, APIError, APIStatusError

__all__ = [
    "CUSTOMERIO_RETRY_STATUSES",
    "HULL_RETRY_STATUSES",
    "RetryPolicy",
    "async_call_with_retries",
    "call_with_retries",
    "parse_retry_after",
    "retry_wait",
    "should_retry",
]

T = TypeVar("T")

#: The statuses Customer.io asks clients to retry.
CUSTOMERIO_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 522, 524})
#: Hull's firehose and REST are retried on 429 and any 5xx.
HULL_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, *range(500, 600)})


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    # A typed converter: mypy's attrs plugin cannot infer the argument type of `frozenset`.
    return frozenset(statuses)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a client retries a failed request.

    Attributes:
        max_attempts: how many times a request is tried in all, the first try included.
        initial_backoff: seconds before the first retry (before jitter).
        backoff_multiplier: each further retry waits this many times longer...
        max_backoff: ...up to this many seconds.
        jitter: the fraction of each backoff taken off at random (0 disables jitter), so that
            many clients failing together do not retry together.
        max_retry_after: a ``Retry-After`` the service sends is honoured up to this many seconds.
        max_elapsed: the total time budget in seconds (tries plus waits); no retry starts that
            would end past it. ``None`` disables the budget.
        retry_statuses: the HTTP statuses that are retried; every other 4xx/5xx is final.
    """

    max_attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    initial_backoff: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    max_backoff: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(
        default=0.25, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    max_retry_after: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    max_elapsed: float | None = 120.0
    retry_statuses: frozenset[int] = attrs.field(
        default=CUSTOMERIO_RETRY_STATUSES, converter=_status_set
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    Returns ``None`` when the header is absent or unreadable; a date in the past gives ``0``.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; be lenient with a missing zone
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def should_retry(exc: BaseException, policy: RetryPolicy) -> bool:
    """Whether a failed attempt is worth another try under ``policy``."""
    if isinstance(exc, APIStatusError):
        return exc.status_code in policy.retry_statuses
    return isinstance(exc, APIConnectionError)


def retry_wait(
    attempt: int,
    exc: BaseException | None,
    policy: RetryPolicy,
    *,
    random: Callable[[], float] = _random.random,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    The service's ``Retry-After`` comes first (capped at ``policy.max_retry_after``); otherwise
    exponential backoff, capped at ``policy.max_backoff``, minus up to ``policy.jitter`` of it.
    """
    if isinstance(exc, APIStatusError) and exc.retry_after is not None:
        return min(exc.retry_after, policy.max_retry_after)
    backoff = policy.initial_backoff * policy.backoff_multiplier ** max(0, attempt - 1)
    backoff = min(backoff, policy.max_backoff)
    return backoff * (1.0 - policy.jitter * random())


def _tenacity_kwargs(policy: RetryPolicy, started: float) -> dict[str, object]:
    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return retry_wait(state.attempt_number, exc, policy)

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        if policy.max_elapsed is None:
            return False
        # With a real sleep the wall clock includes the waits; with an injected one only the
        # waits we asked for count. Either way a retry that would end past the budget is not
        # started. The clock starts with the first try, made before tenacity takes over.
        spent = max(time.monotonic() - started, state.idle_for)
        return spent + state.upcoming_sleep > policy.max_elapsed

    return {
        "retry": tenacity.retry_if_exception(lambda exc: should_retry(exc, policy)),
        "wait": wait,
        "stop": stop,
        "reraise": True,
    }


def _first_failure(exc: APIError, policy: RetryPolicy) -> None:
    """Re-raise ``exc`` (with ``attempts = 1``) when the first try's failure is final."""
    if policy.max_attempts <= 1 or not should_retry(exc, policy):
        exc.attempts = 1
        raise exc


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds or the policy gives up; the final error is re-raised.

    The raised [`APIError`][hull_customerio.errors.APIError] has ``attempts`` set to the number of
    tries made. The first try is a plain call (most requests succeed at once); tenacity takes
    over from its failure, which it counts as its own first attempt.
    """
    started = time.monotonic()
    try:
        return fn()
    except APIError as exc:
        _first_failure(exc, policy)
        first = exc
    tries = 0

    def again() -> T:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise first  # the first try, already made: tenacity decides what follows
        return fn()

    kwargs = _tenacity_kwargs(policy, started)
    retrying = tenacity.Retrying(sleep=sleep, **kwargs)  # type: ignore[arg-type]
    try:
        return retrying(again)
    except APIError as exc:
        exc.attempts = retrying.statistics.get("attempt_number", 1)
        raise


async def async_call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """The async twin of `call_with_retries` (same policy, same decisions)."""
    started = time.monotonic()
    try:
        return await fn()
    except APIError as exc:
        _first_failure(exc, policy)
        first = exc
    kwargs = _tenacity_kwargs(policy, started)
    if sleep is not None:
        kwargs["sleep"] = sleep
    tries = 0

    # tenacity awaits only coroutine *functions*; a lambda or partial returning an awaitable
    # would be "called" and its coroutine returned unawaited, never retried. Awaiting here
    # makes any ``Callable[[], Awaitable[T]]`` work.
    async def attempt() -> T:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise first  # the first try, already made: tenacity decides what follows
        return await fn()

    retrying = tenacity.AsyncRetrying(**kwargs)  # type: ignore[arg-type]
    try:
        return await retrying(attempt)
    except APIError as exc:
        exc.attempts = retrying.statistics.get("attempt_number", 1)
        raise
