"""Authenticating and answering Hull notifications, once for both connectors.

Everything that decides is here and does no I/O. The one piece of I/O authentication may need,
fetching Hull's public key, is a `KeyRequest` that `NotificationGuard.authenticate`
*yields*; the sync connector answers it with `fetch_key` (``httpx.Client``), the async one
with `afetch_key` (``httpx.AsyncClient``). That is the only difference between them.

What a connector checks, in order, before anything of a notification is used:

1. its ``configuration`` (``id``, ``organization``, ``secret``) against the connector's Hull
   client: id and organization equal, secret equal in constant time (skipped without a Hull
   client, which then accepts only signed notifications);
2. Hull's signature, when the ``x-hull-smart-notifier-signature`` header is present, and
   required when ``require_signature`` is on or there is no Hull client: an RS256 JWT whose
   ``jti`` is the notification's ``notification_id``, verified with the configured public key
   or with the key fetched from the ``...-public-key-url`` header -- only an ``https`` URL on a
   trusted host is ever fetched, and the key is cached.

What the signature covers: Hull signs a JWT whose ``jti`` is the notification id, not the body.
So the signature proves that Hull issued a notification with that id; the body's credentials
(step 1) are what tie the body to this connector.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol

import attrs
import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..errors import ConfigurationError, NotificationAuthenticationError, ValidationError
from ..hull.flow_control import flow_control_next
from ..models.hull import HullConfiguration, Notification
from ..models.report import SyncReport
from . import _core

__all__ = [
    "HULL_KEY_HOSTS",
    "KEY_URL_HEADER",
    "REFUSAL_MESSAGES",
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION_HEADER",
    "HullIdentity",
    "KeyRequest",
    "KeyResponse",
    "NotificationAnswer",
    "NotificationEnvelope",
    "NotificationGuard",
    "NotificationKeyCache",
    "RefusalReason",
    "aauthenticate_raw",
    "afetch_key",
    "authenticate_raw",
    "body_names_notification",
    "envelope_of",
    "fetch_key",
    "is_trusted_key_host",
    "prepare_notification",
    "processed_answer",
    "read_notification_body",
    "read_notification_payload",
    "read_public_key",
    "refused_answer",
    "trusted_key_url",
    "unverified_jti",
    "verify_notification_signature",
]

logger = _core.logger

#: Hull's own domains: by default a signature's public key is fetched only from these hosts
#: (each entry matches the host itself and its subdomains, e.g. ``keys.hullapp.io``).
HULL_KEY_HOSTS: Final[tuple[str, ...]] = ("hullapp.io", "hullbeta.io", "hull.io")

SIGNATURE_HEADER: Final = "x-hull-smart-notifier-signature"
SIGNATURE_VERSION_HEADER: Final = "x-hull-smart-notifier-signature-version"
KEY_URL_HEADER: Final = "x-hull-smart-notifier-signature-public-key-url"
_SIGNATURE_VERSIONS: Final = frozenset({"v1"})

#: The channel this library synchronises; other channels are answered ``next``.
USER_UPDATE: Final = "user:update"
#: How much of a name read from the notification (an unsupported channel, another workspace's
#: site id) an answer, an outcome and a log line repeat.
_NAME_SHOWN = 100

#: Clock tolerance for the signature's ``exp`` / ``nbf`` / ``iat``, in seconds.
SIGNATURE_LEEWAY: Final = 60.0
#: A signature longer than this is refused without further work (Hull's are ~400 bytes).
MAX_SIGNATURE_LENGTH: Final = 8192
#: A key document longer than this is not read to the end (a PEM RSA-4096 key is ~800 bytes).
MAX_KEY_SIZE: Final = 64 * 1024
#: How long a key fetch may take, in seconds, when the connector builds its own HTTP client.
KEY_FETCH_TIMEOUT: Final = httpx.Timeout(5.0)

RefusalReason = Literal[
    "missing_credentials",
    "wrong_connector",
    "wrong_organization",
    "wrong_secret",
    "missing_signature",
    "unsupported_signature_version",
    "untrusted_key_url",
    "key_unavailable",
    "bad_signature",
    "wrong_notification_id",
]

#: Each refusal reason as a sentence for people (what an answer's ``message`` starts with).
REFUSAL_MESSAGES: Final[Mapping[RefusalReason, str]] = {
    "missing_credentials": (
        "The notification does not carry the connector's id, organization and secret."
    ),
    "wrong_connector": "The notification is for another connector.",
    "wrong_organization": "The notification is for another organization.",
    "wrong_secret": "The notification's connector secret is not this connector's.",
    "missing_signature": "The notification is not signed by Hull, and a signature is required.",
    "unsupported_signature_version": "The notification's signature version is not 'v1'.",
    "untrusted_key_url": (
        "The signature's public key URL is not an https URL on a trusted host; it was not fetched."
    ),
    "key_unavailable": "Hull's public key could not be fetched or read.",
    "bad_signature": "The notification's signature does not verify with Hull's public key.",
    "wrong_notification_id": "The signature was issued for another notification.",
}


# --------------------------------------------------------------------------------------------
# The answer a web view gives Hull.


@attrs.frozen(kw_only=True)
class NotificationAnswer:
    """What to answer Hull for one notification, and what became of it.

    Attributes:
        http_status: ``200`` when the notification was authenticated (processed, or
            acknowledged without processing); ``400`` when the body is not a JSON object;
            ``401`` when it was refused.
        body: the JSON to answer with: the flow control (``{"flow_control": {...}}``) on
            ``200``, else ``{"error": {"code": reason, "message": ...}}``.
        reason: ``None`` when the notification was synchronised; otherwise a stable code:
            ``invalid_body`` (400); a refusal reason (401: ``missing_credentials``,
            ``wrong_connector``, ``wrong_organization``, ``wrong_secret``,
            ``missing_signature``, ``unsupported_signature_version``, ``untrusted_key_url``,
            ``key_unavailable``, ``bad_signature``, ``wrong_notification_id``); or, answered
            ``next`` with nothing sent, ``unsupported_channel``, ``invalid_notification``
            (a malformed envelope or invalid settings) or ``credentials_mismatch`` (its
            settings name another Customer.io workspace).
        report: every user's outcome on ``200`` (empty when nothing was to be synchronised);
            ``None`` on ``400`` and ``401``.
        message: a sentence for people; never holds a secret.
    """

    http_status: int
    body: dict[str, Any]
    reason: str | None = None
    report: SyncReport | None = None
    message: str = ""

    @property
    def refused(self) -> bool:
        """Whether the notification was refused as unauthenticated (``401``)."""
        return self.http_status == 401


def _error_answer(status: int, reason: str, message: str) -> NotificationAnswer:
    return NotificationAnswer(
        http_status=status,
        body={"error": {"code": reason, "message": message}},
        reason=reason,
        message=message,
    )


def refused_answer(error: NotificationAuthenticationError) -> NotificationAnswer:
    """The ``401`` answer to a refused notification."""
    return _error_answer(401, error.reason, str(error))


def processed_answer(report: SyncReport) -> NotificationAnswer:
    """The ``200`` answer once the notification's users were synchronised."""
    return NotificationAnswer(
        http_status=200,
        body=_core.flow_control_for(report),
        reason=None,
        report=report,
        message=(
            f"{report.succeeded} synchronized, {report.skipped} skipped, {report.failed} failed."
        ),
    )


