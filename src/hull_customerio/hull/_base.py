"""The sans-IO core of the Hull client, shared by [`HullClient`][hull_customerio.HullClient] and
[`AsyncHullClient`][hull_customerio.AsyncHullClient].

Everything here is pure. `HullCore` holds a client's configuration and builds its requests;
the parts it builds from live beside it, one concern each:

- `_requests`: Hull's hosts and URLs, the `RequestSpec` a client sends, and the mapping of a
  response (or a transport failure) to a value or an error;
- `_firehose`: firehose messages and batch bodies, and the queue that cuts messages into
  batches of ``flush_at`` and remembers the ones that could not be delivered.

This module hands on the names of both, so the clients import from one place. The two client
classes only send what is built here, so sync and async cannot drift apart.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Protocol

import httpx

from hull_customerio._http.retry import HULL_RETRY_STATUSES, RetryPolicy
from hull_customerio.errors import (
    APIError,
    APIStatusError,
    ConfigurationError,
)

from ..metrics import Metrics, guarded
from ..metrics import _api as metrics_api
from ._firehose import (
    DEFAULT_FLUSH_AT,
    DEFAULT_MAX_IN_FLIGHT,
    Batch,
    DeliveryTicket,
    Entry,
    FirehoseQueue,
    HullFailureKind,
    QueuedMessage,
    batch_content,
    build_track_message,
    build_traits_message,
    hull_failure_kind,
    requeued_message,
)
from ._requests import (
    FIREHOSE_ENDPOINT,
    JSONValue,
    RequestSpec,
    encode_json,
    error_from_response,
    firehose_url_for,
    isoformat,
    normalize_organization,
    parse_response,
    rest_endpoint,
    transport_error,
    unexpected_error,
)
from .tokens import UserTokenSigner

__all__ = [
    "DEFAULT_FLUSH_AT",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "FIREHOSE_ENDPOINT",
    "Batch",
    "DeliveryTicket",
    "Entry",
    "FirehoseQueue",
    "HullCore",
    "HullFailureKind",
    "JSONValue",
    "QueuedMessage",
    "RequestSpec",
    "batch_content",
    "build_track_message",
    "build_traits_message",
    "encode_json",
    "error_from_response",
    "firehose_url_for",
    "hull_failure_kind",
    "isoformat",
    "normalize_organization",
    "parse_response",
    "post_failure",
    "requeued_message",
    "rest_endpoint",
    "transport_error",
    "unexpected_error",
]


#: Default ``timeout``: a firehose batch of 50 messages is small; a minute of silence is an outage.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Default ``retry``: connection errors, timeouts, 408, 429 and every 5xx are retried.
DEFAULT_RETRY = RetryPolicy(retry_statuses=HULL_RETRY_STATUSES)


# --------------------------------------------------------------------------------------------
# What both clients share


class _Condition(Protocol):
    """What the shared bookkeeping needs of a client's condition (``threading`` or ``asyncio``)."""

    def notify_all(self) -> None: ...


