"""Pure functions, no I/O: from Hull messages and settings to plans."""

from .accounts import ACCOUNT_REASON_MESSAGES, plan_account_update
from .dedupe import deduplicate_account_messages, deduplicate_messages
from .plan import EVENT_REASON_MESSAGES, REASON_MESSAGES, plan_user_update

__all__ = [
    "ACCOUNT_REASON_MESSAGES",
    "EVENT_REASON_MESSAGES",
    "REASON_MESSAGES",
    "deduplicate_account_messages",
    "deduplicate_messages",
    "plan_account_update",
    "plan_user_update",
]
