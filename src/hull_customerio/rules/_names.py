"""How a whitelisted Hull attribute is named in Customer.io (shared by the attribute rules and
the settings compiled for them)."""

from __future__ import annotations

__all__ = ["ACCOUNT_PREFIX", "DATE_SUFFIXES", "attribute_name"]

ACCOUNT_PREFIX = "account."
#: Attributes whose Customer.io name ends so hold dates, sent as unix seconds.
DATE_SUFFIXES = ("_at", "_date")
_TRAITS_PREFIX = "traits_"


def attribute_name(name: str) -> str:
    """The Customer.io name of a whitelisted Hull attribute.

    A leading ``traits_`` is removed and every ``/`` becomes ``-`` (Liquid cannot address
    ``/``); ``id`` becomes ``hull_id`` so the Hull id never overwrites the Customer.io id;
    ``account.x`` becomes ``account_x``.

    Examples:
        >>> attribute_name("clearbit/name")
        'clearbit-name'
        >>> attribute_name("account.clearbit/geo_state")
        'account_clearbit-geo_state'
        >>> attribute_name("id")
        'hull_id'
    """
    if name.startswith(ACCOUNT_PREFIX):
        return "account_" + _rewrite(name[len(ACCOUNT_PREFIX) :])
    rewritten = _rewrite(name)
    return "hull_id" if rewritten == "id" else rewritten


def _rewrite(name: str) -> str:
    if name.startswith(_TRAITS_PREFIX):
        name = name[len(_TRAITS_PREFIX) :]
    return name.replace("/", "-")