def _next_answer(reason: str, message: str, report: SyncReport | None = None) -> NotificationAnswer:
    return NotificationAnswer(
        http_status=200,
        body=dict(flow_control_next()),
        reason=reason,
        report=report if report is not None else SyncReport(outcomes=[]),
        message=message,
    )


# --------------------------------------------------------------------------------------------
# Reading the body: what the web layer (or a hub choosing the tenant) needs first.


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@attrs.frozen(kw_only=True)
class NotificationEnvelope:
    """A notification body read as JSON, before anything of it is trusted.

    Attributes:
        payload: the whole notification object, as received.
        configuration: the Hull credentials it claims (``id``, ``organization``, ``secret``);
            a field is ``None`` when absent or not a non-empty string.
        notification_id: its ``notification_id``, when a non-empty string.
        channel: its ``channel`` when a string; ``None`` when absent (``user:update`` is
            meant) or not a string.
    """

    payload: Mapping[str, Any] = attrs.field(repr=False)
    configuration: HullConfiguration
    notification_id: str | None = None
    channel: str | None = None


def read_notification_payload(payload: object) -> NotificationEnvelope:
    """The envelope of a notification already parsed from JSON; never raises.

    A value that is not an object gives an envelope with no credentials, which every
    connector refuses.
    """
    if not isinstance(payload, Mapping):
        return NotificationEnvelope(payload={}, configuration=HullConfiguration())
    raw = payload.get("configuration")
    configuration = HullConfiguration()
    if isinstance(raw, Mapping):
        configuration = HullConfiguration(
            id=_string(raw.get("id")),
            organization=_string(raw.get("organization")),
            secret=_string(raw.get("secret")),
        )
    channel = payload.get("channel")
    return NotificationEnvelope(
        payload=payload,
        configuration=configuration,
        notification_id=_string(payload.get("notification_id")),
        channel=channel if isinstance(channel, str) else None,
    )


