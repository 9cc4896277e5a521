"""Keep a Hull customer data platform and Customer.io in sync, in both directions.

Everything public is importable from here::

    import hull_customerio as hc

    notification = hc.parse_notification(payload)
    plan = hc.plan_user_update(notification.messages[0], notification.settings)

``hc.RedisRateLimiter`` (extra ``redis``) is also reachable here, but only imported when first
used, so ``import hull_customerio`` never imports Redis; it is left out of ``__all__`` so that a
star import works without the extra.
"""

from typing import Any

from ._http.ratelimit import AsyncRateLimiter, RateLimiter
from ._http.retry import RetryPolicy
from .customerio import (
    AsyncCustomerIOClient,
    BatchError,
    BatchResult,
    CustomerIOClient,
    anonymous_event_operation,
    delete_operation,
    event_operation,
    identify_operation,
    page_operation,
)
from .engine import (
    HULL_KEY_HOSTS,
    AsyncConnector,
    BatchOperationError,
    Connector,
    NotificationAnswer,
    NotificationEnvelope,
    NotificationKeyCache,
    read_notification_body,
)
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    DeliveryError,
    HullCustomerIOError,
    NotFoundError,
    NotificationAuthenticationError,
    PermissionDeniedError,
    RateLimitError,
    RateLimiterUnavailableError,
    ServerError,
    ValidationError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from .hub import AsyncConnectorHub, ConnectorHub
from .hull import AsyncHullClient, HullClient
from .hull.flow_control import flow_control_next, flow_control_retry
from .models.account import AccountPlan, AccountUpdateMessage
from .models.hull import HullAccount, HullEvent, HullUser, Segment, UserUpdateMessage
from .models.notification import MalformedMessage, Notification, parse_notification
from .models.plan import Action, OutgoingEvent, UserPlan
from .models.report import AccountOutcome, Status, SyncReport, UserOutcome, WebhookOutcome
from .models.webhook import IncomingEvent
from .rules.accounts import ACCOUNT_REASON_MESSAGES, plan_account_update
from .rules.chunking import chunk_attributes
from .rules.dedupe import deduplicate_account_messages, deduplicate_messages
from .rules.plan import EVENT_REASON_MESSAGES, REASON_MESSAGES, plan_user_update
from .rules.signature import sign_webhook, verify_webhook_request, verify_webhook_signature
from .rules.webhooks import parse_webhook
from .settings import Settings

__all__ = [
    "ACCOUNT_REASON_MESSAGES",
    "EVENT_REASON_MESSAGES",
    "HULL_KEY_HOSTS",
    "REASON_MESSAGES",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AccountOutcome",
    "AccountPlan",
    "AccountUpdateMessage",
    "Action",
    "AsyncConnector",
    "AsyncConnectorHub",
    "AsyncCustomerIOClient",
    "AsyncHullClient",
    "AsyncRateLimiter",
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "BatchOperationError",
    "BatchResult",
    "ConfigurationError",
    "Connector",
    "ConnectorHub",
    "CustomerIOClient",
    "DeliveryError",
    "HullAccount",
    "HullClient",
    "HullCustomerIOError",
    "HullEvent",
    "HullUser",
    "IncomingEvent",
    "MalformedMessage",
    "NotFoundError",
    "Notification",
    "NotificationAnswer",
    "NotificationAuthenticationError",
    "NotificationEnvelope",
    "NotificationKeyCache",
    "OutgoingEvent",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "RetryPolicy",
    "Segment",
    "ServerError",
    "Settings",
    "Status",
    "SyncReport",
    "UserOutcome",
    "UserPlan",
    "UserUpdateMessage",
    "ValidationError",
    "WebhookOutcome",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "anonymous_event_operation",
    "chunk_attributes",
    "deduplicate_account_messages",
    "deduplicate_messages",
    "delete_operation",
    "event_operation",
    "flow_control_next",
    "flow_control_retry",
    "identify_operation",
    "page_operation",
    "parse_notification",
    "parse_webhook",
    "plan_account_update",
    "plan_user_update",
    "read_notification_body",
    "sign_webhook",
    "verify_webhook_request",
    "verify_webhook_signature",
]


def __getattr__(name: str) -> Any:
    # Optional extras load on first use, never at import (their modules need the extra).
    if name == "RedisRateLimiter":
        from .redis_limiter import RedisRateLimiter  # noqa: PLC0415

        return RedisRateLimiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
