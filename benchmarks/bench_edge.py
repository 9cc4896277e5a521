"""The service's edge under hostile uploads: peak memory and /health latency.

Serves ``create_app(AsyncConnectorHub(...))`` with uvicorn in a process of its own, then sends
``--uploads`` concurrent unauthenticated POSTs to ``/smart-notifier`` of the largest body the
app accepts (``max_body_bytes``, 10 MB by default), each a JSON array of empty objects (the
shape that costs most to parse), unsigned or with a junk signature. Meanwhile ``/health`` is
asked every 50 ms. Prints the server's peak RSS growth (``VmHWM`` from ``/proc``, Linux), the
slowest ``/health`` answer, and the answers' status codes.

    .venv/bin/python benchmarks/bench_edge.py                 # 40 uploads of 10 MB, 3 rounds
    .venv/bin/python benchmarks/bench_edge.py --uploads 40 --body-mb 9.9 --rounds 3

Targets (SPEC §8.7): peak RSS growth <= 200 MB, slowest /health <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time

import httpx

SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    import hull_customerio as hc
    from hull_customerio.server import create_app
    hub = hc.AsyncConnectorHub(token_key="bench-edge-token-key-of-32-bytes-or-more")
    uvicorn.run(create_app(hub), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="error", access_log=False)
    """
)
JUNK_SIGNATURE = {
    "x-hull-smart-notifier-signature": "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJ4In0.c2ln",
    "x-hull-smart-notifier-signature-version": "v1",
    "x-hull-smart-notifier-signature-public-key-url": "https://keys.hullapp.io/k",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def _probe(url: str, done: threading.Event, slowest: list[float]) -> None:
    """Ask /health every 50 ms from a thread of its own (not the uploads' event loop)."""
    with httpx.Client(timeout=30) as http:
        while not done.is_set():
            started = time.perf_counter()
            http.get(f"{url}/health").raise_for_status()
            slowest[0] = max(slowest[0], time.perf_counter() - started)
            time.sleep(0.05)


async def _uploads(url: str, uploads: int, body: bytes) -> collections.Counter[int]:
    async def upload(number: int) -> int:
        headers = JUNK_SIGNATURE if number % 2 else {}
        async with httpx.AsyncClient(timeout=120) as http:
            try:
                response = await http.post(f"{url}/smart-notifier", content=body, headers=headers)
            except httpx.HTTPError:
                return 0  # the server closed the connection after answering early
            return response.status_code

    return collections.Counter(await asyncio.gather(*(upload(n) for n in range(uploads))))


def _round(url: str, uploads: int, body: bytes) -> tuple[float, collections.Counter[int]]:
    slowest = [0.0]
    done = threading.Event()
    prober = threading.Thread(target=_probe, args=(url, done, slowest))
    prober.start()
    time.sleep(0.2)
    try:
        statuses = asyncio.run(_uploads(url, uploads, body))
        time.sleep(0.2)
    finally:
        done.set()
        prober.join()
    return slowest[0], statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--body-mb", type=float, default=10.0, help="body size, MB (1e6 bytes)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = int(args.body_mb * 1_000_000)
    body = (b"[" + b"{}," * (size // 3))[: size - 3] + b"{}]"

    growths, slowests = [], []
    for number in range(1, args.rounds + 1):
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])  # noqa: S603
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{url}/health", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            baseline = _rss_kib(server.pid, "VmRSS")
            slowest, statuses = _round(url, args.uploads, body)
            peak = _rss_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=10)
        growth = (peak - baseline) / 1024
        growths.append(growth)
        slowests.append(slowest)
        print(
            f"round {number}: {args.uploads} uploads of {len(body) / 1e6:.1f} MB: "
            f"peak RSS growth {growth:.1f} MiB (baseline {baseline / 1024:.1f} MiB), "
            f"slowest /health {slowest * 1000:.0f} ms, answers {dict(sorted(statuses.items()))}"
        )
    print(
        f"median of {args.rounds}: peak RSS growth {statistics.median(growths):.1f} MiB "
        f"(target <= 200 MB), slowest /health {statistics.median(slowests) * 1000:.0f} ms "
        f"(target <= 1000 ms); pid {os.getpid()}"
    )


if __name__ == "__main__":
    main()
