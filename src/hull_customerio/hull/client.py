"""The synchronous Hull client: it only sends what `hull._base` builds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import httpx

from hull_customerio._http.retry import RetryPolicy, call_with_retries
from hull_customerio.errors import APIError

from ..metrics import Metrics
from ..metrics import _api as metrics_api
from ._base import (
    DEFAULT_FLUSH_AT,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    Batch,
    DeliveryTicket,
    HullCore,
    JSONValue,
    QueuedMessage,
    RequestSpec,
    post_failure,
    requeued_message,
)
from ._scopes import HullAccountScope, HullUserScope

__all__ = ["HullClient", "HullUserScope"]


class HullClient(HullCore):
    """Writes to a Hull organization as a connector: firehose messages and REST calls.

    Use it as a context manager: on exit it flushes the queue, then closes.

    Thread-safe, and meant to be shared: messages of many threads are grouped into the same
    firehose batches, posted by a small pool of worker threads (at most ``max_in_flight``
    requests at a time). No lock is held while a request or a retry wait is under way. Each
    call that needs to know its own messages arrived takes a `delivery` ticket and
    waits for it (`wait`): a batch's answer reaches every ticket whose messages it carried.

    Args:
        id: the connector id (24 hex characters).
        secret: the connector secret; it signs user tokens and authenticates REST calls. It
            never appears in ``repr``, error texts or logs.
        organization: the organization host, e.g. ``abc123.hullapp.io``.
        api_url: overrides ``https://<organization>`` for REST calls.
        firehose_url: overrides ``https://firehose.<organization minus its first label>``.
        flush_at: queued messages that trigger a firehose post.
        timeout: applied to every request, also through an injected ``http_client``.
        retry: how failed requests are retried (connection errors, timeouts, 429 and 5xx by
            default).
        http_client: an ``httpx.Client`` to send with; the caller keeps ownership (it is not
            closed by `close`).
        sleep: how to wait between retries (tests inject a function that does not wait).
        max_in_flight: how many firehose requests may be under way at the same time.
        metrics: where each request sent (retries included) is counted as
            ``ship.service_api.call`` and timed (see `hull_customerio.metrics`); default:
            nowhere.

    Raises:
        ConfigurationError: a credential is missing, ``flush_at`` or ``max_in_flight`` is not
            positive, or no firehose URL can be derived from ``organization``.
    """

    def __init__(
        self,
        id: str,
        secret: str,
        organization: str,
        *,
        api_url: str | None = None,
        firehose_url: str | None = None,
        flush_at: int = DEFAULT_FLUSH_AT,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(
            id,
            secret,
            organization,
            api_url=api_url,
            firehose_url=firehose_url,
            flush_at=flush_at,
            timeout=timeout,
            retry=retry,
            max_in_flight=max_in_flight,
            metrics=metrics,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep
        # Guards the queue and the tickets; held for bookkeeping only, never across a request.
        self._lock = threading.Lock()
        # Notified whenever a message is settled or put back, so waiters re-check.
        self._changed: threading.Condition = threading.Condition(self._lock)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> HullClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # An interrupt (KeyboardInterrupt, SystemExit) asks us to stop, not to keep posting.
        if exc_type is None or issubclass(exc_type, Exception):
            self.close()
        else:
            self._shut()

    def as_user(
        self,
        claims: Mapping[str, object],
        *,
        create: bool = True,
        active: bool = False,
        delivery: DeliveryTicket | None = None,
    ) -> HullUserScope:
        """A writer acting as one user; its token is signed once, here.

        Args:
            claims: the user's identity; only ``id``, ``email``, ``external_id`` and
                ``anonymous_id`` are used, blank values are dropped.
            create: whether Hull creates the user when no one matches.
            active: whether Hull treats the user as active.
            delivery: the ticket (from `delivery`) the scope's messages belong to;
                ``None``: the client's shared ticket, reported by `flush`.

        Raises:
            ValidationError: no usable claim is left.
        """
        token, names = self._signed_scope(claims, create=create, active=active)
        return HullUserScope(self, token, names, delivery)

    def as_account(
        self, claims: Mapping[str, object], *, delivery: DeliveryTicket | None = None
    ) -> HullAccountScope:
        """A writer acting as one account (``io.hull.asAccount``); its token is signed here.

        Args:
            claims: the account's identity; only ``id``, ``external_id`` and ``domain`` are
                used, blank values are dropped.
            delivery: the ticket its messages belong to; ``None``: the client's shared one.

        Raises:
            ValidationError: no usable claim is left.
        """
        token, names = self._signed_account_scope(claims)
        return HullAccountScope(self, token, names, delivery)

    def api(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str | int | float | bool] | None = None,
        retry: bool = True,
    ) -> JSONValue:
        """Call Hull's REST API: ``<api_url>/api/v1/<path>`` with the connector's headers.

        Args:
            method: the HTTP method.
            path: the path after ``/api/v1/``, e.g. ``"<id>/status"``.
            json: a JSON body, if any.
            params: query parameters.
            retry: whether to retry connection errors, 429 and 5xx under the client's policy;
                turn it off for a call that must not run twice.

        Returns:
            The parsed JSON answer (its text when it is not JSON, ``None`` when empty).

        Raises:
            APIStatusError: a non-2xx answer (the subclass matches the status).
            APIConnectionError: no response (``APITimeoutError`` when in time).
        """
        spec = self._rest_request(method, path, json, params)
        return self._call(spec, retry=retry)

    def put_status(self, status: str, messages: Sequence[str]) -> None:
        """Report the connector's health to Hull: ``PUT /api/v1/<id>/status``.

        Args:
            status: ``"ok"``, ``"warning"``, ``"error"``...
            messages: sentences explaining the status.

        Raises:
            APIError: the call failed after retries.
        """
        self._call(self._status_request(status, messages), retry=True)

    def requeue(
        self, messages: Iterable[Mapping[str, Any]], *, delivery: DeliveryTicket | None = None
    ) -> None:
        """Queue undelivered messages again, unchanged (same ``requestId`` and ``event_id``).

        Args:
            messages: messages from `DeliveryError.undelivered`.
            delivery: the ticket they belong to (default: the client's shared ticket).

        Raises:
            ValidationError: one of them is not a firehose message (then none is queued).
        """
        for message in [requeued_message(m) for m in messages]:  # each is checked first
            self._enqueue(message, delivery)

    def wait(self, delivery: DeliveryTicket | None = None, *, timeout: float | None = None) -> bool:
        """Post what is queued, then wait until each message of ``delivery`` is settled.

        The queued messages of every caller go out together; the wait ends when Hull answered
        for this ticket's own messages (accepted, or failed after retries), whichever thread's
        request carried them. Nothing is raised for failed messages: read them on the ticket.

        Args:
            delivery: the ticket to wait for (default: the client's shared ticket).
            timeout: the most seconds to wait; ``None`` waits until every message is settled
                (the retry policy bounds how long that takes).

        Returns:
            ``True`` when every message of the ticket is settled, ``False`` when the timeout
            ran out first (the messages stay in flight and may still be delivered).

        Raises:
            RuntimeError: the client was closed without delivering them.
        """
        ticket = self._shared if delivery is None else delivery
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._wait_over(ticket):
                self._submit(self._queue.start())
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._wait_for_change(remaining)
            return True

    def post_pending(self) -> None:
        """Start posting every queued message now, a partial batch too, without waiting for
        Hull's answers (`wait` and `flush` tell how they went).

        For a caller that has queued all it will queue for a while and has other work to do
        meanwhile: the messages are on their way instead of waiting for ``flush_at`` more.
        """
        with self._lock:
            self._check_open()
            self._submit(self._queue.start())

    def flush(self, delivery: DeliveryTicket | None = None) -> None:
        """Post every queued message; return only when the ticket's messages were all accepted.

        Args:
            delivery: the ticket whose messages to report on (default: the client's shared
                ticket, which holds every message written without a ticket).

        Raises:
            DeliveryError: some of the ticket's messages queued since its last flush
                (including those of automatic posts made when the queue reached ``flush_at``)
                were not delivered; ``.undelivered`` lists them all, ``__cause__`` is the last
                API error. Messages of other tickets are never in it.
        """
        with self._lock:
            ticket = self._open_ticket(delivery)
        self.wait(ticket)
        with self._lock:
            self._raise_failures(ticket)

    def close(self) -> None:
        """Deliver everything queued or in flight, then release the HTTP client if this client
        created it. Safe to call twice.

        Raises:
            DeliveryError: as `flush`, for the messages written without a ticket; the
                client is closed all the same.
        """
        with self._changed:
            if self._closed:
                return
            try:
                while not self._queue.idle:
                    self._submit(self._queue.start())
                    self._wait_for_change(None)
            finally:
                self._closed = True
            error = self._shared.delivery_error(self._firehose_url, clear=True)
        self._stop_pool(wait=True)
        self._release()
        if error is not None:
            raise error from error.__cause__

    def _wait_for_change(self, timeout: float | None) -> None:
        """Wait (the lock is held) until a message is settled or put back, or ``timeout``."""
        self._waiting += 1  # see _post: posters go on with partial batches
        try:
            self._changed.wait(timeout)
        finally:
            self._waiting -= 1

    def _shut(self) -> None:
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        self._stop_pool(wait=False)
        self._release()

    def _stop_pool(self, *, wait: bool) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)

    def _release(self) -> None:
        if self._owns_http:
            self._http.close()

    def _enqueue(self, message: QueuedMessage, ticket: DeliveryTicket | None) -> str:
        with self._lock:
            self._submit(self._queue_message(message, ticket))
        return message.request_id

    def _submit(self, batches: Sequence[Batch]) -> None:
        """Hand batches to the posting threads (the lock is held; nothing waits here)."""
        if not batches:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self._max_in_flight, thread_name_prefix="hull-firehose"
            )
        for batch in batches:
            self._pool.submit(self._post, batch)

    def _post(self, batch: Batch) -> None:
        """Post ``batch`` on a pool thread, then whatever `_posted` lines up in its slot."""
        slot = [batch]
        while slot:
            error = self._attempt(self._batch_request(slot[0]), slot)
            with self._changed:
                self._posted(slot, error)

    def _attempt(self, spec: RequestSpec, slot: list[Batch]) -> APIError | None:
        """Send the slot's first batch: ``None`` when Hull accepted it, else what fails it.

        An interrupt (KeyboardInterrupt, SystemExit) puts the slot's batches back in the queue.
        """
        try:
            self._call(spec, retry=True)
        except Exception as exc:  # a transport bug must fail the messages, not hang callers
            return post_failure(exc, spec)
        except BaseException:
            with self._changed:
                self._queue.put_back(slot)
                self._changed.notify_all()
            raise
        return None

    def _call(self, spec: RequestSpec, *, retry: bool) -> JSONValue:
        if not retry:
            return self._send(spec)
        return call_with_retries(lambda: self._send(spec), self._retry, sleep=self._sleep)

    def _send(self, spec: RequestSpec) -> JSONValue:
        started = metrics_api.clock()
        try:
            response = self._http.request(
                spec.method,
                spec.url,
                headers=spec.headers,
                content=spec.content,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise self._unanswered(spec, exc, started) from exc
        return self._answered(spec, response, started)
