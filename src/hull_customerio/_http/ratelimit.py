"""Client-side request rate limiting: a token bucket, shared by every call of one client.

Customer.io asks clients to stay under a (soft) per-workspace request rate. The
bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each request
takes one. When the bucket is empty the caller *reserves* the next token and waits until it
exists, so concurrent callers queue fairly in arrival order and the lock is never held while
sleeping.

`TokenBucket` is the pure arithmetic (time is passed in). `RateLimiter` (sync,
thread-safe) and `AsyncRateLimiter` wrap it with a clock and a sleep, both injectable so
tests run on a fake clock and never wait.

A limiter shared by several *processes* (`SharedRateLimiter`, e.g.
``hull_customerio.redis_limiter.RedisRateLimiter``) offers both a blocking ``acquire()`` and an
awaitable ``acquire_async()``; `sync_limiter` and `async_limiter` turn whatever a
client's ``rate_limit=`` holds into the one shape each client calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeGuard, runtime_checkable

__all__ = [
    "AsyncLimiter",
    "AsyncRateLimiter",
    "RateLimiter",
    "SharedRateLimiter",
    "SyncLimiter",
    "TokenBucket",
    "async_limiter",
    "sync_limiter",
    "workspace_limiter_name",
]


def workspace_limiter_name(site_id: str, api_key: str) -> str:
    """The name of one Customer.io workspace's shared limit: ``"<site_id>:<fingerprint>"``.

    The fingerprint is 16 hex digits of a SHA-256 of the Site ID and the API key, never the
    key itself: connectors share a limit only when they present the same Site ID *and* API
    key, so a request naming another tenant's (public) Site ID with a wrong key cannot spend
    that tenant's rate.
    """
    digest = hashlib.sha256(f"{site_id}\0{api_key}".encode("utf-8", "surrogatepass"))
    return f"{site_id}:{digest.hexdigest()[:16]}"


class TokenBucket:
    """The arithmetic of a token bucket, without any clock or sleeping.

    Args:
        rate: tokens added per second (requests per second); must be positive.
        burst: how many tokens the bucket holds at most, i.e. how many requests may go out
            back to back after a quiet period. The default ``1`` spaces requests evenly at
            ``1 / rate`` seconds, so no one-second window ever sees more than ``rate + 1``.
        now: the clock reading the bucket starts at (it starts full).

    Raises:
        ValueError: ``rate`` is not positive or ``burst`` is below 1.
    """

    def __init__(self, rate: float, *, burst: float = 1.0, now: float = 0.0) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of requests per second, got {rate}")
        if not burst >= 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._updated = now

    def reserve(self, now: float) -> float:
        """Take one token at clock reading ``now``; return how long to wait before using it.

        A token not yet available is borrowed from the future (the balance goes negative), so
        the next caller waits behind this one. Returns ``0.0`` when a token is ready.
        """
        elapsed = max(0.0, now - self._updated)
        self._updated = max(self._updated, now)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate


class RateLimiter:
    """A thread-safe request rate limiter for the sync client.

    Args:
        rate: requests per second; ``None`` disables limiting.
        burst: see `TokenBucket`.
        clock: a monotonic clock in seconds (injectable for tests).
        sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        rate: float | None = 100.0,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._bucket = None if rate is None else TokenBucket(rate, burst=burst, now=clock())

    def acquire(self) -> float:
        """Wait, if needed, until one more request may be sent; return the seconds waited."""
        if self._bucket is None:
            return 0.0
        with self._lock:
            delay = self._bucket.reserve(self._clock())
        if delay > 0:
            self._sleep(delay)
        return delay

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r})"


