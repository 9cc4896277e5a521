"""Hull batch files: the request, where the file may come from, and its JSON lines.

Hull's "send to connector" batches and exports name a JSON-lines file to download; each line is
one user (the shape of a ``user:update`` message) or, for an ``account_report`` file, one
account (the shape of an ``account:update`` message). This module is pure: it reads the request,
decides whether a URL may be fetched (given the addresses its host resolves to) and splits the
downloaded bytes into lines with a bound on each line's size.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from ..errors import ValidationError
from ._tokens import HullCredentials, is_header_safe

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BATCH_SECONDS",
    "DEFAULT_MAX_LINE_BYTES",
    "OBJECT_TYPES",
    "BatchRequest",
    "JsonLines",
    "ascii_host",
    "check_batch_url",
    "credentials_from_query",
    "is_ip_literal",
    "is_public_address",
    "parse_batch_request",
]

#: Users sent through the engine at a time while a batch file streams in.
DEFAULT_CHUNK_SIZE = 500
#: A line longer than this is one malformed user, not a reason to hold it all in memory.
DEFAULT_MAX_LINE_BYTES = 1_000_000
#: A batch download stops after this many bytes of the file (5 GB).
DEFAULT_MAX_BATCH_BYTES = 5_000_000_000
#: A batch download stops this many seconds after it started (one hour).
DEFAULT_MAX_BATCH_SECONDS = 3600.0
_MAX_BODY = 64_000
#: One label of a host name as it goes on the wire (letters, digits, ``-``; ``_`` is seen in
#: real names too).
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")


#: The kinds of batch file: users (``user_report``) and accounts (``account_report``).
OBJECT_TYPES = ("user_report", "account_report")


@attrs.frozen
class BatchRequest:
    """What Hull asks: download ``url`` (JSON lines of ``object_type`` records)."""

    url: str
    format: str
    object_type: str

    @property
    def accounts(self) -> bool:
        """Whether the file's lines are accounts (``account_report``), not users."""
        return self.object_type == "account_report"


def parse_batch_request(body: bytes) -> BatchRequest:
    """Read ``{"url", "format": "json", "object_type": "user_report" | "account_report"}``.

    Raises:
        ValidationError: the body is not such an object, or asks for another format or type.
    """
    if len(body) > _MAX_BODY:
        raise ValidationError("the batch request body is too large")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationError("the batch request body is not JSON") from None
    if not isinstance(payload, dict):
        raise ValidationError("the batch request body must be a JSON object")
    url = payload.get("url")
    if not isinstance(url, str) or not url:
        raise ValidationError("the batch request has no 'url'")
    fmt = payload.get("format", "json")
    object_type = payload.get("object_type", "user_report")
    if fmt != "json":
        raise ValidationError("only batch files of format 'json' (JSON lines) are supported")
    if object_type not in OBJECT_TYPES:
        raise ValidationError(
            "only batch files of object_type 'user_report' or 'account_report' are supported"
        )
    return BatchRequest(url=url, format=fmt, object_type=object_type)


def credentials_from_query(query: Mapping[str, str]) -> HullCredentials | None:
    """The connector's credentials from a query (``organization``, ``id`` or ``ship``,
    ``secret``), or ``None`` when one is missing or could not be a credential."""
    organization = query.get("organization")
    connector_id = query.get("id") or query.get("ship")
    secret = query.get("secret")
    values = (organization, connector_id, secret)
    if not all(is_header_safe(v) for v in values):
        return None
    return HullCredentials(str(organization), str(connector_id), str(secret))


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP) is a public one: not loopback, private, link-local..."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def ascii_host(host: str) -> str:
    """``host`` as it is looked up and named on the wire: an IP literal as it is, a host name
    in lower case, international labels as ``xn--`` labels, no trailing dot.

    Raises:
        ValidationError: ``host`` is not an IP literal nor a valid host name (an empty or
            overlong label, a character no host name has, an ``xn--`` label that does not
            decode).
    """
    host = host.lower().rstrip(".")
    if is_ip_literal(host):
        return host
    try:
        encoded = host.encode("idna").decode("ascii")
        labels = encoded.split(".")
        for label in labels:
            if label.startswith("xn--"):
                label.encode("ascii").decode("idna")  # raises for a label that is not punycode
    except UnicodeError:
        raise ValidationError("the batch URL's host is not a valid host name") from None
    if len(encoded) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValidationError("the batch URL's host is not a valid host name")
    return encoded


