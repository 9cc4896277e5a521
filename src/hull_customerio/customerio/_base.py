"""The sans-IO core of the Customer.io Track API client, shared by the sync and async clients.

Everything here is pure: request builders turn method arguments into `ApiRequest`
values (method, path, exact body bytes); parsers turn responses into results or typed errors;
the batch planner splits operations into v2 requests. ``client.py`` and ``async_client.py``
only send what is built here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, Literal
from urllib.parse import quote

import attrs
import httpx

from .. import _transport
from .._ratelimit import (
    AsyncLimiter,
    AsyncRateLimiter,
    RateLimiter,
    SharedRateLimiter,
    SyncLimiter,
    async_limiter,
    sync_limiter,
)
from .._retry import RetryPolicy, parse_retry_after
from .._serialization import describe, one_shot
from ..errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    ValidationError,
    make_status_error,
    safe_service_text,
)
from ..metrics import Metrics, _report, guarded
from ..models.customerio import BatchError, BatchResult

__all__ = [
    "DEFAULT_TIMEOUT",
    "EU_URL",
    "MAX_BATCH_OPERATION_BYTES",
    "MAX_BATCH_REQUEST_BYTES",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "REGION_URLS",
    "US_URL",
    "ApiRequest",
    "BatchPlan",
    "BatchRequest",
    "ResolvedRegion",
    "encode_path_segment",
    "error_messages",
    "identifiers_for",
    "origin_of",
    "redirect_target",
    "to_json_ready",
]

ResolvedRegion = Literal["us", "eu"]

US_URL = "https://track.customer.io"
EU_URL = "https://track-eu.customer.io"
REGION_URLS: Mapping[ResolvedRegion, str] = {"us": US_URL, "eu": EU_URL}

#: Used when no ``timeout`` is given: 5 s to connect, 10 s for each read/write/pool wait.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

#: A v2 batch request body must be *smaller* than 500 kB (Customer.io). We read kB as 1000
#: bytes (the stricter reading) and measure the exact compact-JSON UTF-8 body we send, so a
#: body may be at most ``MAX_BATCH_REQUEST_BYTES - 1`` = 499 999 bytes.
MAX_BATCH_REQUEST_BYTES = 500_000
#: One v2 batch operation may be *at most* 32 kB: at most 32 000 bytes of compact-JSON UTF-8.
MAX_BATCH_OPERATION_BYTES = 32_000

_BATCH_PREFIX = b'{"batch":['
_BATCH_SUFFIX = b"]}"
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USER_AGENT = "hull-customerio"
_redirect_logger = logging.getLogger("hull_customerio.customerio")


# --------------------------------------------------------------------------------- encoding


def encode_path_segment(value: str) -> str:
    """Percent-encode ``value`` as exactly one URL path segment (``/`` included).

    ``a/b+c@x.io`` becomes ``a%2Fb%2Bc%40x.io``: only unreserved characters
    (``A-Z a-z 0-9 - . _ ~``) are left as they are; everything else is UTF-8 percent-encoded.
    """
    return quote(value, safe="")


def _unix_seconds(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return math.floor(moment.timestamp())


def to_json_ready(value: Any) -> Any:
    """Copy ``value`` with every datetime, at any depth, turned into integer unix seconds.

    Customer.io compares dates as unix timestamps. An aware ``datetime`` is converted from its
    own offset; a **naive** ``datetime`` is taken to be **UTC** (never local time, which would
    make the result depend on the machine). A ``date`` becomes midnight UTC of that day.
    Fractions of a second are dropped (rounded down). Mappings become dicts and tuples become
    lists; other values are returned unchanged.
    """
    if isinstance(value, datetime):
        return _unix_seconds(value)
    if isinstance(value, date):
        return _unix_seconds(datetime(value.year, value.month, value.day, tzinfo=timezone.utc))
    if isinstance(value, Mapping):
        return {key: to_json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_ready(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    # What to_json_ready converts and JSON cannot encode by itself; the encoder then encodes
    # the result (and calls this again for what is nested in it).
    if isinstance(value, (date, Mapping)):
        return to_json_ready(value) if isinstance(value, date) else dict(value.items())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Built once (json.dumps builds an encoder per call). JSON encodes dicts, lists and tuples by
# itself; only datetimes, dates and other mappings reach `_json_default`: the text is that of
# `json.dumps(to_json_ready(payload), ...)` without copying every payload first.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
)
_encode = one_shot(_ENCODER)


def dumps(payload: Any) -> bytes:
    """The exact bytes sent for ``payload``: compact JSON, UTF-8, datetimes as unix seconds.

    Raises:
        TypeError: a value JSON cannot represent.
        ValueError: ``NaN`` or an infinity (not valid JSON; Customer.io would reject it).
    """
    return _encode(payload).encode("utf-8")


# --------------------------------------------------------------------------------- requests


@attrs.frozen
class ApiRequest:
    """One Track API request, ready to send.

    Attributes:
        method: the HTTP method.
        path: the path below the host, identifiers already percent-encoded.
        content: the exact JSON body bytes, or ``None`` for no body.
        endpoint: the path with identifiers replaced by placeholders
            (``/api/v1/customers/{id}``), safe to report as a metric tag; default: ``path``.
    """

    method: str
    path: str
    content: bytes | None = attrs.field(default=None, repr=False)  # personal data
    endpoint: str = attrs.field(
        default=attrs.Factory(lambda self: self.path, takes_self=True), kw_only=True
    )


def _customer_path(customer_id: str, suffix: str = "") -> str:
    if not isinstance(customer_id, str) or not customer_id:
        raise ValidationError(f"customer_id must be a non-empty string, got {customer_id!r}")
    return f"/api/v1/customers/{encode_path_segment(customer_id)}{suffix}"


def customer_request(
    method: str, customer_id: str, suffix: str = "", content: bytes | None = None
) -> ApiRequest:
    """A request about one person: ``/api/v1/customers/{id}`` then ``suffix``."""
    return ApiRequest(
        method,
        _customer_path(customer_id, suffix),
        content,
        endpoint=f"/api/v1/customers/{{id}}{suffix}",
    )


def suppress_request(customer_id: str) -> ApiRequest:
    """``POST /api/v1/customers/{id}/suppress`` (no body)."""
    return customer_request("POST", customer_id, "/suppress")


def unsuppress_request(customer_id: str) -> ApiRequest:
    """``POST /api/v1/customers/{id}/unsuppress`` (no body)."""
    return customer_request("POST", customer_id, "/unsuppress")


_PERSON_IDENTIFIER_KEYS = frozenset({"id", "email", "cio_id"})


def _check_merge_side(name: str, side: Mapping[str, Any]) -> None:
    if not isinstance(side, Mapping) or len(side) != 1 or not set(side) <= _PERSON_IDENTIFIER_KEYS:
        raise ValidationError(
            f"{name} must have exactly one of 'id', 'email' or 'cio_id', got keys "
            f"{sorted(side) if isinstance(side, Mapping) else type(side).__name__}"
        )


def merge_request(primary: Mapping[str, Any], secondary: Mapping[str, Any]) -> ApiRequest:
    """``POST /api/v1/merge_customers`` with ``{primary: {...}, secondary: {...}}``."""
    _check_merge_side("primary", primary)
    _check_merge_side("secondary", secondary)
    return ApiRequest(
        "POST", "/api/v1/merge_customers", dumps({"primary": primary, "secondary": secondary})
    )


def region_request() -> ApiRequest:
    """``GET /api/v1/accounts/region``: which region the workspace lives in.

    It is also the documented way to check credentials: 200 when they are valid, 401 if not.
    """
    return ApiRequest("GET", "/api/v1/accounts/region")


# -------------------------------------------------------------------------------- responses


def parse_body(response: httpx.Response) -> Any:
    """The response body as parsed JSON, or as text when it is not JSON (``None`` if empty)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _v2_error_text(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping):
        text = entry.get("message") or entry.get("reason")
        if not isinstance(text, str) or not text:
            return None
        field = entry.get("field")
        return f"{field}: {text}" if isinstance(field, str) and field else text
    return None


