"""Which organizations a hub may build Hull's URL from.

A hub serving many connectors learns each connector's organization from the request itself
(a notification's ``configuration``, a query, a webhook URL's token), and Hull's API lives at
``https://<organization>/api/v1``. Before anything is sent there, the organization must be a
plain host name under one of the trusted Hull domains: otherwise whoever sends the request
would choose where the service connects (any host, port or path, the service's own network
included). This module is pure: it decides without resolving or connecting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

import httpx

__all__ = ["MAX_HOST_LENGTH", "trusted_hull_host"]

#: The longest host name DNS allows.
MAX_HOST_LENGTH: Final = 253
#: One DNS label: letters, digits and inner hyphens, at most 63 characters.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def trusted_hull_host(organization: object, trusted_domains: Iterable[str]) -> str | None:
    """The organization's host name when Hull's URL may be built from it, else ``None``.

    Accepted: a host name of ASCII letters, digits, hyphens and dots (case and one trailing
    dot ignored; an ``https://`` prefix and a trailing ``/`` are tolerated, as Hull sends
    them), every ``xn--`` label a valid international name, the whole under one of
    ``trusted_domains`` (the domain itself or a subdomain). Refused: an IP literal, a port, a
    path, a query or fragment, user info, any other character, and undecodable punycode.
    """
    if not isinstance(organization, str):
        return None
    host = organization.strip()
    if host.lower().startswith("https://"):
        host = host[len("https://") :]
    if host.endswith("/"):
        host = host[:-1]
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > MAX_HOST_LENGTH or not host.isascii():
        return None
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None  # an IPv4 literal, or something a resolver may read as one
    if any(label.startswith("xn--") for label in labels) and not _decodes(host):
        return None
    if not _under(host, trusted_domains):
        return None
    return host


def _decodes(host: str) -> bool:
    """Whether ``host`` is read by httpx (and the ``idna`` codec under it) without error."""
    try:
        return bool(httpx.URL(f"https://{host}/").host)
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return False


def _under(host: str, trusted_domains: Iterable[str]) -> bool:
    for entry in trusted_domains:
        domain = entry.strip().lower().strip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False
