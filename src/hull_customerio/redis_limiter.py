"""One request rate limit for a Customer.io workspace, shared by every process that sends to it.

Customer.io counts requests per workspace, so when several processes (web workers, Celery
workers, hosts) send to one workspace, each keeping its own limit would multiply the rate.
[`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter] keeps the limit in Redis
instead, under a key every process names the same way, and both Customer.io clients accept it as
``rate_limit=``::

    from hull_customerio import CustomerIOClient
    from hull_customerio.redis_limiter import RedisRateLimiter

    limiter = RedisRateLimiter("redis://localhost:6379/0", key=f"cio:{site_id}", rate=100)
    client = CustomerIOClient(site_id, api_key, rate_limit=limiter)

The limiter *paces*: requests leave one every ``1 / rate`` seconds, however many processes
ask, the way the in-process token bucket of each client does. It is the generic cell rate
algorithm (GCRA, a leaky bucket kept as one time stamp): Redis stores when the next request
is due, and one Lua script, run atomically by Redis with Redis's own clock, gives each request
its turn and tells the caller how long to wait for it. A limit that counts requests in a
moving window instead lets ``rate`` requests out at once each time the window turns over.

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
from urllib.parse import unquote, urlsplit

from .errors import RateLimiterUnavailableError, missing_extra

try:
    import redis
    import redis.asyncio as redis_async
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("redis_limiter", "the 'redis' extra", "redis") from exc

from ._http.ratelimit import workspace_limiter_name

__all__ = ["RedisRateLimiter", "workspace_key"]


def workspace_key(site_id: str, api_key: str) -> str:
    """The limiter ``key`` every process sending to one Customer.io workspace should use:
    ``"customerio:<site_id>:<fingerprint of the api_key>"``.

    ``hull-customerio serve``, the hubs' ``limiter_factory`` from the environment and the
    documented recipes all name a workspace's limit this way, so they share it. The API key
    is in it only as a 16-hex-digit fingerprint.
    """
    return f"customerio:{workspace_limiter_name(site_id, api_key)}"


# How long a request to Redis may take before the limiter gives up and reports it unreachable.
DEFAULT_SOCKET_TIMEOUT = 2.0
#: The highest rate accepted, in requests per second: time is kept in microseconds, and a
#: request's spacing of at least 100 microseconds keeps the rounding below 0.25 %.
MAX_RATE = 10_000.0
# Every key of the limiter starts with this, so it never meets another application's keys.
KEY_PREFIX = "hull_customerio:gcra:"
_UNREACHABLE = (redis.RedisError, OSError)

# One turn of the generic cell rate algorithm, atomic in Redis.
#   KEYS[1]  the limit's key: when the next request is due ("theoretical arrival time"), in
#            microseconds of the Redis clock; absent when the limit is idle (a full bucket).
#   ARGV[1]  the spacing between requests at the steady rate, in microseconds (1e6 / rate).
#   ARGV[2]  how far ahead of its due time a request may go: (burst - 1) spacings.
# Returns how many microseconds the caller waits before sending. The turn is taken whatever
# the wait, so callers queue in the order Redis served them and nobody polls.
_GCRA_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local due = tonumber(redis.call('GET', KEYS[1]) or '') or now
if due < now then due = now end
local wait = due - tolerance - now
if wait < 0 then wait = 0 end
local next_due = due + interval
redis.call('SET', KEYS[1], string.format('%.3f', next_due),
           'PX', math.ceil((next_due - now) / 1000) + 1000)
return math.ceil(wait)
"""


