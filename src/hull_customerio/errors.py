"""Every exception the library raises.

All of them derive from one base, so ``except HullCustomerIOError`` catches anything of ours::

    HullCustomerIOError
    ├── ConfigurationError          settings that cannot work (every problem listed)
    ├── ValidationError             a malformed notification or message
    ├── WebhookVerificationError    a webhook whose signature or timestamp does not check out
    ├── WebhookPayloadError         a webhook body that can never become a Hull event (.reason)
    ├── NotificationAuthenticationError  a Hull notification this connector must refuse (.reason)
    └── APIError                    a call to Customer.io or Hull failed (.service, .method, .url)
        ├── APIConnectionError      no response: DNS, refused, reset...
        │   ├── APITimeoutError     no response in time
        │   └── RateLimiterUnavailableError  the shared rate limiter (Redis) was unreachable
        ├── APIStatusError          a non-2xx answer (.status_code, .body, .retry_after)
        │   ├── BadRequestError         400
        │   ├── AuthenticationError     401
        │   ├── PermissionDeniedError   403
        │   ├── NotFoundError           404
        │   ├── RateLimitError          429
        │   └── ServerError             5xx
        └── DeliveryError           Hull firehose messages still undelivered after retries
                                    (.undelivered)

HTTP status codes are mapped to classes in exactly one place,
[`make_status_error`][hull_customerio.errors.make_status_error].

Exception texts carry the method, the URL, the status and the service's own error messages. They
never carry credentials or request bodies (which hold personal data). The service's messages may
quote the input, so the text shows them shortened, with every email address masked
(``j***@example.com``); ``APIStatusError.body`` keeps the answer as it came.

Every exception survives ``pickle`` with its type, text and attributes, so it crosses process
boundaries intact (Celery workers, ``multiprocessing``, ``concurrent.futures``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "DeliveryError",
    "HullCustomerIOError",
    "NotFoundError",
    "NotificationAuthenticationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiterUnavailableError",
    "ServerError",
    "Service",
    "ValidationError",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "make_status_error",
    "safe_service_text",
]

Service = Literal["customerio", "hull"]


class HullCustomerIOError(Exception):
    """Base class of every exception raised by ``hull_customerio``.

    Every subclass pickles with its type, text and attributes, whatever its constructor takes.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce rebuilds with cls(*self.args), which cannot pass the
        # keyword-only arguments most of our constructors take. Rebuild without calling the
        # constructor instead: the same args, then every attribute restored as it was.
        return (_rebuild_exception, (type(self), self.args), self.__dict__)


_E = TypeVar("_E", bound=BaseException)


def _rebuild_exception(cls: type[_E], args: tuple[Any, ...]) -> _E:
    """An instance of ``cls`` with ``args``, before pickle restores its attributes.

    Also the way other exceptions of the package whose constructors differ from their
    ``args`` pickle (their ``__reduce__`` returns this with their ``__dict__``).
    """
    return cls.__new__(cls, *args)


class ConfigurationError(HullCustomerIOError, ValueError):
    """The connector settings cannot work.

    Attributes:
        problems: one sentence per problem found; all of them, not just the first.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        if len(self.problems) == 1:
            text = f"Invalid settings: {self.problems[0]}"
        else:
            text = "Invalid settings:\n" + "\n".join(f"- {p}" for p in self.problems)
        super().__init__(text)


class ValidationError(HullCustomerIOError, ValueError):
    """A notification or message does not have the shape Hull documents.

    Attributes:
        problems: one entry per problem, each naming the field (``$.user.email: ...``).
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems: list[str] = list(problems)
        super().__init__(message)


