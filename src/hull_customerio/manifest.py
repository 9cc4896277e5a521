"""The Hull connector manifest: what Hull reads to install this service as a connector.

Hull installs a connector from the JSON document the service publishes at
``/manifest.json``. [`build_manifest`][hull_customerio.manifest.build_manifest] builds it:

- the connector's name, description, version and tags;
- ``private_settings``: every setting [`Settings`][hull_customerio.Settings] reads, with the
  widget Hull shows for it (a segment picker, an attribute picker, an event picker, a password
  field, a choice list) and its default; the size limits are hidden fields, present so Hull
  stores their defaults, but not shown;
- ``settings_sections``: how Hull groups the visible settings on the settings page;
- ``subscriptions``: the notifications Hull sends to ``/smart-notifier`` (``user:update``,
  filtered by the synchronized segments, and ``account:update``, filtered by the synchronized
  account segments);
- ``batches``: where Hull sends "send to connector" batches and exports (``/batch``);
- ``incoming``: where Customer.io's reporting webhooks arrive (``/webhook``);
- ``json``: the ``credentials`` entry, which Hull shows on the settings page by calling
  ``/credentials``; it answers the connector's own webhook URL, to paste into Customer.io;
- ``status`` and ``statuses``: Hull calls ``/status`` every 30 minutes, and the service
  checks the connector and publishes the result to Hull.

Every URL is relative: Hull joins it to the address the connector is installed from, so the
same manifest works wherever the service runs.

The manifest is built from tables (settings, sections, channels): accounts, sent as
Customer.io objects, are rows of each (their settings with Hull's account pickers, their
section, and the ``account:update`` channel).
"""

from __future__ import annotations

import typing
from importlib import metadata
from typing import Any, Literal

import attrs

from .settings import Region, Settings

__all__ = ["build_manifest"]

#: The JSON type Hull's settings form gives a value.
_JSONType = Literal["string", "array", "boolean", "number"]
#: Hull's settings widgets: attribute, segment and event pickers (``accountSegment`` and
#: ``accountTrait`` are the account pickers, spelled as Hull spells them), a masked field, and a
#: field kept out of sight.
_Format = Literal[
    "segment", "trait", "event", "accountSegment", "accountTrait", "password", "hidden"
]

#: The app's endpoints the manifest names, relative to where the service is installed.
_SMART_NOTIFIER = "/smart-notifier"
_BATCH = "/batch"
_WEBHOOK = "/webhook"
_CREDENTIALS = "/credentials"
_STATUS = "/status"

#: Hull calls the status endpoint this often (cron syntax): every 30 minutes.
_STATUS_SCHEDULE = "*/30 * * * *"

# ---------------------------------------------------------------------------------------------
# Sections of the settings page, in the order Hull shows them.


@attrs.frozen
class _Section:
    key: str
    title: str
    description: str


_CREDENTIALS_SECTION = "credentials"
_WEBHOOKS_SECTION = "webhooks"
_USERS_SECTION = "users"
_EVENTS_SECTION = "events"
_ACCOUNTS_SECTION = "accounts"

_SECTIONS: tuple[_Section, ...] = (
    _Section(
        _CREDENTIALS_SECTION,
        "Customer.io credentials",
        "The Site ID and the Track API key of your Customer.io workspace, found in Customer.io "
        "under Settings, API Credentials. Without them nothing is sent.",
    ),
    _Section(
        _WEBHOOKS_SECTION,
        "Customer.io activity in Hull",
        "To see the emails, pushes and messages Customer.io sends as Hull events, create a "
        "reporting webhook in Customer.io that calls the URL below, and paste its signing key "
        "here so that only Customer.io can post to it.",
    ),
    _Section(
        _USERS_SECTION,
        "Users sent to Customer.io",
        "Which Hull users become people in Customer.io, under which id, and with which attributes.",
    ),
    _Section(
        _EVENTS_SECTION,
        "Events sent to Customer.io",
        "Which Hull events are sent to Customer.io as the person's events.",
    ),
    _Section(
        _ACCOUNTS_SECTION,
        "Accounts sent to Customer.io",
        "Which Hull accounts become Customer.io objects (companies), under which object type "
        "and id, with which attributes, and whether people are related to their account's "
        "object.",
    ),
)

