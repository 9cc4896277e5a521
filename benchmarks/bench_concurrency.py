"""Many notifications and webhooks in flight on ONE shared connector, Hull failing batches.

A web app shares one ``Connector`` (threads) or ``AsyncConnector`` (tasks) between all its
requests. This benchmark sends ``--notifications`` notifications of ``--users`` users each and
``--webhooks`` webhooks through one connector at once (at most ``--concurrency`` calls in flight),
against loopback fakes where Hull answers 503 to ``--hull-fail`` of the firehose requests and 400
to ``--hull-refuse`` of them. Hull's client keeps its default retry policy (4 tries, 0.5 s
backoff doubling), as in production.

Then it checks the answers against what the fake Hull really holds and prints the throughput
and the data lost: a user reported ``success`` whose write-back is not at Hull, or a webhook
answered 200 whose event is not at Hull. Lost must be 0. It also counts "blamed": a user or
webhook reported failed whose data *is* at Hull (another call's failure reported to it).

    python benchmarks/bench_concurrency.py                      # sync and async, defaults
    python benchmarks/bench_concurrency.py --flavours async --webhooks 5000 --hull-fail 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

SIGNING_KEY = "whsec-bench"
SETTINGS = hc.Settings(
    site_id="site", api_key="key", synchronized_segments=["seg_1"], webhook_signing_key=SIGNING_KEY
)
TEMPLATE = json.loads(
    (
        Path(__file__).resolve().parent.parent / "tests/data/webhooks/reporting-email-sent.json"
    ).read_text()
)


def messages(number: int, users: int) -> list[dict[str, Any]]:
    return [
        {
            "user": {"id": f"h-{number}-{i}", "email": f"n{number}u{i}@example.com",
                     "external_id": f"c-{number}-{i}", "plan": "pro"},
            "segments": [{"id": "seg_1", "name": "Customers"}],
            "events": [],
            "changes": {},
        }
        for i in range(users)
    ]  # fmt: skip


def webhook(number: int) -> tuple[bytes, dict[str, str]]:
    payload = json.loads(json.dumps(TEMPLATE))
    payload["event_id"] = f"evt-{number}"
    payload["data"]["identifiers"] = {"id": f"w-{number}", "email": f"w{number}@example.com"}
    payload["data"]["customer_id"] = f"w-{number}"
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(body, timestamp=timestamp, signing_key=SIGNING_KEY)
    return body, {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": signature}


def check(
    hull: FakeHull, reports: list[hc.SyncReport], outcomes: dict[int, hc.WebhookOutcome]
) -> dict[str, Any]:
    written = {u.claims.get("external_id"): u.traits.get("customerio/id") for u in hull.users}
    tracked = {t.event_id for t in hull.tracks}
    users: Counter[str] = Counter()
    hooks: Counter[str] = Counter()
    lost = blamed = 0
    for report in reports:
        for outcome in report.outcomes:
            users[f"{outcome.status} {outcome.reason or ''}".strip()] += 1
            at_hull = written.get(outcome.customer_id) == outcome.customer_id
            if outcome.status == "success" and not at_hull:
                lost += 1
            if outcome.status == "error" and at_hull:
                blamed += 1
    for number, outcome in outcomes.items():
        hooks[f"{outcome.http_status} {outcome.reason or ''}".strip()] += 1
        at_hull = f"evt-{number}" in tracked
        if outcome.http_status == 200 and outcome.reason is None and not at_hull:
            lost += 1
        # A timed-out webhook's event may land later: that is its own message, not blame.
        if outcome.reason not in (None, "hull_timeout") and at_hull:
            blamed += 1
    return {"users": users, "webhooks": hooks, "lost": lost, "blamed": blamed}


def run_sync(args: argparse.Namespace, cio: FakeCustomerIO, hull: FakeHull) -> Any:
    with hc.CustomerIOClient(
        cio.site_id, cio.api_key, base_url=cio.url, rate_limit=None
    ) as customerio:
        hull_api = hc.HullClient(
            hull.id, hull.secret, hull.organization, api_url=hull.url, firehose_url=hull.url,
            max_in_flight=args.max_in_flight,
        )  # fmt: skip
        connector = hc.Connector(SETTINGS, customerio=customerio, hull=hull_api, mode=args.mode)
        jobs: list[Any] = [("n", n) for n in range(args.notifications)]
        jobs += [("w", n) for n in range(args.webhooks)]
        jobs.sort(key=lambda job: job[1])  # interleave notifications and webhooks

        def call(job: tuple[str, int]) -> Any:
            kind, number = job
            if kind == "n":
                return connector.sync_user_updates(messages(number, args.users))
            return connector.handle_webhook(*webhook(number))

        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            results = list(pool.map(call, jobs))
        hull_api.close()
    return jobs, results


async def run_async(args: argparse.Namespace, cio: FakeCustomerIO, hull: FakeHull) -> Any:
    async with hc.AsyncCustomerIOClient(
        cio.site_id, cio.api_key, base_url=cio.url, rate_limit=None
    ) as customerio:
        hull_api = hc.AsyncHullClient(
            hull.id, hull.secret, hull.organization, api_url=hull.url, firehose_url=hull.url,
            max_in_flight=args.max_in_flight,
        )  # fmt: skip
        connector = hc.AsyncConnector(
            SETTINGS, customerio=customerio, hull=hull_api, mode=args.mode
        )
        jobs: list[Any] = [("n", n) for n in range(args.notifications)]
        jobs += [("w", n) for n in range(args.webhooks)]
        jobs.sort(key=lambda job: job[1])
        slots = asyncio.Semaphore(args.concurrency)

        async def call(job: tuple[str, int]) -> Any:
            kind, number = job
            async with slots:
                if kind == "n":
                    return await connector.sync_user_updates(messages(number, args.users))
                return await connector.handle_webhook(*webhook(number))

        results = await asyncio.gather(*(call(job) for job in jobs))
        await hull_api.close()
    return jobs, results


def bench(flavour: str, args: argparse.Namespace) -> None:
    with FakeCustomerIO(site_id="site", api_key="key") as cio, FakeHull() as hull:
        cio.latency = hull.latency = args.latency
        hull.fail_randomly(args.hull_fail, 503, seed=args.seed, path="/")
        hull.fail_randomly(args.hull_refuse, 400, seed=args.seed + 1, path="/")
        started = time.perf_counter()
        if flavour == "sync":
            jobs, results = run_sync(args, cio, hull)
        else:
            jobs, results = asyncio.run(run_async(args, cio, hull))
        elapsed = time.perf_counter() - started
        reports = [r for (kind, _), r in zip(jobs, results, strict=True) if kind == "n"]
        outcomes = {n: r for (kind, n), r in zip(jobs, results, strict=True) if kind == "w"}
        found = check(hull, reports, outcomes)
        statuses = Counter(r.status for r in hull.requests)
    users = args.notifications * args.users
    print(f"== {flavour}, {args.mode} mode: {args.notifications} notifications x {args.users} "
          f"users + {args.webhooks} webhooks, {args.concurrency} in flight, Hull failing "
          f"{args.hull_fail:.0%} (503) + {args.hull_refuse:.0%} (400) of requests")  # fmt: skip
    print(f"   wall time        {elapsed:.2f} s")
    print(f"   throughput       {args.webhooks / elapsed:.1f} webhooks/s, "
          f"{users / elapsed:.1f} users/s, {(len(jobs)) / elapsed:.1f} calls/s")  # fmt: skip
    print(f"   Hull requests    {sum(statuses.values())} {dict(sorted(statuses.items()))}")
    print(f"   user outcomes    {dict(found['users'])}")
    print(f"   webhook answers  {dict(found['webhooks'])}")
    print(f"   data lost        {found['lost']}")
    print(f"   wrongly blamed   {found['blamed']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavours", nargs="+", default=["sync", "async"])
    parser.add_argument("--mode", default="v1", choices=["v1", "batch"])
    parser.add_argument("--notifications", type=int, default=100)
    parser.add_argument("--users", type=int, default=10, help="users per notification")
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--max-in-flight", type=int, default=hc.hull.DEFAULT_MAX_IN_FLIGHT)
    parser.add_argument("--hull-fail", type=float, default=0.5, help="share answered 503")
    parser.add_argument("--hull-refuse", type=float, default=0.02, help="share answered 400")
    parser.add_argument("--latency", type=float, default=0.005, help="fakes' answer delay (s)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for flavour in args.flavours:
        bench(flavour, args)


if __name__ == "__main__":
    main()