def error_messages(body: Any) -> list[str]:
    """Customer.io's own error messages in a response body, in the order found.

    Reads v1 ``{"meta": {"errors": [...]}}`` and ``{"meta": {"error": "..."}}``, and v2
    ``{"errors": [{"reason", "field", "message"}, ...]}``. Anything else gives ``[]``.
    """
    messages: list[str] = []
    if not isinstance(body, Mapping):
        return messages
    meta = body.get("meta")
    if isinstance(meta, Mapping):
        errors = meta.get("errors")
        if isinstance(errors, str):
            messages.append(errors)
        elif isinstance(errors, list):
            messages.extend(str(e) for e in errors if isinstance(e, (str, int, float)))
        error = meta.get("error")
        if isinstance(error, str) and error:
            messages.append(error)
    errors = body.get("errors")
    if isinstance(errors, list):
        messages.extend(t for t in map(_v2_error_text, errors) if t)
    return messages


def status_error(method: str, url: str, response: httpx.Response) -> APIStatusError:
    """The typed error for a non-2xx answer (via the one mapping, ``make_status_error``)."""
    body = parse_body(response)
    return make_status_error(
        service="customerio",
        method=method,
        url=url,
        status_code=response.status_code,
        body=body,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        errors=error_messages(body),
    )


#: The redirects the client follows (to Customer.io's own hosts only, see redirect_target).
REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
#: Redirects followed for one request before giving up (one is what Customer.io sends).
MAX_REDIRECTS = 3
_TRUSTED_DOMAIN = "customer.io"


