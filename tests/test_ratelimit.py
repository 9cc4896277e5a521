"""The token-bucket rate limiter (SPEC §6.3), on a fake clock: nothing sleeps for real."""

from __future__ import annotations

import threading

import pytest

from hull_customerio._http.ratelimit import AsyncRateLimiter, RateLimiter, TokenBucket


class FakeClock:
    """A clock that only moves when the code under test "sleeps"."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


# ---------------------------------------------------------------------------- the bucket


def test_bucket_spaces_requests_evenly_by_default() -> None:
    bucket = TokenBucket(10.0)
    waits = [bucket.reserve(0.0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(10.0, burst=3)
    waits = [bucket.reserve(0.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_bucket_refills_with_time_but_not_beyond_the_burst() -> None:
    bucket = TokenBucket(10.0, burst=2)
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == 0.0
    # A long quiet period refills to the burst (2), not to 100 tokens.
    assert bucket.reserve(10.0) == 0.0
    assert bucket.reserve(10.0) == 0.0
    assert bucket.reserve(10.0) == pytest.approx(0.1)


def test_bucket_ignores_a_clock_going_backwards() -> None:
    bucket = TokenBucket(10.0)
    bucket.reserve(5.0)
    assert bucket.reserve(4.0) == pytest.approx(0.1)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (10, 0.5)])
def test_bucket_rejects_nonsense(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate, burst=burst)


# ---------------------------------------------------------------------------- sync limiter


@pytest.mark.parametrize("rate", [1.0, 10.0, 100.0, 1000.0])
def test_no_one_second_window_sees_more_than_rate_plus_one(rate: float) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    for _ in range(int(rate * 3)):
        limiter.acquire()
        sent.append(clock.now)

    for start in sent:
        in_window = sum(1 for t in sent if start <= t < start + 1.0)
        assert in_window <= rate + 1
    assert sent[-1] == pytest.approx((len(sent) - 1) / rate)


def test_default_rate_is_100_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(101):
        limiter.acquire()
    assert clock.now == pytest.approx(1.0)


def test_none_disables_limiting() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    for _ in range(10_000):
        assert limiter.acquire() == 0.0
    assert clock.sleeps == []


def test_no_sleep_call_when_a_token_is_ready() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 1.0
    limiter.acquire()
    assert clock.sleeps == []


def test_sync_limiter_is_thread_safe() -> None:
    # The clock stands still and sleeping only records, so every thread must have reserved
    # its own distinct slot: 0, 1/100, 2/100, ... with none lost or doubled.
    recorded: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            recorded.append(seconds)

    limiter = RateLimiter(100.0, clock=lambda: 0.0, sleep=sleep)
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(round(s * 100) for s in recorded) == list(range(1, 200))


# --------------------------------------------------------------------------- async limiter


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_limiter_spaces_requests() -> None:
    clock = FakeClock()
    limiter = AsyncRateLimiter(4.0, clock=clock, sleep=clock.async_sleep)
    for _ in range(5):
        await limiter.acquire()
    assert clock.sleeps == pytest.approx([0.25] * 4)
    assert clock.now == pytest.approx(1.0)


@pytest.mark.anyio
async def test_async_none_disables_limiting() -> None:
    clock = FakeClock()
    limiter = AsyncRateLimiter(None, clock=clock, sleep=clock.async_sleep)
    for _ in range(100):
        await limiter.acquire()
    assert clock.sleeps == []
