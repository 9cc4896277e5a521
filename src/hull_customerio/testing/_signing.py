"""How `FakeHull` signs smart-notifier notifications as Hull does, and serves its public key."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._replies import _Reply

__all__ = ["NOTIFICATION_KEY_PATH", "NotificationSigning", "SignedNotification"]

#: Where `FakeHull` serves its notification public key (any method; no credentials needed).
NOTIFICATION_KEY_PATH = "/smart-notifier/public-key"


@attrs.frozen
class SignedNotification:
    """A notification as Hull would POST it: the body, byte for byte, and its headers.

    Attributes:
        body: The JSON body.
        headers: The smart-notifier headers, signature included.
        payload: The body as a dict (a copy you may alter to forge variants; re-encode it).
    """

    body: bytes
    headers: dict[str, str]
    payload: dict[str, Any] = attrs.field(repr=False)

    @property
    def notification_id(self) -> str:
        """The notification's `notification_id` (the signature's `jti`)."""
        return str(self.payload["notification_id"])


class NotificationSigning:
    """The signing half of `FakeHull`: an RSA key pair made on first use (2048 bits).

    Expects the class it is mixed into to have `id`, `secret`, `organization` and
    `private_settings`.
    """

    id: str
    secret: str
    organization: str
    private_settings: dict[str, Any]

    _key_lock = threading.Lock()
    _private_key: rsa.RSAPrivateKey | None = None

    def _signing_key(self) -> rsa.RSAPrivateKey:
        with self._key_lock:
            if self._private_key is None:
                self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._private_key

    @property
    def notification_private_key(self) -> str:
        """The private signing key (PEM, PKCS#8); assign a PEM RSA private key to sign with it.

        Generating a key pair takes a fraction of a second; a test suite that creates many
        fakes can generate one key once and give it to each.
        """
        pem = self._signing_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return pem.decode("ascii")

    @notification_private_key.setter
    def notification_private_key(self, pem: str) -> None:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            msg = "the notification key must be an RSA private key"
            raise TypeError(msg)
        with self._key_lock:
            self._private_key = key

    @property
    def notification_public_key(self) -> str:
        """The public key (PEM) that verifies this fake's notification signatures.

        Give it to a connector as `notification_public_key=` to verify without fetching.
        """
        public = self._signing_key().public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    def notification_key_url(self, base_url: str | None = None) -> str:
        """The URL that serves the public key: `base_url` + `NOTIFICATION_KEY_PATH`.

        Args:
            base_url: Default `https://<organization>`, a host under Hull's domains that a
                connector trusts by default. The fake answers it through its transport: give
                the connector `key_http_client=httpx.Client(transport=fake.transport())`
                (`httpx.AsyncClient` for an `AsyncConnector`).
        """
        return f"{(base_url or f'https://{self.organization}').rstrip('/')}{NOTIFICATION_KEY_PATH}"

    def sign_notification(
        self,
        notification_id: str,
        *,
        key_url: str | None = None,
        expires_in: int = 300,
        claims: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """The headers Hull sends with a notification: an RS256 JWT whose `jti` is its id.

        Args:
            notification_id: The notification's id (the JWT's `jti`).
            key_url: The public key URL header (default `notification_key_url()`).
            expires_in: Seconds until the signature expires (its `exp`).
            claims: Claims to add or override (e.g. `{"jti": "other"}` to forge).
        """
        now = int(time.time())
        payload: dict[str, Any] = {"jti": notification_id, "iat": now, "exp": now + expires_in}
        payload.update(claims or {})
        token = jwt.encode(payload, self._signing_key(), algorithm="RS256")
        return {
            "x-hull-smart-notifier": "true",
            "x-hull-smart-notifier-signature": token,
            "x-hull-smart-notifier-signature-version": "v1",
            "x-hull-smart-notifier-signature-public-key-url": key_url
            or self.notification_key_url(),
        }

    def notification(
        self,
        messages: Iterable[Mapping[str, Any]] = (),
        *,
        channel: str = "user:update",
        private_settings: Mapping[str, Any] | None = None,
        segments: Iterable[Mapping[str, Any]] = (),
        notification_id: str | None = None,
        is_export: bool | None = None,
    ) -> dict[str, Any]:
        """A smart-notifier notification for this connector (unsigned), as a dict.

        Args:
            messages: The `user:update` messages.
            channel: The notification's channel.
            private_settings: The connector's settings in it (default: the fake's
                `private_settings`).
            segments: The segments it lists.
            notification_id: Its id (default: a new UUID).
            is_export: Set `is_export` (omitted when `None`).
        """
        settings = self.private_settings if private_settings is None else private_settings
        payload: dict[str, Any] = {
            "notification_id": notification_id or str(uuid.uuid4()),
            "channel": channel,
            "configuration": {
                "id": self.id,
                "organization": self.organization,
                "secret": self.secret,
            },
            "connector": {"id": self.id, "private_settings": dict(settings)},
            "segments": [dict(s) for s in segments],
            "messages": [dict(m) for m in messages],
        }
        if is_export is not None:
            payload["is_export"] = is_export
        return payload

    def signed_notification(
        self,
        messages: Iterable[Mapping[str, Any]] = (),
        *,
        key_url: str | None = None,
        **options: Any,
    ) -> SignedNotification:
        """A complete signed notification: body bytes and headers, ready to POST.

        Takes `notification()`'s arguments, and `key_url` for `sign_notification()`.

        Example:
            ```python
            signed = hull.signed_notification([message], private_settings=settings)
            answer = connector.answer_notification(signed.body, signed.headers)
            ```
        """
        payload = self.notification(messages, **options)
        return self.sign_payload(payload, key_url=key_url)

    def sign_payload(
        self, payload: Mapping[str, Any], *, key_url: str | None = None
    ) -> SignedNotification:
        """Sign a notification given as a dict (its `notification_id` becomes the `jti`)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = self.sign_notification(str(payload.get("notification_id")), key_url=key_url)
        return SignedNotification(body=body, headers=headers, payload=json.loads(body))

    def _public_key_reply(self) -> _Reply:
        pem = self.notification_public_key.encode("ascii")
        return _Reply(200, pem, (("Content-Type", "application/x-pem-file"),))
