"""The public surface: what API.md promises is importable from `hull_customerio`."""

from __future__ import annotations

import hull_customerio as hc

# The names of the public API contract (shared/API.md).
API_NAMES = {
    "Settings", "ConfigurationError", "parse_notification", "Notification",
    "UserUpdateMessage", "HullEvent", "deduplicate_messages", "plan_user_update", "UserPlan",
    "Action", "OutgoingEvent", "chunk_attributes", "CustomerIOClient", "AsyncCustomerIOClient",
    "RetryPolicy", "BatchResult", "HullClient", "AsyncHullClient", "verify_webhook_signature",
    "parse_webhook", "IncomingEvent", "Connector", "AsyncConnector", "SyncReport",
    "UserOutcome", "WebhookOutcome", "Status", "HullCustomerIOError", "ValidationError",
    "WebhookVerificationError", "WebhookPayloadError", "APIError", "APIConnectionError",
    "APITimeoutError", "APIStatusError", "BadRequestError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "RateLimitError", "ServerError",
}  # fmt: skip


def test_all_is_sorted_and_every_name_exists() -> None:
    assert hc.__all__ == sorted(hc.__all__, key=lambda n: (not n.isupper(), n))
    for name in hc.__all__:
        assert getattr(hc, name) is not None, name


def test_every_name_of_the_api_contract_is_exported() -> None:
    assert API_NAMES - set(hc.__all__) == set()


def test_the_error_tree_has_one_root() -> None:
    for name in hc.__all__:
        value = getattr(hc, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, hc.HullCustomerIOError), name


def test_the_testing_helpers_are_public() -> None:
    from hull_customerio.testing import FakeCustomerIO, FakeHull  # noqa: PLC0415

    assert FakeCustomerIO.__module__.startswith("hull_customerio.testing")
    assert FakeHull.__module__.startswith("hull_customerio.testing")