# ---------------------------------------------------------------------------------------------
# Settings: one row per setting that Settings reads. A row without a section is hidden.


@attrs.frozen
class _Setting:
    name: str
    title: str
    description: str
    type: _JSONType
    format: _Format | None = None
    section: str | None = None
    choices: tuple[str, ...] = ()


def _hidden_limit(name: str, title: str, description: str) -> _Setting:
    return _Setting(name, title, description, "number", "hidden")


_SETTINGS: tuple[_Setting, ...] = (
    _Setting(
        "site_id",
        "Customer.io Site ID",
        "The Site ID of the workspace people and events are sent to.",
        "string",
        section=_CREDENTIALS_SECTION,
    ),
    _Setting(
        "api_key",
        "Customer.io Track API key",
        "The Track API key paired with the Site ID. It is kept secret: never logged or shown.",
        "string",
        "password",
        section=_CREDENTIALS_SECTION,
    ),
    _Setting(
        "region",
        "Customer.io region",
        "Where the workspace is hosted: us, eu, or auto to ask Customer.io once.",
        "string",
        section=_CREDENTIALS_SECTION,
        choices=typing.get_args(Region),
    ),
    _Setting(
        "webhook_signing_key",
        "Webhook signing key",
        "The signing key Customer.io shows for the reporting webhook. With it, a webhook is "
        "accepted only when Customer.io signed it; left empty, webhooks are accepted unchecked "
        "and the connector's status warns about it.",
        "string",
        "password",
        section=_WEBHOOKS_SECTION,
    ),
    _Setting(
        "synchronized_segments",
        "Segments to send",
        "A user who belongs to at least one of these segments is sent to Customer.io. With no "
        "segment chosen, nobody is sent.",
        "array",
        "segment",
        section=_USERS_SECTION,
    ),
    _Setting(
        "user_id_mapping",
        "Attribute used as the Customer.io id",
        "The Hull attribute whose value becomes the person's id (customerId) in Customer.io. "
        "external_id is the safe choice because it does not change; people already sent keep "
        "the id they were sent with.",
        "string",
        "trait",
        section=_USERS_SECTION,
    ),
    _Setting(
        "synchronized_attributes",
        "Attributes to send",
        "Hull attributes sent on each person, besides the email, the creation date and "
        "hull_segments (the names of the user's segments). Names are adapted to Customer.io: "
        "'/' becomes '-', 'id' becomes 'hull_id', and an account attribute 'account.x' is sent "
        "as 'account_x'.",
        "array",
        "trait",
        section=_USERS_SECTION,
    ),
    _Setting(
        "enable_user_deletion",
        "Delete people who leave the segments",
        "When on, a person sent earlier is deleted from Customer.io once the user belongs to "
        "none of the segments above. When off, such people stay in Customer.io unchanged.",
        "boolean",
        section=_USERS_SECTION,
    ),
    _Setting(
        "events_filter",
        "Events to send",
        "Hull events sent to Customer.io; choose 'page' to send page views. With no event "
        "chosen, no event is sent.",
        "array",
        "event",
        section=_EVENTS_SECTION,
    ),
    _Setting(
        "anonymous_events",
        "Send events of unidentified users",
        "When on, the chosen events of a user who has no email or no Customer.io id are sent "
        "as anonymous events, which Customer.io attaches to the person once identified.",
        "boolean",
        section=_EVENTS_SECTION,
    ),
    _Setting(
        "synchronized_account_segments",
        "Account segments to send",
        "An account that belongs to at least one of these account segments is sent to "
        "Customer.io as an object. With no account segment chosen, no object is sent.",
        "array",
        "accountSegment",
        section=_ACCOUNTS_SECTION,
    ),
    _Setting(
        "object_type_id",
        "Customer.io object type id",
        "The id of the object type accounts are sent as (Customer.io shows it under Data & "
        "Integrations, Objects; the first type is 1). It must be a whole number: an id "
        "Customer.io does not know would silently create a new object type.",
        "string",
        section=_ACCOUNTS_SECTION,
    ),
    _Setting(
        "account_id_mapping",
        "Account attribute used as the object id",
        "The Hull account attribute whose value becomes the object's id in Customer.io. "
        "external_id or id do not change; a domain can change in Hull, and then the account "
        "is sent as a new object and its people are related to it, while the old object stays.",
        "string",
        "accountTrait",
        section=_ACCOUNTS_SECTION,
    ),
    _Setting(
        "synchronized_account_attributes",
        "Account attributes to send",
        "Hull account attributes sent on each object, besides name, domain and hull_segments "
        "(the names of the account's segments). Names are adapted as for people: '/' becomes "
        "'-' and 'id' becomes 'hull_id'; dates are sent as unix timestamps.",
        "array",
        "accountTrait",
        section=_ACCOUNTS_SECTION,
    ),
    _Setting(
        "link_users_to_accounts",
        "Relate people to their account's object",
        "When on, a person sent to Customer.io is related to the object of their account, if "
        "the account is in the account segments above. A person whose account changes, or "
        "leaves those segments, loses the old relationship.",
        "boolean",
        section=_ACCOUNTS_SECTION,
    ),
    _Setting(
        "enable_account_deletion",
        "Delete objects whose account leaves the account segments",
        "When on, an object sent earlier is deleted from Customer.io once its account belongs "
        "to none of the account segments above. When off, such objects stay unchanged.",
        "boolean",
        section=_ACCOUNTS_SECTION,
    ),
    _hidden_limit(
        "max_attributes_per_call",
        "Attributes per identify call",
        "More attributes than this are sent in several identify calls (1 to 300).",
    ),
    _hidden_limit(
        "max_attribute_name_length",
        "Longest attribute name",
        "Bytes (UTF-8) an attribute name may have.",
    ),
    _hidden_limit(
        "max_attribute_value_length",
        "Longest attribute value",
        "Bytes (UTF-8; compact JSON for lists and objects) an attribute value may have.",
    ),
    _hidden_limit(
        "max_identifier_value_length",
        "Longest Customer.io id",
        "Bytes (UTF-8) the person's id may have.",
    ),
    _hidden_limit(
        "max_attributes_per_person",
        "Attributes per person",
        "Attributes one person may carry; a user with more is not sent.",
    ),
    _hidden_limit(
        "max_event_name_length",
        "Longest event name",
        "Bytes (UTF-8) an event name may have (a page view is named by its URL).",
    ),
    _hidden_limit(
        "max_event_data_size",
        "Largest event data",
        "Bytes an event's properties may take as compact JSON.",
    ),
)

