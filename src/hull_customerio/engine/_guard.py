"""Hull's signature and the `NotificationGuard` that checks a notification before use.

No I/O here: when the guard needs Hull's public key it yields a `KeyRequest` and a driver
(`run_checks` / `arun_checks` in `_notifications`) answers it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Final, Literal, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ..errors import ConfigurationError, NotificationAuthenticationError
from ..models.notification import HullConfiguration
from . import _core
from ._answers import NotificationEnvelope
from ._keys import (
    KeyRequest,
    KeyResponse,
    NotificationKeyCache,
    parse_configured_key,
    read_public_key,
    trusted_key_url,
)

SIGNATURE_HEADER: Final = "x-hull-smart-notifier-signature"
SIGNATURE_VERSION_HEADER: Final = "x-hull-smart-notifier-signature-version"
KEY_URL_HEADER: Final = "x-hull-smart-notifier-signature-public-key-url"
_SIGNATURE_VERSIONS: Final = frozenset({"v1"})

#: Clock tolerance for the signature's ``exp`` / ``nbf`` / ``iat``, in seconds.
SIGNATURE_LEEWAY: Final = 60.0
#: A signature longer than this is refused without further work (Hull's are ~400 bytes).
MAX_SIGNATURE_LENGTH: Final = 8192

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


def _normalize_organization(organization: str) -> str:
    host = organization.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    return host.rstrip("/")