class WebhookVerificationError(HullCustomerIOError):
    """A webhook failed authentication; nothing from it may be forwarded.

    Attributes:
        reason: which check failed: ``missing_signature``, ``missing_timestamp``,
            ``invalid_timestamp``, ``stale_timestamp`` or ``signature_mismatch``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class WebhookPayloadError(HullCustomerIOError, ValueError):
    """A webhook body that can never become a Hull event.

    Attributes:
        reason: a stable code: ``invalid_payload``, ``unknown_event`` or ``no_identifier``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class NotificationAuthenticationError(HullCustomerIOError):
    """A Hull notification this connector must refuse; nothing from it may be sent anywhere.

    The text never contains the connector secret or the signature.

    Attributes:
        reason: which check failed, a stable code: ``missing_credentials``,
            ``wrong_connector``, ``wrong_organization``, ``wrong_secret``,
            ``missing_signature``, ``unsupported_signature_version``, ``untrusted_key_url``,
            ``key_unavailable``, ``bad_signature`` or ``wrong_notification_id``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class APIError(HullCustomerIOError):
    """A request to Customer.io or Hull failed.

    Attributes:
        service: ``"customerio"`` or ``"hull"``.
        method: the HTTP method of the failed request.
        url: the URL of the failed request (it never contains credentials).
        attempts: how many times the request was tried before giving up.
    """

    def __init__(
        self,
        message: str,
        *,
        service: Service,
        method: str,
        url: str,
        attempts: int = 1,
    ) -> None:
        self.service: Service = service
        self.method = method
        self.url = url
        self.attempts = attempts
        self._message = message
        super().__init__(message)

    def __str__(self) -> str:
        suffix = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self._message}{suffix}"


class APIConnectionError(APIError):
    """No response arrived: the connection could not be made or was lost."""


class APITimeoutError(APIConnectionError):
    """No response arrived in time."""


class RateLimiterUnavailableError(APIConnectionError):
    """The shared rate limiter could not be asked, so the request was not sent.

    Raised before a request by a limiter kept outside the process (Redis) when its store cannot
    be reached. It is a connection error, so the clients retry it like one and, when it lasts,
    the engine reports the users as not sent, with the reason ``rate_limiter_unavailable``:
    nothing is ever sent unlimited. ``url`` is the store's address without its credentials.
    """


class APIStatusError(APIError):
    """The service answered with a non-2xx status.

    Attributes:
        status_code: the HTTP status.
        body: the parsed JSON response body, or its text when it was not JSON.
        retry_after: seconds the service asked us to wait (``Retry-After``), if it said.
        errors: the service's own error messages (Customer.io ``meta.errors``, ``meta.error``,
            v2 ``errors``), as found in the body.
    """

    def __init__(
        self,
        message: str,
        *,
        service: Service,
        method: str,
        url: str,
        status_code: int,
        body: Any = None,
        retry_after: float | None = None,
        errors: Sequence[str] = (),
        attempts: int = 1,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.retry_after = retry_after
        self.errors: list[str] = list(errors)
        super().__init__(message, service=service, method=method, url=url, attempts=attempts)


class BadRequestError(APIStatusError):
    """400: the service rejected the request as invalid; retrying will not help."""


class AuthenticationError(APIStatusError):
    """401: the credentials were refused."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but not allowed to do this."""


class NotFoundError(APIStatusError):
    """404: the addressed resource does not exist."""


class RateLimitError(APIStatusError):
    """429: too many requests; see ``retry_after``."""


class ServerError(APIStatusError):
    """5xx: the service failed."""


class DeliveryError(APIError):
    """Messages that could not be delivered after every retry.

    Raised by the Hull client when a firehose batch still fails: nothing is dropped silently,
    the caller gets the undelivered messages back to report or retry.

    Attributes:
        undelivered: the messages that were not delivered, as they would have been sent.
    """

    def __init__(
        self,
        message: str,
        *,
        service: Service,
        method: str,
        url: str,
        undelivered: Sequence[Mapping[str, Any]],
        attempts: int = 1,
    ) -> None:
        self.undelivered: list[Mapping[str, Any]] = list(undelivered)
        super().__init__(message, service=service, method=method, url=url, attempts=attempts)


#: Characters of a service's own error messages shown in an exception text, in all.
SERVICE_TEXT_LIMIT = 300
# Masking looks at a bounded window so hostile text of megabytes costs no more than a short one.
_MASK_WINDOW = 4 * SERVICE_TEXT_LIMIT
_ADDRESS_PART = r"[^\s@<>()\[\]{},;:\"'`]"
_EMAIL = re.compile(rf"({_ADDRESS_PART})({_ADDRESS_PART}*)@({_ADDRESS_PART}*)")


def safe_service_text(text: str, limit: int = SERVICE_TEXT_LIMIT) -> str:
    """A service's own error text made safe to show: emails masked, cut to ``limit`` characters.

    Customer.io's messages may quote what was sent (``'john@example.com' is invalid``); every
    email address becomes ``j***@example.com`` and the text ends in ``...`` when it was longer.

    Args:
        text: the service's message(s).
        limit: the most characters returned.
    """
    masked = _EMAIL.sub(r"\1***@\3", text[:_MASK_WINDOW])
    if len(masked) <= limit and len(text) <= _MASK_WINDOW:
        return masked
    return masked[: limit - 3] + "..."


_STATUS_CLASSES: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

_SERVICE_NAMES: Mapping[str, str] = {"customerio": "Customer.io", "hull": "Hull"}


def make_status_error(
    *,
    service: Service,
    method: str,
    url: str,
    status_code: int,
    body: Any = None,
    retry_after: float | None = None,
    errors: Sequence[str] = (),
    attempts: int = 1,
) -> APIStatusError:
    """Build the exception for a non-2xx answer: the one place status codes map to classes."""
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    detail = safe_service_text("; ".join(errors))
    message = f"{_SERVICE_NAMES[service]} answered {status_code} to {method} {url}"
    if detail:
        message = f"{message}: {detail}"
    return cls(
        message,
        service=service,
        method=method,
        url=url,
        status_code=status_code,
        body=body,
        retry_after=retry_after,
        errors=errors,
        attempts=attempts,
    )


def missing_extra(module: str, needs: str, extra: str) -> ImportError:
    """The error an optional module raises on import when its extra is not installed.

    Args:
        module: the module's name under ``hull_customerio``, e.g. ``"server"``.
        needs: what it lacks, in words (``"Starlette"``).
        extra: the extra that installs it (``"server"``).
    """
    return ImportError(
        f"hull_customerio.{module} needs {needs}: pip install 'hull-customerio[{extra}]'"
    )
