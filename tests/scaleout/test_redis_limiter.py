"""SPEC §9, §8.7: `RedisRateLimiter` against a real Redis server — its rule (pacing), its
failures, its masked URL, its use."""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import subprocess
import sys
import threading
import time
import traceback

import pytest
import redis
from scaleout_support import RedisServer, free_port, most_in_any_window

import hull_customerio as hc
from hull_customerio._http.ratelimit import (
    AsyncRateLimiter,
    RateLimiter,
    async_limiter,
    sync_limiter,
)
from hull_customerio.redis_limiter import RedisRateLimiter, mask_redis_url
from hull_customerio.testing import FakeCustomerIO

NO_WAIT_RETRY = hc.RetryPolicy(max_attempts=3, initial_backoff=0, jitter=0)


def dead_redis_url() -> str:
    """A loopback port nothing listens on."""
    return f"redis://:hunter2@127.0.0.1:{free_port()}/0"


# ------------------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    ("rate", "burst", "expected_burst"),
    [
        (20, None, 1),  # paced by default, like each client's own limiter
        (20.0, 40, 40),
        (20, 7, 7),  # any whole number: no window to fill
        (0.5, None, 1),
        (2.5, 3, 3),
        (10_000, None, 1),
    ],
)
def test_burst_defaults_to_one_and_takes_any_whole_number(
    rate: float, burst: int | None, expected_burst: int
) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", key="k", rate=rate, burst=burst)
    assert (limiter.rate, limiter.burst) == (float(rate), expected_burst)


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, None), (-1, None), (float("nan"), None), (float("inf"), None), (True, None),
     ("20", None), (10_000.5, None), (20, 0), (20, -1), (20, 2.0), (20, True)],
)  # fmt: skip
def test_out_of_range_rate_or_burst_is_refused(rate: float, burst: int | None) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        RedisRateLimiter("redis://127.0.0.1:1/0", key="k", rate=rate, burst=burst)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        RedisRateLimiter("redis://127.0.0.1:1/0", key="", rate=10)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_a_socket_timeout_that_is_not_positive_is_refused(timeout: float) -> None:
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisRateLimiter("redis://127.0.0.1:1/0", key="k", rate=10, socket_timeout=timeout)


def test_a_url_that_is_not_a_redis_url_is_refused_without_its_password() -> None:
    with pytest.raises(ValueError, match="not a Redis URL") as caught:
        RedisRateLimiter("http://:hunter2@cache:6379/0", key="k", rate=10)
    assert "hunter2" not in str(caught.value)
    # With nothing to hide, redis-py's own reason is shown.
    with pytest.raises(ValueError, match="Port could not be cast"):
        RedisRateLimiter("redis://cache:port/0", key="k", rate=10)


def test_a_url_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="redis_url must be a string"):
        RedisRateLimiter(b"redis://cache/0", key="k", rate=10)  # type: ignore[arg-type]


def test_a_pickled_limiter_keeps_its_limit_for_another_process() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", key="cio:site", rate=5, burst=10)
    copy = pickle.loads(pickle.dumps(limiter))  # noqa: S301 - our own object
    assert (copy.redis_url, copy.key, copy.rate, copy.burst) == ("redis://127.0.0.1:1/0",
                                                                 "cio:site", 5.0, 10)  # fmt: skip


# ------------------------------------------------------------------ the password stays hidden

SECRET = "hunter2-Pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://user:{SECRET}@cache:6379/0", "redis://***@cache:6379/0"),
        (f"redis://:{SECRET}@cache:6379", "redis://***@cache:6379"),
        (f"redis://{SECRET}@cache", "redis://***@cache"),  # user-info without a colon
        (f"rediss://default:{SECRET}@cache.example.com:6380/2",
         "rediss://***@cache.example.com:6380/2"),
        (f"redis://cache:6379/0?password={SECRET}", "redis://cache:6379/0?password=***"),
        (f"redis://cache/0?db=1&password={SECRET}&ssl_cert_reqs=none",
         "redis://cache/0?db=1&password=***&ssl_cert_reqs=none"),
        (f"unix:///run/redis.sock?db=0&password={SECRET}",
         "unix:///run/redis.sock?db=0&password=***"),
        (f"unix://:{SECRET}@/run/redis.sock?db=0", "unix://***@/run/redis.sock?db=0"),
        ("redis://:hunter2%40Pw@cache/0", "redis://***@cache/0"),  # percent-encoded
        ("redis://:hun@ter2-Pw@cache/0", "redis://***@cache/0"),  # an "@" in the password
        ("redis://cache:6379/0", "redis://cache:6379/0"),  # nothing to hide
    ],
)  # fmt: skip
def test_repr_masks_the_redis_url_in_every_form(url: str, shown: str) -> None:
    limiter = RedisRateLimiter(url, key="cio:site", rate=10)
    assert repr(limiter) == f"RedisRateLimiter({shown!r}, key='cio:site', rate=10.0, burst=1)"
    for part in ("hunter", "2-Pw", "ter2"):
        assert part not in repr(limiter)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter/2-Pw@cache/0", "redis://***@cache/0"),  # a "/" in the password
        ("redis://:hunter?2-Pw@cache/0", "redis://***"),  # "?": where does it end?
        ("redis://:hunter#2-Pw@cache/0", "redis://***@cache/0"),
    ],
)
def test_a_url_redis_cannot_read_is_refused_and_still_masked(url: str, shown: str) -> None:
    # Unescaped, these characters end the password early: Redis would be asked with a wrong
    # one, so the URL is refused at once, and the refusal shows no part of it.
    assert mask_redis_url(url) == shown
    with pytest.raises(ValueError, match="not a Redis URL") as caught:
        RedisRateLimiter(url, key="k", rate=10)
    assert "hunter" not in str(caught.value)
    assert "2-Pw" not in str(caught.value)


