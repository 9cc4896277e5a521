"""hull-customerio against the official Customer.io clients, in one run, against the same server.

The fakes run in a separate process (``fake_servers.py``), each answer delayed by
``--latency``. Every comparison alternates the two sides round by round over the same users
(``examples/sync_export.py``'s: 20 attributes, an ``Order Completed`` event and a page view
each) and prints the median of each side and their RATIO (ours / peer; above 1: we are faster),
and the CPU time the benchmark's own process spent per user in the timed part (median).

Sections (``--sections``, all by default):

- ``plan``: ``plan_user_update`` per user against ``json.dumps`` of the same user's message
  (the payload Hull sent), in the same process, alternating. Ratio: planning time / dumps time.
- ``batch``: the full job of ``AsyncConnector`` in batch mode (parse, plan, v2 batch requests
  to Customer.io, write-back to Hull) against ``async-customerio``'s ``TrackAPIV2.send_batch``
  sending the same v2 operations, pre-built (no planning, no write-back), split into the same
  requests, one request at a time (as batch mode sends them).
- ``v1``: the full job of ``AsyncConnector`` in v1 mode (plan, identify + event + page view per
  user, write-back to Hull) and our ``AsyncCustomerIOClient`` alone sending the same pre-built
  calls, against ``async-customerio``'s ``AsyncCustomerIO`` sending them, all at
  ``--concurrency`` users (so requests) in flight, no client rate limit.
- ``sweep``: our ``AsyncCustomerIOClient`` alone (pre-built v1 calls) at each
  ``--sweep-concurrency``, against ``async-customerio`` at the same concurrency: how to choose
  ``max_concurrency``.
- ``sync``: our ``CustomerIOClient`` against the official ``customerio`` package, one thread,
  the same pre-built v1 calls.

Needs the ``bench`` extra (``pip install -e ".[bench]"``). Both peers only speak HTTPS to a real
host; a subclass here points them at the loopback server over HTTP, nothing else changes.

    .venv/bin/python benchmarks/bench_peers.py
    .venv/bin/python benchmarks/bench_peers.py --sections batch --users 5000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import async_customerio

import customerio
import hull_customerio as hc
from hull_customerio.customerio._batch import plan_batch
from hull_customerio.engine._core import batch_steps
from hull_customerio.models.plan import Action, UserPlan

# The synthetic users are the export example's, so every benchmark measures the same data.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from fake_servers import FakeServers
from sync_export import DEMO_SETTINGS, synthetic_message

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes (the fake's default is).
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")


# -- the fakes, out of process ---------------------------------------------------------------


def loopback_origin(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    return host, int(port)


class LoopbackAsyncCustomerIO(async_customerio.AsyncCustomerIO):
    """``async-customerio`` pointed at the loopback server over HTTP (it builds https URLs)."""

    @staticmethod
    def setup_base_url(host: str, port: int, prefix: str) -> str:
        return f"http://{host}:{port}/{prefix.strip('/')}"


class LoopbackCustomerIO(customerio.CustomerIO):
    """The official ``customerio`` client pointed at the loopback server over HTTP."""

    def setup_base_url(self) -> None:
        self.base_url = f"http://{self.host}:{self.port}/{self.url_prefix.strip('/')}"


# -- what both sides send --------------------------------------------------------------------


def plans_for(messages: Sequence[dict[str, Any]], settings: hc.Settings) -> list[UserPlan]:
    now = datetime.now(timezone.utc)
    return [
        hc.plan_user_update(hc.UserUpdateMessage.from_dict(m), settings, batch=True, now=now)
        for m in messages
    ]


def v1_calls(plans: Sequence[UserPlan]) -> list[list[tuple[str, tuple[Any, ...]]]]:
    """Per user, the v1 calls our connector makes: identify chunks, then each event."""
    users = []
    for plan in plans:
        if plan.action is not Action.IDENTIFY or plan.customer_id is None:
            continue
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("identify", (plan.customer_id, chunk)) for chunk in plan.chunks
        ]
        for event in plan.events:
            kind = "page" if event.kind == "page" else "track"
            calls.append((kind, (plan.customer_id, event.name, event.data, event.timestamp,
                                 event.id)))  # fmt: skip
        users.append(calls)
    return users


def batch_groups(
    messages: Sequence[dict[str, Any]], settings: hc.Settings, chunk_size: int
) -> list[list[dict[str, Any]]]:
    """The v2 operations of each request our batch mode sends, chunk by chunk and round by
    round (identify operations first, then the events), every operation answered accepted."""
    groups = []
    for start in range(0, len(messages), chunk_size):
        rounds = batch_steps(plans_for(messages[start : start + chunk_size], settings))
        answers: dict[int, dict[int, Any]] | None = None
        while True:
            try:
                round_ = rounds.send(answers)  # type: ignore[arg-type]  # None primes it
            except StopIteration:
                break
            if round_.calls:
                raise RuntimeError("the synthetic users should need no v1 call in batch mode")
            operations = round_.operations
            groups.extend(
                [operations[i] for i in request.indexes]
                for request in plan_batch(operations).requests
            )
            answers = {}
            for user, position in round_.owners:
                answers.setdefault(user, {})[position] = None
    return groups


# -- the runs (each returns seconds) ---------------------------------------------------------

#: The CPU time this process spent in each timed run (the fakes run in another process).
CPU_SECONDS: list[float] = []


async def ours_full_job(
    servers: FakeServers, mode: str, *, messages: Sequence[dict[str, Any]], settings: hc.Settings,
    concurrency: int, chunk_size: int,
) -> float:  # fmt: skip
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
                settings, customerio=client, hull=hull, mode=mode, max_concurrency=concurrency
            )
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(messages), chunk_size):
                report = await connector.sync_user_updates(
                    messages[start : start + chunk_size], batch=mode == "batch"
                )
                bad = [o for o in report.outcomes if o.status not in ("success", "skipped")]
                if bad:
                    raise RuntimeError(f"{len(bad)} users failed, e.g. {bad[0]}")
            elapsed = time.perf_counter() - started
            CPU_SECONDS.append(time.process_time() - cpu)
        finally:
            await hull.close()
    return elapsed


async def run_in_flight(
    users: Sequence[Sequence[tuple[str, tuple[Any, ...]]]],
    concurrency: int,
    send: Callable[[str, tuple[Any, ...]], Awaitable[Any]],
) -> float:
    """Each of ``concurrency`` workers takes the next user and makes its calls in order."""
    queue = iter(users)

    async def worker() -> None:
        for calls in queue:
            for name, arguments in calls:
                await send(name, arguments)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    CPU_SECONDS.append(time.process_time() - cpu)
    return elapsed


async def ours_client_v1(
    servers: FakeServers, users: Sequence[Sequence[tuple[str, tuple[Any, ...]]]],
    concurrency: int, rate_limit: float | None = None,
) -> float:  # fmt: skip
    info = servers.info
    async with hc.AsyncCustomerIOClient(
        info["site_id"], info["api_key"], base_url=info["customerio_url"], rate_limit=rate_limit,
        max_concurrency=concurrency,
    ) as client:  # fmt: skip

        async def send(name: str, arguments: tuple[Any, ...]) -> None:
            if name == "identify":
                await client.identify(*arguments)
                return
            customer_id, event_name, data, timestamp, event_id = arguments
            call = client.track_page if name == "page" else client.track
            await call(customer_id, event_name, data, timestamp=timestamp, id=event_id)

        return await run_in_flight(users, concurrency, send)


def peer_async_client(servers: FakeServers, concurrency: int) -> LoopbackAsyncCustomerIO:
    info = servers.info
    host, port = loopback_origin(info["customerio_url"])
    limits = async_customerio.RequestLimits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=5
    )
    return LoopbackAsyncCustomerIO(
        info["site_id"], info["api_key"], host=host, port=port, request_limits=limits
    )


async def peer_client_v1(
    servers: FakeServers, users: Sequence[Sequence[tuple[str, tuple[Any, ...]]]],
    concurrency: int,
) -> float:  # fmt: skip
    async with peer_async_client(servers, concurrency) as peer:

        async def send(name: str, arguments: tuple[Any, ...]) -> None:
            if name == "identify":
                customer_id, attributes = arguments
                await peer.identify(customer_id, **attributes)
                return
            # Its track/pageview take the event data only (no id, no timestamp).
            customer_id, event_name, data, _timestamp, _event_id = arguments
            if name == "page":
                await peer.pageview(customer_id, event_name, **data)
            else:
                await peer.track(customer_id, event_name, **data)

        return await run_in_flight(users, concurrency, send)


async def peer_batch(servers: FakeServers, groups: Sequence[list[dict[str, Any]]]) -> float:
    async with peer_async_client(servers, 1) as peer:
        v2 = async_customerio.TrackAPIV2(peer)
        started, cpu = time.perf_counter(), time.process_time()
        for operations in groups:
            await v2.send_batch(operations)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        CPU_SECONDS.append(time.process_time() - cpu)
        return elapsed


def ours_sync_client(servers: FakeServers, users: Sequence[Any]) -> float:
    info = servers.info
    with hc.CustomerIOClient(
        info["site_id"], info["api_key"], base_url=info["customerio_url"], rate_limit=None
    ) as client:
        started, cpu = time.perf_counter(), time.process_time()
        for calls in users:
            for name, arguments in calls:
                if name == "identify":
                    client.identify(*arguments)
                    continue
                customer_id, event_name, data, timestamp, event_id = arguments
                call = client.track_page if name == "page" else client.track
                call(customer_id, event_name, data, timestamp=timestamp, id=event_id)
        elapsed = time.perf_counter() - started
        CPU_SECONDS.append(time.process_time() - cpu)
        return elapsed


def peer_sync_client(servers: FakeServers, users: Sequence[Any]) -> float:
    info = servers.info
    host, port = loopback_origin(info["customerio_url"])
    peer = LoopbackCustomerIO(info["site_id"], info["api_key"], host=host, port=port)
    started, cpu = time.perf_counter(), time.process_time()
    for calls in users:
        for name, arguments in calls:
            if name == "identify":
                customer_id, attributes = arguments
                peer.identify(customer_id, **attributes)
                continue
            customer_id, event_name, data, timestamp, event_id = arguments
            if name == "page":
                peer.pageview(customer_id, event_name, **data)
            else:
                peer.track(customer_id, event_name, data, id=event_id, timestamp=timestamp)
    elapsed = time.perf_counter() - started
    CPU_SECONDS.append(time.process_time() - cpu)
    return elapsed


# -- comparing -------------------------------------------------------------------------------


def compare(
    label: str,
    count: int,
    unit: str,
    servers: FakeServers,
    *,
    sides: dict[str, Callable[[], float]],
    rounds: int,
) -> dict[str, float]:
    """Run every side once per round, in turn; print medians (count/s) and ratios to the last,
    and the CPU time this process spent per ``unit`` (median), the fakes' excluded."""
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            servers.reset()
            CPU_SECONDS.clear()
            seconds[name].append(run())
            cpu[name].extend(CPU_SECONDS)
    rates = {name: count / statistics.median(times) for name, times in seconds.items()}
    peer = list(sides)[-1]
    print(f"\n{label} ({count:,} {unit}, {rounds} rounds, medians):")
    for name, rate in rates.items():
        ratio = "" if name == peer else f"   ratio to {peer}: {rate / rates[peer]:.2f}"
        spread = ", ".join(f"{count / s:,.0f}" for s in seconds[name])
        used = f"CPU {statistics.median(cpu[name]) / count * 1e3:.2f} ms/{unit.removesuffix('s')}"
        print(f"  {name:<32} {rate:>9,.0f} {unit}/s  {used}  [{spread}]{ratio}")
    return rates