def _is_customerio_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == _TRUSTED_DOMAIN or host.endswith("." + _TRUSTED_DOMAIN)


def _refused_redirect(method: str, url: str, response: httpx.Response, why: str) -> APIStatusError:
    return make_status_error(
        service="customerio",
        method=method,
        url=url,
        status_code=response.status_code,
        body=parse_body(response),
        errors=[why],
    )


def redirect_target(method: str, url: str, response: httpx.Response, *, hops: int = 0) -> str:
    """Where a redirect answer may be followed to, with the credentials and the same body.

    Customer.io redirects an EU workspace's traffic sent to the US host. Such a redirect is
    followed only when it points to an ``https`` host under ``customer.io`` (the credentials
    go nowhere else); the location may be relative to ``url``.

    Args:
        method: the method of the request answered.
        url: the URL that answered with the redirect.
        response: the 301, 302, 307 or 308 answer.
        hops: redirects already followed for this request.

    Returns:
        The absolute URL to send the same request to.

    Raises:
        APIStatusError: the redirect leads elsewhere, has no location, or one redirect too many
            was met; nothing is sent to its target.
    """
    location = response.headers.get("Location", "").strip()
    if not location:
        raise _refused_redirect(method, url, response, "redirect without a Location refused")
    try:
        target = httpx.URL(url).join(location)
    except (httpx.InvalidURL, ValueError):
        raise _refused_redirect(
            method, url, response, "redirect to an invalid URL refused"
        ) from None
    if target.scheme != "https" or not _is_customerio_host(target.host):
        shown = f"{target.scheme}://{target.host}" if target.host else "an unknown host"
        raise _refused_redirect(
            method,
            url,
            response,
            f"redirect to {shown} refused: only https hosts under customer.io are followed",
        )
    if hops >= MAX_REDIRECTS:
        raise _refused_redirect(
            method, url, response, f"more than {MAX_REDIRECTS} redirects for one request"
        )
    return str(target)


