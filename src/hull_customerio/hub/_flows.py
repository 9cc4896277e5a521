"""The hubs written once: their constructor, their client caches and every request's flow.

[`ConnectorHub`][hull_customerio.ConnectorHub] and
[`AsyncConnectorHub`][hull_customerio.AsyncConnectorHub] both derive from `HubFlows`. Each
request is a flow here — a generator yielding the effects of `_effects` (lease a client, read
the settings, sync the users...) — and the two hubs only drive it: a short blocking loop and a
short awaiting loop perform each effect and send its result back. The order of a flow's steps,
and what it answers when one fails, therefore exists once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from ..engine._api import (
    NotificationAnswer,
    authenticating,
    log_event,
    prepare_notification,
    processed_answer,
    record_webhook,
)
from ..errors import APIError, ConfigurationError
from ..models.report import Status, WebhookOutcome
from ..settings import Settings
from . import _answers
from ._batch import (
    credentials_from_query,
)
from ._cache import Lease, LeaseCache
from ._core import (
    HubCore,
    WorkspaceKey,
    claimed_credentials,
    invalid_token,
    settings_failure,
    settings_from_app,
    unsendable_answer,
    untrusted_webhook,
)
from ._effects import (
    CheckTarget,
    Effect,
    Flow,
    HandleWebhook,
    LeaseCustomerIO,
    LeaseHull,
    PublishStatus,
    PutStatus,
    ReadNotification,
    ReadSettings,
    SyncBatch,
    SyncNotification,
)
from ._errors import UntrustedOrganizationError, UnusableCredentialsError
from ._tokens import HullCredentials, usable_credentials

__all__ = ["UNSET", "HubFlows"]

#: ``answer_batch(batch_hosts=...)`` not given: the hub's own ``batch_hosts`` apply.
UNSET: Any = object()

H = TypeVar("H")  # the HTTP client public keys are fetched with
R = TypeVar("R")  # the resolver of batch hosts


class HubFlows(HubCore[H, R]):
    """What both hubs are, but for blocking or awaiting: see
    [`ConnectorHub`][hull_customerio.ConnectorHub] for the arguments (`HubCore` takes them).

    A driver names its client and connector classes, its I/O functions (blocking, or
    coroutine functions), its HTTP client class, default resolver and settings lock; it
    leases clients and runs the calls `_call` gives.
    """

    _hull_type: Callable[..., Any]
    _customerio_type: Callable[..., Any]
    _limiter_type: Callable[[float | None], Any]
    _connector_type: Callable[..., Any]
    _run_checks: Callable[..., Any]  # (steps, http): engine's run_checks or arun_checks
    _checked_target: Callable[..., Any]  # (request, hosts, resolver)
    _sync_from: Callable[..., Any]  # (connector, target, **limits)
    _read_settings: Callable[[HullCredentials, Any], Any]

    # ------------------------------------------------------------------------- clients

    def _build_hull(self, credentials: HullCredentials) -> Any:
        options = self._hull_options(credentials.organization)
        return self._hull_type(
            credentials.connector_id, credentials.secret, credentials.organization, **options
        )

    def _build_customerio(self, key: WorkspaceKey) -> Any:
        options = self._customerio_options(key.site_id)
        options.pop("rate_limit", None)
        limiter = self._take_limiter(key, self._limiter_type)
        try:
            client = self._customerio_type(
                key.site_id, key.api_key, region=key.region, rate_limit=limiter, **options
            )
        except BaseException:
            self._drop_limiter(key)
            raise
        self._limiter_keys[id(client)] = key
        return client

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError(["the hub is closed"])

    def _take(self, effect: LeaseHull | LeaseCustomerIO) -> tuple[Lease[Any, Any], list[Any]]:
        """A lease on the client ``effect`` asks for, and the clients it pushed out of the
        cache (to close). A Hull client that cannot be built for the credentials raises
        ``UnusableCredentialsError``."""
        self._check_open()
        with self._lock:
            if isinstance(effect, LeaseCustomerIO):
                key = effect.key
                return self._workspaces.acquire(key, lambda: self._build_customerio(key))
            credentials = effect.credentials
            try:
                return self._hulls.acquire(credentials, lambda: self._build_hull(credentials))
            except ConfigurationError as exc:
                raise UnusableCredentialsError(exc.problems) from None

    def _give_back(self, lease: Lease[Any, Any]) -> list[Any]:
        """End ``lease``; the clients now to close (evicted ones no request uses any more)."""
        cache: LeaseCache[Any, Any] = (
            self._hulls if isinstance(lease.key, HullCredentials) else self._workspaces
        )
        with self._lock:
            return cache.release(lease)

    def _forget_limiter(self, client: Any) -> None:
        """A Customer.io client is being closed: its workspace's limiter loses one user."""
        with self._lock:
            self._drop_limiter(self._limiter_keys.pop(id(client)))

    def _shut(self) -> tuple[list[Any], list[Any]] | None:
        """Mark the hub closed; the Hull and Customer.io clients to close (``None``: closed
        already)."""
        with self._lock:
            if self._closed:
                return None
            self._closed = True
            return self._hulls.clear(), self._workspaces.clear()

    def _call(self, effect: Effect) -> Callable[[], Any]:
        """What performing ``effect`` calls (it returns an awaitable in the async hub); the
        leases are the driver's own."""
        if isinstance(effect, ReadNotification):
            steps = authenticating(self._body_guard, effect.body, effect.headers, self._guard)
            return partial(self._run_checks, steps, self._http)
        if isinstance(effect, ReadSettings):
            return partial(self._read_settings, effect.credentials, effect.hull)
        if isinstance(effect, CheckTarget):
            return partial(self._checked_target, effect.request, effect.hosts, self._resolver)
        if isinstance(effect, SyncBatch):
            return partial(self._sync_from, effect.connector, effect.target,
                           accounts=effect.accounts, **self._batch_limits)  # fmt: skip
        if isinstance(effect, SyncNotification):
            return partial(effect.connector.sync_notification, effect.notification)
        if isinstance(effect, HandleWebhook):
            return partial(effect.connector.handle_webhook, effect.body, effect.headers)
        if isinstance(effect, PublishStatus):
            return partial(effect.connector.publish_status)
        if isinstance(effect, PutStatus):
            return partial(effect.hull.put_status, effect.status.status, effect.status.messages)
        raise TypeError(f"the driver leases clients itself: {effect!r}")

    def _connector(self, settings: Settings, customerio: Any, hull: Any) -> Any:
        return self._connector_type(
            settings,
            customerio=customerio,
            hull=hull,
            mode=self._mode,
            key_http_client=self._http,
            metrics=self._metrics,
            **self._connector_security(),
        )

    # ------------------------------------------------------------------------- settings

    @contextlib.contextmanager
    def _settings_turn(self, credentials: HullCredentials) -> Iterator[Any]:
        """The lock a read of the connector's settings from Hull holds (the driver takes it,
        blocking or awaiting); once the read is over the lock is forgotten, unless another read
        holds it."""
        with self._lock:
            lock = self._settings_locks.setdefault(credentials, self._settings_lock_type())
        try:
            yield lock
        finally:
            with self._lock:
                if not lock.locked():
                    self._settings_locks.pop(credentials, None)

    def _keep_settings(self, credentials: HullCredentials, app: object) -> Settings:
        """The settings of Hull's connector record ``app``, cached."""
        settings = settings_from_app(app)
        self._remember_settings(credentials, settings)
        return settings

    # ------------------------------------------------------------------------------ flows

    def _notification_flow(
        self, body: bytes, headers: Mapping[str, str]
    ) -> Flow[NotificationAnswer]:
        read = yield ReadNotification(body, headers)
        if isinstance(read, NotificationAnswer):
            return read
        credentials = self._admit(claimed_credentials(read))
        if isinstance(credentials, NotificationAnswer):
            return credentials
        settings = _answers.notification_settings(read.payload)
        key = None if settings is None else self._workspace_key(credentials, settings)
        if settings is None or key is None:
            # No workspace to send to: answered as a connector would, nothing sent.
            return unsendable_answer(read, settings)
        try:
            hull = yield LeaseHull(credentials)
            customerio = yield LeaseCustomerIO(key)
            prepared = prepare_notification(read, site_id=customerio.site_id)
            if isinstance(prepared, NotificationAnswer):
                return prepared
            connector = self._connector(settings, customerio, hull)
            return processed_answer((yield SyncNotification(connector, prepared)))
        except ConfigurationError as exc:
            return _answers.unusable_settings(exc)

    def _batch_flow(
        self, body: bytes, query: Mapping[str, str], batch_hosts: Sequence[str] | None
    ) -> Flow[NotificationAnswer]:
        hosts = self._batch_hosts if batch_hosts is UNSET else batch_hosts
        read = _answers.read_batch(body, query)
        if isinstance(read, NotificationAnswer):
            return read
        credentials = self._admit(read[0])
        if isinstance(credentials, NotificationAnswer):
            return credentials
        try:
            hull = yield LeaseHull(credentials)
            try:
                settings = yield ReadSettings(credentials, hull)
            except (APIError, ConfigurationError) as exc:
                return _answers.batch_settings_failure(exc)
            # Only once Hull accepted the credentials is the URL looked at (and resolved).
            target = yield CheckTarget(read[1], hosts)
            if isinstance(target, NotificationAnswer):
                return target
            key = self._workspace_key(credentials, settings)
            if key is None:
                return _answers.missing_workspace_credentials()
            customerio = yield LeaseCustomerIO(key)
            connector = self._connector(settings, customerio, hull)
            answer: NotificationAnswer = yield SyncBatch(connector, target, read[1].accounts)
            return answer
        except UnusableCredentialsError:
            return _answers.refused("wrong_connector")

    def _webhook_flow(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> Flow[WebhookOutcome]:
        metrics = self._metrics
        opened = self._open_token(query)
        if opened is None:
            return record_webhook(metrics, invalid_token())
        credentials = self._checked_credentials(opened)
        if credentials is None:
            return record_webhook(metrics, untrusted_webhook())
        try:
            hull = yield LeaseHull(credentials)
            try:
                settings = yield ReadSettings(credentials, hull)
            except (APIError, ConfigurationError) as exc:
                return record_webhook(metrics, settings_failure(exc))
            key = self._workspace_key(credentials, settings)
            # Webhooks need no Customer.io client: a webhook-only connector forwards them.
            customerio = None if key is None else (yield LeaseCustomerIO(key))
            connector = self._connector(settings, customerio, hull)
            outcome: WebhookOutcome = yield HandleWebhook(connector, body, headers)
            return outcome
        except UnusableCredentialsError:
            return record_webhook(metrics, invalid_token())

    def _status_flow(self, organization: str, connector_id: str, secret: str) -> Flow[Status]:
        claimed = HullCredentials(organization, connector_id, secret)
        if not usable_credentials(claimed):
            raise UnusableCredentialsError(["the connector's credentials are not valid"])
        credentials = self._checked_credentials(claimed)
        if credentials is None:
            raise UntrustedOrganizationError()
        hull = yield LeaseHull(credentials)
        settings = yield ReadSettings(credentials, hull)
        key = self._workspace_key(credentials, settings)
        if key is None:
            status = _answers.status_without_credentials(settings)
            yield PutStatus(hull, status)
            return status
        customerio = yield LeaseCustomerIO(key)
        published: Status = yield PublishStatus(self._connector(settings, customerio, hull))
        return published

    def _status_answer_flow(self, query: Mapping[str, str]) -> Flow[NotificationAnswer]:
        credentials = credentials_from_query(query)
        if credentials is None:
            return _answers.refused("missing_credentials")
        try:
            status = yield from self._status_flow(
                credentials.organization, credentials.connector_id, credentials.secret
            )
        except (APIError, ConfigurationError) as exc:
            return _answers.status_failure(exc)
        return _answers.status_answer(status)

    def _credentials_flow(
        self, query: Mapping[str, str], base_url: str
    ) -> Flow[NotificationAnswer]:
        credentials = credentials_from_query(query)
        if credentials is None:
            return _answers.refused("missing_credentials")
        checked = self._admit(credentials)
        if isinstance(checked, NotificationAnswer):
            return checked
        try:
            hull = yield LeaseHull(checked)
            # Reading the connector's settings is what proves the credentials to Hull.
            yield ReadSettings(checked, hull)
            url = self.webhook_url(
                base_url,
                organization=checked.organization,
                connector_id=checked.connector_id,
                secret=checked.secret,
            )
        except (APIError, ConfigurationError) as exc:
            return _answers.status_failure(exc)
        return _answers.credentials_answer(url)


def close_failed(client: Any, exc: Exception) -> None:
    """Log a Hull client that could not be closed (its organization, never its secret)."""
    log_event(
        logging.ERROR, "hub.client.close_failed", reason="close_failed",
        organization=client.organization, error=str(exc),
    )  # fmt: skip