def _host_of(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises for a bad port
    except ValueError:
        raise ValidationError("the batch URL is not a valid URL") from None
    if not host:
        raise ValidationError("the batch URL has no host")
    if "@" in parts.netloc:
        # Credentials in a URL, or a host hidden behind them (``https://a.example\@b.example``).
        raise ValidationError("the batch URL must not carry user-info")
    ascii_host(host)
    return parts.scheme.lower(), host.lower().rstrip(".")


def check_batch_url(
    url: str, allowed_hosts: Sequence[str] | None, addresses: Iterable[str] | None = None
) -> str:
    """Whether the app may download ``url``; return its host.

    Args:
        url: the URL Hull named.
        allowed_hosts: ``None``: any public ``https`` host; else only these hosts. A listed
            host is trusted as it is: it may be a loopback or private address (for tests), and
            then plain ``http`` is accepted for it too.
        addresses: the addresses the host resolves to; checked when ``allowed_hosts`` is
            ``None`` (every one must be public). ``None``: not resolved yet (only IP literals
            and ``localhost`` are judged).

    Raises:
        ValidationError: the URL must not be fetched; the message says why.
    """
    scheme, host = _host_of(url)
    if allowed_hosts is not None:
        listed = {h.lower().rstrip(".") for h in allowed_hosts}
        if host not in listed:
            raise ValidationError(f"the batch URL's host {host!r} is not an allowed host")
        if scheme not in ("https", "http") or (scheme == "http" and is_public_address(host)):
            raise ValidationError("the batch URL must use https")
        if scheme == "http" and not is_ip_literal(host) and host != "localhost":
            raise ValidationError("the batch URL must use https")
        return host
    if scheme != "https":
        raise ValidationError("the batch URL must use https")
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationError("the batch URL must name a public host")
    if is_ip_literal(host) and not is_public_address(host):
        raise ValidationError("the batch URL must name a public host")
    if addresses is not None:
        resolved = list(addresses)
        if not resolved or not all(is_public_address(a) for a in resolved):
            raise ValidationError("the batch URL's host does not resolve to a public address")
    return host


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (IPv4, or IPv6 with an optional zone)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


@attrs.frozen
class BadLine:
    """A line of the batch file that is not one JSON object (kept short)."""

    number: int
    error: str


class JsonLines:
    """Splits a byte stream into JSON lines, holding at most one line (bounded) in memory.

    Feed it the downloaded chunks; it returns each complete line parsed (a ``dict``) or a
    `BadLine`. A line over ``max_line_bytes`` is skipped up to its end and reported as
    bad without being kept. Blank lines are ignored.
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._partial = bytearray()
        self._skipping = False
        self._number = 0

    def feed(self, data: bytes) -> list[dict[str, Any] | BadLine]:
        """The records completed by ``data``."""
        records: list[dict[str, Any] | BadLine] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                self._keep(data[start:])
                return records
            self._keep(data[start:end])
            record = self._finish_line()
            if record is not None:
                records.append(record)
            start = end + 1

    def close(self) -> list[dict[str, Any] | BadLine]:
        """The last record, when the file does not end with a newline."""
        record = self._finish_line()
        return [] if record is None else [record]

    def _keep(self, piece: bytes) -> None:
        if self._skipping:
            return
        if len(self._partial) + len(piece) > self.max_line_bytes:
            self._partial.clear()
            self._skipping = True
            return
        self._partial += piece

    def _finish_line(self) -> dict[str, Any] | BadLine | None:
        if self._skipping:
            self._skipping = False
            self._number += 1
            return BadLine(self._number, f"line {self._number} is too long")
        line = bytes(self._partial).strip()
        self._partial.clear()
        if not line:
            return None
        self._number += 1
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return BadLine(self._number, f"line {self._number} is not JSON")
        if not isinstance(record, dict):
            return BadLine(self._number, f"line {self._number} is not a JSON object")
        return record
