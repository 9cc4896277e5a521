"""One request rate limit for a Customer.io workspace, shared by every process that sends to it.

Customer.io counts requests per workspace, so when several processes (web workers, Celery
workers, hosts) send to one workspace, each keeping its own limit would multiply the rate.
[`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter] keeps the count in Redis
instead, under a key every process names the same way, and both Customer.io clients accept it as
``rate_limit=``::

    from hull_customerio import CustomerIOClient
    from hull_customerio.redis_limiter import RedisRateLimiter

    limiter = RedisRateLimiter("redis://localhost:6379/0", key=f"cio:{site_id}", rate=100)
    client = CustomerIOClient(site_id, api_key, rate_limit=limiter)

The counting itself is done by the `limits` library's moving window in Redis: one Lua script
checks and records each request atomically, so concurrent processes never both take the last
place.

This module needs the ``redis`` extra: ``pip install "hull-customerio[redis]"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import weakref
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import redis
    from limits import RateLimitItem, RateLimitItemPerSecond
    from limits.aio.storage import RedisStorage as AsyncRedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
    from limits.errors import StorageError
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "hull_customerio.redis_limiter needs the 'redis' extra: "
        "pip install 'hull-customerio[redis]'"
    ) from exc

from .errors import RateLimiterUnavailableError

__all__ = ["RedisRateLimiter"]

# How long a request to Redis may take before the limiter gives up and reports it unreachable.
DEFAULT_SOCKET_TIMEOUT = 2.0
# The longest window (seconds) a default burst is looked for in, for rates that are not whole.
_MAX_WINDOW = 60
_UNREACHABLE = (StorageError, redis.RedisError, OSError)


class RedisRateLimiter:
    """A request rate limit kept in Redis, shared by every process and host using its key.

    Every process that sends to one Customer.io workspace builds its own limiter with the same
    Redis URL, ``key``, ``rate`` and ``burst``; together they then stay under ``rate``
    requests per second, and reach it when they have the work. Pass it to
    [`CustomerIOClient`][hull_customerio.customerio.CustomerIOClient] or
    [`AsyncCustomerIOClient`][hull_customerio.customerio.AsyncCustomerIOClient] as ``rate_limit=``;
    one instance may serve any number of clients, threads and event loops in a process.

    The rule: no window of ``burst / rate`` seconds (a whole number of seconds) ever holds
    more than ``burst`` requests. With the default ``burst`` (one second's worth, ``rate``)
    that means no one-second window holds more than ``rate`` requests, and up to ``rate`` may
    go out at once after a quiet moment.

    When Redis cannot be reached (or does not answer within ``socket_timeout``), acquiring
    raises [`RateLimiterUnavailableError`][hull_customerio.errors.RateLimiterUnavailableError], a
    connection error that the clients retry with backoff like any other: a request is never sent
    without the limit.

    Times are read from each process's wall clock, so hosts that share a key need synchronised
    clocks (NTP); processes on one host always agree.

    Args:
        redis_url: where Redis is, e.g. ``"redis://localhost:6379/0"``
            (``rediss://`` for TLS; a password in the URL is never shown in ``repr`` or errors).
        key: names the shared limit; every process sharing it uses the same one, e.g.
            ``f"cio:{site_id}"`` for one limit per Customer.io workspace.
        rate: requests per second, more than zero.
        burst: requests allowed at once beyond the steady rate; ``burst / rate`` must be a
            whole number of seconds. Default: ``rate`` when it is a whole number, else the
            fewest requests that fill a whole number of seconds (``rate=0.5`` gives 1 request
            per 2 seconds).
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
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string naming the shared limit")
        if not socket_timeout > 0:
            raise ValueError(f"socket_timeout must be more than zero, got {socket_timeout!r}")
        burst, window = _burst_and_window(float(rate), burst)
        self.redis_url = redis_url
        self.key = key
        self.rate = float(rate)
        self.burst = burst
        #: The moving window's length in seconds (``burst / rate``).
        self.window = window
        self.socket_timeout = socket_timeout
        self._item: RateLimitItem = RateLimitItemPerSecond(burst, window)
        self._safe_url = _without_password(redis_url)
        self._sync: MovingWindowRateLimiter | None = None
        self._sync_storage: RedisStorage | None = None
        self._sync_init = threading.Lock()
        # An asyncio connection belongs to the loop that opened it: one storage per loop.
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncMovingWindow, AsyncRedisStorage]
        ] = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------------------- sync

    def acquire(self) -> float:
        """Block until one more request may be sent; return the seconds waited.

        Raises:
            RateLimiterUnavailableError: Redis could not be reached.
        """
        started = time.monotonic()
        limiter = self._sync_limiter()
        while True:
            try:
                if limiter.hit(self._item, self.key):
                    return time.monotonic() - started
                reset = limiter.get_window_stats(self._item, self.key).reset_time
            except _UNREACHABLE as exc:
                raise self._unavailable(exc) from exc
            time.sleep(self._delay(reset))

    def _sync_limiter(self) -> MovingWindowRateLimiter:
        with self._sync_init:
            if self._sync is None:
                self._sync_storage = RedisStorage(
                    self.redis_url,
                    wrap_exceptions=True,
                    socket_timeout=self.socket_timeout,
                    socket_connect_timeout=self.socket_timeout,
                )
                self._sync = MovingWindowRateLimiter(self._sync_storage)
            return self._sync

    def close(self) -> None:
        """Close this process's Redis connections for threads (event loops: `aclose`)."""
        with self._sync_init:
            storage, self._sync_storage, self._sync = self._sync_storage, None, None
        if storage is not None:
            with contextlib.suppress(*_UNREACHABLE):
                storage.storage.close()

    # ------------------------------------------------------------------------------ async

    async def acquire_async(self) -> float:
        """Wait, without blocking the event loop, until one more request may be sent.

        Returns the seconds waited.

        Raises:
            RateLimiterUnavailableError: Redis could not be reached.
        """
        started = time.monotonic()
        limiter = self._async_limiter()
        while True:
            try:
                if await limiter.hit(self._item, self.key):
                    return time.monotonic() - started
                stats = await limiter.get_window_stats(self._item, self.key)
            except _UNREACHABLE as exc:
                raise self._unavailable(exc) from exc
            await asyncio.sleep(self._delay(stats.reset_time))

    def _async_limiter(self) -> AsyncMovingWindow:
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            storage = AsyncRedisStorage(
                f"async+{self.redis_url}",
                wrap_exceptions=True,
                implementation="redispy",
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
            )
            entry = self._async[loop] = (AsyncMovingWindow(storage), storage)
        return entry[0]

    async def aclose(self) -> None:
        """Close the Redis connections this limiter opened for the running event loop."""
        entry = self._async.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            with contextlib.suppress(*_UNREACHABLE):
                # limits keeps the redis-py client on its bridge; it has no close of its own.
                client = getattr(entry[1].bridge, "storage", None)
                if client is not None:
                    await client.aclose()

    # ----------------------------------------------------------------------------- shared

    def _delay(self, reset_time: float) -> float:
        # The oldest request in the window leaves it at reset_time (wall clock).
        return min(max(reset_time - time.time(), 0.001), float(self.window))

    def _unavailable(self, exc: BaseException) -> RateLimiterUnavailableError:
        cause = exc.storage_error if isinstance(exc, StorageError) else exc
        detail = str(cause)[:200]
        return RateLimiterUnavailableError(
            f"The shared rate limiter could not reach Redis at {self._safe_url} "
            f"({type(cause).__name__}: {detail}); the request was not sent",
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


def _burst_and_window(rate: float, burst: int | None) -> tuple[int, int]:
    """The burst and the whole-second window that together give ``rate``."""
    if burst is None:
        for window in range(1, _MAX_WINDOW + 1):
            amount = rate * window
            if amount >= 1 and math.isclose(amount, round(amount), abs_tol=1e-9):
                return round(amount), window
        raise ValueError(
            f"rate {rate!r} does not fill a whole number of requests in up to {_MAX_WINDOW} "
            "seconds; give burst explicitly"
        )
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ValueError(f"burst must be a whole number of at least 1, got {burst!r}")
    window_float = burst / rate
    window = round(window_float)
    if window < 1 or not math.isclose(window_float, window, abs_tol=1e-9):
        raise ValueError(
            f"burst / rate must be a whole number of seconds (1, 2, ...), got {burst} / {rate!r}"
        )
    return burst, window


def _rebuild(
    redis_url: str, key: str, rate: float, burst: int, socket_timeout: float
) -> RedisRateLimiter:
    return RedisRateLimiter(
        redis_url, key=key, rate=rate, burst=burst, socket_timeout=socket_timeout
    )


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
