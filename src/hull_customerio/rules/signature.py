"""Is this webhook really from Customer.io?

Customer.io signs each reporting webhook: ``X-CIO-Signature`` is the lowercase hex
HMAC-SHA256, keyed with the webhook's signing key, of ``v0:<X-CIO-Timestamp>:<raw body>``.
Checking the timestamp against a tolerance window stops a captured request from being replayed
later.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from typing import Literal, NoReturn

from hull_customerio.errors import WebhookVerificationError

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "VerificationFailure",
    "sign_webhook",
    "verify_webhook_request",
    "verify_webhook_signature",
]

#: The header carrying the signature.
SIGNATURE_HEADER = "X-CIO-Signature"
#: The header carrying the unix time (seconds) at which Customer.io signed the request.
TIMESTAMP_HEADER = "X-CIO-Timestamp"
#: Seconds a webhook's timestamp may differ from now, either way.
DEFAULT_TOLERANCE = 300.0

#: The ``reason`` codes of `WebhookVerificationError`.
VerificationFailure = Literal[
    "missing_signature",
    "missing_timestamp",
    "invalid_timestamp",
    "stale_timestamp",
    "signature_mismatch",
]

# 15 digits reach far past the year 9999; longer strings are refused before int() has to read
# (and Python caps int() at 4300 digits anyway).
_MAX_TIMESTAMP_DIGITS = 15


def sign_webhook(body: bytes, *, timestamp: str | int, signing_key: str) -> str:
    """The ``X-CIO-Signature`` Customer.io would send for this body and timestamp.

    Useful to build signed webhooks in tests, fakes and examples.

    Args:
        body: the raw request body, exactly as it will be sent.
        timestamp: the ``X-CIO-Timestamp`` value (unix seconds).
        signing_key: the reporting webhook's signing key.

    Returns:
        The signature, lowercase hex.
    """
    message = b"v0:" + str(timestamp).encode("utf-8") + b":" + body
    return hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_webhook_signature(
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    signing_key: str,
    tolerance: float | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that a webhook was signed by Customer.io with this key, recently.

    Args:
        body: the raw request body, byte for byte as received (not re-serialised JSON).
        timestamp: the ``X-CIO-Timestamp`` header; ``None`` or blank when it was missing.
        signature: the ``X-CIO-Signature`` header; ``None`` or blank when it was missing.
        signing_key: the reporting webhook's signing key.
        tolerance: seconds the timestamp may lie in the past or the future; ``None`` turns the
            check off (the signature is still checked).
        now: the current unix time in seconds; the system clock when ``None``.

    Raises:
        WebhookVerificationError: with ``reason`` one of ``missing_signature``,
            ``missing_timestamp``, ``invalid_timestamp``, ``stale_timestamp`` or
            ``signature_mismatch``. The message never contains the key.
        ValueError: ``tolerance`` is negative or not a number.
    """
    if tolerance is not None and not (tolerance >= 0 and not math.isnan(tolerance)):
        raise ValueError(f"tolerance must be a number of seconds >= 0 or None, got {tolerance!r}")
    signature = (signature or "").strip()
    stamp = (timestamp or "").strip()
    if not signature:
        _fail("missing_signature", f"The webhook has no {SIGNATURE_HEADER} header.")
    if not stamp:
        _fail("missing_timestamp", f"The webhook has no {TIMESTAMP_HEADER} header.")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_TIMESTAMP_DIGITS):
        _fail(
            "invalid_timestamp",
            f"The {TIMESTAMP_HEADER} header is not a unix time in seconds: {stamp[:40]!r}.",
        )
    if tolerance is not None:
        skew = (time.time() if now is None else now) - int(stamp)
        if abs(skew) > tolerance:
            when = "in the past" if skew > 0 else "in the future"
            _fail(
                "stale_timestamp",
                f"The webhook timestamp is {abs(skew):.0f} s {when}, beyond the tolerance of "
                f"{tolerance:g} s; a replayed or delayed request is refused.",
            )
    expected = sign_webhook(body, timestamp=stamp, signing_key=signing_key)
    # Hex is case-insensitive; errors="replace" keeps non-ASCII input comparable (and unequal).
    received = signature.lower().encode("ascii", errors="replace")
    if not hmac.compare_digest(expected.encode("ascii"), received):
        _fail(
            "signature_mismatch",
            f"The {SIGNATURE_HEADER} header does not match the body: the request was changed, "
            "or it was signed with another key.",
        )


def verify_webhook_request(
    body: bytes,
    headers: Mapping[str, str | bytes],
    *,
    signing_key: str | None,
    tolerance: float | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Verify a webhook from its request headers, when a signing key is configured.

    Header names are matched case-insensitively (``x-cio-signature`` works).

    Args:
        body: the raw request body, byte for byte as received.
        headers: the request headers, any mapping (``dict``, ``httpx.Headers``, a web
            framework's headers object); ``bytes`` values are read as Latin-1.
        signing_key: the configured signing key (``Settings.webhook_signing_key``). ``None``
            or blank skips verification, for setups that predate signed webhooks.
        tolerance: as in [`verify_webhook_signature`][hull_customerio.verify_webhook_signature].
        now: as in [`verify_webhook_signature`][hull_customerio.verify_webhook_signature].

    Returns:
        ``True`` when the signature was checked and is valid, ``False`` when verification was
        skipped because no signing key is configured.

    Raises:
        WebhookVerificationError: the signature or timestamp does not check out.
    """
    if signing_key is None or not signing_key.strip():
        return False
    verify_webhook_signature(
        body,
        timestamp=_header(headers, TIMESTAMP_HEADER),
        signature=_header(headers, SIGNATURE_HEADER),
        signing_key=signing_key,
        tolerance=tolerance,
        now=now,
    )
    return True


def _header(headers: Mapping[str, str | bytes], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            if isinstance(value, bytes):
                return value.decode("latin-1")
            return value if isinstance(value, str) else None
    return None


def _fail(reason: VerificationFailure, message: str) -> NoReturn:
    raise WebhookVerificationError(message, reason=reason)
