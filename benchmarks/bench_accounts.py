"""Accounts and their linked users through ``AsyncConnector`` in batch mode, against users alone.

Two runs of the same N synthetic users (20 attributes and 2 events each, the generator of
``examples/sync_export.py``), alternating, round after round, through ``AsyncConnector(...,
mode="batch")``:

- ``users only``: the users as ``bench_sync.py`` sends them (no account, no link);
- ``accounts + users``: M accounts (``sync_account_updates``) and the same N users, user ``n``
  belonging to account ``n % M`` and that account in the synchronized account segment, with
  ``link_users_to_accounts`` on, so every identify carries a relationship to its object. The
  messages arrive as notifications do: each chunk of accounts, then each chunk of users.

The fakes run out of process (``fake_servers.py``, one process per service), so their CPU is
not counted as the library's; each run starts against emptied fakes. It prints each side's
median users/s (and accounts/s), the requests made, the CPU this process and the fakes (read
from ``/proc``) spent per user / account, and the ratios linked / users-only (users/s of the
linked users against users/s of the users-only run, CPU per user, and the elapsed time of the
whole accounts + users run against it); last, parse + plan CPU per user and account, no I/O.

    python benchmarks/bench_accounts.py                                  # 2,000 / 2,000, 3 rounds
    python benchmarks/bench_accounts.py --users 20000 --accounts 20000 --rounds 5

Before timing anything it checks, with in-process fakes and a few users, that the linked run
does what it claims: the objects exist and every person is related to their account's object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from fake_servers import FakeServers
from sync_export import DEMO_SETTINGS, synthetic_message

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes (the fake's default is).
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

ACCOUNT_SEGMENT = {"id": "aseg_customers", "name": "Customer accounts"}
ACCOUNT_ATTRIBUTES = ["industry", "employees", "plan", "created_at", "clearbit/name"]
#: The users-only run's settings plus the account ones (linking is on by default; stated).
LINKED_SETTINGS: dict[str, Any] = {
    **DEMO_SETTINGS,
    "synchronized_account_segments": [ACCOUNT_SEGMENT["id"]],
    "synchronized_account_attributes": ACCOUNT_ATTRIBUTES,
    "account_id_mapping": "external_id",
    "link_users_to_accounts": True,
}


def synthetic_account(m: int) -> dict[str, Any]:
    """Account number ``m``: a Hull id, an external id (the object id), name, domain, 5 more."""
    return {
        "id": f"a{m:023x}",
        "external_id": f"account-{m}",
        "name": f"Company {m}",
        "domain": f"company{m}.example",
        "industry": ("software", "retail", "health", "finance")[m % 4],
        "employees": 10 + m % 990,
        "plan": "enterprise" if m % 10 == 0 else "team",
        "created_at": "2023-05-01T10:00:00Z",
        "clearbit/name": f"Company {m} Inc.",
        "indexed_at": "2024-01-01T00:00:00Z",
    }


def account_message(m: int) -> dict[str, Any]:
    """The ``account:update`` message of account ``m``, in the synchronized account segment."""
    return {
        "message_id": f"am-{m}",
        "account": synthetic_account(m),
        "account_segments": [dict(ACCOUNT_SEGMENT)],
        "changes": {},
    }


def linked_user_message(n: int, accounts: int) -> dict[str, Any]:
    """User ``n`` of the synthetic export, belonging to account ``n % accounts``."""
    message = synthetic_message(n)
    account = synthetic_account(n % accounts)
    message["account"] = account
    message["account_segments"] = [dict(ACCOUNT_SEGMENT)]
    return message


def children_cpu() -> float | None:
    """CPU seconds used so far by this process's children (the fakes), from ``/proc``; ``None``
    where there is no ``/proc``."""
    try:
        pids = set()
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            pids.update((task / "children").read_text().split())
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Run:
    """One run's figures: seconds and CPU seconds per phase, requests by status."""

    account_seconds: float = 0.0
    user_seconds: float = 0.0
    account_cpu: float = 0.0
    user_cpu: float = 0.0
    account_fakes_cpu: float | None = None
    user_fakes_cpu: float | None = None
    customerio: Counter[int] = field(default_factory=Counter)
    hull: int = 0

    @property
    def seconds(self) -> float:
        return self.account_seconds + self.user_seconds


def _check(report: hc.SyncReport, what: str) -> None:
    bad = [o for o in report.outcomes if o.status != "success"]
    bad_accounts = [o for o in report.account_outcomes if o.status != "success"]
    if bad or bad_accounts:
        first = (bad or bad_accounts)[0]
        raise RuntimeError(
            f"{what}: {len(bad)} users, {len(bad_accounts)} accounts failed: {first}"
        )


def _since(before: float | None) -> float | None:
    now = children_cpu()
    return None if before is None or now is None else now - before