def plan_versus_json(messages: Sequence[dict[str, Any]], settings: hc.Settings,
                     rounds: int, slice_size: int = 50) -> None:  # fmt: skip
    """Planning and json.dumps of the same users, alternating; CPU time of this process.

    CPU time (``time.process_time``), not wall time: on a shared machine a wall clock also
    counts the time other processes hold the CPU, which swamps a comparison of two
    CPU-bound loops. Within a round the two sides alternate every ``slice_size`` users, so a
    burst of noise (another tenant of the host) falls on both sides alike instead of on
    whichever block of work it happened to hit; each round's ratio is the ratio of its sums.
    """
    parsed = [hc.UserUpdateMessage.from_dict(m) for m in messages]
    slices = [
        (parsed[start : start + slice_size], messages[start : start + slice_size])
        for start in range(0, len(messages), slice_size)
    ]
    now = datetime.now(timezone.utc)
    clock = time.process_time
    plan_times, dump_times = [], []
    for _ in range(rounds):
        planning = dumping = 0.0
        for users, raws in slices:
            started = clock()
            for message in users:
                hc.plan_user_update(message, settings, batch=True, now=now)
            middle = clock()
            for raw in raws:
                json.dumps(raw)
            planning += middle - started
            dumping += clock() - middle
        plan_times.append(planning)
        dump_times.append(dumping)
    ratios = [p / d for p, d in zip(plan_times, dump_times, strict=True)]
    plan_us = statistics.median(plan_times) / len(messages) * 1e6
    dump_us = statistics.median(dump_times) / len(messages) * 1e6
    print(
        f"\nplanning vs json.dumps ({len(messages):,} users, {rounds} rounds alternating every "
        f"{slice_size} users, CPU time, medians):"
        f"\n  plan_user_update {plan_us:7.1f} µs/user | json.dumps(message) {dump_us:6.1f} µs/user"
        f" | ratio plan/dumps {statistics.median(ratios):.2f}"
        f"  [{', '.join(f'{r:.2f}' for r in ratios)}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections", nargs="+", default=["plan", "batch", "v1", "sweep", "sync"],
        choices=["plan", "batch", "v1", "sweep", "sync"],
    )  # fmt: skip
    parser.add_argument("--users", type=int, default=3_000, help="users for batch and plan")
    parser.add_argument("--v1-users", type=int, default=600, help="users for v1/sweep/sync")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.020, help="Customer.io, seconds")
    parser.add_argument("--hull-latency", type=float, default=None, help="default: --latency")
    parser.add_argument("--concurrency", type=int, default=10, help="in flight, both sides")
    parser.add_argument("--sweep-concurrency", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument(
        "--sweep-rate-limit", type=float, default=None,
        help="sweep our client alone under this rate limit (requests/s) instead",
    )  # fmt: skip
    parser.add_argument("--chunk-size", type=int, default=1_000, help="users per sync call")
    args = parser.parse_args()

    settings = hc.Settings.from_private_settings(DEMO_SETTINGS)
    messages = [synthetic_message(n) for n in range(args.users)]
    # The fixture (every user's message, built up front) is the benchmark's memory, not the
    # library's: frozen, Python's collector does not rescan it in each full collection of the
    # measured code (in a service, messages arrive and leave). Both sides run after this.
    gc.freeze()
    v1_messages = messages[: args.v1_users]
    hull_latency = args.latency if args.hull_latency is None else args.hull_latency
    print(
        f"hull-customerio vs async-customerio {async_customerio.client_base.PACKAGE_VERSION} / "
        f"customerio; latency {args.latency * 1000:g} ms (Hull {hull_latency * 1000:g} ms), "
        f"fakes out of process; Python {sys.version.split()[0]}"
    )
    if "plan" in args.sections:
        plan_versus_json(messages, settings, max(args.rounds, 9))
    servers = FakeServers(args.latency, hull_latency)
    try:
        if "batch" in args.sections:
            groups = batch_groups(messages, settings, args.chunk_size)
            compare(
                f"batch mode ({len(groups)} requests)", len(messages), "users", servers,
                sides={
                    "hull-customerio full job": lambda: asyncio.run(ours_full_job(
                        servers, "batch", messages=messages, settings=settings,
                        concurrency=args.concurrency, chunk_size=args.chunk_size,
                    )),
                    "async-customerio send_batch": lambda: asyncio.run(
                        peer_batch(servers, groups)
                    ),
                },
                rounds=args.rounds,
            )  # fmt: skip
        users = v1_calls(plans_for(v1_messages, settings))
        if "v1" in args.sections:
            concurrency = args.concurrency
            compare(
                f"v1 mode, {concurrency} in flight", len(users), "users", servers,
                sides={
                    "hull-customerio full job": lambda: asyncio.run(ours_full_job(
                        servers, "v1", messages=v1_messages, settings=settings,
                        concurrency=concurrency, chunk_size=args.chunk_size,
                    )),
                    "hull-customerio client only": lambda: asyncio.run(
                        ours_client_v1(servers, users, concurrency)
                    ),
                    "async-customerio": lambda: asyncio.run(
                        peer_client_v1(servers, users, concurrency)
                    ),
                },
                rounds=args.rounds,
            )  # fmt: skip
        if "sweep" in args.sections and args.sweep_rate_limit:
            # The production question: which max_concurrency sustains the client's rate limit
            # at this latency (the peer has no rate limiter, so only our figures are printed).
            print(f"\nour client alone, rate limit {args.sweep_rate_limit:g} requests/s:")
            for concurrency in args.sweep_concurrency:
                times = [
                    asyncio.run(ours_client_v1(servers, users, concurrency, args.sweep_rate_limit))
                    for _ in range(args.rounds)
                ]
                requests = sum(len(calls) for calls in users)
                print(f"  max_concurrency {concurrency:>3}: "
                      f"{requests / statistics.median(times):6.1f} requests/s")  # fmt: skip
        elif "sweep" in args.sections:
            for concurrency in args.sweep_concurrency:
                compare(
                    f"v1 calls, {concurrency} in flight", len(users), "users", servers,
                    sides={
                        "hull-customerio client only": lambda c=concurrency: asyncio.run(
                            ours_client_v1(servers, users, c)
                        ),
                        "async-customerio": lambda c=concurrency: asyncio.run(
                            peer_client_v1(servers, users, c)
                        ),
                    },
                    rounds=args.rounds,
                )  # fmt: skip
        if "sync" in args.sections:
            compare(
                "sync v1 calls, one thread", len(users), "users", servers,
                sides={
                    "hull-customerio CustomerIOClient": lambda: ours_sync_client(servers, users),
                    "customerio": lambda: peer_sync_client(servers, users),
                },
                rounds=args.rounds,
            )  # fmt: skip
    finally:
        servers.close()


if __name__ == "__main__":
    main()
