"""What the sync and async Customer.io clients share: their configuration, what an answer
means for the request that got it, and the requests they send straight to their transport."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from .._http import transport as _transport
from .._http.retry import RetryPolicy
from .._serialization import describe
from ..errors import APIConnectionError, APIError, ConfigurationError
from ..metrics import Metrics, guarded
from ..metrics import _api as metrics_api
from ._base import (
    _USER_AGENT,
    REDIRECT_STATUSES,
    REGION_URLS,
    US_URL,
    ApiRequest,
    ResolvedRegion,
    origin_of,
    parse_region,
    redirect_target,
    status_error,
    transport_error,
)

__all__ = ["BaseCustomerIOClient", "DirectRequests"]

logger = logging.getLogger("hull_customerio.customerio")


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
        more_problems: Iterable[str] = (),
    ) -> None:
        problems: list[str] = []
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
        # What a subclass found wrong in its own arguments: one error names every problem.
        problems.extend(more_problems)
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
        metrics_api.report_request(
            self.metrics, "customerio", request, status=status, started=started
        )

    def _unanswered(
        self, request: ApiRequest, url: str, exc: httpx.TransportError, started: float, attempt: int
    ) -> APIConnectionError:
        """Count a request that got no answer; the typed error to raise (from ``exc``)."""
        self._report(request, None, started)
        error = transport_error(request.method, url, exc)
        logger.debug("Customer.io attempt %d failed: %s", attempt, error)
        return error

    def _next_hop(
        self, request: ApiRequest, url: str, response: httpx.Response, *, hops: int, attempt: int
    ) -> str | None:
        """Where ``request`` goes next after ``response`` from ``url``: ``None`` for a success
        (it is done), the redirect's target when it may be followed (after ``hops`` others).

        Raises:
            APIStatusError: any other answer, or a redirect that may not be followed.
        """
        if response.status_code in REDIRECT_STATUSES:
            target = redirect_target(request.method, url, response, hops=hops)
            self._remember_redirect(target)
            return target
        if not response.is_success:
            error = status_error(request.method, url, response)
            logger.debug("Customer.io attempt %d failed: %s", attempt, error)
            raise error
        return None

    def _via_http(
        self, http: httpx.Client | httpx.AsyncClient, request: ApiRequest, url: str
    ) -> httpx.Request:
        """The request sent through an ``httpx`` client (the user's, or ours behind a proxy),
        built as its ``request`` method builds one, with our headers and timeout."""
        return http.build_request(
            request.method,
            url,
            content=request.content,
            headers=self._headers(request),
            timeout=self.timeout,
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
            log = logger.warning if first else logger.info
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
