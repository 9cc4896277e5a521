"""SPEC §9, issue 22: the shared limiter paces, across processes, as seen at the receiving end.

Four OS processes (spawned), each with two `AsyncCustomerIOClient` sharing one
`RedisRateLimiter` (one key for all four processes) and two requests in flight per client,
send identifies as fast as the limit allows for a few seconds to a loopback server of its own
process that only records when each request arrived. After the first second, no one-second
window may hold more than the rate + 10 % — a limiter that lets `rate` requests out each time
a window turns over fails this — and together they reach at least 90 % of the rate.
"""

from __future__ import annotations

import multiprocessing

from pacing_support import CaptureServer, after_first_second, send_as_fast_as_allowed
from scaleout_support import Job, most_in_any_window, run_worker

RATE = 40
PROCESSES = 4
DURATION = 5.5


def job(url: str, redis_url: str, key: str, worker: int) -> Job:
    return Job(url, redis_url, key, RATE, DURATION, worker)


def test_four_processes_of_async_clients_on_one_key_pace_at_the_rate(
    redis_url: str, limit_key: str
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    with CaptureServer().running() as capture:
        processes = [
            context.Process(
                target=run_worker,
                args=(
                    send_as_fast_as_allowed,
                    job(capture.url, redis_url, limit_key, worker),
                    barrier,
                    results,
                ),
            )
            for worker in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=90) for _ in processes]
        for process in processes:
            process.join(30)
    assert [error for _, _, error in outcomes if error] == []
    assert all(process.exitcode == 0 for process in processes)
    sent = [ids for _, ids, _ in outcomes]
    assert all(len(ids) > 0 for ids in sent), "every process took part"

    arrivals = capture.arrival_times()
    assert capture.unstamped == []  # every arrival time is the kernel's receive stamp
    # Every request a client reported as sent arrived, and nothing else did.
    assert len(arrivals) == sum(len(ids) for ids in sent)
    steady = after_first_second(arrivals)
    most = most_in_any_window(steady, 1.0)
    first = min(arrivals)
    in_run = [t for t in arrivals if t < first + DURATION - 0.5]
    print(
        f"{len(arrivals)} arrivals; most in one second after the first: {most} "
        f"(rate {RATE}); in the first {DURATION - 0.5} s: {len(in_run)}"
    )
    # Paced: never a burst above the rate + 10 % once the first second is over...
    assert most <= RATE * 1.1
    # ...and together they use the rate: at least 90 % of it over five seconds.
    assert len(in_run) >= 0.9 * RATE * (DURATION - 0.5)