async def one_run(
    info: dict[str, Any],
    settings: hc.Settings,
    users: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
    *,
    chunk_size: int,
    concurrency: int,
    rate_limit: float | None,
) -> Run:
    """Accounts first, chunk by chunk, then users, chunk by chunk; each phase timed apart."""
    run = Run()
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
                settings, customerio=customerio, hull=hull, mode="batch",
                max_concurrency=concurrency,
            )  # fmt: skip
            started, cpu, fakes = time.perf_counter(), time.process_time(), children_cpu()
            for start in range(0, len(accounts), chunk_size):
                report = await connector.sync_account_updates(
                    accounts[start : start + chunk_size], batch=True
                )
                _check(report, "accounts")
            run.account_seconds = time.perf_counter() - started
            run.account_cpu = time.process_time() - cpu
            run.account_fakes_cpu = _since(fakes)
            started, cpu, fakes = time.perf_counter(), time.process_time(), children_cpu()
            for start in range(0, len(users), chunk_size):
                report = await connector.sync_user_updates(
                    users[start : start + chunk_size], batch=True
                )
                _check(report, "users")
            run.user_seconds = time.perf_counter() - started
            run.user_cpu = time.process_time() - cpu
            run.user_fakes_cpu = _since(fakes)
        finally:
            await hull.close()
    return run


async def check_links(settings: hc.Settings, users: int, accounts: int) -> None:
    """With in-process fakes: the objects exist and each person is related to its object."""
    user_messages = [linked_user_message(n, accounts) for n in range(users)]
    account_messages = [account_message(m) for m in range(accounts)]
    with FakeCustomerIO() as fake_cio, FakeHull() as fake_hull:
        info = {
            "customerio_url": fake_cio.url, "site_id": fake_cio.site_id,
            "api_key": fake_cio.api_key, "hull_url": fake_hull.url, "hull_id": fake_hull.id,
            "hull_secret": fake_hull.secret, "hull_organization": fake_hull.organization,
        }  # fmt: skip
        await one_run(
            info, settings, user_messages, account_messages,
            chunk_size=7, concurrency=4, rate_limit=None,
        )  # fmt: skip
        object_type = settings.object_type_id
        for m in range(accounts):
            if fake_cio.object(object_type, f"account-{m}") is None:
                raise RuntimeError(f"object account-{m} was not created")
        for n in range(users):
            related = fake_cio.relationships_of(f"user-{n}")
            if related != {(object_type, f"account-{n % accounts}")}:
                raise RuntimeError(f"user-{n} is related to {related}")
    print(f"check: {accounts} objects created, each of {users} people related to its object")


def median(values: list[float]) -> float:
    return statistics.median(values)


def run_rounds(
    args: argparse.Namespace, sides: list[tuple[str, hc.Settings, list[Any], list[Any]]]
) -> dict[str, list[Run]]:
    """Each side once per round against emptied fakes; round 0 is a warm-up, not counted."""
    servers = FakeServers(args.latency, args.hull_latency)
    runs: dict[str, list[Run]] = {side[0]: [] for side in sides}
    try:
        # Round 0 warms both sides up (first connections, first calls); then the order flips
        # every round, so neither side always runs first.
        for round_number in range(args.rounds + 1):
            for side, settings, users, accounts in sides[:: 1 if round_number % 2 else -1]:
                servers.reset()
                run = asyncio.run(
                    one_run(
                        servers.info, settings, users, accounts,
                        chunk_size=args.chunk_size, concurrency=args.concurrency,
                        rate_limit=args.rate_limit or None,
                    )
                )  # fmt: skip
                stats = servers.stats()
                if round_number == 0:
                    continue
                run.customerio.update({int(s): c for s, c in stats["customerio"].items()})
                run.hull = stats["hull"]
                runs[side].append(run)
                rates = f"users {len(users) / run.user_seconds:>8,.0f}/s"
                if accounts:
                    rates += f"  accounts {len(accounts) / run.account_seconds:>8,.0f}/s"
                print(f"  round {round_number} {side:<17} {rates}  total {run.seconds:6.2f} s")
    finally:
        servers.close()
    return runs


def summarize(runs: dict[str, list[Run]], users: int, accounts: int) -> None:
    """Medians per side, then the ratios linked / users-only."""
    print(f"\nMedians over {len(next(iter(runs.values())))} rounds:")
    rates: dict[str, float] = {}
    totals: dict[str, float] = {}
    for side, side_runs in runs.items():
        rates[side] = users / median([r.user_seconds for r in side_runs])
        totals[side] = median([r.seconds for r in side_runs])
        user_cpu = median([r.user_cpu for r in side_runs]) / users * 1e3
        line = f"  {side:<17} users {rates[side]:>8,.0f}/s (CPU {user_cpu:.3f} ms/user"
        fakes = [r.user_fakes_cpu for r in side_runs if r.user_fakes_cpu is not None]
        line += f", fakes' CPU {median(fakes) / users * 1e3:.3f})" if fakes else ")"
        if side != "users only":
            account_rate = accounts / median([r.account_seconds for r in side_runs])
            account_cpu = median([r.account_cpu for r in side_runs]) / accounts * 1e3
            line += f"  accounts {account_rate:>8,.0f}/s (CPU {account_cpu:.3f} ms/account"
            fakes = [r.account_fakes_cpu for r in side_runs if r.account_fakes_cpu is not None]
            line += f", fakes' CPU {median(fakes) / accounts * 1e3:.3f})" if fakes else ")"
        last = side_runs[-1]
        line += (
            f"  elapsed {totals[side]:.2f} s  | Customer.io requests {last.customerio.total():,}"
            f" {dict(last.customerio)}, Hull requests {last.hull:,}"
        )
        print(line)
    plain, linked = "users only", "accounts + users"
    ratio = rates[linked] / rates[plain]
    cpu_ratio = median([r.user_cpu for r in runs[linked]]) / median(
        [r.user_cpu for r in runs[plain]]
    )
    print(
        f"  ratio linked users/s / users-only users/s: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %)\n"
        f"  ratio linked CPU/user / users-only CPU/user: {cpu_ratio:.3f}\n"
        f"  ratio users-only elapsed / accounts + users elapsed: "
        f"{totals[plain] / totals[linked]:.3f} ({totals[linked]:.2f} s for {accounts:,} accounts"
        f" + {users:,} users against {totals[plain]:.2f} s for {users:,} users)"
    )


