"""Stream a Hull user export (JSON lines) to Customer.io through batch mode, in constant memory.

Each line of the export is one ``user:update`` message. The file is read lazily, ``--chunk-size``
users at a time; each chunk goes through ``Connector(..., mode="batch")`` as a manual batch
(``batch=True``: the segment filter does not apply) and only counters are kept, so memory does
not grow with the size of the export.

Services: Customer.io is real when ``CUSTOMERIO_SITE_ID`` / ``CUSTOMERIO_API_KEY`` are set, Hull
when ``HULL_ID`` / ``HULL_SECRET`` / ``HULL_ORGANIZATION`` are; otherwise each is the library's
in-process fake (which keeps everything it receives: fine for small files). ``--customerio-url``
and ``--hull-url`` point a client at another endpoint, such as fakes served by another process
(``benchmarks/bench_export_memory.py`` does that).

    python examples/sync_export.py                         # a small generated export, fakes
    python examples/sync_export.py --file export.jsonl --chunk-size 500 --settings s.json
    python examples/sync_export.py --generate 200000 export.jsonl  # write a synthetic export
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes.
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

ATTRIBUTES = [f"attr_{i:02}" for i in range(20)]
# The settings the synthetic export is meant for: its 20 attributes and both its events.
DEMO_SETTINGS: dict[str, Any] = {
    "synchronized_segments": ["seg_customers"],
    "synchronized_attributes": ATTRIBUTES,
    "events_filter": ["Order Completed", "page"],
}
DEMO_USERS = 1_000
PROGRESS_EVERY = 5.0  # seconds between progress lines on stderr


# -- the synthetic export -------------------------------------------------------------------


def synthetic_message(n: int) -> dict[str, Any]:
    """User number ``n`` of the synthetic export: 20 attributes of mixed types, 2 events."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=n)
    iso = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    traits: dict[str, Any] = {}
    for i, name in enumerate(ATTRIBUTES):
        # Strings, integers, booleans and floats, as a real export mixes them.
        values = (f"value {i} of user {n}", n * 7 + i, i % 2 == 0, round(n / (i + 1), 3))
        traits[f"traits_{name}"] = values[i % 4]
    return {
        "message_id": f"m-{n}",
        "user": {
            "id": f"{n:024x}",
            "external_id": f"user-{n}",
            "email": f"user{n}@example.com",
            "created_at": iso,
            "indexed_at": iso,
            **traits,
        },
        "segments": [{"id": "seg_customers", "name": "Customers"}],
        "events": [
            {
                "event": "Order Completed",
                "event_id": f"evt-{n}-order",
                "created_at": iso,
                "properties": {"order_id": f"o-{n}", "total": n % 500 + 0.99, "currency": "EUR"},
                "context": {},
            },
            {
                "event": "page",
                "event_id": f"evt-{n}-page",
                "created_at": iso,
                "properties": {"url": f"https://example.com/products/{n % 97}", "title": "Shop"},
                "context": {"referrer": {"url": "https://search.example.org/"}},
            },
        ],
        "changes": {},
    }


def generate(count: int, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps(synthetic_message(n), separators=(",", ":")) + "\n")


# -- streaming ------------------------------------------------------------------------------


def read_chunks(lines: TextIO, size: int) -> Iterator[list[dict[str, Any]]]:
    """Lists of at most ``size`` messages; only one chunk is ever in memory."""
    messages = (json.loads(line) for line in lines if line.strip())
    while chunk := list(islice(messages, size)):
        yield chunk


class Totals:
    """Running counts of a sync: all that is kept of each chunk's report."""

    def __init__(self) -> None:
        self.users = 0
        self.by_status: collections.Counter[str] = collections.Counter()
        # Reason codes form a small closed set, so this stays small however long the export.
        self.by_reason: collections.Counter[tuple[str, str]] = collections.Counter()
        self.events_sent = 0
        self.events_skipped = 0

    def add(self, report: hc.SyncReport) -> None:
        for outcome in report.outcomes:
            self.users += 1
            self.by_status[outcome.status] += 1
            self.by_reason[(outcome.status, outcome.reason)] += 1
            self.events_sent += len(outcome.events_sent)
            self.events_skipped += len(outcome.events_skipped)


