"""The hub's ASGI app under uvicorn: notifications/s, users/s, answer times, batch-file memory.

The app (``create_app(AsyncConnectorHub(...))``) runs in a uvicorn subprocess, so its memory is
its own. Several tenants -- each a Hull organization with its own Customer.io workspace, both
fakes served on loopback by *this* process -- send it signed notifications from many threads at
once; then one tenant sends a batch file (2,000 users as a baseline, then 20,000) and the
server's peak RSS (``VmHWM``) is read after each.

    python benchmarks/bench_server.py
    python benchmarks/bench_server.py --tenants 4 --notifications 400 --users-per-notification 50
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from hull_customerio.testing import FakeCustomerIO, FakeHull

warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

SERVER = """
import json, os, sys
import uvicorn
from hull_customerio import AsyncConnectorHub
from hull_customerio.server import create_app

config = json.loads(os.environ["BENCH_CONFIG"])

def hull_options(organization):
    url = config["hulls"][organization]
    return {"api_url": url, "firehose_url": url}

def customerio_options(site_id):
    return {"base_url": config["workspaces"][site_id], "rate_limit": config["rate_limit"]}

hub = AsyncConnectorHub(
    token_key="bench-token-key-of-32-bytes-or-more",
    hull_options=hull_options,
    customerio_options=customerio_options,
    notification_public_key=config["public_key"],
    mode=config["mode"],
)
app = create_app(hub, batch_hosts=["127.0.0.1"])
uvicorn.run(app, host="127.0.0.1", port=config["port"], log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def user(tenant: int, number: int) -> dict[str, Any]:
    return {
        "user": {
            "id": f"t{tenant}-u{number:07d}", "external_id": f"t{tenant}-{number}",
            "email": f"user{number}@tenant{tenant}.example.com", "traits_plan": "pro",
            "traits_seats": number % 50, "created_at": "2024-01-15T10:00:00Z",
        },
        "segments": [{"id": "seg_paying", "name": "Paying customers"}],
        "events": [],
    }  # fmt: skip


class Server:
    """The app in a uvicorn subprocess."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url = f"http://127.0.0.1:{config['port']}"
        env = {**os.environ, "BENCH_CONFIG": json.dumps(config)}
        self.process = subprocess.Popen([sys.executable, "-c", SERVER], env=env)  # noqa: S603
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/status", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


def make_tenants(count: int, signer: FakeHull) -> list[tuple[FakeHull, FakeCustomerIO]]:
    tenants = []
    for index in range(count):
        hull = FakeHull(
            id=f"{index:024x}",
            secret=f"secret-{index}-0123456789abcdef0123456789",
            organization=f"tenant{index}.hullapp.io",
            private_settings={"site_id": f"site-{index}", "api_key": f"key-{index}",
                              "synchronized_segments": ["seg_paying"]},
        )  # fmt: skip
        hull._private_key = signer._signing_key()  # one Hull key signs every organization
        customerio = FakeCustomerIO(site_id=f"site-{index}", api_key=f"key-{index}")
        hull.start()
        customerio.start()
        tenants.append((hull, customerio))
    return tenants


def forget_periodically(fakes: list[Any], stop: threading.Event) -> None:
    """Empty the fakes' records now and then, so this process does not grow."""
    while not stop.wait(2.0):
        for fake in fakes:
            fake.reset()


def notifications_phase(
    url: str, tenants: list[tuple[FakeHull, FakeCustomerIO]], args: argparse.Namespace
) -> None:
    signed = []
    for number in range(args.notifications):
        index = number % len(tenants)
        hull = tenants[index][0]
        first = number * args.users_per_notification
        messages = [user(index, first + n) for n in range(args.users_per_notification)]
        signed.append((hull, hull.signed_notification(messages)))
    times: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def send(item: tuple[FakeHull, Any]) -> None:
        hull, notification = item
        started = time.perf_counter()
        answer = hull.send_notification(url, notification, timeout=120)
        elapsed = time.perf_counter() - started
        with lock:
            times.append(elapsed)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(send, signed))
    wall = time.perf_counter() - started
    times.sort()
    users = args.notifications * args.users_per_notification
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"notifications: {args.notifications} from {len(tenants)} tenants, "
        f"{args.users_per_notification} users each, {args.concurrency} at a time, "
        f"mode {args.mode}: {args.notifications / wall:.1f} notifications/s, "
        f"{users / wall:.0f} users/s; answer time p50 {statistics.median(times) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms; statuses {statuses}; {wall:.1f} s"
    )


def batch_phase(server: Server, hull: FakeHull, users: int) -> None:
    started = time.perf_counter()
    answer = hull.send_batch(server.url, (user(0, n) for n in range(users)), timeout=1800)
    elapsed = time.perf_counter() - started
    print(
        f"batch file of {users:,} users: {answer.status_code} {answer.json()}; "
        f"{users / elapsed:.0f} users/s; server peak RSS {server.peak_rss_mib():.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--notifications", type=int, default=200)
    parser.add_argument("--users-per-notification", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16, help="notifications in flight")
    parser.add_argument("--mode", choices=("v1", "batch"), default="v1")
    parser.add_argument("--rate-limit", type=float, default=0, help="req/s per workspace (0: none)")
    parser.add_argument("--batch-users", type=int, default=20_000)
    args = parser.parse_args()

    signer = FakeHull()
    tenants = make_tenants(args.tenants, signer)
    fakes = [fake for pair in tenants for fake in pair]
    stop = threading.Event()
    threading.Thread(target=forget_periodically, args=(fakes, stop), daemon=True).start()
    config = {
        "hulls": {hull.organization: hull.url for hull, _ in tenants},
        "workspaces": {cio.site_id: cio.url for _, cio in tenants},
        "rate_limit": args.rate_limit or None,
        "public_key": signer.notification_public_key,
        "mode": args.mode,
    }
    try:
        server = Server({**config, "port": free_port()})
        try:
            notifications_phase(server.url, tenants, args)
        finally:
            server.stop()
        # The fakes keep their records from now on: emptying them could drop the batch file
        # before the app downloads it. A fresh server runs the batch files, in batch mode.
        stop.set()
        server = Server({**config, "mode": "batch", "port": free_port()})
        try:
            batch_phase(server, tenants[0][0], 2_000)
            batch_phase(server, tenants[0][0], args.batch_users)
        finally:
            server.stop()
    finally:
        stop.set()
        for fake in fakes:
            fake.stop()


if __name__ == "__main__":
    main()
