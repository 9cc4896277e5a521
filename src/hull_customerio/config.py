"""Configuration from environment variables: settings and clients for services and workers.

A service usually holds its credentials in the environment. These functions read them (from
`os.environ`, or any mapping you pass) and build what the library needs; a variable set to an
empty string counts as unset. Every error is a `ConfigurationError` that names the variables
at fault and never shows a secret's value.

Customer.io:

| variable | meaning |
|---|---|
| `CUSTOMERIO_SITE_ID` | the Site ID (settings key `site_id`) |
| `CUSTOMERIO_API_KEY` | the Track API key (settings key `api_key`); secret |
| `CUSTOMERIO_REGION` | `us`, `eu` or `auto` (settings key `region`; default `us`) |
| `CUSTOMERIO_BASE_URL` | send requests here instead of the region's host (a test server) |
| `CUSTOMERIO_RATE_LIMIT` | requests per second per client; `0` or `none` disables it |
| `CUSTOMERIO_WEBHOOK_SIGNING_KEY` | the reporting-webhook signing key; secret |

Hull (all three credentials, or none):

| variable | meaning |
|---|---|
| `HULL_ID` | the connector id |
| `HULL_SECRET` | the connector secret; secret |
| `HULL_ORGANIZATION` | the organization host, e.g. `abc123.hullapp.io` |
| `HULL_API_URL` | the REST API URL (default `https://<organization>`) |
| `HULL_FIREHOSE_URL` | the firehose URL (default Hull's) |

Connector settings: `HULL_CUSTOMERIO_SETTINGS` holds a JSON object of settings (the keys of
Hull's `private_settings`), and each other settings key may be given as
`HULL_CUSTOMERIO_<KEY>`, e.g. `HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS=seg1,seg2`. Lists are
comma-separated (or a JSON array), true/false settings take `true`/`false` (also `1`/`0`,
`yes`/`no`, `on`/`off`), numbers are digits. Later sources win: the `base` mapping you pass,
then `HULL_CUSTOMERIO_SETTINGS`, then the `HULL_CUSTOMERIO_<KEY>` variables, then the
`CUSTOMERIO_*` variables above.

Example:
    ```python
    from hull_customerio import Connector
    from hull_customerio.config import (
        customerio_client_from_env, hull_client_from_env, settings_from_env,
    )

    settings = settings_from_env()
    connector = Connector(
        settings,
        customerio=customerio_client_from_env(settings=settings),
        hull=hull_client_from_env(required=False),   # None when no HULL_* is set
    )
    ```
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal, overload

import attrs

from .customerio import AsyncCustomerIOClient, CustomerIOClient
from .errors import ConfigurationError
from .hull import AsyncHullClient, HullClient
from .settings import Settings

__all__ = [
    "CUSTOMERIO_VARIABLES",
    "HULL_VARIABLES",
    "SETTINGS_PREFIX",
    "SETTINGS_VARIABLE",
    "async_customerio_client_from_env",
    "async_hull_client_from_env",
    "customerio_client_from_env",
    "hull_client_from_env",
    "settings_from_env",
]

#: The Customer.io variables, by the settings key or client option they give.
CUSTOMERIO_VARIABLES: Mapping[str, str] = {
    "site_id": "CUSTOMERIO_SITE_ID",
    "api_key": "CUSTOMERIO_API_KEY",
    "region": "CUSTOMERIO_REGION",
    "base_url": "CUSTOMERIO_BASE_URL",
    "rate_limit": "CUSTOMERIO_RATE_LIMIT",
    "webhook_signing_key": "CUSTOMERIO_WEBHOOK_SIGNING_KEY",
}
#: The Hull variables, by the `HullClient` argument they give.
HULL_VARIABLES: Mapping[str, str] = {
    "id": "HULL_ID",
    "secret": "HULL_SECRET",
    "organization": "HULL_ORGANIZATION",
    "api_url": "HULL_API_URL",
    "firehose_url": "HULL_FIREHOSE_URL",
}
#: The variable holding a JSON object of connector settings.
SETTINGS_VARIABLE = "HULL_CUSTOMERIO_SETTINGS"
#: The prefix of the one-setting variables (`HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS`, ...).
SETTINGS_PREFIX = "HULL_CUSTOMERIO_"

# Settings keys the CUSTOMERIO_* variables give; they have no HULL_CUSTOMERIO_<KEY> twin.
_CREDENTIAL_KEYS = ("site_id", "api_key", "region", "webhook_signing_key")
_SECRET_KEYS = frozenset({"api_key", "webhook_signing_key"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _settings_keys() -> dict[str, str]:
    """Each settings key and its kind: "list", "bool", "int" or "str" (from the defaults)."""
    kinds: dict[str, str] = {}
    for field in attrs.fields(Settings):
        default = field.default
        if isinstance(default, tuple):
            kinds[field.name] = "list"
        elif isinstance(default, bool):
            kinds[field.name] = "bool"
        elif isinstance(default, int):
            kinds[field.name] = "int"
        else:
            kinds[field.name] = "str"
    return kinds


def _parse_setting(name: str, kind: str, raw: str, problems: list[str]) -> Any:
    if kind == "list":
        if raw.startswith("["):
            try:
                return json.loads(raw)
            except ValueError:
                problems.append(f"{name} is not a valid JSON array")
                return None
        return [item.strip() for item in raw.split(",") if item.strip()]
    if kind == "bool":
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        problems.append(f"{name} must be true or false, got {raw!r}")
        return None
    return raw


def settings_from_env(
    environ: Mapping[str, str] | None = None, *, base: Mapping[str, Any] | None = None
) -> Settings:
    """The connector settings, from `base` and the environment.

    Args:
        environ: Where to read the variables; `os.environ` by default.
        base: Settings to start from, e.g. Hull's `private_settings` for the connector; the
            variables override its keys.

    Returns:
        The checked settings.

    Raises:
        ConfigurationError: A variable or a resulting setting is invalid; each problem names
            the variable it came from. Secret values are never shown.
    """
    env = _environ(environ)
    merged: dict[str, Any] = dict(base or {})
    source: dict[str, str] = {}
    problems: list[str] = []

    raw_json = _get(env, SETTINGS_VARIABLE)
    if raw_json is not None:
        try:
            loaded = json.loads(raw_json)
        except ValueError:
            loaded = None
            problems.append(f"{SETTINGS_VARIABLE} is not valid JSON")
        if loaded is not None and not isinstance(loaded, dict):
            problems.append(f"{SETTINGS_VARIABLE} must be a JSON object of settings")
        elif isinstance(loaded, dict):
            merged.update(loaded)
            source.update(dict.fromkeys(loaded, SETTINGS_VARIABLE))

    for key, kind in _settings_keys().items():
        if key in _CREDENTIAL_KEYS:
            name = CUSTOMERIO_VARIABLES[key]
        else:
            name = SETTINGS_PREFIX + key.upper()
        raw = _get(env, name)
        if raw is None:
            continue
        value = _parse_setting(name, kind, raw, problems)
        if value is not None:
            merged[key] = value
            source[key] = name

    if problems:
        raise ConfigurationError(problems)
    try:
        return Settings.from_private_settings(merged)
    except ConfigurationError as exc:
        raise ConfigurationError(
            [_attributed(problem, source) for problem in exc.problems]
        ) from None


def _attributed(problem: str, source: Mapping[str, str]) -> str:
    key = problem.split(" ", 1)[0]
    name = source.get(key)
    if name is None:
        return problem
    if key in _SECRET_KEYS:
        return f"{key} (from {name}) is invalid"
    return f"{problem} (from {name})"


def _rate_limit(env: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    name = CUSTOMERIO_VARIABLES["rate_limit"]
    raw = _get(env, name)
    if raw is None:
        return {}
    if raw.lower() in ("none", "0", "off"):
        return {"rate_limit": None}
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not rate > 0 or rate == float("inf"):
        problems.append(f"{name} must be a positive number of requests per second, or 0/none")
        return {}
    return {"rate_limit": rate}


def _customerio_arguments(
    env: Mapping[str, str], settings: Settings | None, options: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    problems: list[str] = []
    site_id = _get(env, CUSTOMERIO_VARIABLES["site_id"]) or (settings and settings.site_id)
    api_key = _get(env, CUSTOMERIO_VARIABLES["api_key"]) or (settings and settings.api_key)
    for name, value in (("site_id", site_id), ("api_key", api_key)):
        if not value or not value.strip():
            problems.append(f"{CUSTOMERIO_VARIABLES[name]} is not set")
    arguments: dict[str, Any] = {}
    region = _get(env, CUSTOMERIO_VARIABLES["region"])
    if region is not None:
        region = region.lower()
        if region not in ("us", "eu", "auto"):
            problems.append(
                f"{CUSTOMERIO_VARIABLES['region']} must be us, eu or auto, got {region!r}"
            )
        arguments["region"] = region
    elif settings is not None:
        arguments["region"] = settings.region
    base_url = _get(env, CUSTOMERIO_VARIABLES["base_url"])
    if base_url is not None:
        arguments["base_url"] = base_url
    arguments.update(_rate_limit(env, problems))
    if problems:
        raise ConfigurationError(problems)
    arguments.update(options)
    return site_id or "", api_key or "", arguments


def customerio_client_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    **options: Any,
) -> CustomerIOClient:
    """A `CustomerIOClient` from the `CUSTOMERIO_*` variables.

    Args:
        environ: Where to read the variables; `os.environ` by default.
        settings: Settings whose `site_id`, `api_key` and `region` are used where the
            variables are unset (the variables win).
        **options: Any other `CustomerIOClient` keyword argument (`timeout`, `retry`,
            `http_client`, ...); they win over the variables.

    Returns:
        A client; close it (or use it as a context manager) when done.

    Raises:
        ConfigurationError: The Site ID or API key is missing, or a variable is invalid; the
            message names the variables, never the key.
    """
    site_id, api_key, arguments = _customerio_arguments(_environ(environ), settings, options)
    return CustomerIOClient(site_id, api_key, **arguments)


def async_customerio_client_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    **options: Any,
) -> AsyncCustomerIOClient:
    """An `AsyncCustomerIOClient` from the `CUSTOMERIO_*` variables.

    Same as `customerio_client_from_env`, for asyncio code.
    """
    site_id, api_key, arguments = _customerio_arguments(_environ(environ), settings, options)
    return AsyncCustomerIOClient(site_id, api_key, **arguments)


def _hull_arguments(
    env: Mapping[str, str], *, required: bool, options: Mapping[str, Any]
) -> tuple[str, str, str, dict[str, Any]] | None:
    credentials = {key: _get(env, HULL_VARIABLES[key]) for key in ("id", "secret", "organization")}
    missing = [HULL_VARIABLES[key] for key, value in credentials.items() if value is None]
    if len(missing) == len(credentials) and not required:
        return None
    if missing:
        hint = "" if required else " (set all three, or none to run without Hull)"
        raise ConfigurationError([f"{', '.join(missing)} not set{hint}"])
    arguments: dict[str, Any] = {}
    for key in ("api_url", "firehose_url"):
        value = _get(env, HULL_VARIABLES[key])
        if value is not None:
            arguments[key] = value
    arguments.update(options)
    return (
        credentials["id"] or "",
        credentials["secret"] or "",
        credentials["organization"] or "",
        arguments,
    )


@overload
def hull_client_from_env(
    environ: Mapping[str, str] | None = ..., *, required: Literal[True] = ..., **options: Any
) -> HullClient: ...
@overload
def hull_client_from_env(
    environ: Mapping[str, str] | None = ..., *, required: bool, **options: Any
) -> HullClient | None: ...
def hull_client_from_env(
    environ: Mapping[str, str] | None = None, *, required: bool = True, **options: Any
) -> HullClient | None:
    """A `HullClient` from the `HULL_*` variables.

    Args:
        environ: Where to read the variables; `os.environ` by default.
        required: With `False`, answer `None` when none of `HULL_ID`, `HULL_SECRET`,
            `HULL_ORGANIZATION` is set (a service that runs without writing back to Hull).
        **options: Any other `HullClient` keyword argument (`flush_at`, `timeout`, ...); they
            win over the variables.

    Returns:
        A client (close it when done), or `None` as described above.

    Raises:
        ConfigurationError: Some of the three credentials are missing (all of them when
            `required`); the message names the variables.
    """
    found = _hull_arguments(_environ(environ), required=required, options=options)
    if found is None:
        return None
    id, secret, organization, arguments = found
    return HullClient(id, secret, organization, **arguments)


@overload
def async_hull_client_from_env(
    environ: Mapping[str, str] | None = ..., *, required: Literal[True] = ..., **options: Any
) -> AsyncHullClient: ...
@overload
def async_hull_client_from_env(
    environ: Mapping[str, str] | None = ..., *, required: bool, **options: Any
) -> AsyncHullClient | None: ...
def async_hull_client_from_env(
    environ: Mapping[str, str] | None = None, *, required: bool = True, **options: Any
) -> AsyncHullClient | None:
    """An `AsyncHullClient` from the `HULL_*` variables.

    Same as `hull_client_from_env`, for asyncio code.
    """
    found = _hull_arguments(_environ(environ), required=required, options=options)
    if found is None:
        return None
    id, secret, organization, arguments = found
    return AsyncHullClient(id, secret, organization, **arguments)
