"""Hull user and account tokens: the HS256 JWT that authenticates each firehose message.

A firehose message acts *as* one user, or one account. Hull reads which from the
``io.hull.asUser`` (or ``io.hull.asAccount``) claim of a JWT signed with the connector secret, so
the token is both the credential and the address.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from typing import Literal

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_encode

from hull_customerio._serialization import one_shot
from hull_customerio.errors import ValidationError

__all__ = [
    "ACCOUNT_CLAIM_NAMES",
    "USER_CLAIM_NAMES",
    "UserTokenSigner",
    "account_claims",
    "make_account_token",
    "make_user_token",
    "user_claims",
]

#: The identity claims Hull resolves a user by; anything else in a claims mapping is ignored.
USER_CLAIM_NAMES: tuple[str, ...] = ("id", "email", "external_id", "anonymous_id")
#: The identity claims Hull resolves an account by; anything else is ignored.
ACCOUNT_CLAIM_NAMES: tuple[str, ...] = ("id", "external_id", "domain")


def _usable_claims(
    claims: Mapping[str, object], names: tuple[str, ...], what: str
) -> dict[str, str]:
    usable: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"{name}: must be a string, not {type(value).__name__}")
            continue
        if value.strip():
            usable[name] = value
    if problems:
        raise ValidationError(f"Invalid Hull {what} claims: " + "; ".join(problems), problems)
    if not usable:
        problem = f"no usable claim: give at least one non-blank value among {', '.join(names)}"
        raise ValidationError(f"Cannot address a Hull {what}: {problem}", [problem])
    return usable


def account_claims(claims: Mapping[str, object]) -> dict[str, str]:
    """Keep the identity claims Hull resolves an account by, dropping missing and blank values.

    Args:
        claims: any mapping describing an account, e.g. ``{"domain": "acme.io", "name": ...}``.
            Only ``id``, ``external_id`` and ``domain`` are kept; a ``None`` or blank
            (whitespace only) value counts as missing.

    Returns:
        The usable claims, in the order of `ACCOUNT_CLAIM_NAMES`.

    Raises:
        ValidationError: no usable claim is left, or a claim is not a string. The message
            names the claims, never their values.
    """
    return _usable_claims(claims, ACCOUNT_CLAIM_NAMES, "account")


def user_claims(claims: Mapping[str, object]) -> dict[str, str]:
    """Keep the identity claims Hull understands, dropping missing and blank values.

    Args:
        claims: any mapping describing a user, e.g. ``{"email": "a@b.io", "name": "Ann"}``.
            Only ``id``, ``email``, ``external_id`` and ``anonymous_id`` are kept; a ``None``
            or blank (whitespace only) value counts as missing.

    Returns:
        The usable claims, in the order of `USER_CLAIM_NAMES`.

    Raises:
        ValidationError: no usable claim is left, or a claim is not a string. The message
            names the claims, never their values (they are personal data).
    """
    return _usable_claims(claims, USER_CLAIM_NAMES, "user")


def make_user_token(
    claims: Mapping[str, object],
    *,
    connector_id: str,
    secret: str,
    create: bool = True,
    active: bool = False,
    now: float | None = None,
) -> str:
    """Sign the JWT that lets a firehose message act as one Hull user.

    Args:
        claims: the user's identity; filtered by `user_claims`.
        connector_id: the connector id, sent as ``iss``.
        secret: the connector secret; the HS256 signing key.
        create: ``io.hull.create``: whether Hull creates the user when no one matches.
        active: ``io.hull.active``: whether Hull treats the user as active (processed first).
        now: Unix seconds to use as ``iat`` (for tests); defaults to the current time.

    Returns:
        The encoded token.

    Raises:
        ValidationError: no usable claim (see `user_claims`).
    """
    options = {"io.hull.create": create, "io.hull.active": active}
    iat = int(time.time() if now is None else now)
    payload = _payload("user", user_claims(claims), options, connector_id=connector_id, iat=iat)
    return jwt.encode(payload, secret, algorithm="HS256")


def make_account_token(
    claims: Mapping[str, object], *, connector_id: str, secret: str, now: float | None = None
) -> str:
    """Sign the JWT that lets a firehose message act as one Hull account.

    Its claims are ``iss``, ``iat``, ``io.hull.asAccount`` (the account's identity) and
    ``io.hull.subjectType`` = ``"account"``.

    Args:
        claims: the account's identity; filtered by `account_claims`.
        connector_id: the connector id, sent as ``iss``.
        secret: the connector secret; the HS256 signing key.
        now: Unix seconds to use as ``iat`` (for tests); defaults to the current time.

    Returns:
        The encoded token.

    Raises:
        ValidationError: no usable claim (see `account_claims`).
    """
    iat = int(time.time() if now is None else now)
    payload = _payload("account", account_claims(claims), {}, connector_id=connector_id, iat=iat)
    return jwt.encode(payload, secret, algorithm="HS256")


def _payload(
    subject_type: Literal["user", "account"],
    identity: Mapping[str, str],
    options: Mapping[str, object],
    *,
    connector_id: str,
    iat: int,
) -> dict[str, object]:
    """The claims of a token acting as one subject: iss, iat, the subject, its options."""
    as_claim = "io.hull.asUser" if subject_type == "user" else "io.hull.asAccount"
    return {
        "iss": connector_id,
        "iat": iat,
        as_claim: identity,
        "io.hull.subjectType": subject_type,
        **options,
    }


#: The JOSE header PyJWT writes for an HS256 token, base64url-encoded (it sorts the keys).
_HS256_HEADER = base64url_encode(
    json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":"), sort_keys=True).encode()
)
#: ``json.dumps(payload, separators=(",", ":"))``, PyJWT's encoding, without building an
#: encoder per token.
_encode_payload = one_shot(json.JSONEncoder(separators=(",", ":")))
#: Tokens one signer keeps for the current second (see `UserTokenSigner`).
_MAX_CACHED_TOKENS = 1024


class UserTokenSigner:
    """Signs the user tokens of one connector, as `make_user_token` does, for less work.

    The result is byte for byte the token `make_user_token` gives for the same claims
    and second: PyJWT's HS256 algorithm signs it, with the secret prepared once (PyJWT checks
    on every ``jwt.encode`` that an HMAC secret is not an asymmetric key, which costs more
    than the signature itself). A token signed in the current second is reused for the same
    claims and flags: it is the very token signing again would give, so ``iat`` is always the
    current second.

    Args:
        connector_id: the connector id, sent as ``iss``.
        secret: the connector secret; the HS256 signing key.
    """

    def __init__(self, connector_id: str, secret: str) -> None:
        self._connector_id = connector_id
        self._secret = secret
        self._algorithm = HMACAlgorithm(HMACAlgorithm.SHA256)
        self._key: bytes | None = None
        self._second = -1
        self._tokens: dict[tuple[object, ...], tuple[str, tuple[str, ...]]] = {}

    def __repr__(self) -> str:
        return f"UserTokenSigner(connector_id={self._connector_id!r})"

    def _prepared_key(self) -> bytes:
        if self._key is None:
            # Raises PyJWT's InvalidKeyError for a secret shaped like an asymmetric key, and
            # warns about a short one, as jwt.encode would (once here, not per token).
            key = self._algorithm.prepare_key(self._secret)
            check = getattr(self._algorithm, "check_key_length", None)  # PyJWT >= 2.10
            message = check(key) if check is not None else None
            if message:
                from jwt.warnings import InsecureKeyLengthWarning  # noqa: PLC0415 -- >= 2.10

                warnings.warn(message, InsecureKeyLengthWarning, stacklevel=4)
            self._key = key
        return self._key

    def sign(
        self, claims: Mapping[str, object], *, create: bool = True, active: bool = False
    ) -> tuple[str, tuple[str, ...]]:
        """The token acting as the user of ``claims``, and the names of the claims it carries.

        Raises:
            ValidationError: no usable claim (see `user_claims`).
        """
        usable = user_claims(claims)
        second = int(time.time())
        # The second is part of the key: a token of an earlier second is never handed out,
        # even when threads race around the clearing in `_store`.
        cache_key = (second, create, active, *usable.items())
        found = self._tokens.get(cache_key)
        if found is not None:
            return found
        options = {"io.hull.create": create, "io.hull.active": active}
        payload = _payload("user", usable, options, connector_id=self._connector_id, iat=second)
        return self._store(cache_key, second, payload, tuple(usable))

    def sign_account(self, claims: Mapping[str, object]) -> tuple[str, tuple[str, ...]]:
        """The token acting as the account of ``claims`` (as `make_account_token` signs it),
        and the names of the claims it carries.

        Raises:
            ValidationError: no usable claim (see `account_claims`).
        """
        usable = account_claims(claims)
        second = int(time.time())
        cache_key = (second, "account", *usable.items())  # never a user key: no bools there
        found = self._tokens.get(cache_key)
        if found is not None:
            return found
        payload = _payload("account", usable, {}, connector_id=self._connector_id, iat=second)
        return self._store(cache_key, second, payload, tuple(usable))

    def _store(
        self,
        cache_key: tuple[object, ...],
        second: int,
        payload: Mapping[str, object],
        names: tuple[str, ...],
    ) -> tuple[str, tuple[str, ...]]:
        """Sign ``payload`` and keep the token for the rest of ``second``."""
        # As PyJWT encodes a payload: compact JSON, UTF-8.
        body = base64url_encode(_encode_payload(payload).encode("utf-8"))
        signing_input = b"".join((_HS256_HEADER, b".", body))
        signature = self._algorithm.sign(signing_input, self._prepared_key())
        token = b"".join((signing_input, b".", base64url_encode(signature))).decode("utf-8")
        signed = (token, names)
        if second != self._second or len(self._tokens) >= _MAX_CACHED_TOKENS:
            self._tokens = {}
            self._second = second
        self._tokens[cache_key] = signed
        return signed
