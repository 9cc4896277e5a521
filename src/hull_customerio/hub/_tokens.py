"""Webhook URL tokens: the connector's credentials, sealed with authenticated encryption.

A hub gives each Hull connector its own Customer.io webhook URL. The URL's ``token`` carries
the connector's organization, id and secret, encrypted and authenticated (ChaCha20-Poly1305
from ``cryptography``) under a key derived (HKDF-SHA256) from the service's ``token_key``. A
token that was altered in any way, or sealed under another key, does not open; nothing in it
can be read or forged without the key.

The credentials are packed compactly (the 24-hex connector id as 12 bytes) so that the whole
URL fits Customer.io's 255-character field: ``base64url(version | nonce | ciphertext | tag)``
is 39 + 4/3 x (organization + secret) characters, about 150 for a 40-character organization and
a 32-character secret.

This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigurationError

__all__ = [
    "MIN_TOKEN_KEY_BYTES",
    "HullCredentials",
    "TokenCodec",
    "build_webhook_url",
    "is_header_safe",
    "usable_credentials",
]

_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEX_ID = re.compile(r"[0-9a-f]{24}")
_FLAG_HEX_ID = 0x01
#: Longest token accepted for opening: anything longer is refused before any decoding work.
MAX_TOKEN_LENGTH = 2048


@attrs.frozen(repr=False)
class HullCredentials:
    """A Hull connector's credentials: who a request is for.

    Attributes:
        organization: the organization host, e.g. ``abc123.hullapp.io``.
        connector_id: the connector id (24 hex characters on Hull).
        secret: the connector secret; never shown in ``repr``.
    """

    organization: str
    connector_id: str
    secret: str

    def __repr__(self) -> str:
        return (
            f"HullCredentials(organization={self.organization!r}, "
            f"connector_id={self.connector_id!r}, secret='***')"
        )


def is_header_safe(text: object) -> bool:
    """Whether ``text`` can travel in an HTTP header as a credential: 1-255 printable ASCII
    characters without spaces (what Hull's organizations, ids and secrets are)."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= 255
        and text.isascii()
        and text.isprintable()
        and " " not in text
    )


def usable_credentials(credentials: HullCredentials) -> bool:
    """Whether every part of ``credentials`` is `is_header_safe`."""
    return all(
        is_header_safe(part)
        for part in (credentials.organization, credentials.connector_id, credentials.secret)
    )


#: The shortest ``token_key`` accepted, in bytes (UTF-8): as many as the key derived from it.
MIN_TOKEN_KEY_BYTES = 32
_HOW_TO_MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def check_token_key(token_key: object) -> None:
    """Refuse a ``token_key`` that is not text or is too short to be a secret.

    Webhook URLs are sealed under a key derived from ``token_key``; a short one could be
    guessed offline from a single URL, so anything under 32 bytes is refused. The message
    never shows the key, only its length.

    Raises:
        ConfigurationError: naming ``token_key`` and how to make a good one.
    """
    if not isinstance(token_key, str):
        kind = "None" if token_key is None else f"a {type(token_key).__name__}"
        raise ConfigurationError(
            [f"token_key must be a string, got {kind}; make one with: {_HOW_TO_MAKE_ONE}"]
        )
    size = len(token_key.encode("utf-8", "surrogatepass"))
    if size < MIN_TOKEN_KEY_BYTES:
        raise ConfigurationError(
            [
                f"token_key must be at least {MIN_TOKEN_KEY_BYTES} bytes of random text, got "
                f"{size}; make one with: {_HOW_TO_MAKE_ONE}"
            ]
        )


def _derive_key(token_key: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"hull-customerio",
        info=b"hull-customerio webhook url token v1",
    )
    return hkdf.derive(token_key.encode("utf-8", "surrogatepass"))


def _short(text: str, what: str) -> bytes:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError([f"{what} is not valid text"]) from None
    if not data:
        raise ConfigurationError([f"{what} must not be empty"])
    if len(data) > 255:
        raise ConfigurationError([f"{what} is longer than 255 bytes"])
    return data


def _pack(credentials: HullCredentials) -> bytes:
    organization = _short(credentials.organization, "organization")
    secret = _short(credentials.secret, "secret")
    connector_id = credentials.connector_id
    if _HEX_ID.fullmatch(connector_id):
        head = bytes([_FLAG_HEX_ID]) + bytes.fromhex(connector_id)
    else:
        raw_id = _short(connector_id, "connector_id")
        head = bytes([0, len(raw_id)]) + raw_id
    return head + bytes([len(organization)]) + organization + secret


def _unpack(data: bytes) -> HullCredentials | None:
    try:
        flags, rest = data[0], data[1:]
        if flags == _FLAG_HEX_ID:
            connector_id, rest = rest[:12].hex(), rest[12:]
            if len(connector_id) != 24:
                return None
        elif flags == 0:
            size = rest[0]
            connector_id, rest = rest[1 : 1 + size].decode("utf-8"), rest[1 + size :]
        else:
            return None
        size = rest[0]
        organization = rest[1 : 1 + size].decode("utf-8")
        secret = rest[1 + size :].decode("utf-8")
    except (IndexError, UnicodeDecodeError):
        return None
    if not (connector_id and organization and secret) or len(organization.encode()) != size:
        return None
    return HullCredentials(organization, connector_id, secret)


class TokenCodec:
    """Seals and opens webhook URL tokens under one ``token_key``.

    Tokens sealed by one codec open with any other built from the same ``token_key`` (another
    process, a restart), and with no other.

    Args:
        token_key: the service's own secret: random text of at least 32 bytes (UTF-8), e.g.
            from ``python -c "import secrets; print(secrets.token_urlsafe(32))"``.
            The encryption key is derived from it.

    Raises:
        ConfigurationError: ``token_key`` is not text, or shorter than 32 bytes.
    """

    __slots__ = ("_aead",)

    def __init__(self, token_key: str) -> None:
        check_token_key(token_key)
        self._aead = ChaCha20Poly1305(_derive_key(token_key))

    def __repr__(self) -> str:
        return "TokenCodec(token_key='***')"

    def seal(self, credentials: HullCredentials) -> str:
        """The URL-safe token carrying ``credentials``; a new random nonce each time.

        Raises:
            ConfigurationError: a credential is empty, not text, or longer than 255 bytes.
        """
        header = bytes([_VERSION])
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, _pack(credentials), header)
        return _encode(header + nonce + sealed)

    def open(self, token: str) -> HullCredentials | None:
        """The credentials in ``token``, or ``None`` when it is missing, altered or foreign."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        # Only the canonical spelling opens: base64 ignores stray characters and unused bits,
        # and an altered token must never open.
        if _encode(raw) != token or len(raw) < 1 + _NONCE_SIZE + _TAG_SIZE or raw[0] != _VERSION:
            return None
        header, nonce, sealed = raw[:1], raw[1 : 1 + _NONCE_SIZE], raw[1 + _NONCE_SIZE :]
        try:
            plain = self._aead.decrypt(nonce, sealed, header)
        except InvalidTag:
            return None
        return _unpack(plain)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def build_webhook_url(base_url: str, token: str) -> str:
    """``base_url`` without trailing slashes, then ``/webhook?token=<token>``."""
    return f"{base_url.rstrip('/')}/webhook?token={token}"