def _every_text_of(error: BaseException) -> str:
    """What a log or a traceback of ``error`` can show: the whole chain, formatted."""
    return "".join(traceback.format_exception(error)) + repr(error) + repr(vars(error))


@pytest.mark.parametrize(
    "template",
    [
        "redis://user:{pw}@127.0.0.1:{port}/0",
        "redis://:{pw}@127.0.0.1:{port}",
        "rediss://default:{pw}@127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/0?password={pw}",
        "unix:///tmp/hull-customerio-no-such-{port}.sock?db=0&password={pw}",
    ],
)
def test_no_error_of_an_unreachable_redis_shows_the_password(
    template: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = template.format(pw=SECRET, port=free_port())
    limiter = RedisRateLimiter(url, key="k", rate=10, socket_timeout=0.5)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(hc.RateLimiterUnavailableError) as caught:
            limiter.acquire()

        async def scenario() -> hc.RateLimiterUnavailableError:
            try:
                await limiter.acquire_async()
            except hc.RateLimiterUnavailableError as exc:
                return exc
            finally:
                await limiter.aclose()
            raise AssertionError("acquired without Redis")

        async_error = asyncio.run(scenario())
        with (
            FakeCustomerIO() as fake,
            hc.CustomerIOClient(
                "site", "key", base_url=fake.url, rate_limit=limiter, retry=NO_WAIT_RETRY
            ) as client,
            pytest.raises(hc.RateLimiterUnavailableError) as through_client,
        ):
            client.identify("42", {"plan": "pro"})
    for error in (caught.value, async_error, through_client.value):
        assert "could not reach Redis" in str(error)
        assert SECRET not in _every_text_of(error)
        assert SECRET not in error.url
    for record in caplog.records:
        assert SECRET not in record.getMessage() + repr(vars(record))


def test_a_wrong_password_to_a_running_redis_is_unavailable_without_the_password() -> None:
    server = RedisServer().start()
    try:
        admin = redis.Redis(port=server.port)
        admin.config_set("requirepass", "the-right-one")
        admin.close()
        limiter = RedisRateLimiter(f"redis://:{SECRET}@127.0.0.1:{server.port}/0", key="k", rate=10)
        with pytest.raises(hc.RateLimiterUnavailableError) as caught:
            limiter.acquire()
        limiter.close()
    finally:
        server.close()
    assert "AuthenticationError" in str(caught.value)  # Redis's own reason is kept...
    assert SECRET not in _every_text_of(caught.value)  # ...the password is not


# -------------------------------------------------------------------------------- the rule


def test_requests_are_spaced_one_per_interval_by_default(redis_url: str, limit_key: str) -> None:
    limiter = RedisRateLimiter(redis_url, key=limit_key, rate=20)
    admitted = []
    for _ in range(11):
        limiter.acquire()
        admitted.append(time.monotonic())
    limiter.close()
    gaps = [later - earlier for earlier, later in itertools.pairwise(admitted)]
    # One every 50 ms: never two at once (a few ms of timer slack), and no slower than asked.
    assert min(gaps) > 0.04
    assert 0.45 < admitted[-1] - admitted[0] < 0.75


def test_burst_goes_at_once_then_the_next_requests_follow_at_the_rate(
    redis_url: str, limit_key: str
) -> None:
    limiter = RedisRateLimiter(redis_url, key=limit_key, rate=10, burst=5)
    started = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - started < 0.08  # the burst: no waiting
    waits = [limiter.acquire() for _ in range(3)]
    limiter.close()
    # Then one every 100 ms, from the burst on: the pace, not a second burst.
    assert all(0.05 < wait < 0.2 for wait in waits)
    assert 0.25 < time.monotonic() - started < 0.5


def test_async_burst_goes_at_once_then_the_next_requests_follow_at_the_rate(
    redis_url: str, limit_key: str
) -> None:
    async def scenario() -> tuple[float, list[float]]:
        limiter = RedisRateLimiter(redis_url, key=limit_key, rate=10, burst=5)
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire_async() for _ in range(5)))
        burst_time = time.monotonic() - started
        waits = [await limiter.acquire_async() for _ in range(3)]
        await limiter.aclose()
        return burst_time, waits

    burst_time, waits = asyncio.run(scenario())
    assert burst_time < 0.08
    assert all(0.05 < wait < 0.2 for wait in waits)