def origin_of(url: str) -> str:
    """The scheme, host and (non-default) port of ``url``: where later requests are sent."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


def transport_error(method: str, url: str, exc: httpx.TransportError) -> APIConnectionError:
    """The typed error for a request that got no response (the caller chains ``exc``)."""
    detail = str(exc).strip()
    kind = type(exc).__name__
    reason = f"{kind}: {detail}" if detail else kind
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"Customer.io did not answer {method} {url} in time ({reason})",
            service="customerio",
            method=method,
            url=url,
        )
    return APIConnectionError(
        f"Could not reach Customer.io for {method} {url} ({reason})",
        service="customerio",
        method=method,
        url=url,
    )


def parse_region(body: Any, *, method: str, url: str) -> ResolvedRegion:
    """Read ``{"region": "us" | "eu", "url": ...}`` from ``GET /api/v1/accounts/region``.

    Raises:
        APIError: the answer names no region this client knows.
    """
    if isinstance(body, Mapping):
        region = body.get("region")
        if isinstance(region, str) and region.strip().lower() in REGION_URLS:
            return "eu" if region.strip().lower() == "eu" else "us"
        host = body.get("url")
        if isinstance(host, str) and host:
            return "eu" if "track-eu." in host else "us"
    raise APIError(
        f"Customer.io answered {method} {url} without a region this client knows",
        service="customerio",
        method=method,
        url=url,
    )


# ------------------------------------------------------------------------------------ batch


def identifiers_for(customer_id: str) -> dict[str, str]:
    """The v2 ``identifiers`` object for a person: exactly one identifier.

    ``cio_``-prefixed values are Customer.io ids (``{"cio_id": <value without the prefix>}``),
    email-shaped values (``something@domain.tld``, no spaces) are ``{"email": ...}``, anything
    else is ``{"id": ...}``.
    """
    if not isinstance(customer_id, str) or not customer_id:
        raise ValidationError(f"customer_id must be a non-empty string, got {customer_id!r}")
    if customer_id.startswith("cio_") and len(customer_id) > len("cio_"):
        return {"cio_id": customer_id[len("cio_") :]}
    if _EMAIL_SHAPE.match(customer_id):
        return {"email": customer_id}
    return {"id": customer_id}


@attrs.frozen
class BatchRequest:
    """One ``POST /api/v2/batch`` request and the caller's indexes of the operations in it.

    Attributes:
        indexes: ``indexes[i]`` is the caller's index of the operation at ``batch_index`` i.
        request: the request to send.
    """

    indexes: tuple[int, ...]
    request: ApiRequest


@attrs.frozen
class BatchPlan:
    """How a list of operations is sent: the requests, and the operations never sent.

    Attributes:
        size: how many operations were given.
        requests: the v2 requests, in the order of the operations they carry.
        rejected: operations that were not sent (too large, not serialisable), by index.
    """

    size: int
    requests: tuple[BatchRequest, ...]
    rejected: Mapping[int, BatchError]


class EncodedOperation(dict[str, Any]):
    """A v2 operation that carries its own `dumps` bytes, so a batch encodes it once.

    The engine measures every operation before batching it; `plan_batch` then takes
    these bytes instead of encoding the operation again. It is an ordinary ``dict`` otherwise;
    it must not be changed after it was built.
    """

    __slots__ = ("encoded",)

    def __init__(self, operation: Mapping[str, Any], encoded: bytes) -> None:
        super().__init__(operation)
        self.encoded = encoded


def _batch_body(encoded: Sequence[bytes]) -> bytes:
    return _BATCH_PREFIX + b",".join(encoded) + _BATCH_SUFFIX


def plan_batch(
    operations: Sequence[Mapping[str, Any]],
    *,
    max_request_bytes: int = MAX_BATCH_REQUEST_BYTES,
    max_operation_bytes: int = MAX_BATCH_OPERATION_BYTES,
) -> BatchPlan:
    """Split ``operations`` into v2 batch requests, keeping their order.

    Each operation is measured as the compact-JSON UTF-8 bytes it takes inside the body. One
    larger than ``max_operation_bytes`` is rejected (not sent) with reason
    ``operation_too_large``; one JSON cannot encode, with ``invalid_operation``. The others are
    packed greedily, in order, into bodies strictly smaller than ``max_request_bytes``.
    """
    rejected: dict[int, BatchError] = {}
    requests: list[BatchRequest] = []
    indexes: list[int] = []
    encoded: list[bytes] = []
    body_size = len(_BATCH_PREFIX) + len(_BATCH_SUFFIX)

    def flush() -> None:
        if indexes:
            requests.append(
                BatchRequest(
                    tuple(indexes), ApiRequest("POST", "/api/v2/batch", _batch_body(encoded))
                )
            )
            indexes.clear()
            encoded.clear()

    for index, operation in enumerate(operations):
        try:
            op_bytes = (
                operation.encoded if type(operation) is EncodedOperation else dumps(operation)
            )
        except (TypeError, ValueError) as exc:
            rejected[index] = BatchError(
                batch_index=index,
                reason="invalid_operation",
                message=f"operation cannot be encoded as JSON: {type(exc).__name__}",
            )
            continue
        if len(op_bytes) > max_operation_bytes:
            rejected[index] = BatchError(
                batch_index=index,
                reason="operation_too_large",
                message=(
                    f"operation is {len(op_bytes)} bytes as JSON; Customer.io accepts at most "
                    f"{max_operation_bytes}"
                ),
            )
            continue
        added = len(op_bytes) + (1 if indexes else 0)  # the separating comma
        if indexes and body_size + added >= max_request_bytes:
            flush()
            body_size = len(_BATCH_PREFIX) + len(_BATCH_SUFFIX)
            added = len(op_bytes)
        indexes.append(index)
        encoded.append(op_bytes)
        body_size += added
    flush()
    return BatchPlan(size=len(operations), requests=tuple(requests), rejected=rejected)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says Customer.io cannot be reached at all (refused, DNS), not just slow.

    A batch stops there: its remaining requests fail with the same error, unsent, instead of
    each waiting through its own retries.
    """
    return isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError)


