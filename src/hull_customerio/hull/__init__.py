"""The Hull client: user tokens, firehose batching and REST, sync and async.

[`HullClient`][hull_customerio.HullClient] and [`AsyncHullClient`][hull_customerio.AsyncHullClient]
share one sans-IO core (``_base``); each only sends what it builds.
"""

from ._base import (
    DEFAULT_FLUSH_AT,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    DeliveryTicket,
    HullFailureKind,
    JSONValue,
    firehose_url_for,
    hull_failure_kind,
)
from ._scopes import AsyncHullAccountScope, HullAccountScope
from .async_client import AsyncHullClient, AsyncHullUserScope
from .client import HullClient, HullUserScope
from .flow_control import FlowControlAnswer, flow_control_next, flow_control_retry
from .tokens import (
    ACCOUNT_CLAIM_NAMES,
    USER_CLAIM_NAMES,
    account_claims,
    make_account_token,
    make_user_token,
    user_claims,
)

__all__ = [
    "ACCOUNT_CLAIM_NAMES",
    "DEFAULT_FLUSH_AT",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "USER_CLAIM_NAMES",
    "AsyncHullAccountScope",
    "AsyncHullClient",
    "AsyncHullUserScope",
    "DeliveryTicket",
    "FlowControlAnswer",
    "HullAccountScope",
    "HullClient",
    "HullFailureKind",
    "HullUserScope",
    "JSONValue",
    "account_claims",
    "firehose_url_for",
    "flow_control_next",
    "flow_control_retry",
    "hull_failure_kind",
    "make_account_token",
    "make_user_token",
    "user_claims",
]
