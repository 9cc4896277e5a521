"""The async client's transport, alone: requests/s and CPU per request, side by side.

``AsyncCustomerIOClient`` sends ``--requests`` identify calls (``--concurrency`` in flight, no
client rate limit) to a loopback HTTP/1.1 server in another process (each answer delayed by
``--latency``, so its CPU is not counted), once per transport and round, the transports
alternating within each round:

- ``own``: what the client builds for itself, `AsyncPoolTransport` over `AsyncioBackend`;
- ``pool``: `AsyncPoolTransport` over httpcore's default backend (anyio), to tell the backend's
  share from the transport's;
- ``httpx``: ``httpx.AsyncHTTPTransport``, httpx's default path.

It prints each transport's median requests/s and CPU µs per request (the benchmark process's
CPU time in the timed part), every round's figures, and the CPU saving of ``own`` over
``httpx``.

    .venv/bin/python benchmarks/bench_transport.py --requests 3000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from hull_customerio._http import transport as _transport
from hull_customerio.customerio import AsyncCustomerIOClient

SERVER = r"""
import asyncio, sys
LATENCY = float(sys.argv[1])
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

async def handle(reader, writer):
    buffer = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) < length:
                    break
                buffer = rest[length:]
                if LATENCY:
                    await asyncio.sleep(LATENCY)
                writer.write(ANSWER)
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def _pool_on_anyio(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    return _transport.AsyncPoolTransport(limits)


def _httpx_default(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(limits=limits)


TRANSPORTS: dict[str, Callable[[httpx.Limits], httpx.AsyncBaseTransport]] = {
    "own": _transport.async_transport,
    "pool": _pool_on_anyio,
    "httpx": _httpx_default,
}


async def one_run(name: str, url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """(requests/s, CPU µs per request) of ``requests`` identify calls through ``name``."""
    build = TRANSPORTS[name]
    original = _transport.async_transport
    _transport.async_transport = build  # type: ignore[assignment]  # read when a client is made
    try:
        client = AsyncCustomerIOClient(
            "site", "key", base_url=url, rate_limit=None, max_concurrency=concurrency
        )
    finally:
        _transport.async_transport = original  # type: ignore[assignment]
    attributes = {"email": "ada@example.com", "plan": "pro", "created_at": 1_700_000_000}
    async with client:
        await client.identify("warm-up", attributes)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client.identify(f"u{i}", attributes) for i in range(requests)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return requests / wall, cpu / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per answer")
    parser.add_argument("--transports", nargs="+", default=list(TRANSPORTS), choices=TRANSPORTS)
    args = parser.parse_args()

    server = subprocess.Popen(  # noqa: S603 - this interpreter, the script's own code
        [sys.executable, "-c", SERVER, str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if server.stdout is None or server.stdin is None:
        raise RuntimeError("the server's pipes are missing")
    url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in args.transports}
    try:
        for round_ in range(args.rounds):
            order = args.transports if round_ % 2 == 0 else args.transports[::-1]
            for name in order:
                figures[name].append(
                    asyncio.run(one_run(name, url, args.requests, args.concurrency))
                )
    finally:
        server.stdin.close()
        server.wait(timeout=10)

    print(
        f"{args.requests} requests x {args.rounds} rounds, {args.concurrency} in flight, "
        f"latency {args.latency * 1000:g} ms"
    )
    medians: dict[str, float] = {}
    for name, runs in figures.items():
        rate = statistics.median(r for r, _ in runs)
        medians[name] = statistics.median(c for _, c in runs)
        rounds = ", ".join(f"{r:.0f}/s {c:.0f} µs" for r, c in runs)
        print(f"{name:>6}: {rate:7.0f} requests/s  {medians[name]:5.0f} µs CPU  [{rounds}]")
    if "own" in medians and "httpx" in medians:
        saving = 1 - medians["own"] / medians["httpx"]
        print(f"CPU per request, own vs httpx: {saving:+.1%} saved")


if __name__ == "__main__":
    main()