def batch_result(plan: BatchPlan, outcomes: Sequence[Any]) -> BatchResult:
    """Combine a plan with what each of its requests gave.

    ``outcomes[n]`` is either the [`APIError`][hull_customerio.errors.APIError] that failed request
    ``n`` (every operation in it then fails with reason ``request_failed``) or the parsed body
    of its 2xx answer, whose v2 ``errors`` (``207``) are mapped back to the caller's indexes.
    """
    errors: dict[int, BatchError] = dict(plan.rejected)
    unmatched: list[str] = []
    for number, (sent, outcome) in enumerate(zip(plan.requests, outcomes, strict=True)):
        if isinstance(outcome, APIError):
            for index in sent.indexes:
                errors[index] = BatchError(
                    batch_index=index,
                    reason="request_failed",
                    message=str(outcome),
                    request=number,
                    exception=outcome,
                )
            continue
        reported = outcome.get("errors") if isinstance(outcome, Mapping) else None
        if not isinstance(reported, list):
            continue
        for entry in reported:
            if not isinstance(entry, Mapping):
                unmatched.append(safe_service_text(str(entry)))
                continue
            position: Any = entry.get("batch_index")
            reason = safe_service_text(_optional_str(entry.get("reason")) or "rejected")
            # Customer.io's messages may quote the operation: shortened, emails masked.
            message = safe_service_text(_optional_str(entry.get("message")) or reason)
            valid = (
                isinstance(position, int)
                and not isinstance(position, bool)
                and 0 <= position < len(sent.indexes)
            )
            if not valid:
                unmatched.append(message)
                continue
            index = sent.indexes[int(position)]
            errors[index] = BatchError(
                batch_index=index,
                reason=reason,
                field=_optional_str(entry.get("field")),
                message=message,
                request=number,
            )
    return BatchResult(
        size=plan.size, errors=errors, requests=len(outcomes), unmatched_errors=tuple(unmatched)
    )


# ------------------------------------------------------------------------- shared client part


class BaseCustomerIOClient:
    """Configuration shared by [`CustomerIOClient`][hull_customerio.customerio.CustomerIOClient] and
    [`AsyncCustomerIOClient`][hull_customerio.customerio.AsyncCustomerIOClient].

    Holds no connection; the subclasses own the HTTP client and do the sending.
    """

    def __init__(
        self,
        site_id: str,
        api_key: str,
        *,
        region: str,
        base_url: str | None,
        timeout: httpx.Timeout | float | None,
        retry: RetryPolicy,
        metrics: Metrics | None = None,
    ) -> None:
        problems = []
        for name, value, what in (("site_id", site_id, "Site ID"),
                                  ("api_key", api_key, "Track API key")):  # fmt: skip
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(f"{name} is required (the workspace's {what})")
            elif not isinstance(value, str):
                problems.append(
                    f"{name} must be a string (the workspace's {what}), got {describe(value)}"
                )
        if region not in ("us", "eu", "auto"):
            problems.append(f"region must be one of 'us', 'eu', 'auto', got {region!r}")
        if not isinstance(retry, RetryPolicy):
            problems.append("retry must be a RetryPolicy")
        if problems:
            raise ConfigurationError(problems)
        self.site_id = site_id
        self.region = region
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.retry = retry
        self._auth = httpx.BasicAuth(site_id, api_key)
        self._resolved: ResolvedRegion | None = (
            None if region == "auto" else ("eu" if region == "eu" else "us")
        )
        # Where Customer.io redirected us to (an EU workspace on the US host): used from then on.
        self._redirected_origin: str | None = None
        self._redirect_lock = threading.Lock()
        self.metrics = guarded(metrics)

    def _report(self, request: ApiRequest, status: int | None, started: float) -> None:
        """Count one request sent (each retry and redirect hop is one) and its duration."""
        _report.report_request(
            self.metrics,
            service="customerio",
            method=request.method,
            endpoint=request.endpoint,
            status=status,
            started=started,
        )

    def _origin(self) -> str | None:
        """The scheme+host requests go to, or ``None`` while an ``auto`` region is unknown."""
        if self._redirected_origin is not None:
            return self._redirected_origin
        if self.base_url is not None:
            return self.base_url
        if self._resolved is None:
            return None
        return REGION_URLS[self._resolved]

    def _region_lookup_origin(self) -> str:
        # Either regional host answers the region question; base_url stands in for both.
        return self.base_url or US_URL

    def _learn_region(self, body: Any) -> None:
        """Keep the region a region answer names, when ``auto`` has not settled it yet."""
        if self._resolved is not None:
            return
        # An answer without a region leaves ``auto`` to ask again when it is needed.
        with contextlib.suppress(APIError):
            self._resolved = parse_region(body, method="GET", url="")

    def _remember_redirect(self, target: str) -> None:
        """Send every later request straight to the host Customer.io redirected to.

        Logs one warning the first time: the redirect costs a round trip per request until the
        client is configured for the right region.
        """
        origin = origin_of(target)
        with self._redirect_lock:  # never held across I/O: only this assignment
            first = self._redirected_origin is None
            changed = self._redirected_origin != origin
            self._redirected_origin = origin
        if changed:
            log = _redirect_logger.warning if first else _redirect_logger.info
            log(
                "customerio.redirected reason=region_redirect cause='Customer.io redirected "
                "requests to %s; sending there from now on. If the workspace is in the EU "
                'region, configure region="eu" to avoid the redirect.\'',
                origin,
                extra={"redirected_to": origin, "reason": "region_redirect"},
            )

    @staticmethod
    def _headers(request: ApiRequest) -> dict[str, str]:
        return dict(_JSON_BODY_HEADERS if request.content is not None else _NO_BODY_HEADERS)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(site_id={self.site_id!r}, region={self.region!r}, "
            f"base_url={self.base_url!r})"
        )