def test_concurrent_callers_each_get_their_own_turn(redis_url: str, limit_key: str) -> None:
    async def scenario() -> tuple[list[float], list[float]]:
        limiter = RedisRateLimiter(redis_url, key=limit_key, rate=20)
        released: list[float] = []

        async def one() -> float:
            wait = await limiter.acquire_async()
            released.append(time.monotonic())
            return wait

        waits = await asyncio.gather(*(one() for _ in range(10)))
        await limiter.aclose()
        return sorted(waits), sorted(released)

    waits, released = asyncio.run(scenario())
    # Ten asked at once: they go one every 50 ms, each after its own wait, without polling.
    # (The first waits for no turn: less than one spacing, whatever the machine's load.)
    assert waits[0] < 0.05
    assert 0.4 < waits[-1] < 0.6
    assert 0.4 < released[-1] - released[0] < 0.7
    # Each has its own turn: four releases span at least two spacings and more (a machine's
    # scheduling may move one by a few tens of milliseconds, never give two the same turn).
    assert all(released[i + 3] - released[i] > 0.1 for i in range(len(released) - 3))


def test_sync_and_async_users_of_one_key_share_one_limit(redis_url: str, limit_key: str) -> None:
    sync_side = RedisRateLimiter(redis_url, key=limit_key, rate=10, burst=3)
    async_side = RedisRateLimiter(redis_url, key=limit_key, rate=10, burst=3)
    for _ in range(3):
        sync_side.acquire()  # the burst, taken by the sync side

    async def take_one() -> float:
        waited = await async_side.acquire_async()
        await async_side.aclose()
        return waited

    # The async side finds the burst spent: it waits for the pace.
    assert asyncio.run(take_one()) > 0.05
    sync_side.close()


def test_different_keys_are_different_limits(redis_url: str, limit_key: str) -> None:
    first = RedisRateLimiter(redis_url, key=f"{limit_key}:a", rate=5, burst=5)
    second = RedisRateLimiter(redis_url, key=f"{limit_key}:b", rate=5, burst=5)
    started = time.monotonic()
    for _ in range(5):
        first.acquire()
        second.acquire()
    assert time.monotonic() - started < 0.2
    first.close()
    second.close()


