"""Hull's public keys: where they may come from, how they are read, cached and fetched.

The deciding parts (`trusted_key_url`, `read_public_key`, `NotificationKeyCache`) do no I/O.
`fetch_key` and `afetch_key` do: they are the one place authentication reaches the network,
an HTTP GET of a key URL the guard has already checked (`KeyRequest`), with the client the
connector gives or one of their own bounded by `KEY_FETCH_TIMEOUT`, reading at most
`MAX_KEY_SIZE` bytes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any, Final

import attrs
import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..errors import ConfigurationError

#: Hull's own domains: by default a signature's public key is fetched only from these hosts
#: (each entry matches the host itself and its subdomains, e.g. ``keys.hullapp.io``).
HULL_KEY_HOSTS: Final[tuple[str, ...]] = ("hullapp.io", "hullbeta.io", "hull.io")

#: A key document longer than this is not read to the end (a PEM RSA-4096 key is ~800 bytes).
MAX_KEY_SIZE: Final = 64 * 1024
#: How long a key fetch may take, in seconds, when the connector builds its own HTTP client.
KEY_FETCH_TIMEOUT: Final = httpx.Timeout(5.0)


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
        if parsed.scheme != "https" or parsed.userinfo or not _is_plain_host(host):
            return None
        if not is_trusted_key_host(host, trusted_hosts):
            return None
        return str(parsed.copy_with(fragment=None))
    except (httpx.InvalidURL, ValueError, TypeError):  # UnicodeError is a ValueError
        return None


_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")


def _is_plain_host(host: str) -> bool:
    """A host name or IP literal as DNS and sockets take it: no empty label (``a..b``, a
    trailing dot), no percent-encoding or other characters."""
    return (
        bool(host)
        and set(host.lower()) <= _HOST_CHARACTERS
        and not host.startswith(".")
        and not host.endswith(".")
        and ".." not in host
    )


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
            key = _fresh(self._keys, url, now, self.ttl)
            if key is not None:
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
            return _fresh(self._unproven, url, now, self.retry_after)

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


def _fresh(
    entries: OrderedDict[str, tuple[float, RSAPublicKey]], url: str, now: float, ttl: float | None
) -> RSAPublicKey | None:
    """The key stored for ``url`` less than ``ttl`` seconds ago (``None``: kept for ever); an
    older entry is dropped."""
    entry = entries.get(url)
    if entry is None:
        return None
    stored_at, key = entry
    if ttl is not None and now - stored_at >= ttl:
        del entries[url]
        return None
    return key
