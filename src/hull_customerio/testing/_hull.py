"""`FakeHull`: Hull's firehose and REST API for tests."""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ._hull_workspace import (
    HullAccount,
    HullMessage,
    HullRejection,
    HullStatus,
    HullTrack,
    HullUser,
    _RejectedError,
    _User,
    _verifier,
    _Workspace,
    claims_key,
)
from ._replies import RecordedRequest, _Reply, json_reply, parse_json
from ._signing import NOTIFICATION_KEY_PATH, NotificationSigning, SignedNotification

__all__ = ["FakeHull"]

_FIREHOSE_PATHS = frozenset({"/", "/firehose", "/api/v1/firehose"})
_BATCH_FILES = "/batch-files/"


#: The default connector secret: 32+ bytes, so PyJWT signs with it without a key-length warning.
DEFAULT_SECRET = "fake-hull-connector-secret-0123456789"  # noqa: S105 -- a fake's test credential


class FakeHull(NotificationSigning, _Workspace):
    """Hull's firehose and REST API, in process or over a real loopback HTTP server.

    One handler serves both: the firehose is `POST /` (point the client's `firehose_url` and
    `api_url` at the same `fake.url`), the REST API is under `/api/v1/`. Every request must
    carry `Hull-App-Id`, `Hull-Access-Token` (the secret) and `Hull-Organization`; anything
    else is answered 401.

    Each firehose message's JWT is verified (HS256 with the secret, `iss` = the connector id,
    an `iat`, `io.hull.subjectType` = `"user"` with `io.hull.asUser` holding at least one of
    `id`, `email`, `external_id`, `anonymous_id` and nothing else, or `"account"` with
    `io.hull.asAccount` holding at least one of `id`, `external_id`, `domain` and nothing else;
    an account token sends `traits` only). If any message of a request is
    invalid, the whole request is answered 400 listing every problem, nothing of it is applied,
    and the problems are kept in `rejections` — a client bug fails loudly instead of vanishing.

    Users are resolved like Hull does, by claims: `id`, then `external_id`, then `email`, then
    any `anonymous_id` (a user whose `id` or `external_id` differs is never matched); a message
    for an unknown user creates it unless its token says `io.hull.create: false`. Accounts are
    resolved the same way by `id`, then `external_id`, then `domain` (see `accounts`,
    `account`, `account_traits`).

    It also signs notifications as Hull does (`signed_notification()`, an RS256 key pair of
    its own, `notification_public_key`) and serves that public key at
    `/smart-notifier/public-key` (any method, no credentials; `notification_key_url()`), so
    you can test your own notification endpoint with real signatures.

    Example:
        ```python
        with FakeHull() as hull:
            client = HullClient(hull.id, hull.secret, hull.organization,
                                api_url=hull.url, firehose_url=hull.url)
            ...
        assert hull.traits_for(external_id="u1")["customerio/id"] == "u1"
        ```

    Attributes:
        id: The connector id (24 hex characters) tokens must be issued by.
        secret: The connector secret (the REST token and the JWT key).
        organization: The organization host (`acme42.hullapp.io`).
        private_settings: What `GET /api/v1/app` answers as the connector's settings.
    """

    def __init__(
        self,
        id: str = "5c8a1f2e3b4d5e6f7a8b9c0d",
        secret: str = DEFAULT_SECRET,
        organization: str = "acme42.hullapp.io",
        *,
        private_settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Create an empty fake organization.

        Args:
            id: The connector id.
            secret: The connector secret.
            organization: The organization host.
            private_settings: The connector's settings, answered by `GET /api/v1/app`.
        """
        super().__init__()
        self.id = id
        self.secret = secret
        self.organization = organization
        self.private_settings: dict[str, Any] = dict(private_settings or {})
        self._verifier = _verifier()
        self._reset_state()

    def __repr__(self) -> str:
        return f"FakeHull(id={self.id!r}, secret='***', organization={self.organization!r})"

    # -- records -------------------------------------------------------------------------

    def _public_user(self, user: _User) -> HullUser:
        return HullUser(
            claims=dict(user.claims),
            anonymous_ids=list(user.anonymous_ids),
            traits=self._snapshot(user.traits),
            tracks=[self._snapshot(self._tracks[i]) for i in user.track_ids],
        )

    @property
    def users(self) -> list[HullUser]:
        """Every user, in creation order (copies)."""
        with self._lock:
            return [self._public_user(user) for user in self._users]

    @property
    def traits(self) -> dict[str, dict[str, Any]]:
        """Each user's merged attributes, keyed by `claims_key(user.claims)` (a copy).

        Example: `{"external_id=u1": {"customerio/id": "u1", ...}}`. `traits_for` finds a user
        by any one claim, which is usually easier.
        """
        with self._lock:
            return {claims_key(u.claims): self._snapshot(u.traits) for u in self._users}

    @property
    def tracks(self) -> list[HullTrack]:
        """Every accepted track call, in arrival order; a repeated `event_id` of the same user
        replaces the earlier call in place (a copy)."""
        return self._snapshot(self._tracks)

    @property
    def messages(self) -> list[HullMessage]:
        """Every accepted firehose message, repeats included, in arrival order (a copy)."""
        return self._snapshot(self._messages)

    @property
    def rejections(self) -> list[HullRejection]:
        """Every refused firehose message, in arrival order (a copy)."""
        with self._lock:
            return list(self._rejections)

    @property
    def statuses(self) -> list[HullStatus]:
        """Every connector status report, in order (a copy)."""
        return self._snapshot(self._statuses)

    def user(
        self,
        *,
        id: str | None = None,
        external_id: str | None = None,
        email: str | None = None,
        anonymous_id: str | None = None,
    ) -> HullUser | None:
        """Find the user one of the given claims resolves to (as Hull would).

        Returns:
            A copy of the user, or `None` when no user matches.

        Raises:
            ValueError: No claim was given.
        """
        claims = _given_claims(id, external_id, email, anonymous_id)
        with self._lock:
            found = self._resolve(claims, create=False)
            return None if found is None else self._public_user(found)

    def traits_for(
        self,
        *,
        id: str | None = None,
        external_id: str | None = None,
        email: str | None = None,
        anonymous_id: str | None = None,
    ) -> dict[str, Any]:
        """The merged attributes of the user the given claims resolve to.

        Raises:
            LookupError: No user matches (the message lists the users the fake knows).
            ValueError: No claim was given.
        """
        found = self.user(id=id, external_id=external_id, email=email, anonymous_id=anonymous_id)
        if found is None:
            claims = _given_claims(id, external_id, email, anonymous_id)
            known = ", ".join(claims_key(user.claims) for user in self.users) or "none"
            msg = f"no Hull user matches {claims}; known users: {known}"
            raise LookupError(msg)
        return found.traits

    def tracks_for(
        self,
        *,
        id: str | None = None,
        external_id: str | None = None,
        email: str | None = None,
        anonymous_id: str | None = None,
    ) -> list[HullTrack]:
        """The track calls of the user the given claims resolve to (`[]` when none).

        Raises:
            ValueError: No claim was given.
        """
        found = self.user(id=id, external_id=external_id, email=email, anonymous_id=anonymous_id)
        return [] if found is None else found.tracks

    @property
    def accounts(self) -> list[HullAccount]:
        """Every account written to, in creation order (copies)."""
        with self._lock:
            return [HullAccount(dict(a.claims), self._snapshot(a.traits)) for a in self._accounts]

    def account(
        self, *, id: str | None = None, external_id: str | None = None, domain: str | None = None
    ) -> HullAccount | None:
        """Find the account one of the given claims resolves to (as Hull would).

        Returns:
            A copy of the account, or `None` when no account matches.

        Raises:
            ValueError: No claim was given.
        """
        claims = {k: v for k, v in (("id", id), ("external_id", external_id),
                                    ("domain", domain)) if v}  # fmt: skip
        if not claims:
            msg = "pass at least one of id=, external_id=, domain="
            raise ValueError(msg)
        with self._lock:
            found = self._resolve_account(claims, create=False)
            if found is None:
                return None
            return HullAccount(dict(found.claims), self._snapshot(found.traits))

    def account_traits(
        self,
        id: str | None = None,
        *,
        external_id: str | None = None,
        domain: str | None = None,
    ) -> dict[str, Any]:
        """The merged attributes of the account the given claims resolve to.

        Example: `hull.account_traits("5f...")["customerio/object_id"]`, or
        `hull.account_traits(domain="acme.io")`.

        Raises:
            LookupError: No account matches (the message lists the accounts the fake knows).
            ValueError: No claim was given.
        """
        found = self.account(id=id, external_id=external_id, domain=domain)
        if found is None:
            known = ", ".join(claims_key(a.claims) for a in self.accounts) or "none"
            msg = f"no Hull account matches the claims given; known accounts: {known}"
            raise LookupError(msg)
        return found.traits

    # -- playing Hull's side -------------------------------------------------------------

    def send_notification(
        self,
        app_url: str,
        notification: Mapping[str, Any] | SignedNotification,
        *,
        sign: bool = True,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> httpx.Response:
        """POST a notification to a connector app's `/smart-notifier`, as Hull does.

        Args:
            app_url: The app's base URL (e.g. `http://127.0.0.1:8000`).
            notification: A notification dict (see `notification()`), signed here unless
                `sign` is false, or a `SignedNotification` sent as it is.
            sign: Sign a dict with this fake's key (`sign_payload()`).
            headers: Extra headers, added last (e.g. to forge a signature).
            timeout: Seconds to wait for the answer.

        Returns:
            The app's answer.
        """
        if isinstance(notification, SignedNotification):
            body, signed_headers = notification.body, notification.headers
        elif sign:
            signed = self.sign_payload(notification)
            body, signed_headers = signed.body, signed.headers
        else:
            body, signed_headers = json.dumps(notification).encode(), {}
        return httpx.post(
            _app_url(app_url, "/smart-notifier"),
            content=body,
            headers={"Content-Type": "application/json", **signed_headers, **dict(headers or {})},
            timeout=timeout,
        )

    def add_batch_file(self, records: Iterable[Mapping[str, Any]]) -> str:
        """Serve `records` as a JSON-lines batch file; return its URL (the server must run).

        The file is served without Hull's headers, as a pre-signed storage URL would be.
        """
        content = _json_lines(records)
        path = f"{_BATCH_FILES}{uuid.uuid4().hex}.json"
        with self._lock:
            self._batch_files[path] = content
        return self.url + path

    def send_batch(
        self,
        app_url: str,
        records: Iterable[Mapping[str, Any]],
        *,
        query: Mapping[str, str] | None = None,
        timeout: float = 300.0,
    ) -> httpx.Response:
        """Send a "send to connector" batch to a connector app's `/batch`, as Hull does.

        The records are served as a JSON-lines file by this fake's loopback server; the app is
        told its URL and given the fake's credentials in the query.

        Args:
            app_url: The app's base URL.
            records: One user per record (the shape of a `user:update` message).
            query: Replaces the credentials in the query (to test refusals).
            timeout: Seconds to wait for the answer.

        Returns:
            The app's answer.
        """
        url = self.add_batch_file(records)
        params = dict(query) if query is not None else {
            "organization": self.organization, "id": self.id, "secret": self.secret,
        }  # fmt: skip
        body = {"url": url, "format": "json", "object_type": "user_report"}
        return httpx.post(_app_url(app_url, "/batch"), params=params, json=body, timeout=timeout)

    # -- HTTP ----------------------------------------------------------------------------

    def _authorized(self, request: RecordedRequest) -> bool:
        headers = request.headers
        return (
            hmac.compare_digest(headers.get("hull-app-id", ""), self.id)
            and hmac.compare_digest(headers.get("hull-access-token", ""), self.secret)
            and hmac.compare_digest(headers.get("hull-organization", ""), self.organization)
        )

    def _handle(self, request: RecordedRequest) -> _Reply:
        if request.path == NOTIFICATION_KEY_PATH:
            return self._public_key_reply()
        if request.path.startswith(_BATCH_FILES) and request.method == "GET":
            # Batch files are fetched from pre-signed storage URLs: no Hull headers.
            content = self._batch_files.get(request.path)
            if content is None:
                return self._error_reply(404, "Not found")
            return _Reply(200, content, (("Content-Type", "application/x-ndjson"),))
        if not self._authorized(request):
            return self._error_reply(
                401, "Invalid credentials: check Hull-App-Id, Hull-Access-Token, Hull-Organization"
            )
        path, method = request.path, request.method
        ok, body = parse_json(request.body)
        if path in _FIREHOSE_PATHS:
            if method != "POST":
                return self._error_reply(405, "Method not allowed")
            return self._firehose(ok, body)
        if path in ("/api/v1/app", f"/api/v1/{self.id}") and method == "GET":
            return json_reply(
                200, {"id": self.id, "private_settings": self.private_settings, "settings": {}}
            )
        if path == f"/api/v1/{self.id}/status":
            if method != "PUT":
                return self._error_reply(405, "Method not allowed")
            return self._status(ok, body)
        return self._error_reply(404, "Not found")

    def _status(self, ok: bool, body: Any) -> _Reply:
        if not ok or not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return self._error_reply(400, 'Expected {"status": str, "messages": [str, ...]}')
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
            return self._error_reply(400, "messages must be a list of strings")
        self._statuses.append(HullStatus(body["status"], list(messages)))
        return json_reply(200, {})

    def _firehose(self, ok: bool, body: Any) -> _Reply:
        if not ok or not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return self._error_reply(400, 'The firehose expects {"batch": [...], ...}')
        accepted: list[HullMessage] = []
        errors: list[HullRejection] = []
        for index, message in enumerate(body["batch"]):
            try:
                accepted.append(self._verify(message))
            except _RejectedError as exc:
                errors.append(HullRejection(index, str(exc)))
        if errors:
            self._rejections += errors
            first = errors[0]
            reply = {
                "message": f"{len(errors)} message(s) rejected; first, at batch index "
                f"{first.batch_index}: {first.reason}",
                "errors": [{"batch_index": e.batch_index, "reason": e.reason} for e in errors],
            }
            return json_reply(400, reply)
        for message in accepted:
            self._apply(message)
        return json_reply(200, {})


def _given_claims(
    id: str | None, external_id: str | None, email: str | None, anonymous_id: str | None
) -> dict[str, str]:
    given = {"id": id, "external_id": external_id, "email": email, "anonymous_id": anonymous_id}
    claims = {kind: value for kind, value in given.items() if value}
    if not claims:
        msg = "pass at least one of id=, external_id=, email=, anonymous_id="
        raise ValueError(msg)
    return claims


def _json_lines(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records
    )


def _app_url(app_url: str, path: str) -> str:
    return app_url.rstrip("/") + path