def test_threads_sharing_one_limiter_stay_at_the_rate(redis_url: str, limit_key: str) -> None:
    limiter = RedisRateLimiter(redis_url, key=limit_key, rate=20)
    admitted: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(6):
            limiter.acquire()
            with lock:
                admitted.append(time.monotonic())

    threads = [threading.Thread(target=take) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiter.close()
    # 30 requests at 20/s, paced: about 1.45 s from the first to the last, never two at once.
    ordered = sorted(admitted)
    assert len(ordered) == 30
    assert 1.3 < ordered[-1] - ordered[0] < 1.8
    assert most_in_any_window(ordered, 1.0) <= 21


def test_the_key_expires_once_the_limit_is_idle(redis_server: RedisServer, limit_key: str) -> None:
    limiter = RedisRateLimiter(redis_server.url(), key=limit_key, rate=100)
    limiter.acquire()
    limiter.close()
    admin = redis.Redis(port=redis_server.port)
    keys = admin.keys(f"*{limit_key}")
    assert keys == [f"hull_customerio:gcra:{limit_key}".encode()]
    # Kept only while it says something: its due time, plus a second of margin.
    assert 0 < admin.pttl(keys[0]) <= 1100
    admin.close()


# ---------------------------------------------------------------------------- Redis down


def test_unreachable_redis_is_a_clear_connection_error_without_the_password() -> None:
    limiter = RedisRateLimiter(dead_redis_url(), key="k", rate=10, socket_timeout=0.5)
    with pytest.raises(hc.RateLimiterUnavailableError) as caught:
        limiter.acquire()
    error = caught.value
    assert isinstance(error, hc.APIConnectionError)
    assert "could not reach Redis" in str(error)
    assert "request was not sent" in str(error)
    assert "hunter2" not in str(error)
    assert "hunter2" not in error.url


def test_unreachable_redis_is_a_clear_connection_error_async() -> None:
    limiter = RedisRateLimiter(dead_redis_url(), key="k", rate=10, socket_timeout=0.5)

    async def scenario() -> None:
        try:
            await limiter.acquire_async()
        finally:
            await limiter.aclose()

    with pytest.raises(hc.RateLimiterUnavailableError, match="could not reach Redis"):
        asyncio.run(scenario())


def test_client_retries_an_unreachable_limiter_like_a_connection_error_and_sends_nothing() -> None:
    limiter = RedisRateLimiter(dead_redis_url(), key="k", rate=10, socket_timeout=0.5)
    with (
        FakeCustomerIO() as fake,
        hc.CustomerIOClient(
            "site", "key", base_url=fake.url, rate_limit=limiter, retry=NO_WAIT_RETRY
        ) as client,
    ):
        with pytest.raises(hc.RateLimiterUnavailableError) as caught:
            client.identify("42", {"plan": "pro"})
        assert caught.value.attempts == 3
        assert fake.requests == []


def test_async_client_retries_an_unreachable_limiter_and_sends_nothing() -> None:
    limiter = RedisRateLimiter(dead_redis_url(), key="k", rate=10, socket_timeout=0.5)

    async def scenario(fake: FakeCustomerIO) -> hc.RateLimiterUnavailableError:
        async with hc.AsyncCustomerIOClient(
            "site", "key", base_url=fake.url, rate_limit=limiter, retry=NO_WAIT_RETRY
        ) as client:
            try:
                await client.identify("42", {"plan": "pro"})
            except hc.RateLimiterUnavailableError as exc:
                return exc
            finally:
                await limiter.aclose()
        raise AssertionError("the identify went through without the limiter")

    with FakeCustomerIO() as fake:
        error = asyncio.run(scenario(fake))
        assert error.attempts == 3
        assert fake.requests == []


def test_the_limiter_recovers_when_redis_comes_back() -> None:
    server = RedisServer()
    limiter = RedisRateLimiter(server.url(), key="k", rate=10, socket_timeout=0.5)
    try:
        server.start()
        limiter.acquire()
        server.stop()
        with pytest.raises(hc.RateLimiterUnavailableError):
            limiter.acquire()
        server.start()  # same port, empty: its scripts must be loaded again
        assert limiter.acquire() < 0.5
    finally:
        limiter.close()
        server.close()


# ----------------------------------------------------------------------- client wiring


def test_both_clients_accept_a_shared_limiter_and_send_under_it(
    redis_url: str, limit_key: str
) -> None:
    limiter = RedisRateLimiter(redis_url, key=limit_key, rate=5)
    with FakeCustomerIO() as fake:
        with hc.CustomerIOClient("site", "key", base_url=fake.url, rate_limit=limiter) as client:
            started = time.monotonic()
            for number in range(3):
                client.identify(f"s{number}", {})

        async def send_async() -> None:
            async with hc.AsyncCustomerIOClient(
                "site", "key", base_url=fake.url, rate_limit=limiter
            ) as client:
                for number in range(3):
                    await client.identify(f"a{number}", {})
            await limiter.aclose()

        asyncio.run(send_async())
        # Six requests at 5/s, one every 200 ms: a second from the first to the last.
        assert time.monotonic() - started > 0.8
        assert set(fake.people) == {"s0", "s1", "s2", "a0", "a1", "a2"}
    limiter.close()


def test_rate_limit_still_takes_a_number_none_or_an_in_process_limiter() -> None:
    assert isinstance(sync_limiter(5.0), RateLimiter)
    assert isinstance(sync_limiter(None), RateLimiter)
    shared = RateLimiter(5.0)
    assert sync_limiter(shared) is shared
    assert isinstance(async_limiter(5), AsyncRateLimiter)
    shared_async = AsyncRateLimiter(5.0)
    assert async_limiter(shared_async) is shared_async


@pytest.mark.parametrize("bad", ["100", object(), True])
def test_rate_limit_of_another_kind_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="rate_limit"):
        hc.CustomerIOClient("site", "key", rate_limit=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rate_limit"):
        hc.AsyncCustomerIOClient("site", "key", rate_limit=bad)  # type: ignore[arg-type]


def test_hc_redis_rate_limiter_is_the_redis_limiter_module_class() -> None:
    assert hc.RedisRateLimiter is RedisRateLimiter


def test_importing_the_library_imports_neither_redis_nor_celery() -> None:
    code = (
        "import sys, hull_customerio\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'redis', 'limits', 'celery', 'kombu'}))\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("hull_customerio.redis_limiter", ["redis"], "redis"),
        ("hull_customerio.celery", ["celery"], "celery"),
    ],
)
def test_an_extras_module_without_its_extra_says_which_extra_to_install(
    module: str, blocked: list[str], extra: str
) -> None:
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None  # as if not installed\n"
        "import hull_customerio\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert f"pip install 'hull-customerio[{extra}]'" in out
