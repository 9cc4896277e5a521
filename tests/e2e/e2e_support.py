"""End-to-end support: real clients for the loopback fakes, and a harness running the engine.

Retries are real (tenacity, real sleeps) but short, so fault scenarios run in milliseconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

DATA = Path(__file__).resolve().parent.parent / "data"

FAST_RETRY = hc.RetryPolicy(
    max_attempts=4, initial_backoff=0.005, max_backoff=0.02, max_retry_after=0.05, max_elapsed=5
)


def _credentials(fake: FakeCustomerIO, settings: hc.Settings | None) -> tuple[str, str]:
    # As in production, the settings' credentials win; settings without them use the fake's.
    if settings is not None and settings.site_id and settings.api_key:
        return settings.site_id, settings.api_key
    return fake.site_id, fake.api_key


def customerio_client(
    fake: FakeCustomerIO, settings: hc.Settings | None = None, **kwargs: Any
) -> hc.CustomerIOClient:
    options: dict[str, Any] = {"retry": FAST_RETRY, "rate_limit": None, "timeout": 2.0}
    options.update(kwargs)
    return hc.CustomerIOClient(*_credentials(fake, settings), base_url=fake.url, **options)


def async_customerio_client(
    fake: FakeCustomerIO, settings: hc.Settings | None = None, **kwargs: Any
) -> hc.AsyncCustomerIOClient:
    options: dict[str, Any] = {"retry": FAST_RETRY, "rate_limit": None, "timeout": 2.0}
    options.update(kwargs)
    return hc.AsyncCustomerIOClient(*_credentials(fake, settings), base_url=fake.url, **options)


def hull_client(fake: FakeHull, **kwargs: Any) -> hc.HullClient:
    options: dict[str, Any] = {"retry": FAST_RETRY, **kwargs}
    return hc.HullClient(
        fake.id, fake.secret, fake.organization, api_url=fake.url, firehose_url=fake.url,
        **options,
    )  # fmt: skip


def async_hull_client(fake: FakeHull, **kwargs: Any) -> hc.AsyncHullClient:
    options: dict[str, Any] = {"retry": FAST_RETRY, **kwargs}
    return hc.AsyncHullClient(
        fake.id, fake.secret, fake.organization, api_url=fake.url, firehose_url=fake.url,
        **options,
    )  # fmt: skip


class Harness:
    """Runs the engine, sync or async, against the loopback fakes with fresh clients per call."""

    def __init__(
        self, flavour: str, mode: str, customerio: FakeCustomerIO, hull: FakeHull | None
    ) -> None:
        self.flavour = flavour
        self.mode = mode
        self.fake_customerio = customerio
        self.fake_hull = hull
        self.customerio_options: dict[str, Any] = {}

    def settings(self, payload: dict[str, Any]) -> hc.Settings:
        return hc.Settings.from_private_settings(payload["connector"]["private_settings"])

    def _run(self, settings: hc.Settings, action: Any) -> Any:
        if self.flavour == "sync":
            with customerio_client(
                self.fake_customerio, settings, **self.customerio_options
            ) as cio:
                hull = hull_client(self.fake_hull) if self.fake_hull else None
                try:
                    connector = hc.Connector(settings, customerio=cio, hull=hull, mode=self.mode)
                    return action(connector)
                finally:
                    if hull is not None:
                        hull.close()

        async def run() -> Any:
            async with async_customerio_client(
                self.fake_customerio, settings, **self.customerio_options
            ) as cio:
                hull = async_hull_client(self.fake_hull) if self.fake_hull else None
                try:
                    connector = hc.AsyncConnector(
                        settings, customerio=cio, hull=hull, mode=self.mode
                    )
                    return await action(connector)
                finally:
                    if hull is not None:
                        await hull.close()

        return asyncio.run(run())

    def sync(
        self, messages: list[Any], settings: hc.Settings, *, batch: bool = False
    ) -> hc.SyncReport:
        report: hc.SyncReport = self._run(
            settings, lambda c: c.sync_user_updates(messages, batch=batch)
        )
        return report

    def sync_notification(self, payload: dict[str, Any]) -> hc.SyncReport:
        notification = hc.parse_notification(payload)
        report: hc.SyncReport = self._run(
            notification.settings, lambda c: c.sync_notification(notification)
        )
        return report

    def notification(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._run(
            self.settings(payload), lambda c: c.handle_notification(payload)
        )
        return answer

    def webhook(
        self, settings: hc.Settings, body: bytes, headers: dict[str, str]
    ) -> hc.WebhookOutcome:
        outcome: hc.WebhookOutcome = self._run(settings, lambda c: c.handle_webhook(body, headers))
        return outcome

    def status(self, settings: hc.Settings) -> hc.Status:
        status: hc.Status = self._run(settings, lambda c: c.check_status())
        return status
