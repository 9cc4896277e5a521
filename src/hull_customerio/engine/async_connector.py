"""The asynchronous engine: [`AsyncConnector`][hull_customerio.AsyncConnector]. It drives the syncs
of `_flows` (awaiting) and answers notifications and webhooks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from ..customerio import AsyncCustomerIOClient, Operation
from ..errors import (
    APIError,
    ConfigurationError,
    HullCustomerIOError,
    ValidationError,
)
from ..hull import AsyncHullClient, DeliveryTicket
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

__all__ = ["DEFAULT_MAX_CONCURRENCY", "AsyncConnector"]

#: A user's or an account's execution, as a driver returns it.
_Run = TypeVar("_Run")

#: Users processed at the same time by default (the client's rate limit still applies).
DEFAULT_MAX_CONCURRENCY = 16


class AsyncConnector:
    """The awaitable [`Connector`][hull_customerio.Connector]: same arguments, behaviour and
    errors, with async clients.

    The clients are the async ones: an `AsyncCustomerIOClient`, an `AsyncHullClient` and an
    ``httpx.AsyncClient`` for ``key_http_client`` (a sync one raises ``TypeError``). One more
    argument, ``max_concurrency`` (default `DEFAULT_MAX_CONCURRENCY`; below 1 raises
    ``ConfigurationError``), bounds how many users, or accounts in ``"v1"`` mode, are processed
    at the same time, under the Customer.io client's rate limit and concurrency bound; each
    user's own calls stay in order (identify chunks, then events). One connector may be shared
    by every task of a web app, as a `Connector` by threads.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        customerio: AsyncCustomerIOClient | None = None,
        hull: AsyncHullClient | None = None,
        mode: str = "v1",
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        notification_public_key: str | None = None,
        trusted_key_hosts: Sequence[str] = _notifications.HULL_KEY_HOSTS,
        require_signature: bool = False,
        key_cache: _notifications.NotificationKeyCache | None = None,
        key_http_client: httpx.AsyncClient | None = None,
        webhook_timeout: float | None = _core.DEFAULT_WEBHOOK_TIMEOUT,
        metrics: Metrics | None = None,
    ) -> None:
        check_arguments(
            "async",
            settings=settings,
            customerio=customerio,
            hull=hull,
            key_http_client=key_http_client,
        )
        if max_concurrency < 1:
            raise ConfigurationError([f"max_concurrency must be at least 1, got {max_concurrency}"])
        self.metrics = guarded(metrics)
        self.settings = settings
        self.customerio = customerio
        self.hull = hull
        self.mode: _core.Mode = _core.check_mode(mode)
        self.max_concurrency = max_concurrency
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
        return (
            f"AsyncConnector(mode={self.mode!r}, max_concurrency={self.max_concurrency}, "
            f"settings={self.settings!r})"
        )

    async def sync_user_updates(
        self,
        messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
        *,
        batch: bool = False,
        settings: Settings | None = None,
    ) -> SyncReport:
        """Awaitable
        [`Connector.sync_user_updates`][hull_customerio.Connector.sync_user_updates]:
        same arguments, result and errors."""
        return await self._run(_flows.users(messages, settings or self.settings, batch=batch))

    async def sync_account_updates(
        self,
        messages: Iterable[AccountUpdateMessage | Mapping[str, Any]],
        *,
        settings: Settings | None = None,
    ) -> SyncReport:
        """Awaitable
        [`Connector.sync_account_updates`][hull_customerio.Connector.sync_account_updates]:
        same arguments, result and errors.

        In ``"v1"`` mode, accounts are processed concurrently (``max_concurrency``).
        """
        return await self._run(_flows.accounts(messages, settings or self.settings))

    def _require_customerio(self, what: str) -> AsyncCustomerIOClient:
        if self.customerio is None:
            raise _core.no_customerio_client(what)
        return self.customerio

    async def _run(self, job: _flows.SyncJob[Any, Any]) -> SyncReport:
        """Drive ``job``'s flow: perform each effect it yields, awaiting."""
        customerio = self._require_customerio(job.what)
        ticket = self.hull.delivery() if self.hull is not None else None
        flow = job.flow(self.mode, self.metrics)
        result: Any = None
        try:
            while True:
                effect = flow.send(result)
                if isinstance(effect, _flows.SendRound):
                    result = await self._send_round(effect, customerio, ticket)
                elif isinstance(effect, _flows.Drive):
                    drive = self._drive_concurrently if effect.concurrently else self._drive_all
                    result = await drive(effect.runs, ticket)
                else:  # AwaitDelivery
                    if self.hull is not None and ticket is not None:
                        await self.hull.wait(ticket)
                    result = ticket
        except StopIteration as stop:
            report: SyncReport = stop.value
            return report

    async def _send_round(
        self,
        effect: _flows.SendRound,
        customerio: AsyncCustomerIOClient,
        ticket: DeliveryTicket | None,
    ) -> _flows.RoundSent:
        # The round's requests go out first; the write-backs are queued meanwhile.
        operations = effect.round.operations
        sending = asyncio.ensure_future(customerio.batch(operations)) if operations else None
        try:
            queued = await self._queue_write_backs(effect.write_backs, ticket)
        except BaseException:  # cancelled: so is the round's sending
            if sending is not None:
                sending.cancel()
            raise
        result = await sending if sending is not None else None
        calls = await self._perform_in_user_order(effect.round.calls)
        return _flows.RoundSent(result, calls, queued)

    async def _queue_write_backs(
        self, write_backs: list[tuple[int, HullTraits]], ticket: DeliveryTicket | None
    ) -> dict[int, StepResult]:
        """Queue ``write_backs`` now, giving the event loop a turn every ``flush_at`` of them
        (see `_drive_all`); their results, by user."""
        queued: dict[int, StepResult] = {}
        if self.hull is None or not write_backs:
            return queued
        every = self.hull.flush_at
        for number, (user, step) in enumerate(write_backs, start=1):
            try:
                queued[user] = await self._perform(step, ticket)
            except Exception:  # noqa: S112  # a bug: the user's write-back is done
                continue  # again at the end, where it costs that user only (see _drive)
            if number % every == 0:
                await asyncio.sleep(0)
        if queued:  # the last partial batch too: nothing else is coming for a while
            with contextlib.suppress(RuntimeError):  # closed meanwhile: reported at the end
                await self.hull.post_pending()
        return queued

    async def _drive_all(
        self, runs: list[_flows.Steps[_Run]], ticket: DeliveryTicket | None
    ) -> list[_Run]:
        """Batch mode's write-backs, one after another, letting Hull posts start as they fill.

        Queueing a write-back waits for nothing (the Hull client posts in the background), so
        one task queues them all, in order; every ``flush_at`` of them it gives the event loop
        a turn, so each full firehose batch goes out while the next one is being built.
        """
        every = self.hull.flush_at if self.hull is not None else len(runs) or 1
        executions: list[_Run] = []
        for number, (steps, failed) in enumerate(runs, start=1):
            executions.append(await self._drive(steps, ticket, failed))
            if number % every == 0:
                await asyncio.sleep(0)
        return executions

    async def _drive_concurrently(
        self, runs: list[_flows.Steps[_Run]], ticket: DeliveryTicket | None
    ) -> list[_Run]:
        """Whole users or accounts (v1 mode): at most ``max_concurrency`` at the same time."""
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def bounded(
            steps: Generator[Step, StepResult, _Run], failed: Callable[[Exception], _Run]
        ) -> _Run:
            async with semaphore:
                return await self._drive(steps, ticket, failed)

        return list(await asyncio.gather(*(bounded(*run) for run in runs)))

    async def _perform_in_user_order(
        self, calls: list[tuple[int, int, Operation]]
    ) -> list[StepResult]:
        """Perform v1 calls: each user's in order, users concurrently (client-bounded)."""
        results: list[StepResult] = [None] * len(calls)
        by_user: dict[int, list[int]] = {}
        for number, (user, _, _) in enumerate(calls):
            by_user.setdefault(user, []).append(number)

        async def one_user(numbers: list[int]) -> None:
            for number in numbers:
                results[number] = await self._perform(calls[number][2])

        await asyncio.gather(*(one_user(numbers) for numbers in by_user.values()))
        return results

    async def _drive(
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
                result = await self._perform(steps.send(result), ticket)
        except StopIteration as stop:
            run: _Run = stop.value
            return run
        except Exception as exc:  # a bug must cost one user or account, not the batch
            return failed(exc)

    async def _perform(self, step: Step, ticket: DeliveryTicket | None = None) -> StepResult:
        try:
            if isinstance(step, HullTraits):
                if self.hull is None:
                    return None
                if step.subject == "account":
                    account = self.hull.as_account(step.claims, delivery=ticket)
                    return await account.traits(step.traits)
                scope = self.hull.as_user(step.claims, delivery=ticket)
                return await scope.traits(step.traits)
            # Not a write-back: a Customer.io operation, which the client sends (typed).
            await self._require_customerio("syncing users").send(step)
            return None
        except HullCustomerIOError as exc:
            return exc

    async def handle_notification(
        self, payload: Mapping[str, Any] | bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Awaitable
        [`Connector.handle_notification`][hull_customerio.Connector.handle_notification]:
        same arguments, result and errors."""
        envelope = _notifications.envelope_of(payload)
        steps = self.notification_guard.authenticate(envelope, headers)
        await _notifications.arun_checks(steps, self._key_http_client)
        return (await self._process(envelope)).body

    async def answer_notification(
        self, body: bytes, headers: Mapping[str, str]
    ) -> NotificationAnswer:
        """Awaitable
        [`Connector.answer_notification`][hull_customerio.Connector.answer_notification]:
        same arguments, result and errors.

        A body larger than 256 KiB is parsed on a worker thread, not in the event loop.
        """
        # Hull's signature is checked before the body is parsed: a body nobody vouched for is
        # never read further than the check needs.
        steps = _notifications.authenticating(self.notification_guard, body, headers)
        read = await _notifications.arun_checks(steps, self._key_http_client)
        if isinstance(read, NotificationAnswer):
            return read
        return await self._process(read)

    async def _process(self, envelope: NotificationEnvelope) -> NotificationAnswer:
        customerio = self._require_customerio("handling a notification")
        prepared = _notifications.prepare_notification(envelope, site_id=customerio.site_id)
        if isinstance(prepared, NotificationAnswer):
            return prepared
        return _notifications.processed_answer(await self.sync_notification(prepared))

    async def sync_notification(self, notification: Notification) -> SyncReport:
        """Awaitable
        [`Connector.sync_notification`][hull_customerio.Connector.sync_notification]:
        same arguments, result and errors."""
        return await self._run(_flows.of_notification(notification))

    async def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Awaitable
        [`Connector.handle_webhook`][hull_customerio.Connector.handle_webhook]:
        same arguments, result and errors."""
        return _core.record_webhook(self.metrics, await self._webhook(body, headers))

    async def _webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        read = _core.read_webhook(body, headers, self.settings)
        if isinstance(read, WebhookOutcome):
            return read
        if self.hull is None:
            return _core.hull_not_configured(read)
        ticket = self.hull.delivery()
        try:
            scope = self.hull.as_user(read.claims, delivery=ticket)
            request_id = await scope.track(**read.track_arguments())
        except ValidationError as exc:
            return _core.webhook_delivered(read, exc)
        settled = await self.hull.wait(ticket, timeout=self.webhook_timeout)
        return _core.webhook_answer(read, ticket, request_id, settled=settled)

    async def check_status(self) -> Status:
        """Awaitable
        [`Connector.check_status`][hull_customerio.Connector.check_status]:
        same arguments, result and errors."""
        errors, warnings = _core.check_status_messages(self.settings)
        if self.customerio is None:
            warnings.append(_core.NO_CUSTOMERIO_CLIENT)
        elif not errors:
            try:
                if not await self.customerio.check_credentials():
                    errors.append(_core.INVALID_CREDENTIALS)
            except APIError as exc:
                errors.append(_core.connection_error_message(exc))
        if self.hull is not None:
            errors += _core.hull_credentials_message(self.hull.credentials_error)
        return _core.status_from(errors, warnings)

    async def publish_status(self) -> Status:
        """Awaitable
        [`Connector.publish_status`][hull_customerio.Connector.publish_status]:
        same arguments, result and errors."""
        if self.hull is None:
            raise ConfigurationError(["publish_status needs a Hull client (hull=...)"])
        status = await self.check_status()
        await self.hull.put_status(status.status, status.messages)
        return status
