"""The Hull client (SPEC §5): user tokens, firehose batching and REST, sync and async.

:class:`HullClient` and :class:`AsyncHullClient` share one sans-IO core (``_base``); each only
sends what it builds.
"""

from ._base import DEFAULT_FLUSH_AT, DEFAULT_RETRY, DEFAULT_TIMEOUT, JSONValue, firehose_url_for
from .async_client import AsyncHullClient, AsyncHullUserScope
from .client import HullClient, HullUserScope
from .flow_control import FlowControlAnswer, flow_control_next, flow_control_retry
from .tokens import USER_CLAIM_NAMES, make_user_token, user_claims

__all__ = [
    "DEFAULT_FLUSH_AT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "USER_CLAIM_NAMES",
    "AsyncHullClient",
    "AsyncHullUserScope",
    "FlowControlAnswer",
    "HullClient",
    "HullUserScope",
    "JSONValue",
    "firehose_url_for",
    "flow_control_next",
    "flow_control_retry",
    "make_user_token",
    "user_claims",
]
