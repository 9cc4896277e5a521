"""Shared machinery of the fakes: one request-to-reply function, faults, latency, rate limits.

Every fake is one function from a request to a reply (`FakeService._dispatch`), served two
ways: in process, through `FakeTransport` (an `httpx.MockTransport` subclass that sync and
async httpx clients accept), and over a real loopback HTTP server (`_loopback`: a
`http.server.ThreadingHTTPServer` on 127.0.0.1, an ephemeral port, a background thread).
What a fake records and answers is in `_replies`. Both forms share the same state, the same
faults and the same lock, so a test can switch between them without changing its assertions.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import math
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import attrs
import httpx

from ._loopback import _LoopbackServer
from ._replies import FaultKind, RecordedRequest, _Reply, json_reply, parse_json

__all__ = ["FakeService", "FakeTransport", "FaultKind", "RecordedRequest"]

_Self = TypeVar("_Self", bound="FakeService")
_T = TypeVar("_T")


@attrs.frozen
class _Fault:
    status: int | FaultKind
    retry_after: str | None
    body: bytes | None
    path: str | None
    method: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path.startswith(self.path)


@attrs.frozen
class _RandomFault:
    fault: _Fault
    fraction: float
    random: random.Random = attrs.field(eq=False)


def _format_retry_after(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


class FakeService:
    """What both fakes share: recording, fault injection, a transport and a loopback server.

    Use one of the concrete fakes, `FakeCustomerIO` or `FakeHull`. All state is guarded by one
    lock, so a fake may be used from many threads (the loopback server answers each
    connection on its own thread) and from async code at the same time.

    Attributes:
        hang_seconds: How long the loopback server holds a request injected with
            `fail_next("timeout")` before dropping the connection (it lets go at once when
            the server stops). Default 30 seconds: longer than any sane client timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._faults: collections.deque[_Fault] = collections.deque()
        self._random_faults: list[_RandomFault] = []
        self._latency = 0.0
        self._rate_limit: float | None = None
        self._rate_limit_retry_after: str | None = None
        self._accepted_at: collections.deque[float] = collections.deque()
        self._clock: Callable[[], float] = time.monotonic
        self.hang_seconds = 30.0
        self._server: _LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._base_url: str | None = None

    # -- what subclasses provide ---------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> _Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    def _error_reply(self, status: int, message: str) -> _Reply:
        return json_reply(status, {"message": message})

    def _reset_state(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- configuration -------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every answer takes (default 0).

        The request is applied at once; the answer comes back after the delay. The loopback
        server really waits; the transport sleeps (`time.sleep` for sync clients,
        `asyncio.sleep` for async ones) and raises `httpx.ReadTimeout` when the delay is longer
        than the client's read timeout, as a real socket would.
        """
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            msg = "latency must be >= 0 seconds"
            raise ValueError(msg)
        with self._lock:
            self._latency = float(seconds)

    @property
    def rate_limit(self) -> float | None:
        """Requests per second the fake accepts before answering 429 (`None`: no limit).

        A sliding one-second window counts the accepted requests; one more in that window is
        answered `429` with a `Retry-After` header (whole seconds until the window has room,
        at least 1, unless `rate_limit_retry_after` says otherwise). Rejected requests do not
        count.
        """
        with self._lock:
            return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, per_second: float | None) -> None:
        if per_second is not None and per_second <= 0:
            msg = "rate_limit must be a positive number of requests per second, or None"
            raise ValueError(msg)
        with self._lock:
            self._rate_limit = per_second
            self._accepted_at.clear()

    @property
    def rate_limit_retry_after(self) -> str | None:
        """The `Retry-After` value sent with rate-limit 429s (`None`: computed, see `rate_limit`).

        Set it to `0` to let clients retry at once in tests that must not wait.
        """
        with self._lock:
            return self._rate_limit_retry_after

    @rate_limit_retry_after.setter
    def rate_limit_retry_after(self, value: float | str | None) -> None:
        with self._lock:
            self._rate_limit_retry_after = _format_retry_after(value)

    def fail_next(
        self,
        status: int | FaultKind,
        count: int = 1,
        *,
        retry_after: float | str | None = None,
        body: object = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` matching requests with a fault instead of serving them.

        Faults queue up in call order: `fail_next(500, 2)` then `fail_next(429)` answers
        500, 500, 429 and then serves normally. A faulted request is recorded in `requests`
        but never applied (no person, event or trait changes).

        Args:
            status: An HTTP status code (`429`, `500`, `503`, ...), `"timeout"` or
                `"disconnect"`. `"timeout"`: the loopback server holds the request for
                `hang_seconds` (so the client's own timeout fires) and then drops it; the
                transport raises `httpx.ReadTimeout` at once. `"disconnect"`: the server
                closes the connection without answering; the transport raises
                `httpx.RemoteProtocolError`.
            count: How many requests get this fault.
            retry_after: A `Retry-After` header value: seconds (`2`, `0.5`) or an HTTP date.
            body: The JSON document to answer with; `None` gives the service's usual error
                body for that status. `bytes` are sent as they are.
            path: Only requests whose raw path starts with this prefix are faulted
                (`"/api/v2/batch"`, `"/api/v1/customers/"`); `None` matches every path.
            method: Only requests with this HTTP method are faulted; `None` matches all.

        Raises:
            ValueError: `count` is not positive or `status` is not a valid fault.
        """
        if count < 1:
            msg = "count must be >= 1"
            raise ValueError(msg)
        _check_fault(status)
        raw_body: bytes | None
        if body is None or isinstance(body, bytes):
            raw_body = body
        else:
            raw_body = json.dumps(body, separators=(",", ":")).encode()
        fault = _Fault(
            status=status,
            retry_after=_format_retry_after(retry_after),
            body=raw_body,
            path=path,
            method=method.upper() if method else None,
        )
        with self._lock:
            self._faults.extend([fault] * count)

    def fail_randomly(
        self,
        fraction: float,
        status: int | FaultKind = 503,
        *,
        seed: int = 0,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer a random share of the matching requests with a fault, until `clear_faults()`.

        Each matching request draws from a random generator seeded with `seed`: the n-th
        matching request's fate is the same in every run (which request is the n-th depends on
        arrival order when clients send concurrently). Faults queued by `fail_next` come first.
        Calling it again adds another independent chance (e.g. 20 % of 503 and 5 % of 400).

        Args:
            fraction: The share of matching requests to fault, from 0 to 1.
            status: An HTTP status code, `"timeout"` or `"disconnect"` (see `fail_next`).
            seed: Seeds the random generator.
            path: Only requests whose raw path starts with this prefix; `None`: every path.
            method: Only requests with this HTTP method; `None`: every method.

        Raises:
            ValueError: `fraction` is not between 0 and 1, or `status` is not a valid fault.
        """
        if not 0.0 <= fraction <= 1.0:
            msg = "fraction must be between 0 and 1"
            raise ValueError(msg)
        _check_fault(status)
        fault = _Fault(status, None, None, path, method.upper() if method else None)
        with self._lock:
            # A seeded generator picks test faults; nothing here needs to be unpredictable.
            chooser = random.Random(seed)  # noqa: S311
            self._random_faults.append(_RandomFault(fault, fraction, chooser))

    def clear_faults(self) -> None:
        """Forget every fault queued by `fail_next` that has not fired yet, and `fail_randomly`."""
        with self._lock:
            self._faults.clear()
            self._random_faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many queued faults have not fired yet."""
        with self._lock:
            return len(self._faults)

    def reset(self) -> None:
        """Forget all recorded requests and state, queued faults, latency and rate limit.

        The server keeps running (its URL stays the same); credentials are unchanged.
        """
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._random_faults.clear()
            self._latency = 0.0
            self._rate_limit = None
            self._rate_limit_retry_after = None
            self._accepted_at.clear()
            self._reset_state()

    # -- records -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def _snapshot(self, value: _T) -> _T:
        """A deep copy of ``value`` taken under the lock, so no request changes it meanwhile."""
        with self._lock:
            return copy.deepcopy(value)

    # -- dispatch ------------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: httpx.Headers, body: bytes) -> _Reply:
        path, _, query = target.partition("?")
        _, parsed = parse_json(body)
        # The status is filled in once the reply is known; handlers only read the request.
        with self._lock:
            request = RecordedRequest(
                method, path, query, headers, body, parsed, None, received_at=self._clock()
            )
            reply = self._decide(request)
            status = None if reply.fault else reply.status
            self._requests.append(attrs.evolve(request, status=status))
            if self._latency:
                reply = attrs.evolve(reply, delay=reply.delay + self._latency)
            return reply

    def _decide(self, request: RecordedRequest) -> _Reply:
        for index, fault in enumerate(self._faults):
            if fault.matches(request.method, request.path):
                del self._faults[index]
                return self._fault_reply(fault)
        for chance in self._random_faults:
            if (
                chance.fault.matches(request.method, request.path)
                and chance.random.random() < chance.fraction
            ):
                return self._fault_reply(chance.fault)
        limited = self._rate_limited()
        if limited is not None:
            return limited
        return self._handle(request)

    def _fault_reply(self, fault: _Fault) -> _Reply:
        if isinstance(fault.status, str):
            return _Reply(status=0, fault=fault.status)
        reply = self._error_reply(fault.status, f"Injected fault: HTTP {fault.status}")
        if fault.body is not None:
            reply = _Reply(fault.status, fault.body, (("Content-Type", "application/json"),))
        if fault.retry_after is not None:
            reply = attrs.evolve(
                reply, headers=(*reply.headers, ("Retry-After", fault.retry_after))
            )
        return reply

    def _rate_limited(self) -> _Reply | None:
        if self._rate_limit is None:
            return None
        now = self._clock()
        window = self._accepted_at
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) < self._rate_limit:
            window.append(now)
            return None
        retry_after = self._rate_limit_retry_after
        if retry_after is None:
            retry_after = str(max(1, math.ceil(window[0] + 1.0 - now)))
        reply = self._error_reply(429, "Too many requests")
        return attrs.evolve(reply, headers=(*reply.headers, ("Retry-After", retry_after)))

    # -- in-process transport ------------------------------------------------------------

    def transport(self) -> FakeTransport:
        """An httpx transport that answers from this fake, in process, for sync and async clients.

        Returns:
            A `httpx.MockTransport` subclass: `httpx.Client(transport=fake.transport(),
            base_url="https://track.customer.io")` or the same with `httpx.AsyncClient`.
            Any host name works; only method, path, headers and body matter.
        """
        return FakeTransport(self)

    # -- loopback server -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL, like `http://127.0.0.1:54321` (no trailing slash).

        Raises:
            RuntimeError: The server is not running (call `start()` first).
        """
        with self._lock:
            if self._base_url is None:
                msg = f"{type(self).__name__} is not running; call start() first"
                raise RuntimeError(msg)
            return self._base_url

    @property
    def running(self) -> bool:
        """Whether the loopback server is running."""
        with self._lock:
            return self._base_url is not None

    def start(self) -> str:
        """Start the loopback HTTP server on 127.0.0.1 and an ephemeral port.

        Returns:
            The base URL, like `http://127.0.0.1:54321`.

        Raises:
            RuntimeError: The server is already running.
        """
        with self._lock:
            if self._server is not None:
                msg = f"{type(self).__name__} is already running at {self._base_url}"
                raise RuntimeError(msg)
            self._stopping = threading.Event()
            server = _LoopbackServer(self, self._stopping)
            host, port = server.server_address[:2]
            self._server = server
            self._base_url = f"http://{host!s}:{port}"
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name=f"{type(self).__name__}-server",
                daemon=True,
            )
            self._thread.start()
            return self._base_url

    def stop(self) -> None:
        """Stop the server: release held requests, close connections, join every thread.

        Safe to call when the server is not running. Recorded state is kept.
        """
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._base_url = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        server.join_connection_threads(timeout=5.0)
        if thread is not None:
            thread.join()

    def __enter__(self: _Self) -> _Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class FakeTransport(httpx.MockTransport):
    """The in-process form of a fake: an `httpx.MockTransport` for sync and async clients.

    Obtain one from `FakeCustomerIO.transport()` or `FakeHull.transport()`.
    """

    def __init__(self, service: FakeService) -> None:
        """Serve requests from `service`.

        Args:
            service: The fake whose state and faults answer the requests.
        """
        super().__init__(self._answer_sync)
        self.service = service

    def _reply_for(self, request: httpx.Request) -> _Reply:
        target = request.url.raw_path.decode("ascii")
        return self.service._dispatch(request.method, target, request.headers, request.content)

    @staticmethod
    def _read_timeout(request: httpx.Request) -> float | None:
        timeouts = request.extensions.get("timeout", {})
        value = timeouts.get("read")
        return float(value) if value is not None else None

    @staticmethod
    def _finish(request: httpx.Request, reply: _Reply) -> httpx.Response:
        if reply.fault == "timeout":
            msg = "Simulated read timeout (injected with fail_next('timeout'))"
            raise httpx.ReadTimeout(msg, request=request)
        if reply.fault == "disconnect":
            msg = "Server disconnected without sending a response (injected)."
            raise httpx.RemoteProtocolError(msg, request=request)
        return httpx.Response(
            reply.status, headers=list(reply.headers), content=reply.body, request=request
        )

    def _answer_sync(self, request: httpx.Request) -> httpx.Response:
        reply = self._reply_for(request)
        if reply.delay and not reply.fault:
            timeout = self._read_timeout(request)
            if timeout is not None and reply.delay > timeout:
                time.sleep(timeout)
                msg = f"Simulated latency {reply.delay}s exceeds the read timeout {timeout}s"
                raise httpx.ReadTimeout(msg, request=request)
            time.sleep(reply.delay)
        return self._finish(request, reply)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer a request from a sync `httpx.Client`."""
        request.read()
        return self._answer_sync(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer a request from an `httpx.AsyncClient`, sleeping without blocking the loop."""
        await request.aread()
        reply = self._reply_for(request)
        if reply.delay and not reply.fault:
            timeout = self._read_timeout(request)
            if timeout is not None and reply.delay > timeout:
                await asyncio.sleep(timeout)
                msg = f"Simulated latency {reply.delay}s exceeds the read timeout {timeout}s"
                raise httpx.ReadTimeout(msg, request=request)
            await asyncio.sleep(reply.delay)
        return self._finish(request, reply)


def _check_fault(status: int | FaultKind) -> None:
    """Refuse a fault that is neither an HTTP status nor ``"timeout"`` / ``"disconnect"``."""
    if isinstance(status, str) and status not in ("timeout", "disconnect"):
        msg = f"unknown fault {status!r}; use an HTTP status, 'timeout' or 'disconnect'"
        raise ValueError(msg)
    if isinstance(status, int) and not 100 <= status <= 599:
        msg = f"invalid HTTP status {status}"
        raise ValueError(msg)
