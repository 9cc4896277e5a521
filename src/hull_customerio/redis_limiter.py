"""One request rate limit for a Customer.io workspace, shared by every process that sends to it.

Customer.io counts requests per workspace, so when several processes (web workers, Celery
workers, hosts) send to one workspace, each keeping its own limit would multiply the rate.
:class:`RedisRateLimiter` keeps the count in Redis instead, under a key every process names
the same way, and both Customer.io clients accept it as ``rate_limit=``::

    from hull_customerio import CustomerIOClient
    from hull_customerio.redis_limiter import RedisRateLimiter

    limiter = RedisRateLimiter("redis://localhost:6379/0", key=f"cio:{site_id}", rate=100)
    client = CustomerIOClient(site_id, api_key, rate_limit=limiter)

The counting itself is done by `pyrate-limiter`'s Redis bucket: a sliding log checked and
written by one Lua script, so concurrent processes never both take the last place.

This module needs the ``redis`` extra: ``pip install "hull-customerio[redis]"``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import redis
    import redis.asyncio
    from pyrate_limiter import Decision, Rate, RateItem, RedisBucket
    from pyrate_limiter.buckets.redis_bucket import LuaScript
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "hull_customerio.redis_limiter needs the 'redis' extra: "
        "pip install 'hull-customerio[redis]'"
    ) from exc

from .errors import RateLimiterUnavailableError

__all__ = ["RedisRateLimiter"]

# How long a request to Redis may take before the limiter gives up and reports it unreachable.
DEFAULT_SOCKET_TIMEOUT = 2.0


class RedisRateLimiter:
    """A request rate limit kept in Redis, shared by every process and host using its key.

    Every process that sends to one Customer.io workspace builds its own limiter with the same
    Redis URL, ``key`` and ``rate``; together they then stay under ``rate`` requests per
    second, and reach it when they have the work. Pass it to
    :class:`~hull_customerio.CustomerIOClient` or
    :class:`~hull_customerio.AsyncCustomerIOClient` as ``rate_limit=``; one instance may serve
    any number of clients, threads and event loops in a process.

    The rule: no window of ``burst / rate`` seconds ever holds more than ``burst`` requests.
    With the default ``burst`` (one second's worth, ``rate``) that means no one-second window
    holds more than ``rate`` requests, and up to ``rate`` may go out at once after a quiet
    moment. A smaller ``burst`` spreads requests more evenly.

    When Redis cannot be reached (or does not answer within ``socket_timeout``), acquiring
    raises :class:`~hull_customerio.errors.RateLimiterUnavailableError`, a connection error that
    the clients retry with backoff like any other: a request is never sent without the limit.

    Times are read from each process's wall clock, so hosts that share a key need synchronised
    clocks (NTP); processes on one host always agree.

    Args:
        redis_url: where Redis is, e.g. ``"redis://localhost:6379/0"``
            (``rediss://`` for TLS; a password in the URL is never shown in ``repr`` or errors).
        key: the Redis key holding the count; every process sharing the limit uses the same
            one, e.g. ``f"cio:{site_id}"`` for one limit per Customer.io workspace.
        rate: requests per second, more than zero.
        burst: requests allowed at once beyond the steady rate (see above); default ``rate``
            rounded down, and at least 1.
        socket_timeout: seconds to wait for Redis before reporting it unreachable.

    Raises:
        ValueError: ``rate``, ``burst`` or ``socket_timeout`` is out of range, or ``key`` is
            empty.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        key: str,
        rate: float,
        burst: int | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
            raise ValueError(f"rate must be a finite number of requests per second, got {rate!r}")
        if rate <= 0:
            raise ValueError(f"rate must be more than zero requests per second, got {rate!r}")
        if burst is None:
            burst = max(1, math.floor(rate))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be a whole number of at least 1, got {burst!r}")
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string naming the shared limit")
        if not socket_timeout > 0:
            raise ValueError(f"socket_timeout must be more than zero, got {socket_timeout!r}")
        self.redis_url = redis_url
        self.key = key
        self.rate = float(rate)
        self.burst = burst
        self.socket_timeout = socket_timeout
        # Rounded up so that rounding can only make the limit stricter, never looser.
        self.window_ms = max(1, math.ceil(burst / self.rate * 1000))
        self._rates = [Rate(burst, self.window_ms)]
        self._safe_url = _without_password(redis_url)
        self._sync_client: redis.Redis | None = None
        self._sync_script: str | None = None
        self._sync_init = threading.Lock()
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[redis.asyncio.Redis, list[str | None]]
        ] = weakref.WeakKeyDictionary()
        self._admitted = 0

    # ------------------------------------------------------------------------------- sync

    def acquire(self) -> float:
        """Block until one more request may be sent; return the seconds waited.

        Raises:
            RateLimiterUnavailableError: Redis could not be reached.
        """
        started = time.monotonic()
        while True:
            decision = self._try_sync()
            if decision.allowed:
                return time.monotonic() - started
            time.sleep(self._delay(decision))

    def _try_sync(self) -> Decision:
        client = self._sync_redis()
        try:
            for attempt in range(2):
                script = self._sync_script
                if script is None:
                    script = self._sync_script = str(client.script_load(_put_script()))
                bucket = RedisBucket(self._rates, client, self.key, script)
                try:
                    decision = _sync(bucket.put_decision(RateItem(self.key, _now_ms())))
                except redis.exceptions.NoScriptError:
                    # Redis restarted (or flushed its scripts): load it again, once.
                    self._sync_script = None
                    if attempt:
                        raise
                    continue
                if decision.allowed:
                    self._tidy_sync(bucket)
                return decision
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _sync_redis(self) -> redis.Redis:
        with self._sync_init:
            if self._sync_client is None:
                self._sync_client = redis.Redis.from_url(
                    self.redis_url,
                    socket_timeout=self.socket_timeout,
                    socket_connect_timeout=self.socket_timeout,
                )
            return self._sync_client

    def _tidy_sync(self, bucket: RedisBucket) -> None:
        if self._count_admission():
            client = self._sync_redis()
            bucket.leak(_now_ms())
            client.pexpire(self.key, self._expiry_ms())

    def close(self) -> None:
        """Close this process's Redis connections for threads (event loops: :meth:`aclose`)."""
        with self._sync_init:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------------------ async

    async def acquire_async(self) -> float:
        """Wait, without blocking the event loop, until one more request may be sent.

        Returns the seconds waited.

        Raises:
            RateLimiterUnavailableError: Redis could not be reached.
        """
        started = time.monotonic()
        while True:
            decision = await self._try_async()
            if decision.allowed:
                return time.monotonic() - started
            await asyncio.sleep(self._delay(decision))

    async def _try_async(self) -> Decision:
        client, script_box = self._async_redis()
        try:
            for attempt in range(2):
                script = script_box[0]
                if script is None:
                    script = script_box[0] = str(await client.script_load(_put_script()))
                bucket = RedisBucket(self._rates, client, self.key, script)
                try:
                    item = RateItem(self.key, _now_ms())
                    decision = await _async_decision(bucket.put_decision(item))
                except redis.exceptions.NoScriptError:
                    script_box[0] = None
                    if attempt:
                        raise
                    continue
                if decision.allowed and self._count_admission():
                    await _async_leak(bucket.leak(_now_ms()))
                    await client.pexpire(self.key, self._expiry_ms())
                return decision
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _async_redis(self) -> tuple[redis.asyncio.Redis, list[str | None]]:
        # An asyncio connection belongs to the loop that opened it: one client per loop.
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            client = redis.asyncio.Redis.from_url(
                self.redis_url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
            )
            entry = self._async[loop] = (client, [None])
        return entry

    async def aclose(self) -> None:
        """Close the Redis connections this limiter opened for the running event loop."""
        entry = self._async.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].aclose()

    # ----------------------------------------------------------------------------- shared

    def _count_admission(self) -> bool:
        """Count one admission; true every ``burst`` of them, when old entries are trimmed."""
        self._admitted += 1
        return self._admitted % self.burst == 1 or self.burst == 1

    def _expiry_ms(self) -> int:
        # Entries older than one window no longer count; keep the key a little longer.
        return 2 * self.window_ms + 1000

    def _delay(self, decision: Decision) -> float:
        wait_ms: float = self.window_ms / self.burst
        if decision.retry_after_ms is not None and decision.retry_after_ms > 0:
            wait_ms = decision.retry_after_ms
        return max(wait_ms, 1.0) / 1000

    def _unavailable(self, exc: BaseException) -> RateLimiterUnavailableError:
        detail = str(exc)[:200]
        return RateLimiterUnavailableError(
            f"The shared rate limiter could not reach Redis at {self._safe_url} "
            f"({type(exc).__name__}: {detail}); the request was not sent",
            service="customerio",
            method="ACQUIRE",
            url=self._safe_url,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Processes (multiprocessing, Celery) get their own connections to the same limit.
        return (
            _rebuild,
            (self.redis_url, self.key, self.rate, self.burst, self.socket_timeout),
        )

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter({self._safe_url!r}, key={self.key!r}, rate={self.rate!r}, "
            f"burst={self.burst!r})"
        )


def _rebuild(
    redis_url: str, key: str, rate: float, burst: int, socket_timeout: float
) -> RedisRateLimiter:
    return RedisRateLimiter(
        redis_url, key=key, rate=rate, burst=burst, socket_timeout=socket_timeout
    )


def _now_ms() -> int:
    # The bucket's own clock (wall time in milliseconds): comparable across processes.
    return time.time_ns() // 1_000_000


def _put_script() -> str:
    return str(LuaScript.PUT_ITEM)


def _sync(value: Decision | Awaitable[Decision]) -> Decision:
    if not isinstance(value, Decision):  # pragma: no cover - a sync client never awaits
        raise TypeError("a sync Redis client returned an awaitable")
    return value


async def _async_decision(value: Decision | Awaitable[Decision]) -> Decision:
    if isinstance(value, Decision):  # pragma: no cover - an async client always awaits
        return value
    return await value


async def _async_leak(value: int | Awaitable[int]) -> None:
    if not isinstance(value, int):
        await value


def _without_password(url: str) -> str:
    """The URL with any password replaced by ``***`` (for repr and error texts)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
    except ValueError:
        return "<redis url>"
