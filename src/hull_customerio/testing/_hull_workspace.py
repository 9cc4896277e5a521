"""The fake Hull organization's users and accounts and what it accepts: the records and rules.

`_Workspace` is what `FakeHull` keeps and how a firehose message changes it: each message's
JWT verified, its user (or, for an account token, its account) resolved by claims as Hull does
(created unless the token says not to), traits merged and tracks recorded. The HTTP routes and
playing Hull's side are `FakeHull`'s own.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import attrs
import jwt
from jwt.algorithms import HMACAlgorithm

from ._server import FakeService

__all__ = [
    "HullAccount",
    "HullMessage",
    "HullRejection",
    "HullStatus",
    "HullTrack",
    "HullUser",
    "claims_key",
]

_CLAIM_KINDS = ("id", "external_id", "email", "anonymous_id")
_ACCOUNT_CLAIM_KINDS = ("id", "external_id", "domain")


class _QuietHS256(HMACAlgorithm):
    """HS256 without PyJWT's short-key warning.

    The fake checks that tokens are signed with the connector's secret, whatever its length;
    test secrets are short on purpose, and a warning here would fail suites that turn warnings
    into errors.
    """

    def __init__(self, hash_alg: Any) -> None:
        super().__init__(hash_alg)
        self._prepared: dict[str | bytes, bytes] = {}

    def check_key_length(self, key: bytes) -> str | None:
        return None

    def prepare_key(self, key: str | bytes) -> bytes:
        # PyJWT checks on every call that an HMAC secret is not an asymmetric key (more work
        # than verifying the signature); the fake verifies with one secret, so the outcome of
        # that check is kept. Every signature is still verified.
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)
            if len(self._prepared) < 8:
                self._prepared[key] = prepared
        return prepared


def _verifier() -> jwt.PyJWS:
    verifier = jwt.PyJWS(algorithms=["HS256"])
    verifier.unregister_algorithm("HS256")
    verifier.register_algorithm("HS256", _QuietHS256(HMACAlgorithm.SHA256))
    return verifier


def claims_key(claims: Mapping[str, str]) -> str:
    """The key of a user in `FakeHull.traits`: its claims, sorted and URL-encoded.

    Example: `{"external_id": "u1", "email": "a@x.io"}` → `"email=a%40x.io&external_id=u1"`.
    """
    return urlencode(sorted(claims.items()))


@attrs.frozen
class HullTrack:
    """A track call Hull accepted for a user.

    Attributes:
        claims: The `io.hull.asUser` claims of the message that carried it.
        event: The event name.
        properties: The event properties (`{}` when absent).
        event_id: The event id; a later track with the same `event_id` for the same user
            replaces this one, as Hull does.
        created_at: The event time as sent (ISO-8601 string expected), or `None`.
        source: `source` as sent, or `None`.
        type: `type` as sent, or `None`.
        ip: `ip` as sent, or `None`.
        body: The whole track body as sent.
    """

    claims: dict[str, str]
    event: str
    # Properties and bodies are free-form JSON chosen by the sender.
    properties: dict[str, Any]
    event_id: str | None
    created_at: Any
    source: str | None
    type: str | None
    ip: str | None
    body: dict[str, Any]


@attrs.frozen
class HullUser:
    """A Hull user as the fake resolved it from the claims of the messages it received.

    Attributes:
        claims: The user's identity claims (`id`, `external_id`, `email`, `anonymous_id`)
            merged over every message that resolved to it; `anonymous_id` is the first seen.
        anonymous_ids: Every anonymous id seen for the user.
        traits: The merged attributes; a `null` sent for an attribute is kept as `None`.
        tracks: The user's track calls, in arrival order.
    """

    claims: dict[str, str]
    anonymous_ids: list[str]
    traits: dict[str, Any]
    tracks: list[HullTrack]


@attrs.frozen
class HullAccount:
    """A Hull account as the fake resolved it from the account messages it received.

    Attributes:
        claims: The account's identity claims (`id`, `external_id`, `domain`) merged over
            every message that resolved to it.
        traits: The merged attributes; a `null` sent for an attribute is kept as `None`.
    """

    claims: dict[str, str]
    traits: dict[str, Any]


@attrs.frozen
class HullMessage:
    """One accepted firehose message.

    Attributes:
        type: `"traits"` or `"track"`.
        claims: Its `io.hull.asUser` claims, or `io.hull.asAccount` for an account message.
        body: Its body as sent.
        token_claims: Every claim of its verified JWT (`iss`, `iat`, `io.hull.*`).
        request_id: `requestId` as sent, or `None`.
        timestamp: `timestamp` as sent, or `None`.
        subject_type: `"user"`, or `"account"` when its token acts as an account.
    """

    type: Literal["traits", "track"]
    claims: dict[str, str]
    body: dict[str, Any]
    token_claims: dict[str, Any]
    request_id: str | None
    timestamp: str | None
    subject_type: Literal["user", "account"] = "user"


@attrs.frozen
class HullRejection:
    """A firehose message the fake refused (its whole request was answered 400).

    Attributes:
        batch_index: The message's position in its request's `batch`.
        reason: Why, e.g. `"token signature verification failed"`.
    """

    batch_index: int
    reason: str


@attrs.frozen
class HullStatus:
    """A connector status report (`PUT /api/v1/<id>/status`).

    Attributes:
        status: The status as sent (`"ok"`, `"warning"`, `"error"`).
        messages: The messages as sent.
    """

    status: str
    messages: list[str]


@attrs.define(eq=False)
class _User:
    # The user's position in creation order: resolution prefers the earliest-created match.
    number: int
    claims: dict[str, str]
    anonymous_ids: list[str]
    traits: dict[str, Any] = attrs.Factory(dict)
    track_ids: list[int] = attrs.Factory(list)
    # event_id -> position in FakeHull._tracks of the user's track with that id.
    track_positions: dict[str, int] = attrs.Factory(dict)

    def conflicts(self, claims: Mapping[str, str]) -> bool:
        return _conflicts(self.claims, claims)


@attrs.define(eq=False)
class _Account:
    number: int
    claims: dict[str, str]
    traits: dict[str, Any] = attrs.Factory(dict)

    def conflicts(self, claims: Mapping[str, str]) -> bool:
        return _conflicts(self.claims, claims)


def _conflicts(held: Mapping[str, str], claims: Mapping[str, str]) -> bool:
    """Whether ``claims`` name another user (or account) than the one holding ``held``: a
    different ``id`` or ``external_id``."""
    return any(
        kind in claims and kind in held and claims[kind] != held[kind]
        for kind in ("id", "external_id")
    )


_Holder = TypeVar("_Holder", _User, _Account)


def _first_holder(
    kinds: tuple[str, ...],
    holders_by_claim: Mapping[tuple[str, str], list[_Holder]],
    claims: Mapping[str, str],
) -> _Holder | None:
    """The earliest-created user (or account) one of ``claims`` resolves to, in the order of
    ``kinds``, skipping those whose own claims conflict."""
    for kind in kinds:
        value = claims.get(kind)
        if value is None:
            continue
        for holder in holders_by_claim.get((kind, value), ()):
            if not holder.conflicts(claims):
                return holder
    return None


class _RejectedError(Exception):
    pass


def _check_claims(claims: Any, name: str, kinds: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(claims, dict):
        raise _RejectedError(f"token {name!r} must be an object of claims")
    extra = sorted(set(claims) - set(kinds))
    if extra:
        raise _RejectedError(f"token {name!r} may only hold {', '.join(kinds)}; got {extra}")
    if not claims or not all(isinstance(v, str) and v for v in claims.values()):
        raise _RejectedError(
            f"token {name!r} needs at least one of {', '.join(kinds)}, as non-empty strings"
        )
    return claims


class _Workspace(FakeService):
    """The state of a fake organization and how messages change it; `FakeHull` configures it."""

    id: str
    secret: str
    organization: str
    _verifier: jwt.PyJWS

    def _reset_state(self) -> None:
        self._users: list[_User] = []
        # (claim kind, value) -> the users holding it, in creation order: resolving a message
        # must not cost a scan of every user (a sync would slow down as the fake fills).
        self._users_by_claim: dict[tuple[str, str], list[_User]] = {}
        self._accounts: list[_Account] = []
        self._accounts_by_claim: dict[tuple[str, str], list[_Account]] = {}
        self._tracks: list[HullTrack] = []
        self._messages: list[HullMessage] = []
        self._rejections: list[HullRejection] = []
        self._statuses: list[HullStatus] = []
        self._batch_files: dict[str, bytes] = {}

    # -- messages ------------------------------------------------------------------------

    def _verify(self, message: Any) -> HullMessage:
        if not isinstance(message, dict):
            raise _RejectedError("a message must be a JSON object")
        kind = message.get("type")
        if kind not in ("traits", "track"):
            raise _RejectedError(f"type must be 'traits' or 'track', not {kind!r}")
        headers = message.get("headers")
        token = None
        if isinstance(headers, dict):
            token = next((v for k, v in headers.items() if k.lower() == "hull-access-token"), None)
        if not isinstance(token, str) or not token:
            raise _RejectedError("headers['Hull-Access-Token'] (the user JWT) is missing")
        token_claims = self._token_claims(token)
        subject = token_claims["io.hull.subjectType"]
        claims = token_claims["io.hull.asAccount" if subject == "account" else "io.hull.asUser"]
        body = message.get("body")
        if not isinstance(body, dict):
            raise _RejectedError("body must be a JSON object")
        if kind == "track" and subject == "account":
            raise _RejectedError("an account token may only send 'traits'")
        if kind == "track":
            event = body.get("event")
            if not isinstance(event, str) or not event:
                raise _RejectedError("a track body needs an 'event' name")
            properties = body.get("properties")
            if properties is not None and not isinstance(properties, dict):
                raise _RejectedError("track properties must be a JSON object")
        request_id, timestamp = message.get("requestId"), message.get("timestamp")
        return HullMessage(
            type=kind,
            claims=claims,
            body=body,
            token_claims=token_claims,
            request_id=request_id if isinstance(request_id, str) else None,
            timestamp=timestamp if isinstance(timestamp, str) else None,
            subject_type=subject,
        )

    def _token_claims(self, token: str) -> dict[str, Any]:
        try:
            payload = self._verifier.decode(token, self.secret, algorithms=["HS256"])
        except jwt.InvalidSignatureError as exc:
            msg = "token signature verification failed (not signed with the connector secret)"
            raise _RejectedError(msg) from exc
        except jwt.PyJWTError as exc:
            raise _RejectedError(f"invalid token: {exc}") from exc
        try:
            claims = json.loads(payload)
        except ValueError as exc:
            raise _RejectedError("token payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise _RejectedError("token payload is not a JSON object")
        if claims.get("iss") != self.id:
            raise _RejectedError(f"token 'iss' must be the connector id {self.id!r}")
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise _RejectedError("token 'iat' must be an integer (unix seconds)")
        subject = claims.get("io.hull.subjectType")
        if subject == "account":
            _check_claims(
                claims.get("io.hull.asAccount"), "io.hull.asAccount", _ACCOUNT_CLAIM_KINDS
            )
        elif subject == "user":
            _check_claims(claims.get("io.hull.asUser"), "io.hull.asUser", _CLAIM_KINDS)
        else:
            raise _RejectedError("token 'io.hull.subjectType' must be 'user' or 'account'")
        for option in ("io.hull.create", "io.hull.active"):
            if option in claims and not isinstance(claims[option], bool):
                raise _RejectedError(f"token {option!r} must be true or false")
        return claims

    def _resolve(self, claims: Mapping[str, str], *, create: bool) -> _User | None:
        found = _first_holder(_CLAIM_KINDS, self._users_by_claim, claims)
        if found is not None or not create:
            return found
        user = _User(number=len(self._users), claims={}, anonymous_ids=[])
        self._users.append(user)
        return user

    def _index_claim(self, user: _User, kind: str, value: str) -> None:
        holders = self._users_by_claim.setdefault((kind, value), [])
        # A user may gain a claim after later users already hold it: keep creation order.
        bisect.insort(holders, user, key=lambda holder: holder.number)

    def _resolve_account(self, claims: Mapping[str, str], *, create: bool) -> _Account | None:
        found = _first_holder(_ACCOUNT_CLAIM_KINDS, self._accounts_by_claim, claims)
        if found is not None or not create:
            return found
        account = _Account(number=len(self._accounts), claims={})
        self._accounts.append(account)
        return account

    def _apply_account(self, message: HullMessage, *, create: bool) -> None:
        account = self._resolve_account(message.claims, create=create)
        if account is None:
            return
        for kind in _ACCOUNT_CLAIM_KINDS:
            if kind in message.claims and kind not in account.claims:
                account.claims[kind] = message.claims[kind]
                holders = self._accounts_by_claim.setdefault((kind, message.claims[kind]), [])
                bisect.insort(holders, account, key=lambda holder: holder.number)
        account.traits.update(message.body)

    def _apply(self, message: HullMessage) -> None:
        self._messages.append(message)
        create = message.token_claims.get("io.hull.create", True)
        if message.subject_type == "account":
            self._apply_account(message, create=create)
            return
        user = self._resolve(message.claims, create=create)
        if user is None:
            return
        for kind in ("id", "external_id", "email"):
            if kind in message.claims and kind not in user.claims:
                user.claims[kind] = message.claims[kind]
                self._index_claim(user, kind, message.claims[kind])
        anonymous_id = message.claims.get("anonymous_id")
        if anonymous_id is not None and anonymous_id not in user.anonymous_ids:
            user.anonymous_ids.append(anonymous_id)
            self._index_claim(user, "anonymous_id", anonymous_id)
            user.claims.setdefault("anonymous_id", anonymous_id)
        if message.type == "traits":
            user.traits.update(message.body)
            return
        body = message.body
        event_id = body.get("event_id")
        track = HullTrack(
            claims=dict(message.claims),
            event=body["event"],
            properties=dict(body.get("properties") or {}),
            event_id=event_id if isinstance(event_id, str) and event_id else None,
            created_at=body.get("created_at"),
            source=body.get("source"),
            type=body.get("type"),
            ip=body.get("ip"),
            body=body,
        )
        if track.event_id is not None:
            position = user.track_positions.get(track.event_id)
            if position is not None:
                self._tracks[position] = track
                return
            user.track_positions[track.event_id] = len(self._tracks)
        user.track_ids.append(len(self._tracks))
        self._tracks.append(track)
