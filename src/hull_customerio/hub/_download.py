"""How batch files are downloaded, for both hubs and the single-connector app.

A batch file's URL comes from a request, so where the download goes and how long it lasts are
decided here, not by the remote end:

- **One lookup, the checked address.** The host is looked up once (`lookup` / `alookup`); every
  address must be public unless the host is one the app lists; the connection then goes to one
  of those checked addresses and nowhere else (the backends of `_backends`: httpcore network
  backends whose ``connect_tcp`` ignores name resolution). TLS still verifies the
  certificate for the host name, and the host name is what the server sees (SNI, ``Host``).
  A second lookup answering another address (DNS rebinding) is never made.
- **Bounded.** `BatchFeed` counts the bytes read and the time spent: the download stops after
  ``max_bytes`` bytes or ``max_seconds`` seconds. Every read and write on the connection is
  given at most the time left, so a file that trickles, or a server that goes silent, is cut
  at the deadline rather than at the next read timeout.
- **No redirects.** A 3xx answer is a failed download (its status is named in the answer).

The hubs' sync and async loops only move bytes and call the engine; what to do with the bytes,
when to stop and what to answer is `BatchFeed`'s, written once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import httpcore
import httpx

from ..errors import ConfigurationError, ValidationError
from ..models.report import SyncReport
from . import _answers
from ._auth import NotificationAnswer
from ._batch import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_SECONDS,
    DEFAULT_MAX_LINE_BYTES,
    JsonLines,
    ascii_host,
    check_batch_url,
    is_ip_literal,
)

__all__ = [
    "DOWNLOAD_ERRORS",
    "DOWNLOAD_TIMEOUT",
    "BatchFeed",
    "DownloadTarget",
    "alookup",
    "check_limits",
    "checked_addresses",
    "download_target",
    "lookup",
    "request_arguments",
]

#: Connect and per-read timeouts of a download (the whole download has ``max_seconds``).
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

#: What a failed download raises: httpcore's errors (the checked pools) and httpx's (a
#: response that cannot be decoded; a download through an ``httpx`` client).
DOWNLOAD_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpx.HTTPError,
)

_HEADERS = (
    (b"User-Agent", b"hull-customerio"),
    # Plain bytes: a compressed file could expand far beyond what was read before it is counted.
    (b"Accept-Encoding", b"identity"),
    (b"Accept", b"*/*"),
)

Resolver = Callable[[str, int], Awaitable[list[str]]]
SyncResolver = Callable[[str, int], list[str]]


# ----------------------------------------------------------------------------- the target


@attrs.frozen
class DownloadTarget:
    """Where a batch URL points, as the connection will name it.

    Attributes:
        url: the URL as httpx parsed it (the request line is built from it).
        host: the host as looked up and sent (lower case, ``xn--`` labels, no trailing dot).
        port: the port connected to (443 or 80 by default).
        listed: the host is one the app lists (then its addresses need not be public).
        literal: the host is an IP address (nothing to look up).
        addresses: the addresses checked for the host (see `lookup`): the only ones the
            download connects to.
    """

    url: httpx.URL
    host: str
    port: int
    listed: bool
    literal: bool
    addresses: tuple[str, ...] = ()


def download_target(url: str, hosts: Sequence[str] | None) -> DownloadTarget:
    """Where ``url`` may be downloaded from, checked before any network I/O.

    The URL is parsed twice (by the standard library for the checks of `check_batch_url`, by
    httpx for the request); both must name the same host, so no parser quirk (a ``\\``, a
    ``@``, an international label) can make the check and the connection disagree.

    Raises:
        ValidationError: the URL may not be downloaded; the message says why.
    """
    checked = check_batch_url(url, hosts)
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    except (httpx.InvalidURL, UnicodeError):
        raise ValidationError("the batch URL is not a valid URL") from None
    if not host or host != ascii_host(checked):
        raise ValidationError("the batch URL is not a valid URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    listed = hosts is not None
    return DownloadTarget(
        url=parsed, host=host, port=port, listed=listed, literal=is_ip_literal(host)
    )


def checked_addresses(target: DownloadTarget, addresses: Iterable[str]) -> tuple[str, ...]:
    """The addresses the download may connect to, in the order given (duplicates dropped).

    Raises:
        ValidationError: no address, or (for a host the app does not list) an address that
            is not public: the download is refused before any connection.
    """
    found = tuple(dict.fromkeys(addresses))
    if not found:
        raise ValidationError("the batch URL's host could not be resolved")
    if not target.listed:
        check_batch_url(str(target.url), None, found)
    return found


def _literal_addresses(target: DownloadTarget) -> list[str] | None:
    return [target.host] if target.literal else None


def lookup(target: DownloadTarget, resolver: SyncResolver) -> DownloadTarget:
    """``target`` with its checked addresses: the host looked up once (an IP address is used
    as it is), every address checked.

    Raises:
        ValidationError: the host could not be resolved or its addresses are refused.
    """
    addresses = _literal_addresses(target)
    if addresses is None:
        try:
            addresses = resolver(target.host, target.port)
        except (OSError, UnicodeError):
            raise ValidationError("the batch URL's host could not be resolved") from None
    return attrs.evolve(target, addresses=checked_addresses(target, addresses))


async def alookup(target: DownloadTarget, resolver: Resolver) -> DownloadTarget:
    """`lookup` with an asynchronous resolver."""
    addresses = _literal_addresses(target)
    if addresses is None:
        try:
            addresses = await resolver(target.host, target.port)
        except (OSError, UnicodeError):
            raise ValidationError("the batch URL's host could not be resolved") from None
    return attrs.evolve(target, addresses=checked_addresses(target, addresses))


# ---------------------------------------------------------------------- the bytes and limits


class BatchFeed:
    """What one batch download decides: its users (or accounts) in chunks, its limits, its
    answer.

    Feed it what is read; it returns the chunks of users ready to be synced and notes when the
    download must stop (``stopped``): ``batch_too_large`` past ``max_bytes`` bytes,
    ``batch_too_slow`` past ``max_seconds`` seconds (counted from its creation), or
    ``download_failed`` when reading failed. Users read in full before a stop are synced like
    the others; the line cut by the stop is dropped.

    Args:
        accounts: the file's lines are accounts (``account_report``), not users.
        chunk_size: users synced at a time.
        max_line_bytes: a longer line is one malformed user.
        max_bytes: bytes of the file read at most.
        max_seconds: seconds the download may take.
        clock: a monotonic clock in seconds.

    Raises:
        ConfigurationError: a bound below 1 (``max_seconds``: not above 0).
    """

    def __init__(
        self,
        *,
        accounts: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_seconds: float = DEFAULT_MAX_BATCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        problems = check_limits(
            chunk_size=chunk_size,
            max_line_bytes=max_line_bytes,
            max_bytes=max_bytes,
            max_seconds=max_seconds,
        )
        if problems:
            raise ConfigurationError(problems)
        self.accounts = accounts
        self.chunk_size = chunk_size
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.clock = clock
        self.deadline = clock() + max_seconds
        self.stopped: str | None = None
        self.tally = _answers.BatchTally(kind="accounts" if accounts else "users")
        self._lines = JsonLines(max_line_bytes)
        self._chunk: list[Mapping[str, Any]] = []
        self._read = 0
        self._error = ""

    @property
    def bytes_read(self) -> int:
        """Bytes of the file taken so far."""
        return self._read

    def time_left(self) -> float:
        """Seconds before the deadline (0 or less: it passed)."""
        return self.deadline - self.clock()

    def feed(self, data: bytes) -> list[list[Mapping[str, Any]]]:
        """Take ``data``; return the full chunks of users to sync now (often none).

        Data arriving after the deadline, or past ``max_bytes``, is not used: the download
        stops (``stopped`` says why).
        """
        if self.stopped is not None:
            return []
        if self.time_left() <= 0:
            self.stopped = "batch_too_slow"
            return []
        room = self.max_bytes - self._read
        if len(data) > room:
            data = data[:room]
            self.stopped = "batch_too_large"
        self._read += len(data)
        ready: list[list[Mapping[str, Any]]] = []
        for record in self._lines.feed(data):
            if self.tally.add(record, self._chunk) and len(self._chunk) >= self.chunk_size:
                ready.append(self._chunk)
                self._chunk = []
        return ready

    def fail(self, exc: Exception) -> None:
        """Reading failed with ``exc``: past the deadline it is the deadline that stopped it."""
        if self.stopped is not None:
            return
        if self.time_left() <= 0:
            self.stopped = "batch_too_slow"
        else:
            self.stopped = "download_failed"
            self._error = type(exc).__name__

    def rest(self) -> list[Mapping[str, Any]]:
        """The users not synced yet (with the file's last line when it was read to its end)."""
        if self.stopped is None:
            for record in self._lines.close():
                self.tally.add(record, self._chunk)
        rest, self._chunk = self._chunk, []
        return rest

    def count(self, report: SyncReport) -> None:
        """Add the report of one synced chunk."""
        self.tally.count(report)

    def answer(self) -> NotificationAnswer:
        """200 with the counts when the file was read to its end; else 502, with the counts of
        the users read before the stop, and the stop's reason."""
        if self.stopped is None:
            return self.tally.answer()
        if self.stopped == "batch_too_large":
            why = f"the batch file is larger than {self.max_bytes} bytes"
        elif self.stopped == "batch_too_slow":
            why = f"the batch file took longer than {self.max_seconds:g} seconds to download"
        else:
            why = f"the batch file could not be downloaded to its end ({self._error})"
        return _answers.batch_stopped(self.stopped, why, self.tally)


def check_limits(
    *, chunk_size: int, max_line_bytes: int, max_bytes: int, max_seconds: float
) -> list[str]:
    """What is wrong with the bounds of a batch download (nothing: an empty list)."""
    problems = []
    for name, value in (("batch_chunk_size", chunk_size), ("max_batch_line_bytes", max_line_bytes),
                        ("max_batch_bytes", max_bytes)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name} must be a whole number of at least 1, got {value!r}")
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, int | float)
        or not 0 < max_seconds < float("inf")
    ):
        problems.append(f"max_batch_seconds must be seconds above 0, got {max_seconds!r}")
    return problems


def request_arguments(target: DownloadTarget) -> dict[str, Any]:
    """The keyword arguments of the pool's ``stream()`` for the batch file's ``GET``."""
    url = target.url
    return {
        "method": b"GET",
        "url": httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        "headers": list(_HEADERS),
        "extensions": {"timeout": DOWNLOAD_TIMEOUT.as_dict()},
    }