def sync_file(
    connector: hc.Connector, path: Path, chunk_size: int, settings: hc.Settings
) -> Totals:
    totals = Totals()
    started = last_progress = time.monotonic()
    with path.open(encoding="utf-8") as lines:
        for chunk in read_chunks(lines, chunk_size):
            totals.add(connector.sync_user_updates(chunk, batch=True, settings=settings))
            if time.monotonic() - last_progress >= PROGRESS_EVERY:
                last_progress = time.monotonic()
                rate = totals.users / (last_progress - started)
                print(f"... {totals.users:,} users ({rate:,.0f} users/s)", file=sys.stderr)
    return totals


# -- the services ---------------------------------------------------------------------------


def customerio_client(resources: ExitStack, url: str | None) -> hc.CustomerIOClient:
    site_id, api_key = os.environ.get("CUSTOMERIO_SITE_ID"), os.environ.get("CUSTOMERIO_API_KEY")
    if not (site_id and api_key):
        fake = resources.enter_context(FakeCustomerIO())
        site_id, api_key, url = fake.site_id, fake.api_key, fake.url
    return resources.enter_context(hc.CustomerIOClient(site_id, api_key, base_url=url))


def hull_client(resources: ExitStack, url: str | None) -> hc.HullClient:
    hull_id, secret, organization = (
        os.environ.get(name) for name in ("HULL_ID", "HULL_SECRET", "HULL_ORGANIZATION")
    )
    if not (hull_id and secret and organization):
        fake = resources.enter_context(FakeHull())
        hull_id, secret, organization, url = fake.id, fake.secret, fake.organization, fake.url
    client = hc.HullClient(hull_id, secret, organization, api_url=url, firehose_url=url)
    resources.callback(client.close)
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="the JSON-lines export to sync")
    parser.add_argument("--chunk-size", type=int, default=500, help="users per batch sync")
    parser.add_argument(
        "--settings", type=Path, help="the connector's private_settings as JSON (default: demo)"
    )
    parser.add_argument(
        "--generate", nargs=2, metavar=("N", "PATH"), help="write a synthetic export and exit"
    )
    parser.add_argument("--customerio-url", help="Customer.io Track API base URL override")
    parser.add_argument("--hull-url", help="Hull API and firehose URL override")
    args = parser.parse_args()
    if args.chunk_size < 1:
        parser.error("--chunk-size must be at least 1")

    if args.generate:
        count, path = int(args.generate[0]), Path(args.generate[1])
        generate(count, path)
        print(f"Wrote {count:,} users to {path}")
        return

    private_settings = json.loads(args.settings.read_text()) if args.settings else DEMO_SETTINGS
    settings = hc.Settings.from_private_settings(private_settings)
    with ExitStack() as resources:
        path = args.file
        if path is None:
            path = Path(resources.enter_context(tempfile.TemporaryDirectory())) / "export.jsonl"
            generate(DEMO_USERS, path)
            print(f"Generated a demo export of {DEMO_USERS:,} users: {path}")
        connector = hc.Connector(
            settings,
            customerio=customerio_client(resources, args.customerio_url),
            hull=hull_client(resources, args.hull_url),
            mode="batch",
        )
        started = time.monotonic()
        totals = sync_file(connector, path, args.chunk_size, settings)
        elapsed = time.monotonic() - started

    rate = totals.users / elapsed if elapsed else 0.0
    print(f"Synced {totals.users:,} users in {elapsed:.2f} s ({rate:,.0f} users/s)")
    for status in ("success", "skipped", "error"):
        print(f"  {status}: {totals.by_status[status]:,}")
    for (status, reason), count in sorted(totals.by_reason.items()):
        print(f"    {status} / {reason}: {count:,}")
    print(f"  events sent: {totals.events_sent:,}, events skipped: {totals.events_skipped:,}")
    if totals.by_status["error"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
