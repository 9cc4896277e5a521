"""Batch mode against a bare sender packing 1,000 operations per v2 batch request.

The same users (``examples/sync_export.py``'s: 20 attributes, an ``Order Completed`` event and
a page view each) go to the loopback fakes, served out of process (``fake_servers.py``, one
process per service, so their CPU is not this process's), by each side in turn, round after
round (the order of the sides turns each round), and each side's median is printed:

- ``ours async``: ``AsyncConnector(mode="batch").sync_user_updates(chunk, batch=True)`` over
  the users in chunks of ``--chunk-size``: the full job (parse, plan, v2 batch requests to
  Customer.io, Hull write-back).
- ``ours sync``: the same with ``Connector`` (with ``--sync``).
- ``bare sender``: the same users' v2 operations (identify, event, page view), built before the
  clock starts, posted with ``httpx.AsyncClient`` as ``{"batch": [...]}`` bodies of at most
  ``--ops-per-request`` operations (1,000) and smaller than 500 kB, ``json.dumps`` of each body
  at send time, ``--sender-concurrency`` requests in flight (1 by default). No planning, no
  write-back, no answer mapping.

For each side: users/s (median and each round's), the requests the fakes received (Customer.io
and Hull, from the fakes' own records), and the CPU time this process spent per user in the
timed part and the fakes' processes spent per user (``/proc``; medians). Then the ratio
ours / bare sender (above 1: we are faster).

``--profile`` runs our async side once more under cProfile and prints where its CPU goes.

    .venv/bin/python benchmarks/bench_batch_packing.py --users 5000 --rounds 7 --sync
    .venv/bin/python benchmarks/bench_batch_packing.py --users 5000 --rounds 0 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

import hull_customerio as hc
from hull_customerio.customerio.operations import Identify
from hull_customerio.engine._core import event_operation_of
from hull_customerio.models.plan import Action

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from fake_servers import FakeServers
from sync_export import DEMO_SETTINGS, synthetic_message

warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

#: A v2 batch body must be smaller than this (Customer.io's 500 kB).
REQUEST_LIMIT = 500_000


def sender_requests(
    messages: Sequence[dict[str, Any]], settings: hc.Settings, ops_per_request: int
) -> list[list[dict[str, Any]]]:
    """The bare sender's requests: every user's v2 operations (identify chunks, then events),
    in user order, packed up to ``ops_per_request`` operations and under the 500 kB limit."""
    now = datetime.now(timezone.utc)
    operations: list[dict[str, Any]] = []
    for message in messages:
        plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(message), settings,
                                   batch=True, now=now)  # fmt: skip
        if plan.action is not Action.IDENTIFY or plan.customer_id is None:
            raise RuntimeError("the synthetic users are all identified")
        operations += [Identify(plan.customer_id, chunk).v2_operation() for chunk in plan.chunks]
        operations += [event_operation_of(e, plan.customer_id).v2_operation() for e in plan.events]
    requests: list[list[dict[str, Any]]] = [[]]
    size = len(b'{"batch":[]}')
    for operation in operations:
        length = len(json.dumps(operation, separators=(",", ":")).encode()) + 1
        current = requests[-1]
        if current and (len(current) >= ops_per_request or size + length >= REQUEST_LIMIT):
            requests.append([])
            size = len(b'{"batch":[]}')
        requests[-1].append(operation)
        size += length
    return requests


# -- the sides (each returns (seconds, cpu seconds)) -----------------------------------------


async def ours_async(
    servers: FakeServers, messages: Sequence[dict[str, Any]], settings: hc.Settings,
    chunk_size: int, concurrency: int,
) -> tuple[float, float]:  # fmt: skip
    info = servers.info
    async with hc.AsyncCustomerIOClient(
        info["site_id"], info["api_key"], base_url=info["customerio_url"], rate_limit=None,
        max_concurrency=concurrency,
    ) as client:  # fmt: skip
        hull = hc.AsyncHullClient(
            info["hull_id"], info["hull_secret"], info["hull_organization"],
            api_url=info["hull_url"], firehose_url=info["hull_url"],
        )  # fmt: skip
        try:
            connector = hc.AsyncConnector(
                settings, customerio=client, hull=hull, mode="batch", max_concurrency=concurrency
            )
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(messages), chunk_size):
                report = await connector.sync_user_updates(
                    messages[start : start + chunk_size], batch=True
                )
                check(report)
            return time.perf_counter() - started, time.process_time() - cpu
        finally:
            await hull.close()


def ours_sync(
    servers: FakeServers, messages: Sequence[dict[str, Any]], settings: hc.Settings,
    chunk_size: int, concurrency: int,
) -> tuple[float, float]:  # fmt: skip
    info = servers.info
    with hc.CustomerIOClient(
        info["site_id"], info["api_key"], base_url=info["customerio_url"], rate_limit=None
    ) as client:
        hull = hc.HullClient(
            info["hull_id"], info["hull_secret"], info["hull_organization"],
            api_url=info["hull_url"], firehose_url=info["hull_url"],
        )  # fmt: skip
        try:
            connector = hc.Connector(settings, customerio=client, hull=hull, mode="batch")
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(messages), chunk_size):
                check(connector.sync_user_updates(messages[start : start + chunk_size], batch=True))
            return time.perf_counter() - started, time.process_time() - cpu
        finally:
            hull.close()


def check(report: hc.SyncReport) -> None:
    bad = [o for o in report.outcomes if o.status != "success"]
    if bad:
        raise RuntimeError(f"{len(bad)} users failed, e.g. {bad[0]}")


async def bare_sender(
    servers: FakeServers, requests: Sequence[list[dict[str, Any]]], concurrency: int
) -> tuple[float, float]:
    info = servers.info
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=info["customerio_url"], auth=(info["site_id"], info["api_key"]), limits=limits,
        timeout=30,
    ) as http:  # fmt: skip
        queue = iter(requests)

        async def worker() -> None:
            for operations in queue:
                body = json.dumps({"batch": operations}, separators=(",", ":")).encode()
                answer = await http.post(
                    "/api/v2/batch", content=body, headers={"Content-Type": "application/json"}
                )
                if answer.status_code != 200:
                    raise RuntimeError(f"the fake answered {answer.status_code}: {answer.text}")

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, time.process_time() - cpu


# -- comparing -------------------------------------------------------------------------------


def fakes_cpu(servers: FakeServers) -> float:
    """CPU seconds the fakes' processes have used so far (Linux ``/proc``; 0 elsewhere)."""
    total = 0.0
    for pid in servers.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def compare(
    servers: FakeServers, users: int, sides: dict[str, Callable[[], tuple[float, float]]],
    rounds: int, peer: str,
) -> None:  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    fakes: dict[str, list[float]] = {name: [] for name in sides}
    requests: dict[str, dict[str, Any]] = {}
    names = list(sides)
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            servers.reset()
            before = fakes_cpu(servers)
            wall, used = sides[name]()
            fakes[name].append(fakes_cpu(servers) - before)
            seconds[name].append(wall)
            cpu[name].append(used)
            stats = servers.stats()
            requests[name] = {
                "customerio": sum(stats.get("customerio", {}).values()),
                "hull": stats.get("hull", 0),
            }
            print(f"  round {number + 1}: {name:<13} {users / wall:8,.0f} users/s  "
                  f"CPU {used / users * 1e6:5.0f} µs/user (fakes "
                  f"{fakes[name][-1] / users * 1e6:4.0f})", flush=True)  # fmt: skip
    rates = {name: users / statistics.median(times) for name, times in seconds.items()}
    print(f"\n{users:,} users, {rounds} rounds, medians:")
    for name, rate in rates.items():
        made = requests[name]
        ratio = "" if name == peer else f"   ratio to {peer}: {rate / rates[peer]:.2f}"
        spread = ", ".join(f"{users / s:,.0f}" for s in seconds[name])
        ours_cpu = statistics.median(cpu[name]) / users * 1e6
        fakes_used = statistics.median(fakes[name]) / users * 1e6
        print(
            f"  {name:<13} {rate:8,.0f} users/s  CPU {ours_cpu:5.0f} µs/user (fakes "
            f"{fakes_used:4.0f})  requests: Customer.io {made['customerio']}, Hull {made['hull']}"
            f"  [{spread}]{ratio}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=1_000, help="users per sync call")
    parser.add_argument("--concurrency", type=int, default=10, help="our clients' in flight")
    parser.add_argument("--ops-per-request", type=int, default=1_000, help="bare sender")
    parser.add_argument("--sender-concurrency", type=int, default=1, help="bare sender")
    parser.add_argument("--latency", type=float, default=0.020, help="both fakes, seconds")
    parser.add_argument("--sync", action="store_true", help="also run the sync Connector")
    parser.add_argument("--profile", action="store_true", help="cProfile our async side once")
    parser.add_argument("--profile-sort", default="tottime")
    args = parser.parse_args()

    settings = hc.Settings.from_private_settings(DEMO_SETTINGS)
    messages = [synthetic_message(n) for n in range(args.users)]
    requests = sender_requests(messages, settings, args.ops_per_request)
    gc.freeze()  # the fixture is the benchmark's memory, not the measured code's
    print(
        f"batch mode vs a bare sender: {args.users:,} users in chunks of {args.chunk_size:,}; "
        f"the sender sends {sum(map(len, requests)):,} operations in {len(requests)} requests "
        f"({args.sender_concurrency} in flight); latency {args.latency * 1000:g} ms; fakes out "
        f"of process; Python {sys.version.split()[0]}",
        flush=True,
    )
    servers = FakeServers(args.latency, args.latency)
    try:
        sides: dict[str, Callable[[], tuple[float, float]]] = {
            "ours async": lambda: asyncio.run(
                ours_async(servers, messages, settings, args.chunk_size, args.concurrency)
            ),
        }
        if args.sync:
            sides["ours sync"] = lambda: ours_sync(
                servers, messages, settings, args.chunk_size, args.concurrency
            )
        sides["bare sender"] = lambda: asyncio.run(
            bare_sender(servers, requests, args.sender_concurrency)
        )
        if args.rounds:
            compare(servers, len(messages), sides, args.rounds, "bare sender")
        if args.profile:
            servers.reset()
            profile = cProfile.Profile()
            profile.enable()
            sides["ours async"]()
            profile.disable()
            pstats.Stats(profile).sort_stats(args.profile_sort).print_stats(40)
    finally:
        servers.close()


if __name__ == "__main__":
    main()
