"""The synchronous engine: [`Connector`][hull_customerio.Connector]. It drives the syncs of `_flows`
(blocking) and answers notifications and webhooks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from ..customerio import CustomerIOClient
from ..errors import (
    APIError,
    ConfigurationError,
    HullCustomerIOError,
    ValidationError,
)
from ..hull import DeliveryTicket, HullClient
from ..metrics import Metrics, guarded
from ..models.account import AccountUpdateMessage
from ..models.hull import UserUpdateMessage
from ..models.notification import Notification
from ..models.report import Status, SyncReport, WebhookOutcome
from ..settings import Settings
from . import _core, _flows, _notifications
from ._checks import check_arguments
from ._core import HullTraits, Step, StepResult
from ._notifications import NotificationAnswer, NotificationEnvelope

__all__ = ["Connector"]

#: A user's or an account's execution, as a driver returns it.
_Run = TypeVar("_Run")


class Connector:
    """Synchronises Hull and Customer.io: outgoing users and events, incoming webhooks.

    Args:
        settings: the connector settings.
        customerio: the Customer.io client every call goes through; ``None`` makes a
            webhook-only connector: it verifies Customer.io webhooks and forwards them to Hull,
            and its sync methods (`sync_user_updates`, `sync_notification`,
            `handle_notification`, `answer_notification`) raise `ConfigurationError`.
        hull: the Hull client for write-backs and incoming events; ``None`` syncs without
            writing anything back to Hull (a dry run for Hull) and cannot forward webhooks.
        mode: ``"v1"`` sends one Track API call per operation; ``"batch"`` sends every
            operation of a sync through v2 batch requests. Outcomes are the same either way.
        notification_public_key: Hull's RS256 public key (PEM) that verifies notification
            signatures; ``None`` fetches it from the URL a signed notification names, but
            only from an ``https`` URL on one of ``trusted_key_hosts``.
        trusted_key_hosts: the hosts Hull's public key may be fetched from (each with its
            subdomains); default [`HULL_KEY_HOSTS`][hull_customerio.HULL_KEY_HOSTS], Hull's own
            domains.
        require_signature: refuse notifications that Hull did not sign. Without a Hull
            client, only signed notifications are accepted whatever this says.
        key_cache: where fetched public keys are kept; pass one
            [`NotificationKeyCache`][hull_customerio.NotificationKeyCache] to many connectors to
            share it (default: a cache of this connector's own).
        key_http_client: the ``httpx.Client`` public keys are fetched with (default: a
            short-lived client with a 5 s timeout per fetch); keys are fetched rarely.
        webhook_timeout: the most seconds `handle_webhook` waits for Hull to confirm an
            event before answering 503 (Customer.io then delivers it again); ``None`` waits
            as long as the Hull client's retries take.
        metrics: where the connector counts users and events sent (``ship.outgoing.users``,
            ``ship.outgoing.events``) and webhooks received (``ship.incoming.events``); see
            `hull_customerio.metrics`. Give the same object to the clients to also count
            their HTTP requests. Default: nowhere.

    One connector may be shared by every thread of a web app: each call's report or webhook
    answer is the truth about its own Hull messages, whoever's request carried them.

    Raises:
        TypeError: ``settings`` is not a `Settings` (a dict of Hull settings goes through
            `Settings.from_private_settings` first), or a client is of the wrong kind: an
            `AsyncCustomerIOClient`, `AsyncHullClient` or ``httpx.AsyncClient`` belongs to an
            `AsyncConnector`.
        ConfigurationError: ``mode`` is neither ``"v1"`` nor ``"batch"``, the public key is
            not a PEM RSA public key, ``trusted_key_hosts`` is a single string, or
            ``webhook_timeout`` is not a positive number.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        customerio: CustomerIOClient | None = None,
        hull: HullClient | None = None,
        mode: str = "v1",
        notification_public_key: str | None = None,
        trusted_key_hosts: Sequence[str] = _notifications.HULL_KEY_HOSTS,
        require_signature: bool = False,
        key_cache: _notifications.NotificationKeyCache | None = None,
        key_http_client: httpx.Client | None = None,
        webhook_timeout: float | None = _core.DEFAULT_WEBHOOK_TIMEOUT,
        metrics: Metrics | None = None,
    ) -> None:
        check_arguments(
            "sync",
            settings=settings,
            customerio=customerio,
            hull=hull,
            key_http_client=key_http_client,
        )
        self.metrics = guarded(metrics)
        self.settings = settings
        self.customerio = customerio
        self.hull = hull
        self.mode: _core.Mode = _core.check_mode(mode)
        self.webhook_timeout = _core.check_webhook_timeout(webhook_timeout)
        self.notification_guard = _notifications.NotificationGuard(
            hull,
            public_key=notification_public_key,
            trusted_key_hosts=trusted_key_hosts,
            require_signature=require_signature,
            key_cache=key_cache,
        )
        self._key_http_client = key_http_client

    def __repr__(self) -> str:
        return f"Connector(mode={self.mode!r}, settings={self.settings!r})"

    # ---------------------------------------------------------------------------------- sync

    def sync_user_updates(
        self,
        messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
        *,
        batch: bool = False,
        settings: Settings | None = None,
    ) -> SyncReport:
        """Synchronise users: de-duplicate, plan, send to Customer.io, write back to Hull.

        Every user ends in exactly one outcome; one user's failure never stops the others,
        and nothing raises for bad input. Hull write-backs are flushed before returning, so
        the report is the truth.

        Args:
            messages: ``user:update`` messages, parsed or as Hull sends them (a malformed one
                becomes an error outcome).
            batch: the messages come from a manual batch or an export (no segment filter).
            settings: settings for this call only (e.g. a notification's own); default: the
                connector's.

        Raises:
            ConfigurationError: the connector has no Customer.io client (webhook-only).
        """
        return self._run(_flows.users(messages, settings or self.settings, batch=batch))

    def sync_account_updates(
        self,
        messages: Iterable[AccountUpdateMessage | Mapping[str, Any]],
        *,
        settings: Settings | None = None,
    ) -> SyncReport:
        """Synchronise accounts as Customer.io objects: de-duplicate, plan, send, write back.

        Each object goes to ``POST /api/v2/entity`` in ``"v1"`` mode, inside v2 batch
        requests in ``"batch"`` mode; the sync state is then written on the Hull account. Every
        account ends in exactly one outcome (`SyncReport.account_outcomes`); one account's
        failure never stops the others, and Hull write-backs are flushed before returning.
        Accounts from a manual batch or an export follow the same rules as notified ones, so
        there is no ``batch`` argument.

        Args:
            messages: ``account:update`` messages, parsed or as Hull sends them (a malformed
                one becomes an error outcome).
            settings: settings for this call only; default: the connector's.

        Raises:
            ConfigurationError: the connector has no Customer.io client (webhook-only).
        """
        return self._run(_flows.accounts(messages, settings or self.settings))

    def _require_customerio(self, what: str) -> CustomerIOClient:
        if self.customerio is None:
            raise _core.no_customerio_client(what)
        return self.customerio

    def _run(self, job: _flows.SyncJob[Any, Any]) -> SyncReport:
        """Drive ``job``'s flow: perform each effect it yields, blocking."""
        customerio = self._require_customerio(job.what)
        ticket = self.hull.delivery() if self.hull is not None else None
        flow = job.flow(self.mode, self.metrics)
        result: Any = None
        try:
            while True:
                effect = flow.send(result)
                if isinstance(effect, _flows.SendRound):
                    result = self._send_round(effect, customerio, ticket)
                elif isinstance(effect, _flows.Drive):
                    result = [self._drive(steps, ticket, failed) for steps, failed in effect.runs]
                else:  # AwaitDelivery
                    if self.hull is not None and ticket is not None:
                        self.hull.wait(ticket)
                    result = ticket
        except StopIteration as stop:
            report: SyncReport = stop.value
            return report

    def _send_round(
        self,
        effect: _flows.SendRound,
        customerio: CustomerIOClient,
        ticket: DeliveryTicket | None,
    ) -> _flows.RoundSent:
        # The write-backs are queued first: the Hull client posts them in the background
        # while the round's requests are sent.
        queued = self._queue_write_backs(effect.write_backs, ticket)
        operations, calls = effect.round.operations, effect.round.calls
        result = customerio.batch(operations) if operations else None
        return _flows.RoundSent(result, [self._perform(call) for _, _, call in calls], queued)

    def _queue_write_backs(
        self, write_backs: list[tuple[int, HullTraits]], ticket: DeliveryTicket | None
    ) -> dict[int, StepResult]:
        """Queue ``write_backs`` now; their results, by user."""
        queued: dict[int, StepResult] = {}
        if self.hull is None:
            return queued
        for user, step in write_backs:
            try:
                queued[user] = self._perform(step, ticket)
            except Exception:  # noqa: S112  # a bug: the user's write-back is done
                continue  # again at the end, where it costs that user only (see _drive)
        if queued:  # the last partial batch too: nothing else is coming for a while
            with contextlib.suppress(RuntimeError):  # closed meanwhile: reported at the end
                self.hull.post_pending()
        return queued

    def _drive(
        self,
        steps: Generator[Step, StepResult, _Run],
        ticket: DeliveryTicket | None,
        failed: Callable[[Exception], _Run],
    ) -> _Run:
        """Perform a user's (or an account's) ``steps`` to their end; ``failed`` turns a bug
        into that one user's (or account's) execution."""
        result: StepResult = None
        try:
            while True:
                result = self._perform(steps.send(result), ticket)
        except StopIteration as stop:
            run: _Run = stop.value
            return run
        except Exception as exc:  # a bug must cost one user or account, not the batch
            return failed(exc)

    def _perform(self, step: Step, ticket: DeliveryTicket | None = None) -> StepResult:
        try:
            if isinstance(step, HullTraits):
                if self.hull is None:
                    return None
                if step.subject == "account":
                    return self.hull.as_account(step.claims, delivery=ticket).traits(step.traits)
                return self.hull.as_user(step.claims, delivery=ticket).traits(step.traits)
            # Not a write-back: a Customer.io operation, which the client sends (typed).
            self._require_customerio("syncing users").send(step)
            return None
        except HullCustomerIOError as exc:
            return exc

    # ------------------------------------------------------------------- notifications

    def handle_notification(
        self, payload: Mapping[str, Any] | bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Authenticate a Hull smart-notifier notification, sync it, return the flow control.

        The notification must carry this connector's credentials (its ``configuration``) and,
        when present or required, Hull's valid signature; otherwise nothing of it is used.
        Its own settings (``connector.private_settings``) then drive the rules. The answer is
        ``{"flow_control": {"type": "next"}}``, or ``retry`` when a user failed for a
        transient reason (Customer.io or Hull unreachable, rate limited, 5xx, Hull refusing
        the connector's credentials), so Hull sends the notification again. When
        Customer.io cannot be reached at all, the first users' failures are enough: the
        rest are not sent (``customerio_unavailable``) and the answer comes within
        seconds. A write-back Hull refused for good (``writeback_rejected``) is answered
        ``next``. A notification that can never succeed (malformed envelope,
        invalid settings, a channel other than ``user:update``, settings naming another
        Customer.io workspace) is logged and answered ``next``. A web view should rather call
        `answer_notification`, which also gives the HTTP status.

        Args:
            payload: the notification, parsed or as the raw body.
            headers: the request headers (names matched case-insensitively), which carry
                Hull's signature.

        Raises:
            NotificationAuthenticationError: the notification is refused; nothing was sent.
            ValidationError: ``payload`` is bytes that are not a JSON object.
            ConfigurationError: the connector has no Customer.io client (webhook-only); raised
                once the notification is authenticated, before anything is sent.
        """
        envelope = _notifications.envelope_of(payload)
        steps = self.notification_guard.authenticate(envelope, headers)
        _notifications.run_checks(steps, self._key_http_client)
        return self._process(envelope).body

    def answer_notification(self, body: bytes, headers: Mapping[str, str]) -> NotificationAnswer:
        """Everything a web view needs to answer Hull's smart-notifier; never raises for bad
        input.

        Reads the raw body, authenticates the notification as `handle_notification`
        does and syncs it. The answer's ``http_status`` and ``body`` are what to send back;
        its ``report`` says what became of each user.

        Args:
            body: the raw request body.
            headers: the request headers (names matched case-insensitively).

        Returns:
            ``200`` with the flow control, ``400`` (``invalid_body``) for a body that is not
            a JSON object, or ``401`` with the refusal reason.

        Raises:
            ConfigurationError: the connector has no Customer.io client (webhook-only); raised
                once the notification is authenticated, before anything is sent.
        """
        # Hull's signature is checked before the body is parsed: a body nobody vouched for is
        # never read further than the check needs.
        steps = _notifications.authenticating(self.notification_guard, body, headers)
        read = _notifications.run_checks(steps, self._key_http_client)
        if isinstance(read, NotificationAnswer):
            return read
        return self._process(read)

    def _process(self, envelope: NotificationEnvelope) -> NotificationAnswer:
        customerio = self._require_customerio("handling a notification")
        prepared = _notifications.prepare_notification(envelope, site_id=customerio.site_id)
        if isinstance(prepared, NotificationAnswer):
            return prepared
        return _notifications.processed_answer(self.sync_notification(prepared))

    def sync_notification(self, notification: Notification) -> SyncReport:
        """Synchronise a parsed notification: its messages with its own settings.

        An export (``is_export``) bypasses the segment filter, and each malformed message of the
        notification gets its own ``malformed_message`` error outcome in the report. Every log
        record of it carries the notification's id and organization. An ``account:update``
        notification synchronises its accounts (`sync_account_updates`).

        Raises:
            ConfigurationError: the connector has no Customer.io client (webhook-only).
        """
        return self._run(_flows.of_notification(notification))

    # ------------------------------------------------------------------------ webhooks

    def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Verify a Customer.io webhook, turn it into a Hull event and deliver it.

        Never raises for bad input: the outcome carries the reason and the HTTP status to
        answer Customer.io (see [`WebhookOutcome`][hull_customerio.WebhookOutcome]). A ``200`` with
        no reason means Hull accepted the event. Hull refusing the event for good gives ``200``
        ``hull_rejected``; Hull unreachable (``hull_unavailable``), refusing the connector's
        credentials (``hull_unauthorized``) or not confirming within ``webhook_timeout``
        (``hull_timeout``) give ``503``, so Customer.io delivers the webhook again.

        Args:
            body: the raw request body, byte for byte (the signature covers it).
            headers: the request headers (names matched case-insensitively).
        """
        return _core.record_webhook(self.metrics, self._webhook(body, headers))

    def _webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        read = _core.read_webhook(body, headers, self.settings)
        if isinstance(read, WebhookOutcome):
            return read
        if self.hull is None:
            return _core.hull_not_configured(read)
        ticket = self.hull.delivery()
        try:
            scope = self.hull.as_user(read.claims, delivery=ticket)
            request_id = scope.track(**read.track_arguments())
        except ValidationError as exc:
            return _core.webhook_delivered(read, exc)
        settled = self.hull.wait(ticket, timeout=self.webhook_timeout)
        return _core.webhook_answer(read, ticket, request_id, settled=settled)

    # -------------------------------------------------------------------------- status

    def check_status(self) -> Status:
        """The connector's health: credentials, segments, and a credential check round trip.

        A webhook-only connector (no Customer.io client) gets a warning saying so, and no
        Customer.io round trip.
        """
        errors, warnings = _core.check_status_messages(self.settings)
        if self.customerio is None:
            warnings.append(_core.NO_CUSTOMERIO_CLIENT)
        elif not errors:
            try:
                if not self.customerio.check_credentials():
                    errors.append(_core.INVALID_CREDENTIALS)
            except APIError as exc:
                errors.append(_core.connection_error_message(exc))
        if self.hull is not None:
            errors += _core.hull_credentials_message(self.hull.credentials_error)
        return _core.status_from(errors, warnings)

    def publish_status(self) -> Status:
        """Run `check_status` and publish the result to Hull.

        Sends ``PUT /api/v1/<connector id>/status`` with ``{"status", "messages"}``, what
        Hull shows on the connector's page (the earlier connector did it every 30 minutes).

        Returns:
            The status that was published.

        Raises:
            ConfigurationError: the connector has no Hull client.
            APIError: Hull did not accept the status.
        """
        if self.hull is None:
            raise ConfigurationError(["publish_status needs a Hull client (hull=...)"])
        status = self.check_status()
        self.hull.put_status(status.status, status.messages)
        return status