class RedisRateLimiter:
    """A request rate limit kept in Redis, shared by every process and host using its key.

    Every process that sends to one Customer.io workspace builds its own limiter with the same
    Redis URL, ``key``, ``rate`` and ``burst``; together they then send at most ``rate``
    requests per second, and reach it when they have the work. Pass it to
    [`CustomerIOClient`][hull_customerio.customerio.CustomerIOClient] or
    [`AsyncCustomerIOClient`][hull_customerio.customerio.AsyncCustomerIOClient] as ``rate_limit=``;
    one instance may serve any number of clients, threads and event loops in a process.

    The rule: requests are paced one every ``1 / rate`` seconds. After a quiet moment up to
    ``burst`` requests may go at once, and the next ones follow at the steady pace. With the
    default ``burst`` of 1 no one-second window ever holds more than ``rate`` requests (plus
    the one that opens it), whether the work comes steadily or in spurts; with a larger
    ``burst``, a window that follows a quiet moment may hold up to ``rate + burst - 1``.

    Each request takes its turn in Redis and then waits for it, so callers are served in the
    order they asked, without polling. Time is read from the Redis server's clock only, so
    hosts sharing a key need not agree on the time. Redis 3.2 or later.

    When Redis cannot be reached (or does not answer within ``socket_timeout``), acquiring
    raises [`RateLimiterUnavailableError`][hull_customerio.errors.RateLimiterUnavailableError], a
    connection error that the clients retry with backoff like any other: a request is never sent
    without the limit. Its text, like this limiter's ``repr``, shows the Redis URL without its
    credentials.

    Args:
        redis_url: where Redis is, e.g. ``"redis://localhost:6379/0"`` (``rediss://`` for
            TLS, ``unix://`` for a socket). A user name or password in it, or a
            ``password=`` parameter, is never shown.
        key: names the shared limit; every process sharing it uses the same one, e.g.
            ``f"cio:{site_id}"`` for one limit per Customer.io workspace.
        rate: requests per second, more than zero and at most 10,000.
        burst: how many requests may go at once after a quiet moment, at least 1. Default:
            1, like each client's own limiter, so requests are always evenly spaced.
        socket_timeout: seconds to wait for Redis before reporting it unreachable.

    Raises:
        ValueError: ``rate``, ``burst`` or ``socket_timeout`` is out of range, ``key`` is
            empty, or ``redis_url`` is not a URL Redis clients can read (the error shows it
            masked).
        TypeError: ``redis_url`` is not a string.
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
        if not 0 < rate <= MAX_RATE:
            raise ValueError(
                f"rate must be more than zero and at most {MAX_RATE:,.0f} requests per second, "
                f"got {rate!r}"
            )
        if burst is None:
            burst = 1
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be a whole number of at least 1, got {burst!r}")
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string naming the shared limit")
        if (
            isinstance(socket_timeout, bool)
            or not isinstance(socket_timeout, (int, float))
            or not socket_timeout > 0
        ):
            raise ValueError(f"socket_timeout must be more than zero, got {socket_timeout!r}")
        if not isinstance(redis_url, str):
            raise TypeError(f"redis_url must be a string, got {type(redis_url).__name__}")
        self._safe_url = mask_redis_url(redis_url)
        self._secrets = _secrets_of(redis_url)
        try:  # parsed now, so a wrong URL is an error here rather than at the first request
            redis.ConnectionPool.from_url(redis_url)
        except ValueError as exc:
            # redis-py's reason may quote a piece of a password it misread: shown only when
            # the URL holds nothing to hide.
            reason = (
                str(exc)
                if self._safe_url == redis_url
                else (
                    "scheme redis://, rediss:// or unix://, and any of / ? # @ : in a user name "
                    "or password percent-encoded"
                )
            )
            raise ValueError(f"redis_url {self._safe_url!r} is not a Redis URL: {reason}") from None
        self.redis_url = redis_url
        self.key = key
        self.rate = float(rate)
        self.burst = burst
        self.socket_timeout = float(socket_timeout)
        self._interval = 1_000_000.0 / self.rate  # microseconds between requests
        self._arguments = (repr(self._interval), repr((burst - 1) * self._interval))
        self._redis_key = KEY_PREFIX + key
        self._sync: Any = None  # the registered script, bound to a sync client
        self._sync_client: redis.Redis | None = None
        self._sync_init = threading.Lock()
        # An asyncio connection belongs to the loop that opened it: one client per loop.
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[Any, redis_async.Redis]
        ] = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------------------- sync

    def acquire(self) -> float:
        """Block until this request's turn comes; return the seconds waited.

        Raises:
            RateLimiterUnavailableError: Redis could not be reached.
        """
        started = time.monotonic()
        try:
            script = self._sync_script()
            wait = int(script(keys=[self._redis_key], args=self._arguments)) / 1_000_000
        except _UNREACHABLE as exc:
            raise self._unavailable(exc) from self._cause(exc)
        if wait > 0:
            time.sleep(wait)
        return time.monotonic() - started

    def _sync_script(self) -> Any:
        with self._sync_init:
            if self._sync is None:
                client = redis.Redis.from_url(
                    self.redis_url,
                    socket_timeout=self.socket_timeout,
                    socket_connect_timeout=self.socket_timeout,
                    # One layer of retries: the Customer.io client's, with its backoff.
                    retry=Retry(NoBackoff(), 0),
                )
                self._sync_client = client
                self._sync = client.register_script(_GCRA_SCRIPT)
            return self._sync

    def close(self) -> None:
        """Close this process's Redis connections for threads (event loops: `aclose`)."""
        with self._sync_init:
            client, self._sync_client, self._sync = self._sync_client, None, None
        if client is not None:
            with contextlib.suppress(*_UNREACHABLE):
                client.close()

    # ------------------------------------------------------------------------------ async

    async def acquire_async(self) -> float:
        """Wait, without blocking the event loop, until this request's turn comes.

        Returns the seconds waited.

        Raises:
            RateLimiterUnavailableError: Redis could not be reached.
        """
        started = time.monotonic()
        try:
            script = self._async_script()
            wait = int(await script(keys=[self._redis_key], args=self._arguments)) / 1_000_000
        except _UNREACHABLE as exc:
            raise self._unavailable(exc) from self._cause(exc)
        if wait > 0:
            await asyncio.sleep(wait)
        return time.monotonic() - started

    def _async_script(self) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            client = redis_async.Redis.from_url(
                self.redis_url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=AsyncRetry(NoBackoff(), 0),
            )
            entry = self._async[loop] = (client.register_script(_GCRA_SCRIPT), client)
        return entry[0]

    async def aclose(self) -> None:
        """Close the Redis connections this limiter opened for the running event loop."""
        entry = self._async.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            with contextlib.suppress(*_UNREACHABLE):
                await entry[1].aclose()

    # ----------------------------------------------------------------------------- shared

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _cause(self, exc: BaseException) -> BaseException | None:
        # redis-py's texts name the host, never the password; should one ever quote it, the
        # error is raised without that cause rather than with the password in a traceback.
        shown = f"{exc!s} {exc!r} {exc.__cause__!s} {exc.__context__!s}"
        return exc if self._mask(shown) == shown else None

    def _unavailable(self, exc: BaseException) -> RateLimiterUnavailableError:
        detail = self._mask(str(exc))[:200]
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


