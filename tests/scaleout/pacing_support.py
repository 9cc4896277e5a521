"""Measuring pacing: a loopback server that only records when requests arrive, and senders.

`CaptureServer` runs in a process of its own (spawned): a small HTTP/1.1 server (keep-alive,
any method and path, a thread per connection) that answers every request ``200 {}`` and notes
when it arrived. The time is the kernel's receive stamp of the packet (``SO_TIMESTAMPNS``), so
it says when the request reached the host, not when a busy process got round to reading it.

`send_as_fast_as_allowed` is the work of one sending process: several
`AsyncCustomerIOClient` sharing one `RedisRateLimiter`, each with several requests in flight,
for `Job.duration` seconds. Both live here, outside test modules, so that the spawn start
method can import them (the benchmark `benchmarks/bench_shared_limiter.py` uses them too).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from scaleout_support import FAST_RETRY, Job

from hull_customerio import AsyncCustomerIOClient
from hull_customerio.redis_limiter import RedisRateLimiter

#: Clients per sending process, and requests each keeps in flight.
CLIENTS = 2
LANES = 2
WARM_UP = "warm-up"

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
# Linux: ask the kernel to stamp each received packet (CLOCK_REALTIME, nanoseconds); the
# control message carrying the stamp has the same number (35 on 64-bit Linux; Python names
# neither).
SO_TIMESTAMPNS = 35
_STAMP = struct.Struct("qq")


def _receive(connection: socket.socket) -> tuple[bytes, float | None]:
    """Read what has arrived and when the kernel received it (``None``: it did not say)."""
    data, ancillary, _, _ = connection.recvmsg(65536, socket.CMSG_SPACE(_STAMP.size))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = _STAMP.unpack(payload[: _STAMP.size])
            return data, seconds + nanoseconds / 1e9
    return data, None


def _serve_connection(
    connection: socket.socket, arrivals: list[tuple[float, str]], unstamped: list[str]
) -> None:
    with connection:
        connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        pending = b""
        while True:
            try:
                data, received = _receive(connection)
            except OSError:
                return
            if not data:
                return
            pending += data
            # A client waits for each answer, so a request is complete in what has arrived.
            while b"\r\n\r\n" in pending:
                head, _, rest = pending.partition(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if len(rest) < length:
                    break
                pending = rest[length:]
                path = request_line.split(" ")[1] if " " in request_line else ""
                if received is None:
                    unstamped.append(path)
                arrivals.append((time.time() if received is None else received, path))
                connection.sendall(_ANSWER)


def _capture_process(control: Any) -> None:
    arrivals: list[tuple[float, str]] = []
    unstamped: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    # Set on the listener, the option is the accepted connections' from their first packet.
    listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    control.send(listener.getsockname()[1])

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the run is over
                return
            threading.Thread(
                target=_serve_connection, args=(connection, arrivals, unstamped), daemon=True
            ).start()

    threading.Thread(target=accept, daemon=True).start()
    control.recv()  # "stop"
    listener.close()
    control.send((sorted(arrivals), unstamped))


class CaptureServer:
    """The recording server in its own process; `arrivals` once it has stopped."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_capture_process, args=(child,), daemon=True)
        self.url = ""
        #: ``(time.time() at arrival, path)`` of every request, in arrival order.
        self.arrivals: list[tuple[float, str]] = []
        #: Paths of the requests the kernel gave no receive stamp for (read time used instead).
        self.unstamped: list[str] = []

    @contextlib.contextmanager
    def running(self) -> Iterator[CaptureServer]:
        self._process.start()
        try:
            if not self._connection.poll(60):
                raise RuntimeError("the capture server did not start")
            self.url = f"http://127.0.0.1:{self._connection.recv()}"
            yield self
        finally:
            if self._process.is_alive():
                self._connection.send("stop")
                if self._connection.poll(30):
                    self.arrivals, self.unstamped = self._connection.recv()
            self._process.join(10)
            if self._process.is_alive():  # pragma: no cover - only if it hangs
                self._process.kill()

    def arrival_times(self) -> list[float]:
        """When each request arrived, warm-up requests left out."""
        return [at for at, path in self.arrivals if WARM_UP not in path]


def send_as_fast_as_allowed(job: Job, start: Callable[[], None]) -> list[str]:
    """Send identifies as fast as the shared limit allows; return the ids reported sent."""
    return asyncio.run(_send(job, start))


async def _send(job: Job, start: Callable[[], None]) -> list[str]:
    limiter = RedisRateLimiter(job.redis_url, key=job.key, rate=job.rate)
    sent: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                AsyncCustomerIOClient(
                    "site", "key", base_url=job.base_url, rate_limit=limiter, retry=FAST_RETRY
                )
            )
            for _ in range(CLIENTS)
        ]
        # Connections are opened before the common start, so that setting them up does not
        # hold back (and then bunch up) the first measured requests.
        await asyncio.gather(
            *(
                client.identify(f"w{job.worker}-c{number}-{WARM_UP}-{lane}", {})
                for number, client in enumerate(clients)
                for lane in range(LANES)
            )
        )
        start()  # blocks the loop only before any work begins
        stop_at = time.monotonic() + job.duration

        async def lane(client: AsyncCustomerIOClient, name: str) -> None:
            number = 0
            while time.monotonic() < stop_at:
                customer_id = f"{name}-{number}"
                await client.identify(customer_id, {"worker": job.worker})
                sent.append(customer_id)
                number += 1

        await asyncio.gather(
            *(
                lane(client, f"w{job.worker}-c{number}-l{lane_number}")
                for number, client in enumerate(clients)
                for lane_number in range(LANES)
            )
        )
    await limiter.aclose()
    return sent


def after_first_second(times: list[float]) -> list[float]:
    """The instants from one second after the first one on."""
    if not times:
        return []
    begin = min(times) + 1.0
    return [instant for instant in times if instant >= begin]
