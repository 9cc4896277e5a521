"""Keep a Hull customer data platform and Customer.io in sync, in both directions."""

from ._retry import RetryPolicy
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
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from .settings import Settings

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "DeliveryError",
    "HullCustomerIOError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Settings",
    "ValidationError",
    "WebhookPayloadError",
    "WebhookVerificationError",
]
