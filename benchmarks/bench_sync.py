"""Users per second through ``AsyncConnector`` against the loopback fakes, and plan-only speed.

Each run pushes N synthetic users (20 attributes and 2 events each, the generator of
``examples/sync_export.py``) through ``AsyncConnector`` in v1 and batch mode, against a fresh
``FakeCustomerIO`` (every answer delayed by ``--latency``) and ``FakeHull`` served on loopback
ports, ``--chunk-size`` users per ``sync_user_updates`` call (as notifications and exports
arrive). The Customer.io client is throttled to ``--rate-limit`` requests per second, as in
production. Then ``plan_user_update`` alone (no I/O) over ``--plan-users`` users.

    python benchmarks/bench_sync.py                      # N=1000, 20 ms, 100 req/s
    python benchmarks/bench_sync.py --users 3000 --latency 0.05 --modes v1

With ``--fakes-out-of-process`` the fakes run in a subprocess (``fake_servers.py``), so their
work (the fake Hull verifies a JWT per message) is not counted as the library's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

# The synthetic users are the export example's, so both benchmarks measure the same data.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from fake_servers import FakeServers
from sync_export import DEMO_SETTINGS, synthetic_message

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes (the fake's default is).
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")


async def run_mode(
    mode: str,
    messages: list[dict[str, Any]],
    settings: hc.Settings,
    *,
    chunk_size: int,
    latency: float,
    rate_limit: float | None,
    concurrency: int,
    fake_rate_limit: float | None,
    with_hull: bool,
    servers: FakeServers | None = None,
) -> None:
    customerio_statuses: Counter[Any] = Counter()
    hull_requests = 0
    outcomes: Counter[str] = Counter()
    with contextlib.ExitStack() as stack:
        if servers is None:
            fake_cio = stack.enter_context(FakeCustomerIO())
            fake_hull = stack.enter_context(FakeHull())
            # The fakes keep every user (they find them through indexes, so they do not
            # slow down as they fill): a run's figure holds for a long sync.
            fake_cio.latency = latency
            fake_cio.rate_limit = fake_rate_limit
            info = {
                "customerio_url": fake_cio.url, "site_id": fake_cio.site_id,
                "api_key": fake_cio.api_key, "hull_url": fake_hull.url, "hull_id": fake_hull.id,
                "hull_secret": fake_hull.secret, "hull_organization": fake_hull.organization,
            }  # fmt: skip
        else:
            servers.reset()
            info = servers.info
        async with hc.AsyncCustomerIOClient(
            info["site_id"], info["api_key"], base_url=info["customerio_url"],
            rate_limit=rate_limit, max_concurrency=concurrency,
        ) as customerio:  # fmt: skip
            hull = hc.AsyncHullClient(
                info["hull_id"], info["hull_secret"], info["hull_organization"],
                api_url=info["hull_url"], firehose_url=info["hull_url"],
            )  # fmt: skip
            try:
                connector = hc.AsyncConnector(
                    settings, customerio=customerio, hull=hull if with_hull else None,
                    mode=mode, max_concurrency=concurrency,
                )  # fmt: skip
                started = time.perf_counter()
                for start in range(0, len(messages), chunk_size):
                    chunk = messages[start : start + chunk_size]
                    report = await connector.sync_user_updates(chunk, batch=mode == "batch")
                    outcomes.update(o.status for o in report.outcomes)
                elapsed = time.perf_counter() - started
                if servers is None:
                    customerio_statuses.update(r.status for r in fake_cio.requests)
                    hull_requests = len(fake_hull.requests)
                else:
                    stats = servers.stats()
                    customerio_statuses.update(
                        {int(status): count for status, count in stats["customerio"].items()}
                    )
                    hull_requests = stats["hull"]
            finally:
                await hull.close()

    users = sum(outcomes.values())
    hull_note = "" if with_hull else " (no Hull client)"
    print(
        f"{mode:>5}{hull_note}: {users:,} users in {elapsed:.2f} s = "
        f"{users / elapsed:,.1f} users/s | "
        f"Customer.io requests: {customerio_statuses.total():,} ({dict(customerio_statuses)}) | "
        f"Hull requests: {hull_requests:,} | outcomes: {dict(outcomes)}"
    )


def plan_only(count: int, settings: hc.Settings) -> None:
    messages = [hc.UserUpdateMessage.from_dict(synthetic_message(n)) for n in range(count)]
    started = time.perf_counter()
    for message in messages:
        hc.plan_user_update(message, settings)
    elapsed = time.perf_counter() - started
    print(f" plan: {count:,} users in {elapsed:.2f} s = {count / elapsed:,.0f} users/s (no I/O)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000, help="N users per mode")
    parser.add_argument(
        "--chunk-size", type=int, default=1_000, help="users per sync_user_updates call"
    )
    parser.add_argument("--modes", nargs="+", choices=["v1", "batch"], default=["v1", "batch"])
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per answer")
    parser.add_argument(
        "--rate-limit", type=float, default=100.0, help="client requests/s (0: unlimited)"
    )
    parser.add_argument("--concurrency", type=int, default=10, help="requests/users in flight")
    parser.add_argument(
        "--fake-rate-limit", type=float, default=None, help="the fake answers 429 beyond this"
    )
    parser.add_argument("--plan-users", type=int, default=20_000, help="0 skips plan-only")
    parser.add_argument(
        "--without-hull", action="store_true", help="also run each mode with no Hull client"
    )
    parser.add_argument(
        "--fakes-out-of-process", action="store_true",
        help="serve the fakes from a subprocess (fake_servers.py), not this process",
    )  # fmt: skip
    args = parser.parse_args()
    if args.fakes_out_of_process and args.fake_rate_limit is not None:
        parser.error("--fake-rate-limit needs the fakes in this process")

    settings = hc.Settings.from_private_settings(DEMO_SETTINGS)
    messages = [synthetic_message(n) for n in range(args.users)]
    print(
        f"{args.users:,} users (20 attributes, 2 events each); latency {args.latency * 1000:g} ms;"
        f" client rate limit {args.rate_limit or 'none'} req/s; concurrency {args.concurrency}"
    )
    servers = FakeServers(args.latency, 0.0) if args.fakes_out_of_process else None
    try:
        for mode in args.modes:
            for with_hull in (True, False) if args.without_hull else (True,):
                asyncio.run(
                    run_mode(
                        mode, messages, settings, chunk_size=args.chunk_size,
                        latency=args.latency, rate_limit=args.rate_limit or None,
                        concurrency=args.concurrency, fake_rate_limit=args.fake_rate_limit,
                        with_hull=with_hull, servers=servers,
                    )
                )  # fmt: skip
    finally:
        if servers is not None:
            servers.close()
    if args.plan_users:
        plan_only(args.plan_users, settings)


if __name__ == "__main__":
    main()