class HullCore:
    """Configuration, request builders and firehose decisions common to the sync and async Hull
    clients.

    Each client keeps only how it waits, locks and runs posters: a lock and a condition
    (``_changed``) of its kind, held around the ``_``-methods below that say "the lock is held".
    """

    #: Notified whenever a message is settled or put back, so waiters re-check; set by a client.
    _changed: _Condition

    def __init__(
        self,
        id: str,
        secret: str,
        organization: str,
        *,
        api_url: str | None,
        firehose_url: str | None,
        flush_at: int,
        timeout: httpx.Timeout | float | None,
        retry: RetryPolicy,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        metrics: Metrics | None = None,
    ) -> None:
        problems: list[str] = []
        if not isinstance(id, str) or not id.strip():
            problems.append("id (the connector id) is missing")
        if not isinstance(secret, str) or not secret:
            problems.append("secret (the connector secret) is missing")
        host = normalize_organization(organization) if isinstance(organization, str) else ""
        if not host:
            problems.append("organization (e.g. abc123.hullapp.io) is missing")
        if not isinstance(flush_at, int) or isinstance(flush_at, bool) or flush_at < 1:
            problems.append("flush_at must be a positive integer")
        if (
            not isinstance(max_in_flight, int)
            or isinstance(max_in_flight, bool)
            or max_in_flight < 1
        ):
            problems.append("max_in_flight must be a positive integer")
        if problems:
            raise ConfigurationError(problems)
        self._id = id
        self._secret = secret
        self._organization = host
        self._api_url = (api_url or f"https://{host}").rstrip("/")
        self._firehose_url = (firehose_url or firehose_url_for(host)).rstrip("/")
        self._timeout = timeout
        self._retry = retry
        self.metrics = guarded(metrics)
        self._queue = FirehoseQueue(flush_at, max_in_flight)
        self._max_in_flight = max_in_flight
        #: The ticket of messages written without one; flush() and close() report on it.
        self._shared = DeliveryTicket(keep_delivered=False)
        self._credentials_error: APIStatusError | None = None
        self._closed = False
        self._waiting = 0  # callers in wait() or close(), under the lock
        self._signer = UserTokenSigner(id, secret)

    @property
    def id(self) -> str:
        """The connector id (``Hull-App-Id``, the tokens' ``iss``)."""
        return self._id

    @property
    def organization(self) -> str:
        """The organization host, e.g. ``abc123.hullapp.io``."""
        return self._organization

    def is_own_secret(self, secret: str) -> bool:
        """Whether ``secret`` is this connector's secret, compared in constant time.

        A notification proves it is for this connector by carrying its secret; the
        comparison takes the same time wherever two secrets differ.
        """
        if not isinstance(secret, str):
            return False
        return hmac.compare_digest(
            secret.encode("utf-8", "surrogatepass"), self._secret.encode("utf-8", "surrogatepass")
        )

    @property
    def api_url(self) -> str:
        """The REST base URL (``/api/v1/...`` is appended)."""
        return self._api_url

    @property
    def firehose_url(self) -> str:
        """The URL firehose batches are posted to."""
        return self._firehose_url

    @property
    def flush_at(self) -> int:
        """How many queued messages trigger a firehose post."""
        return self._queue.flush_at

    @property
    def max_in_flight(self) -> int:
        """How many firehose requests may be under way at the same time."""
        return self._max_in_flight

    @property
    def pending(self) -> int:
        """How many messages are queued and not yet posted."""
        return len(self._queue)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self._id!r}, organization={self._organization!r}, "
            f"api_url={self._api_url!r}, firehose_url={self._firehose_url!r}, "
            f"flush_at={self.flush_at!r}, max_in_flight={self._max_in_flight!r})"
        )

    def user_token(
        self, claims: Mapping[str, object], *, create: bool = True, active: bool = False
    ) -> str:
        """The JWT that authenticates firehose messages as one user: the token
        [`HullClient.as_user`][hull_customerio.HullClient.as_user] signs for the same
        ``claims``, ``create`` and ``active``, with the same ``ValidationError`` when no
        usable claim is left."""
        return self._signer.sign(claims, create=create, active=active)[0]

    def _signed_scope(
        self, claims: Mapping[str, object], *, create: bool, active: bool
    ) -> tuple[str, tuple[str, ...]]:
        """The user token of ``claims`` and the names of the claims it carries."""
        return self._signer.sign(claims, create=create, active=active)

    def account_token(self, claims: Mapping[str, object]) -> str:
        """The JWT that authenticates firehose messages as one account: the token
        [`HullClient.as_account`][hull_customerio.HullClient.as_account] signs for the same
        ``claims``, with the same ``ValidationError`` when no usable claim is left."""
        return self._signer.sign_account(claims)[0]

    def _signed_account_scope(self, claims: Mapping[str, object]) -> tuple[str, tuple[str, ...]]:
        """The account token of ``claims`` and the names of the claims it carries."""
        return self._signer.sign_account(claims)

    def _headers(self, *, json_body: bool) -> dict[str, str]:
        headers = {
            "Hull-App-Id": self._id,
            "Hull-Access-Token": self._secret,
            "Hull-Organization": self._organization,
        }
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _rest_request(
        self,
        method: str,
        path: str,
        json: object,
        params: Mapping[str, str | int | float | bool] | None,
    ) -> RequestSpec:
        """The REST request of `api` (whose signature holds the defaults)."""
        url = f"{self._api_url}/api/v1/{path.lstrip('/')}"
        if params:
            url = str(httpx.URL(url, params=dict(params)))
        content = None if json is None else encode_json(json)
        headers = self._headers(json_body=content is not None)
        return RequestSpec(
            method.upper(), url, headers, content, endpoint=rest_endpoint(path, self._id)
        )

    def _status_request(self, status: str, messages: Sequence[str]) -> RequestSpec:
        body = {"status": status, "messages": list(messages)}
        return self._rest_request("PUT", f"{self._id}/status", body, None)

    def _firehose_request(self, batch: Sequence[QueuedMessage]) -> RequestSpec:
        return RequestSpec(
            "POST",
            self._firehose_url,
            self._headers(json_body=True),
            batch_content(batch),
            endpoint=FIREHOSE_ENDPOINT,
        )

    def _batch_request(self, batch: Batch) -> RequestSpec:
        """The firehose request carrying ``batch``."""
        return self._firehose_request([entry.message for entry in batch])

    def _report(self, spec: RequestSpec, status: int | None, started: float) -> None:
        """Count one request sent (each retry is one) and its duration."""
        metrics_api.report_request(self.metrics, "hull", spec, status=status, started=started)

    def _answered(self, spec: RequestSpec, response: httpx.Response, started: float) -> JSONValue:
        """Count the request Hull answered, and read the answer (an error raises)."""
        self._report(spec, response.status_code, started)
        return parse_response(response, spec)

    def _unanswered(self, spec: RequestSpec, exc: httpx.HTTPError, started: float) -> APIError:
        """Count the request that got no answer, and give the error to raise for it."""
        self._report(spec, None, started)
        return transport_error(exc, spec)

    def delivery(self) -> DeliveryTicket:
        """A new delivery ticket: the messages of one call, and what became of each.

        Pass it to ``as_user(..., delivery=ticket)``; ``wait(ticket)`` (or ``flush(ticket)``)
        then returns once each of *those* messages was delivered or definitively failed,
        whoever's request carried them. Messages written without a ticket belong to the
        client's own shared ticket, the one ``flush()`` and ``close()`` report on.
        """
        return DeliveryTicket()

    @property
    def credentials_error(self) -> APIStatusError | None:
        """The last 401/403 the firehose answered, until a later batch is accepted; else ``None``.

        Hull refuses the connector's id, secret or organization: a configuration problem the
        connector's status reports.
        """
        return self._credentials_error

    def _settle(self, batch: Batch, error: APIError | None) -> list[Batch]:
        """Record Hull's answer for ``batch`` (the lock is held); returns batches to post next."""
        if error is None:
            self._credentials_error = None
        elif isinstance(error, APIStatusError) and hull_failure_kind(error) == "credentials":
            self._credentials_error = error
        return self._queue.settle(batch, error)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")

    def _queue_message(
        self, message: QueuedMessage, ticket: DeliveryTicket | None
    ) -> Sequence[Batch]:
        """Queue ``message`` for ``ticket`` (the lock is held); returns the batch to post now,
        if the queue just reached ``flush_at`` with a slot free."""
        self._check_open()
        batch = self._queue.add(message, self._shared if ticket is None else ticket)
        return () if batch is None else (batch,)

    def _wait_over(self, ticket: DeliveryTicket) -> bool:
        """Whether a wait for ``ticket`` is over (the lock is held): each of its messages is
        settled. Raises ``RuntimeError`` when the client closed before that."""
        if ticket.done:
            return True
        self._check_open()
        return False

    def _open_ticket(self, delivery: DeliveryTicket | None) -> DeliveryTicket:
        """The ticket a flush is about (the shared one by default), on a client still open (the
        lock is held)."""
        self._check_open()
        return self._shared if delivery is None else delivery

    def _raise_failures(self, ticket: DeliveryTicket) -> None:
        """Raise the ticket's failures since it was last reported on (the lock is held)."""
        error = ticket.delivery_error(self._firehose_url, clear=True)
        if error is not None:
            raise error from error.__cause__

    def _posted(self, slot: list[Batch], error: APIError | None) -> None:
        """Apply Hull's answer to the slot's first batch (the lock is held), then line up what
        the slot posts next: the halves of a refused batch, else the next full batch queued
        meanwhile, or a partial one while someone waits (waiters post the rest)."""
        slot[:1] = self._settle(slot[0], error)
        if not slot:
            following = self._queue.next_batch(partial=self._waiting > 0)
            if following is not None:
                slot.append(following)
        self._changed.notify_all()


def post_failure(exc: Exception, spec: RequestSpec) -> APIError:
    """What fails the messages of a post that raised ``exc``: the API error itself, or for
    anything else (a transport bug) an error saying so, so callers are not left waiting."""
    return exc if isinstance(exc, APIError) else unexpected_error(exc, spec)
