"""SPEC §9: `RedisRateLimiter` against a real Redis server — its rule, its failures, its use."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
import threading
import time

import pytest
from scaleout_support import RedisServer, free_port

import hull_customerio as hc
from hull_customerio._ratelimit import AsyncRateLimiter, RateLimiter, async_limiter, sync_limiter
from hull_customerio.redis_limiter import RedisRateLimiter
from hull_customerio.testing import FakeCustomerIO

NO_WAIT_RETRY = hc.RetryPolicy(max_attempts=3, initial_backoff=0, jitter=0)


def dead_redis_url() -> str:
    """A loopback port nothing listens on."""
    return f"redis://:hunter2@127.0.0.1:{free_port()}/0"


# ------------------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    ("rate", "burst", "expected_burst", "expected_window"),
    [
        (20, None, 20, 1),  # the default burst is one second's worth
        (20.0, 40, 40, 2),
        (0.5, None, 1, 2),  # one request per two seconds
        (2.5, None, 5, 2),
        (1000, None, 1000, 1),
    ],
)
def test_burst_and_window_follow_rate(
    rate: float, burst: int | None, expected_burst: int, expected_window: int
) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", key="k", rate=rate, burst=burst)
    assert (limiter.burst, limiter.window) == (expected_burst, expected_window)


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, None), (-1, None), (float("nan"), None), (float("inf"), None), (True, None),
     (20, 0), (20, 10), (20, 30), (20, 2.0), (20, True)],
)  # fmt: skip
def test_out_of_range_rate_or_burst_is_refused(rate: float, burst: int | None) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        RedisRateLimiter("redis://127.0.0.1:1/0", key="k", rate=rate, burst=burst)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        RedisRateLimiter("redis://127.0.0.1:1/0", key="", rate=10)


def test_repr_never_shows_the_redis_password() -> None:
    limiter = RedisRateLimiter("redis://user:hunter2@cache:6379/0", key="cio:site", rate=10)
    assert "hunter2" not in repr(limiter)
    assert repr(limiter) == (
        "RedisRateLimiter('redis://user:***@cache:6379/0', key='cio:site', rate=10.0, burst=10)"
    )


def test_a_pickled_limiter_keeps_its_limit_for_another_process() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", key="cio:site", rate=5, burst=10)
    copy = pickle.loads(pickle.dumps(limiter))  # noqa: S301 - our own object
    assert (copy.redis_url, copy.key, copy.rate, copy.burst) == ("redis://127.0.0.1:1/0",
                                                                 "cio:site", 5.0, 10)  # fmt: skip


# -------------------------------------------------------------------------------- the rule


def test_burst_goes_at_once_then_the_next_request_waits_for_the_window(
    redis_url: str, limit_key: str
) -> None:
    limiter = RedisRateLimiter(redis_url, key=limit_key, rate=10, burst=10)
    started = time.monotonic()
    for _ in range(10):
        limiter.acquire()
    assert time.monotonic() - started < 0.5
    waited = limiter.acquire()
    assert 0.5 < waited <= 1.2
    limiter.close()


def test_async_burst_goes_at_once_then_the_next_request_waits_for_the_window(
    redis_url: str, limit_key: str
) -> None:
    async def scenario() -> tuple[float, float]:
        limiter = RedisRateLimiter(redis_url, key=limit_key, rate=10, burst=10)
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire_async() for _ in range(10)))
        burst_time = time.monotonic() - started
        waited = await limiter.acquire_async()
        await limiter.aclose()
        return burst_time, waited

    burst_time, waited = asyncio.run(scenario())
    assert burst_time < 0.5
    assert 0.5 < waited <= 1.2


def test_sync_and_async_users_of_one_key_share_one_limit(redis_url: str, limit_key: str) -> None:
    sync_side = RedisRateLimiter(redis_url, key=limit_key, rate=6)
    async_side = RedisRateLimiter(redis_url, key=limit_key, rate=6)
    for _ in range(3):
        sync_side.acquire()

    async def take_three() -> float:
        waited = 0.0
        for _ in range(3):
            waited += await async_side.acquire_async()
        waited_for_seventh = await async_side.acquire_async()
        await async_side.aclose()
        return waited + waited_for_seventh

    # 3 + 3 fill the second; the seventh waits for it to pass.
    assert asyncio.run(take_three()) > 0.5
    sync_side.close()


def test_different_keys_are_different_limits(redis_url: str, limit_key: str) -> None:
    first = RedisRateLimiter(redis_url, key=f"{limit_key}:a", rate=5)
    second = RedisRateLimiter(redis_url, key=f"{limit_key}:b", rate=5)
    started = time.monotonic()
    for _ in range(5):
        first.acquire()
        second.acquire()
    assert time.monotonic() - started < 0.5
    first.close()
    second.close()


def test_threads_sharing_one_limiter_stay_under_the_rate(redis_url: str, limit_key: str) -> None:
    limiter = RedisRateLimiter(redis_url, key=limit_key, rate=10)
    admitted: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(3):
            limiter.acquire()
            with lock:
                admitted.append(time.monotonic())

    threads = [threading.Thread(target=take) for _ in range(5)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 15 requests at 10/s with a burst of 10: the last five wait for the second to pass.
    assert len(admitted) == 15
    assert sorted(admitted)[10] - started > 0.8
    limiter.close()


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
    with FakeCustomerIO() as fake, hc.CustomerIOClient(
        "site", "key", base_url=fake.url, rate_limit=limiter, retry=NO_WAIT_RETRY
    ) as client:
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
        # Six requests at 5/s: the sixth waited for the first second to pass.
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
        ("hull_customerio.redis_limiter", ["redis", "limits"], "redis"),
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