def parse_and_plan(
    messages: list[dict[str, Any]], settings: hc.Settings, *, accounts: bool = False
) -> float:
    """CPU seconds to parse and plan every message (no I/O), one sync time as the engine."""
    now = datetime.now(timezone.utc)
    started = time.process_time()
    if accounts:
        for raw in messages:
            hc.plan_account_update(hc.AccountUpdateMessage.from_dict(raw), settings, now=now)
    else:
        for raw in messages:
            hc.plan_user_update(hc.UserUpdateMessage.from_dict(raw), settings, now=now)
    return time.process_time() - started


def plan_rounds(
    plain: tuple[hc.Settings, list[Any]],
    linked: tuple[hc.Settings, list[Any]],
    accounts: list[Any],
    rounds: int,
) -> None:
    """Parse + plan CPU per user, users only against linked, alternating in blocks of 50
    users (a burst of another tenant's work falls on both alike); accounts after."""
    plain_cpu: list[float] = []
    linked_cpu: list[float] = []
    for _ in range(rounds + 1):  # the first round warms up, not counted
        sums = [0.0, 0.0]
        for start in range(0, len(plain[1]), 50):
            sums[0] += parse_and_plan(plain[1][start : start + 50], plain[0])
            sums[1] += parse_and_plan(linked[1][start : start + 50], linked[0])
        plain_cpu.append(sums[0])
        linked_cpu.append(sums[1])
    users = len(plain[1])
    per_plain = median(plain_cpu[1:]) / users * 1e6
    per_linked = median(linked_cpu[1:]) / users * 1e6
    per_account = (
        median([parse_and_plan(accounts, linked[0], accounts=True) for _ in range(rounds)])
        / len(accounts)
        * 1e6
    )
    print(
        f"\nParse + plan only (no I/O, CPU, medians of {rounds} rounds): users only "
        f"{per_plain:.1f} µs/user, linked {per_linked:.1f} µs/user (ratio "
        f"{per_linked / per_plain:.3f}); accounts {per_account:.1f} µs/account"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2_000, help="users in each run")
    parser.add_argument("--accounts", type=int, default=2_000, help="accounts in the linked run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument(
        "--chunk-size", type=int, default=1_000, help="messages per sync_*_updates call"
    )
    parser.add_argument("--latency", type=float, default=0.020, help="Customer.io, seconds")
    parser.add_argument("--hull-latency", type=float, default=0.0, help="Hull, seconds")
    parser.add_argument("--concurrency", type=int, default=10, help="requests in flight")
    parser.add_argument(
        "--rate-limit", type=float, default=0.0, help="client requests/s (0: unlimited)"
    )
    args = parser.parse_args()
    if args.users < 1 or args.accounts < 1 or args.rounds < 1:
        parser.error("--users, --accounts and --rounds must be at least 1")

    plain_settings = hc.Settings.from_private_settings(DEMO_SETTINGS)
    linked_settings = hc.Settings.from_private_settings(LINKED_SETTINGS)
    asyncio.run(check_links(linked_settings, users=30, accounts=7))

    plain_users = [synthetic_message(n) for n in range(args.users)]
    linked_users = [linked_user_message(n, args.accounts) for n in range(args.users)]
    accounts = [account_message(m) for m in range(args.accounts)]
    # The fixtures are the benchmark's memory, not the library's (see bench_peers.py).
    gc.freeze()
    print(
        f"{args.users:,} users (20 attributes, 2 events each), {args.accounts:,} accounts "
        f"({len(accounts[0]['account'])} attributes); batch mode; latency "
        f"{args.latency * 1000:g} ms (Hull {args.hull_latency * 1000:g} ms); concurrency "
        f"{args.concurrency}; rate limit {args.rate_limit or 'none'}; chunks of "
        f"{args.chunk_size:,}; {args.rounds} rounds"
    )
    sides = [
        ("users only", plain_settings, plain_users, []),
        ("accounts + users", linked_settings, linked_users, accounts),
    ]
    summarize(run_rounds(args, sides), args.users, args.accounts)
    plan_rounds(
        (plain_settings, plain_users), (linked_settings, linked_users), accounts, args.rounds
    )


if __name__ == "__main__":
    main()