# ------------------------------------------------------------------------ masking the URL

# Query parameters whose values are never shown (redis-py reads ``password``).
_SECRET_PARAMETERS = ("pass", "secret", "token", "auth")


def _secret_parameter(name: str) -> bool:
    name = unquote(name).lower()
    return any(word in name for word in _SECRET_PARAMETERS)


def mask_redis_url(url: str) -> str:
    """``url`` as it may be shown: user information and password parameters as ``***``.

    ``redis://user:pw@host:6379/0`` becomes ``redis://***@host:6379/0`` and
    ``unix:///run/redis.sock?db=0&password=pw`` becomes
    ``unix:///run/redis.sock?db=0&password=***``. A URL whose credentials cannot be told
    apart from the rest (an ``@`` left after masking, an unparsable address) is shown as its
    scheme only: ``redis://***``.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or not scheme.replace("+", "").isalnum():
        return "<redis url>"
    address, query_mark, query = rest.partition("?")
    if "@" in address:
        address = "***@" + address.rpartition("@")[2]
    if query_mark:
        fields = []
        for field in query.split("&"):
            name, equals, _ = field.partition("=")
            hidden = equals and _secret_parameter(name)
            fields.append(f"{name}=***" if hidden else field)
        query = "&".join(fields)
    masked = f"{scheme}://{address}{query_mark}{query}"
    if "@" in masked.replace(f"{scheme}://***@", "", 1):
        return f"{scheme}://***"
    return masked


def _secrets_of(url: str) -> tuple[str, ...]:
    """Every credential ``url`` holds, as written and decoded, longest first (for scrubbing)."""
    found: set[str] = set()
    _, _, rest = url.partition("://")
    address, _, query = rest.partition("?")
    if "@" in address:
        user, _, password = address.rpartition("@")[0].partition(":")
        found.update((user, password))
    if "@" in rest:  # a password holding "?" or "#" ends where the last "@" is
        user_info = rest.rpartition("@")[0]
        found.update((user_info, user_info.partition(":")[2]))
    for field in query.split("&"):
        name, equals, value = field.partition("=")
        if equals and _secret_parameter(name):
            found.add(value.partition("#")[0])
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        found.update(item for item in (parts.username, parts.password) if item)
    found |= {unquote(item) for item in found}
    return tuple(sorted((item for item in found if item), key=len, reverse=True))