def read_notification_body(body: bytes) -> NotificationEnvelope | NotificationAnswer:
    """Read a notification's raw body; never raises.

    This is what a service serving many connectors calls first, to learn which connector
    (``envelope.configuration``) the notification claims to be for, before authenticating it
    with that connector's
    [`answer_notification`][hull_customerio.AsyncConnector.answer_notification].

    Returns:
        The envelope, or a ``400`` answer with reason ``invalid_body`` when the body is not a
        JSON object (not JSON, not UTF-8, nested too deep, a number too long...).
    """
    try:
        payload = json.loads(body)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        return _error_answer(400, "invalid_body", "The notification body is not JSON.")
    if not isinstance(payload, dict):
        return _error_answer(400, "invalid_body", "The notification body is not a JSON object.")
    return read_notification_payload(payload)


def envelope_of(payload: object) -> NotificationEnvelope:
    """The envelope of a notification given parsed or as raw bytes.

    Raises:
        ValidationError: raw bytes that are not a JSON object.
    """
    if isinstance(payload, bytes | bytearray | memoryview):
        read = read_notification_body(bytes(payload))
        if isinstance(read, NotificationAnswer):
            raise ValidationError(read.message)
        return read
    return read_notification_payload(payload)


# --------------------------------------------------------------------------------------------
# Keys: where they may come from, how they are read and cached.