_NO_BODY_HEADERS: Mapping[str, str] = {"Accept": "application/json", "User-Agent": _USER_AGENT}
_JSON_BODY_HEADERS: Mapping[str, str] = {**_NO_BODY_HEADERS, "Content-Type": "application/json"}


class DirectRequests:
    """Builds the ``httpx.Request`` a client sends straight to its own transport.

    The headers are those ``httpx.Client.request`` sends for the same call (the client's
    defaults, ours, the Basic credentials), worked out once per client instead of per request;
    the timeout travels with each request, as the client would set it.

    Args:
        defaults: the HTTP client's default headers.
        site_id: the Basic auth user.
        api_key: the Basic auth password.
        timeout: the client's timeout.
    """

    __slots__ = ("_authorization", "_extensions", "_with_body", "_without_body")

    def __init__(
        self,
        defaults: httpx.Headers,
        site_id: str,
        api_key: str,
        timeout: httpx.Timeout | float | None,
    ) -> None:
        self._authorization = _transport.basic_authorization(site_id, api_key)
        self._with_body = _transport.request_headers(defaults, _JSON_BODY_HEADERS)
        self._without_body = _transport.request_headers(defaults, _NO_BODY_HEADERS)
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}

    def __repr__(self) -> str:  # the credentials stay out of sight
        return "DirectRequests(...)"

    def build(self, request: ApiRequest, url: str) -> httpx.Request:
        """The request to send ``request`` to ``url``."""
        outgoing = httpx.Request(
            request.method,
            url,
            headers=self._with_body if request.content is not None else self._without_body,
            content=request.content,
            extensions=self._extensions,
        )
        # Last, as httpx's auth flow adds it: the headers go out in the same order as before.
        outgoing.headers["Authorization"] = self._authorization
        return outgoing


def make_sync_limiter(
    rate_limit: float | RateLimiter | SharedRateLimiter | None, sleep: Callable[[float], None]
) -> SyncLimiter:
    """The sync client's limiter: the given one, or one at ``rate_limit`` req/s."""
    return sync_limiter(rate_limit, sleep)


def make_async_limiter(
    rate_limit: float | AsyncRateLimiter | SharedRateLimiter | None,
    sleep: Callable[[float], Awaitable[None]] | None,
) -> AsyncLimiter:
    """The async client's limiter: the given one, or one at ``rate_limit`` req/s."""
    return async_limiter(rate_limit, sleep)
