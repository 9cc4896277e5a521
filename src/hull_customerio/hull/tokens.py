"""Hull user tokens (SPEC §5.1): the HS256 JWT that authenticates each firehose message.

A firehose message acts *as* one user. Hull reads which user from the ``io.hull.asUser`` claim
of a JWT signed with the connector secret, so the token is both the credential and the address.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import jwt

from hull_customerio.errors import ValidationError

__all__ = ["USER_CLAIM_NAMES", "make_user_token", "user_claims"]

#: The identity claims Hull resolves a user by; anything else in a claims mapping is ignored.
USER_CLAIM_NAMES: tuple[str, ...] = ("id", "email", "external_id", "anonymous_id")


def user_claims(claims: Mapping[str, object]) -> dict[str, str]:
    """Keep the identity claims Hull understands, dropping missing and blank values.

    Args:
        claims: any mapping describing a user, e.g. ``{"email": "a@b.io", "name": "Ann"}``.
            Only ``id``, ``email``, ``external_id`` and ``anonymous_id`` are kept; a ``None``
            or blank (whitespace only) value counts as missing.

    Returns:
        The usable claims, in the order of :data:`USER_CLAIM_NAMES`.

    Raises:
        ValidationError: no usable claim is left, or a claim is not a string. The message
            names the claims, never their values (they are personal data).
    """
    usable: dict[str, str] = {}
    problems: list[str] = []
    for name in USER_CLAIM_NAMES:
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"{name}: must be a string, not {type(value).__name__}")
            continue
        if value.strip():
            usable[name] = value
    if problems:
        raise ValidationError("Invalid Hull user claims: " + "; ".join(problems), problems)
    if not usable:
        names = ", ".join(USER_CLAIM_NAMES)
        problem = f"no usable claim: give at least one non-blank value among {names}"
        raise ValidationError(f"Cannot address a Hull user: {problem}", [problem])
    return usable


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
        claims: the user's identity; filtered by :func:`user_claims`.
        connector_id: the connector id, sent as ``iss``.
        secret: the connector secret; the HS256 signing key.
        create: ``io.hull.create``: whether Hull creates the user when no one matches.
        active: ``io.hull.active``: whether Hull treats the user as active (processed first).
        now: Unix seconds to use as ``iat`` (for tests); defaults to the current time.

    Returns:
        The encoded token.

    Raises:
        ValidationError: no usable claim (see :func:`user_claims`).
    """
    payload: dict[str, object] = {
        "iss": connector_id,
        "iat": int(time.time() if now is None else now),
        "io.hull.asUser": user_claims(claims),
        "io.hull.subjectType": "user",
        "io.hull.create": create,
        "io.hull.active": active,
    }
    return jwt.encode(payload, secret, algorithm="HS256")