# ---------------------------------------------------------------------------------------------
# Entries Hull fetches from the service to show on the settings page.


@attrs.frozen
class _JSONEntry:
    name: str
    url: str
    title: str
    description: str
    format: str
    section: str


_JSON_ENTRIES: tuple[_JSONEntry, ...] = (
    _JSONEntry(
        "credentials",
        _CREDENTIALS,
        "Customer.io webhook URL",
        "This connector's own webhook URL. In Customer.io, create a reporting webhook and paste "
        "this URL as its endpoint.",
        "credentials",
        _WEBHOOKS_SECTION,
    ),
)

# ---------------------------------------------------------------------------------------------
# Notification channels: what Hull sends to /smart-notifier (and, for batches, to /batch).


@attrs.frozen
class _Channel:
    name: str
    #: The setting holding the segments Hull filters this channel's notifications by.
    segments_setting: str
    #: The tag telling Hull the service takes batches of this channel.
    batch_tag: str


_CHANNELS: tuple[_Channel, ...] = (
    _Channel("user:update", segments_setting="synchronized_segments", batch_tag="batch"),
    # Hull's tag for connectors that take batches of accounts.
    _Channel(
        "account:update",
        segments_setting="synchronized_account_segments",
        batch_tag="batch-accounts",
    ),
)

#: Tags that do not depend on the channels: the service sends to Customer.io ("outgoing"),
#: receives its webhooks ("incoming"), is notified by Hull's smart notifier, reads Hull's
#: exported JSON-lines files, and its settings fit Hull's one-column layout. One install per
#: organisation ("single-install"): what it writes back on users (customerio/created_at,
#: customerio/hash...) has one place per user, which two installs would overwrite in turn.
_TAGS: tuple[str, ...] = (
    "incoming",
    "outgoing",
    "oneColumn",
    "smart-notifier",
    "kraken-exports",
    "single-install",
)


# ---------------------------------------------------------------------------------------------
# The builder.


