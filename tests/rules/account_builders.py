"""Small builders for ``account:update`` messages and account settings, so tests state only
what their rule reads.

``account()`` starts from an account with a Hull id, an external id, a name and a domain;
``account_message()`` puts it in the one synchronized account segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from hull_customerio.models.account import AccountUpdateMessage
from hull_customerio.settings import Settings

MISSING: Any = object()
"""Pass as an attribute value to remove that attribute from the built account."""

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW_ISO = "2024-06-01T12:00:00.000Z"
SYNCED_ACCOUNT_SEGMENT = {"id": "aseg_1", "name": "Customers"}
OTHER_ACCOUNT_SEGMENT = {"id": "aseg_2", "name": "Prospects"}


def account(**attributes: Any) -> dict[str, Any]:
    """A Hull account as it arrives: ``id``, ``external_id``, ``name``, ``domain`` + more.

    Names that are not Python identifiers (``customerio/object_id``) go through ``**{...}``.
    """
    data: dict[str, Any] = {
        "id": "hull-account-1",
        "external_id": "acme-1",
        "name": "Acme",
        "domain": "acme.example",
    }
    for name, value in attributes.items():
        if value is MISSING:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def raw_account_message(
    account_data: Mapping[str, Any] | None = None,
    *,
    segments: Iterable[Mapping[str, Any]] = (SYNCED_ACCOUNT_SEGMENT,),
    **extra: Any,
) -> dict[str, Any]:
    """An ``account:update`` message dict as Hull sends it."""
    data: dict[str, Any] = {
        "account": dict(account_data if account_data is not None else account()),
        "account_segments": [dict(segment) for segment in segments],
        "changes": {},
    }
    data.update(extra)
    return data


def account_message(
    account_data: Mapping[str, Any] | None = None,
    *,
    segments: Iterable[Mapping[str, Any]] = (SYNCED_ACCOUNT_SEGMENT,),
    **extra: Any,
) -> AccountUpdateMessage:
    """A parsed ``account:update`` message (see :func:`raw_account_message`)."""
    return AccountUpdateMessage.from_dict(
        raw_account_message(account_data, segments=segments, **extra)
    )


def account_settings(**overrides: Any) -> Settings:
    """Settings synchronizing account segment ``aseg_1`` (and user segment ``seg_1``)."""
    values: dict[str, Any] = {
        "site_id": "site",
        "api_key": "key",
        "synchronized_segments": ["seg_1"],
        "synchronized_account_segments": ["aseg_1"],
    }
    values.update(overrides)
    return Settings(**values)