class AsyncRateLimiter:
    """The async twin of `RateLimiter`, for one event loop.

    Reservations are taken without awaiting, so they are atomic within the event loop.

    Args:
        rate: requests per second; ``None`` disables limiting.
        burst: see `TokenBucket`.
        clock: a monotonic clock in seconds (injectable for tests).
        sleep: how to wait; defaults to `asyncio.sleep`.
    """

    def __init__(
        self,
        rate: float | None = 100.0,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep: Callable[[float], Awaitable[None]] = sleep or asyncio.sleep
        self._bucket = None if rate is None else TokenBucket(rate, burst=burst, now=clock())

    async def acquire(self) -> float:
        """Wait, if needed, until one more request may be sent; return the seconds waited."""
        if self._bucket is None:
            return 0.0
        delay = self._bucket.reserve(self._clock())
        if delay > 0:
            await self._sleep(delay)
        return delay

    def __repr__(self) -> str:
        return f"AsyncRateLimiter(rate={self.rate!r})"


class SyncLimiter(Protocol):
    """What the sync client calls before every request (each retry included)."""

    def acquire(self) -> float:
        """Wait until one more request may be sent; return the seconds waited."""
        ...


class AsyncLimiter(Protocol):
    """What the async client awaits before every request (each retry included)."""

    async def acquire(self) -> float:
        """Wait until one more request may be sent; return the seconds waited."""
        ...


@runtime_checkable
class SharedRateLimiter(Protocol):
    """A limiter that both clients accept and that may be shared across processes.

    It is used from threads (``acquire``) and from event loops (``acquire_async``); either may
    raise [`RateLimiterUnavailableError`][hull_customerio.errors.RateLimiterUnavailableError] when
    the place it keeps its count cannot be reached, which the clients retry like a failed
    connection.
    """

    def acquire(self) -> float:
        """Block until one more request may be sent; return the seconds waited."""
        ...

    async def acquire_async(self) -> float:
        """Wait, without blocking the event loop, until one more request may be sent."""
        ...


class _SharedAsAsync:
    """Presents a `SharedRateLimiter` the way the async client calls a limiter."""

    def __init__(self, shared: SharedRateLimiter) -> None:
        self.shared = shared

    async def acquire(self) -> float:
        return await self.shared.acquire_async()

    def __repr__(self) -> str:
        return repr(self.shared)


def _is_rate(value: object) -> TypeGuard[float | None]:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def sync_limiter(
    rate_limit: float | RateLimiter | SharedRateLimiter | None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncLimiter:
    """The sync client's limiter for its ``rate_limit=`` argument.

    A number (requests per second) or ``None`` builds a `RateLimiter` of this process;
    a `RateLimiter` or a `SharedRateLimiter` is used as given, so one limit is
    shared by every client (and, for a shared limiter, every process) that holds it.

    Raises:
        TypeError: ``rate_limit`` is none of these.
    """
    if isinstance(rate_limit, RateLimiter):
        return rate_limit
    if _is_rate(rate_limit):
        return RateLimiter(rate_limit, sleep=sleep)
    if isinstance(rate_limit, SharedRateLimiter):
        return rate_limit
    raise TypeError(
        "rate_limit must be requests per second, None, a RateLimiter or a shared limiter "
        f"such as RedisRateLimiter, got {type(rate_limit).__name__}"
    )


def async_limiter(
    rate_limit: float | AsyncRateLimiter | SharedRateLimiter | None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> AsyncLimiter:
    """The async client's limiter for its ``rate_limit=`` argument (see `sync_limiter`).

    Raises:
        TypeError: ``rate_limit`` is none of the accepted kinds.
    """
    if isinstance(rate_limit, AsyncRateLimiter):
        return rate_limit
    if _is_rate(rate_limit):
        return AsyncRateLimiter(rate_limit, sleep=sleep)
    if isinstance(rate_limit, SharedRateLimiter):
        return _SharedAsAsync(rate_limit)
    raise TypeError(
        "rate_limit must be requests per second, None, an AsyncRateLimiter or a shared "
        f"limiter such as RedisRateLimiter, got {type(rate_limit).__name__}"
    )