def is_trusted_key_host(host: str, trusted_hosts: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``trusted_hosts`` or a subdomain of one (case-insensitive)."""
    host = host.lower().rstrip(".")
    if not host:
        return False
    for entry in trusted_hosts:
        trusted = entry.strip().lower().strip(".")
        if trusted and (host == trusted or host.endswith("." + trusted)):
            return True
    return False


def trusted_key_url(url: str, trusted_hosts: Iterable[str]) -> str | None:
    """``url`` normalised when it may be fetched: ``https``, no user info, a trusted host.

    The URL is parsed by httpx, the same parser that would fetch it, so what is checked is
    what would be requested. Returns ``None`` for any other URL.
    """
    try:
        parsed = httpx.URL(url)
        # Reading the host decodes international labels: invalid punycode raises here, not
        # later while the request is built.
        host = parsed.host
        if parsed.scheme != "https" or parsed.userinfo or not host:
            return None
        if not is_trusted_key_host(host, trusted_hosts):
            return None
        return str(parsed.copy_with(fragment=None))
    except (httpx.InvalidURL, ValueError, TypeError):  # UnicodeError is a ValueError
        return None


class NotificationKeyCache:
    """Hull's public keys by URL: bounded, expiring, and hard to abuse.

    One cache may be shared by any number of connectors, sync and async, across threads and
    event loops: a service serving many connectors passes the same cache to each
    (``Connector(..., key_cache=cache)``) so a key is fetched once per URL, not once per
    connector. It holds a lock only while it reads or changes its tables, never while a key is
    fetched.

    Anyone can send a notification naming a key URL, so the cache keeps three tables:

    - *proven* keys, which verified a signature: at most ``max_size`` (least recently used
      dropped first), each trusted for ``ttl`` seconds;
    - keys fetched but not yet proven, kept ``retry_after`` seconds in a table of their own,
      so URLs nobody proved can never push a proven key out;
    - URLs whose fetch failed, not fetched again for ``retry_after`` seconds.

    On top of that, at most ``max_fetches_per_minute`` fetches start in any minute.

    Args:
        max_size: how many proven keys to keep.
        ttl: how long a proven key is trusted before it is fetched again, in seconds
            (``None``: until dropped for space). Hull may rotate its key.
        retry_after: seconds a failed URL is not fetched again, and an unproven key is kept.
        max_fetches_per_minute: key fetches allowed in any 60 seconds.
        clock: the monotonic time source (for tests).

    Raises:
        ConfigurationError: a size, duration or budget that is not positive.
    """

    #: Unproven keys and failed URLs remembered at most (each table).
    MAX_UNPROVEN = 256

    def __init__(
        self,
        max_size: int = 32,
        ttl: float | None = 3600.0,
        *,
        retry_after: float = 60.0,
        max_fetches_per_minute: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        problems = []
        for name, value in (("max_size", max_size),
                            ("max_fetches_per_minute", max_fetches_per_minute)):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if ttl is not None and not ttl > 0:
            problems.append(f"ttl must be positive seconds or None, got {ttl!r}")
        if not isinstance(retry_after, int | float) or not retry_after > 0:
            problems.append(f"retry_after must be positive seconds, got {retry_after!r}")
        if problems:
            raise ConfigurationError(problems)
        self.max_size = max_size
        self.ttl = ttl
        self.retry_after = float(retry_after)
        self.max_fetches_per_minute = max_fetches_per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, tuple[float, RSAPublicKey]] = OrderedDict()
        self._unproven: OrderedDict[str, tuple[float, RSAPublicKey]] = OrderedDict()
        self._failed: OrderedDict[str, float] = OrderedDict()
        self._fetches: deque[float] = deque()

    def __repr__(self) -> str:
        return f"NotificationKeyCache(max_size={self.max_size}, ttl={self.ttl}, size={len(self)})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    def get(self, url: str) -> RSAPublicKey | None:
        """The proven key cached for ``url``, or ``None`` when absent or expired."""
        now = self._clock()
        with self._lock:
            entry = self._keys.get(url)
            if entry is None:
                return None
            stored_at, key = entry
            if self.ttl is not None and now - stored_at >= self.ttl:
                del self._keys[url]
                return None
            self._keys.move_to_end(url)
            return key

    def put(self, url: str, key: RSAPublicKey) -> None:
        """Remember ``key`` for ``url`` as proven, dropping the least recently used when full."""
        now = self._clock()
        with self._lock:
            self._unproven.pop(url, None)
            self._failed.pop(url, None)
            self._keys[url] = (now, key)
            self._keys.move_to_end(url)
            while len(self._keys) > self.max_size:
                self._keys.popitem(last=False)

    def unproven(self, url: str) -> RSAPublicKey | None:
        """A key fetched from ``url`` less than ``retry_after`` seconds ago, not yet proven."""
        now = self._clock()
        with self._lock:
            entry = self._unproven.get(url)
            if entry is None:
                return None
            if now - entry[0] >= self.retry_after:
                del self._unproven[url]
                return None
            return entry[1]

    def put_unproven(self, url: str, key: RSAPublicKey) -> None:
        """Remember a key just fetched, until it verifies a signature (then `put`) or expires."""
        with self._lock:
            self._remember(self._unproven, url, (self._clock(), key))

    def failed_recently(self, url: str) -> bool:
        """Whether fetching ``url`` failed less than ``retry_after`` seconds ago."""
        now = self._clock()
        with self._lock:
            failed_at = self._failed.get(url)
            if failed_at is None:
                return False
            if now - failed_at >= self.retry_after:
                del self._failed[url]
                return False
            return True

    def remember_failure(self, url: str) -> None:
        """``url`` could not be fetched or read: do not fetch it again for ``retry_after``."""
        with self._lock:
            self._remember(self._failed, url, self._clock())

    def take_fetch(self) -> bool:
        """Count one fetch against the per-minute budget; ``False`` when it is spent."""
        now = self._clock()
        with self._lock:
            while self._fetches and now - self._fetches[0] >= 60.0:
                self._fetches.popleft()
            if len(self._fetches) >= self.max_fetches_per_minute:
                return False
            self._fetches.append(now)
            return True

    def clear(self) -> None:
        """Forget every key, failure and fetch."""
        with self._lock:
            self._keys.clear()
            self._unproven.clear()
            self._failed.clear()
            self._fetches.clear()

    def _remember(self, table: OrderedDict[str, Any], url: str, value: Any) -> None:
        table[url] = value
        table.move_to_end(url)
        while len(table) > self.MAX_UNPROVEN:
            table.popitem(last=False)


@attrs.frozen
class KeyRequest:
    """Fetch Hull's public key: ``POST url`` with the signature as the body, as Hull's own
    connector library does."""

    url: str
    signature: str


@attrs.frozen
class KeyResponse:
    """What a key fetch gave: the status and body, or the transport error's name."""

    status_code: int | None
    content: bytes = b""
    error: str | None = None


def read_public_key(response: KeyResponse) -> RSAPublicKey | str:
    """The RSA public key a fetch answered, or why there is none (a sentence)."""
    if response.error is not None:
        return f"the key URL could not be fetched ({response.error})"
    if response.status_code != 200:
        return f"the key URL answered HTTP {response.status_code}"
    return load_public_key(response.content)


def load_public_key(pem: bytes | str) -> RSAPublicKey | str:
    """An RSA public key from PEM text, or why it is not one (a sentence)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"-----BEGIN PUBLIC KEY-----" not in data:
        return "not a PEM public key"
    try:
        key = load_pem_public_key(data.strip())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "not a readable PEM public key"
    if not isinstance(key, RSAPublicKey):
        return "not an RSA public key"
    return key


def parse_configured_key(pem: str) -> RSAPublicKey:
    """The ``notification_public_key`` a connector was given, or a ConfigurationError."""
    key = load_public_key(pem) if isinstance(pem, str) else "not a string"
    if isinstance(key, str):
        raise ConfigurationError([f"notification_public_key is {key}"])
    return key


def _request_args(request: KeyRequest) -> dict[str, Any]:
    return {
        "content": request.signature.encode("ascii"),
        "headers": {"Content-Type": "text/plain", "Accept": "application/x-pem-file, */*"},
        "follow_redirects": False,
    }


def fetch_key(client: httpx.Client | None, request: KeyRequest) -> KeyResponse:
    """Fetch a key with ``client`` (or a short-lived client of its own); never raises for
    network trouble, which becomes ``KeyResponse.error``."""
    try:
        if client is None:
            with httpx.Client(timeout=KEY_FETCH_TIMEOUT) as own:
                return _fetch_with(own, request)
        return _fetch_with(client, request)
    except httpx.HTTPError as exc:
        return KeyResponse(status_code=None, error=type(exc).__name__)


def _fetch_with(client: httpx.Client, request: KeyRequest) -> KeyResponse:
    with client.stream("POST", request.url, **_request_args(request)) as response:
        content = bytearray()
        for chunk in response.iter_bytes():
            content += chunk
            if len(content) > MAX_KEY_SIZE:
                return KeyResponse(status_code=None, error="the answer is too large")
        return KeyResponse(status_code=response.status_code, content=bytes(content))


async def afetch_key(client: httpx.AsyncClient | None, request: KeyRequest) -> KeyResponse:
    """The async `fetch_key`."""
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=KEY_FETCH_TIMEOUT) as own:
                return await _afetch_with(own, request)
        return await _afetch_with(client, request)
    except httpx.HTTPError as exc:
        return KeyResponse(status_code=None, error=type(exc).__name__)


async def _afetch_with(client: httpx.AsyncClient, request: KeyRequest) -> KeyResponse:
    async with client.stream("POST", request.url, **_request_args(request)) as response:
        content = bytearray()
        async for chunk in response.aiter_bytes():
            content += chunk
            if len(content) > MAX_KEY_SIZE:
                return KeyResponse(status_code=None, error="the answer is too large")
        return KeyResponse(status_code=response.status_code, content=bytes(content))


# --------------------------------------------------------------------------------------------
# The signature.


def verify_notification_signature(
    signature: str, key: RSAPublicKey, notification_id: str | None
) -> RefusalReason | None:
    """Check Hull's signature of a notification; ``None`` when it holds, else the reason.

    The signature must be an RS256 JWT verified by ``key`` (``exp``, ``nbf`` and ``iat``
    checked when present, with `SIGNATURE_LEEWAY` seconds of clock tolerance), and its
    ``jti`` must be ``notification_id``.
    """
    try:
        claims = jwt.decode(
            signature,
            key,
            algorithms=["RS256"],
            leeway=SIGNATURE_LEEWAY,
            options={"verify_aud": False, "verify_iss": False},
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return "bad_signature"
    jti = claims.get("jti")
    if notification_id is None or not isinstance(jti, str) or jti != notification_id:
        return "wrong_notification_id"
    return None


def unverified_jti(signature: str) -> str | None:
    """The ``jti`` of an RS256 JWT that has not expired, read *without* verifying it.

    These are the checks that cost nothing: a token that fails them is refused before any key
    is fetched. ``None`` when the token is malformed, not RS256, has no ``jti`` string, or its
    ``exp`` has passed (with `SIGNATURE_LEEWAY`).
    """
    try:
        if jwt.get_unverified_header(signature).get("alg") != "RS256":
            return None
        claims = jwt.decode(signature, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return None
    expires = claims.get("exp")
    if expires is not None:
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            return None
        if expires + SIGNATURE_LEEWAY < time.time():
            return None
    return jti


def body_names_notification(body: bytes, notification_id: str) -> bool:
    """Whether a raw notification body holds ``"notification_id": "<notification_id>"``.

    A byte search, not a parse: what the service may check of a body nobody has vouched for
    yet. The parsed body is checked again once the signature verified.
    """
    value = json.dumps(notification_id).encode("ascii")
    pattern = rb'"notification_id"\s*:\s*' + re.escape(value)
    return re.search(pattern, body) is not None


#: The envelope refusals before parsing are logged with: nothing read yet.
_UNREAD = NotificationEnvelope(payload={}, configuration=HullConfiguration())


# --------------------------------------------------------------------------------------------
# The guard: one per connector.


class HullIdentity(Protocol):
    """What the guard needs of a Hull client; [`HullClient`][hull_customerio.HullClient] and
    [`AsyncHullClient`][hull_customerio.AsyncHullClient] both fit."""

    @property
    def id(self) -> str: ...  # pragma: no cover - protocol

    @property
    def organization(self) -> str: ...  # pragma: no cover - protocol

    def is_own_secret(self, secret: str) -> bool: ...  # pragma: no cover - protocol


def lower_headers(headers: object) -> dict[str, str]:
    """Header names lower-cased (first value wins); anything unreadable is ignored."""
    lowered: dict[str, str] = {}
    items = getattr(headers, "items", None)
    if items is None:
        return lowered
    try:
        for name, value in items():
            if isinstance(name, str) and isinstance(value, str):
                lowered.setdefault(name.lower(), value.strip())
    except Exception:  # a hostile headers object must not crash the view  # noqa: S110
        pass
    return lowered


class NotificationGuard:
    """Decides whether a connector accepts a notification (see the module docstring).

    Args:
        hull: the connector's Hull client, or ``None``.
        public_key: Hull's public key as PEM, or ``None`` to fetch it from trusted hosts.
        trusted_key_hosts: the hosts a key may be fetched from.
        require_signature: refuse notifications without Hull's signature.
        key_cache: where fetched keys are kept (a new one when ``None``).

    Raises:
        ConfigurationError: an unreadable ``public_key`` or ``trusted_key_hosts`` given as a
            single string.
    """

    def __init__(
        self,
        hull: HullIdentity | None,
        *,
        public_key: str | None,
        trusted_key_hosts: Sequence[str],
        require_signature: bool,
        key_cache: NotificationKeyCache | None,
    ) -> None:
        if isinstance(trusted_key_hosts, str) or not all(
            isinstance(host, str) for host in trusted_key_hosts
        ):
            raise ConfigurationError(
                ["trusted_key_hosts must be a list of host names, e.g. ['hullapp.io']"]
            )
        if key_cache is not None and not isinstance(key_cache, NotificationKeyCache):
            raise ConfigurationError(["key_cache must be a NotificationKeyCache"])
        self.hull = hull
        self.public_key = parse_configured_key(public_key) if public_key is not None else None
        self.trusted_key_hosts = tuple(trusted_key_hosts)
        self.require_signature = bool(require_signature)
        self.key_cache = key_cache if key_cache is not None else NotificationKeyCache()

    def __repr__(self) -> str:
        return (
            f"NotificationGuard(public_key={'set' if self.public_key else None}, "
            f"trusted_key_hosts={self.trusted_key_hosts!r}, "
            f"require_signature={self.require_signature})"
        )

    def authenticate(
        self, envelope: NotificationEnvelope, headers: object
    ) -> Generator[KeyRequest, KeyResponse, None]:
        """Check a notification already parsed; yields a `KeyRequest` when a key must be fetched.

        Raises:
            NotificationAuthenticationError: the notification must be refused (logged as
                ``incoming.notification.refused``).
        """
        self._check_configuration(envelope)
        lowered = lower_headers(headers)
        signature = lowered.get(SIGNATURE_HEADER, "")
        if not signature:
            if self.require_signature or self.hull is None:
                raise self._refuse("missing_signature", envelope)
            return
        notification_id = envelope.notification_id
        jti = yield from self._verify(
            signature, lowered, lambda jti: jti == notification_id, envelope
        )
        if jti != notification_id:
            raise self._refuse("wrong_notification_id", envelope)

    def authenticate_body(
        self, body: bytes, headers: object
    ) -> Generator[KeyRequest, KeyResponse, str | None]:
        """Check Hull's signature of a raw notification *before* its body is parsed.

        Only what the check needs is read of the body: that it names the signature's ``jti``
        as its ``notification_id`` (a byte search, done only before a key is fetched). Call
        `check_envelope` once the body is parsed.

        Returns:
            The signature's ``jti``, or ``None`` for an unsigned notification this guard
            may still accept (``require_signature`` off and a Hull client to check the
            credentials against).

        Raises:
            NotificationAuthenticationError: the notification must be refused.
        """
        lowered = lower_headers(headers)
        signature = lowered.get(SIGNATURE_HEADER, "")
        if not signature:
            if self.require_signature or self.hull is None:
                raise self._refuse("missing_signature", None)
            return None
        return (
            yield from self._verify(
                signature, lowered, lambda jti: body_names_notification(body, jti), None
            )
        )

    def check_envelope(self, envelope: NotificationEnvelope, jti: str | None) -> None:
        """The checks `authenticate_body` leaves for after parsing: the signature was issued
        for this notification, and its credentials are the connector's.

        Raises:
            NotificationAuthenticationError: the notification must be refused.
        """
        if jti is not None and envelope.notification_id != jti:
            raise self._refuse("wrong_notification_id", envelope)
        self._check_configuration(envelope)

    def _verify(
        self,
        signature: str,
        lowered: Mapping[str, str],
        names_notification: Callable[[str], bool],
        envelope: NotificationEnvelope | None,
    ) -> Generator[KeyRequest, KeyResponse, str]:
        """Verify ``signature``; local checks first, a key fetched only if they all pass."""
        if lowered.get(SIGNATURE_VERSION_HEADER, "") not in _SIGNATURE_VERSIONS:
            raise self._refuse("unsupported_signature_version", envelope)
        if len(signature) > MAX_SIGNATURE_LENGTH or not signature.isascii():
            raise self._refuse("bad_signature", envelope)
        url = None
        if self.public_key is None:
            url = trusted_key_url(lowered.get(KEY_URL_HEADER, ""), self.trusted_key_hosts)
            if url is None:
                raise self._refuse("untrusted_key_url", envelope)
        jti = unverified_jti(signature)
        if jti is None:
            raise self._refuse("bad_signature", envelope)
        fetched_from: str | None = None
        if self.public_key is not None:
            key = self.public_key
        elif (cached := self.key_cache.get(url or "")) is not None:
            key = cached
        else:
            # Nothing leaves the service for a notification that fails the local checks.
            if not names_notification(jti):
                raise self._refuse("wrong_notification_id", envelope)
            key = yield from self._unproven_key(url or "", signature, envelope)
            fetched_from = url
        failure = verify_notification_signature(signature, key, jti)
        if failure is not None:
            raise self._refuse(failure, envelope)
        if fetched_from is not None:
            self.key_cache.put(fetched_from, key)
        return jti

    def _unproven_key(
        self, url: str, signature: str, envelope: NotificationEnvelope | None
    ) -> Generator[KeyRequest, KeyResponse, RSAPublicKey]:
        cache = self.key_cache
        key = cache.unproven(url)
        if key is not None:
            return key
        if cache.failed_recently(url):
            raise self._refuse("key_unavailable", envelope, "it failed less than a minute ago")
        if not cache.take_fetch():
            raise self._refuse("key_unavailable", envelope, "too many key fetches this minute")
        fetched = read_public_key((yield KeyRequest(url, signature)))
        if isinstance(fetched, str):
            cache.remember_failure(url)
            raise self._refuse("key_unavailable", envelope, fetched)
        cache.put_unproven(url, fetched)
        return fetched

    def _check_configuration(self, envelope: NotificationEnvelope) -> None:
        hull = self.hull
        if hull is None:
            return
        configuration = envelope.configuration
        if (
            configuration.id is None
            or configuration.organization is None
            or configuration.secret is None
        ):
            raise self._refuse("missing_credentials", envelope)
        if configuration.id != hull.id:
            raise self._refuse("wrong_connector", envelope)
        if _normalize_organization(configuration.organization) != hull.organization:
            raise self._refuse("wrong_organization", envelope)
        if not hull.is_own_secret(configuration.secret):
            raise self._refuse("wrong_secret", envelope)

    @staticmethod
    def _refuse(
        reason: RefusalReason, envelope: NotificationEnvelope | None, detail: str | None = None
    ) -> NotificationAuthenticationError:
        message = REFUSAL_MESSAGES[reason] + (f" ({detail})" if detail else "")
        if envelope is None:
            envelope = _UNREAD
        configuration = envelope.configuration
        _core.log_event(
            logging.WARNING, "incoming.notification.refused", reason=reason,
            notification_id=envelope.notification_id, connector_id=configuration.id,
            organization=configuration.organization, error=message,
        )  # fmt: skip
        return NotificationAuthenticationError(message, reason=reason)


# --------------------------------------------------------------------------------------------
# Driving the guard over a raw body: the sync and the async loop.

#: A body longer than this is parsed on a worker thread by the async drivers, so that parsing
#: it does not hold up the event loop (about a millisecond of parsing per 100 kB).
PARSE_IN_THREAD_BYTES: Final = 256 * 1024


def authenticate_raw(
    guard: NotificationGuard,
    body: bytes,
    headers: object,
    http: httpx.Client | None,
    envelope_guard: Callable[[NotificationEnvelope], NotificationGuard] | None = None,
) -> NotificationEnvelope | NotificationAnswer:
    """Authenticate and read a raw notification: the signature before the body is parsed.

    ``envelope_guard`` gives the guard that checks the parsed envelope (a hub's depends on the
    connector the envelope names); by default ``guard`` itself.

    Returns:
        The envelope once accepted; else the answer: ``401`` refused, ``400`` not JSON.
    """
    steps = guard.authenticate_body(body, headers)
    try:
        request = next(steps)
        while True:
            request = steps.send(fetch_key(http, request))
    except StopIteration as stop:
        jti: str | None = stop.value
    except NotificationAuthenticationError as exc:
        return refused_answer(exc)
    return _checked(envelope_guard or (lambda _: guard), read_notification_body(body), jti)


async def aauthenticate_raw(
    guard: NotificationGuard,
    body: bytes,
    headers: object,
    http: httpx.AsyncClient | None,
    envelope_guard: Callable[[NotificationEnvelope], NotificationGuard] | None = None,
) -> NotificationEnvelope | NotificationAnswer:
    """The async `authenticate_raw`; a large body is parsed on a worker thread."""
    steps = guard.authenticate_body(body, headers)
    try:
        request = next(steps)
        while True:
            request = steps.send(await afetch_key(http, request))
    except StopIteration as stop:
        jti: str | None = stop.value
    except NotificationAuthenticationError as exc:
        return refused_answer(exc)
    if len(body) > PARSE_IN_THREAD_BYTES:
        read = await asyncio.to_thread(read_notification_body, body)
    else:
        read = read_notification_body(body)
    return _checked(envelope_guard or (lambda _: guard), read, jti)


def _checked(
    guard_of: Callable[[NotificationEnvelope], NotificationGuard],
    read: NotificationEnvelope | NotificationAnswer,
    jti: str | None,
) -> NotificationEnvelope | NotificationAnswer:
    if isinstance(read, NotificationAnswer):
        return read
    try:
        guard_of(read).check_envelope(read, jti)
    except NotificationAuthenticationError as exc:
        return refused_answer(exc)
    return read


def _normalize_organization(organization: str) -> str:
    host = organization.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    return host.rstrip("/")


# --------------------------------------------------------------------------------------------
# After authentication: what to do with the notification.


def prepare_notification(
    envelope: NotificationEnvelope, *, site_id: str
) -> Notification | NotificationAnswer:
    """The notification to synchronise, or the answer when there is nothing to send.

    Answered ``next`` without sending anything: a channel other than ``user:update``
    (``unsupported_channel``), a malformed envelope or invalid settings
    (``invalid_notification``), and settings naming a Customer.io workspace other than
    ``site_id``, the one the connector's client sends to (``credentials_mismatch``: every user
    gets that error).
    """
    context = _core.LogContext(
        notification_id=envelope.notification_id,
        organization=envelope.configuration.organization,
    )
    if envelope.channel is not None and envelope.channel != USER_UPDATE:
        # Only the channel's start is repeated: a megabyte channel name is not copied on.
        channel = envelope.channel[:_NAME_SHOWN]
        _core.log_event(
            logging.INFO, "incoming.notification.skip", context,
            reason="unsupported_channel", channel=channel,
        )  # fmt: skip
        return _next_answer(
            "unsupported_channel",
            f"The channel {channel!r} is not synchronized; only 'user:update' is.",
        )
    notification = _core.read_notification(envelope.payload, context)
    if notification is None:
        return _next_answer(
            "invalid_notification", "The notification is malformed or its settings are invalid."
        )
    named = (notification.settings.site_id or "").strip()
    if named != site_id.strip():
        message = (
            f"The notification's settings name the Customer.io workspace "
            f"{named[:_NAME_SHOWN]!r}, but this "
            f"connector sends to {site_id.strip()!r}; nothing was sent."
            if named
            else "The notification's settings name no Customer.io workspace; nothing was sent."
        )
        _core.log_event(
            logging.ERROR, "incoming.notification.error", context,
            reason="credentials_mismatch", error=message,
        )  # fmt: skip
        report = _core.credentials_mismatch_report(notification, message, context)
        return _next_answer("credentials_mismatch", message, report)
    return notification