def build_manifest(*, version: str | None = None) -> dict[str, Any]:
    """The Hull connector manifest of this service, as a new JSON-ready dict.

    The service publishes it at ``/manifest.json``; Hull reads it to install the connector,
    draw its settings page, and know where to send notifications, batches and status checks.
    Every setting [`Settings`][hull_customerio.Settings] reads is listed with its default,
    and every URL is relative to where the service is installed. Users and accounts each
    have their notification channel, filtered by their synchronized segments.

    Args:
        version: the version Hull shows for the connector. ``None``: the installed
            ``hull-customerio`` package's version (``"unknown"`` when it is not installed,
            e.g. run from a source tree).

    Returns:
        A dict of JSON values (``json.dumps`` takes it as it is), built afresh on each call,
        so the caller may change it. Its keys: ``name``, ``description``, ``version``,
        ``source``, ``tags``, ``ui``, ``private_settings``, ``settings_sections``,
        ``subscriptions``, ``batches``, ``incoming``, ``json``, ``status``, ``statuses``.

    Raises:
        TypeError: ``version`` is not a string.
        ValueError: ``version`` is blank.
    """
    if version is None:
        version = _installed_version()
    elif not isinstance(version, str):
        raise TypeError(f"version must be a string or None, got {type(version).__name__}")
    elif not version.strip():
        raise ValueError("version must not be blank")
    return {
        "name": "Customer.io",
        "description": "Send Hull users and events to Customer.io, and Customer.io's message "
        "activity back to Hull as events.",
        "version": version,
        # The attribute group the connector writes on Hull users (customerio/...).
        "source": "customerio",
        "tags": [*_TAGS, *(channel.batch_tag for channel in _CHANNELS)],
        # No dashboard of its own: Hull draws the settings page from private_settings.
        "ui": False,
        "private_settings": [_setting_entry(setting) for setting in _SETTINGS],
        "settings_sections": [_section_entry(section) for section in _SECTIONS],
        "subscriptions": [
            {
                "url": _SMART_NOTIFIER,
                "channels": [{"channel": channel.name} for channel in _CHANNELS],
                "conditions": {
                    "channels": {"only": [channel.name for channel in _CHANNELS]},
                    "segments": {
                        channel.name: [f"private_settings.{channel.segments_setting}"]
                        for channel in _CHANNELS
                    },
                },
            }
        ],
        # One entry per channel, as Hull's connectors list batches; they may share /batch,
        # since each exported file names its own object type.
        "batches": [{"url": _BATCH, "channels": [{"channel": c.name}]} for c in _CHANNELS],
        "incoming": [
            {
                "url": _WEBHOOK,
                "description": "Customer.io reporting webhooks: message activity as Hull events.",
            }
        ],
        "json": [_json_entry(entry) for entry in _JSON_ENTRIES],
        "status": _status_entry(),
        "statuses": [_status_entry()],
    }


def _installed_version() -> str:
    try:
        return metadata.version("hull-customerio")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def _default(name: str) -> Any:
    # Settings is the one place defaults are declared; a tuple default is a JSON list.
    default = attrs.fields_dict(Settings)[name].default
    return list(default) if isinstance(default, tuple) else default


def _setting_entry(setting: _Setting) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": setting.name,
        "title": setting.title,
        "description": setting.description,
        "type": setting.type,
    }
    if setting.format is not None:
        entry["format"] = setting.format
    if setting.choices:
        entry["enum"] = list(setting.choices)
    default = _default(setting.name)
    # Credentials have no default: Hull leaves the field empty until someone fills it in.
    if default is not None:
        entry["default"] = default
    return entry


def _section_entry(section: _Section) -> dict[str, Any]:
    # What Hull fetches (the webhook URL) comes before the settings it goes with.
    properties = [f"json.{e.name}" for e in _JSON_ENTRIES if e.section == section.key]
    properties += [f"private_settings.{s.name}" for s in _SETTINGS if s.section == section.key]
    return {"title": section.title, "description": section.description, "properties": properties}


def _json_entry(entry: _JSONEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "url": entry.url,
        "title": entry.title,
        "description": entry.description,
        "format": entry.format,
        "type": "string",
    }


def _status_entry() -> dict[str, Any]:
    return {"url": _STATUS, "type": "cron", "value": _STATUS_SCHEDULE}
