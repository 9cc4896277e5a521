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

A service serving many connectors (`ConnectorHub`, `AsyncConnectorHub`, `hull-customerio
serve`) reads `CUSTOMERIO_BASE_URL`, `CUSTOMERIO_RATE_LIMIT`, `HULL_API_URL` and
`HULL_FIREHOSE_URL` above for every connector it serves (each connector's own credentials
come from Hull), and these (`hub_options_from_env`):

| variable | meaning |
|---|---|
| `HULL_CUSTOMERIO_TOKEN_KEY` | the service's secret for webhook-URL tokens (required); secret |
| `HULL_CUSTOMERIO_REDIS_URL` | share each workspace's rate limit through Redis (extra `redis`) |
| `HULL_CUSTOMERIO_TRUSTED_KEY_HOSTS` | hosts Hull's public key may come from, comma-separated |
| `HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS` | domains an organization must be under, comma-separated |

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
from collections.abc import Callable, Mapping
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import attrs

from .customerio import AsyncCustomerIOClient, CustomerIOClient
from .errors import ConfigurationError
from .hull import AsyncHullClient, HullClient
from .settings import Settings

__all__ = [
    "CUSTOMERIO_VARIABLES",
    "HULL_VARIABLES",
    "SERVICE_VARIABLES",
    "SETTINGS_PREFIX",
    "SETTINGS_VARIABLE",
    "async_customerio_client_from_env",
    "async_hull_client_from_env",
    "customerio_client_from_env",
    "hub_options_from_env",
    "hull_client_from_env",
    "settings_from_env",
    "token_key_from_env",
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
#: The variables of a service serving many connectors, by the hub argument they give.
SERVICE_VARIABLES: Mapping[str, str] = {
    "token_key": "HULL_CUSTOMERIO_TOKEN_KEY",
    "redis_url": "HULL_CUSTOMERIO_REDIS_URL",
    "trusted_key_hosts": "HULL_CUSTOMERIO_TRUSTED_KEY_HOSTS",
    "trusted_hull_hosts": "HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS",
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


# --------------------------------------------------------------------------------------------
# A service serving many connectors


# The rate a shared limiter keeps when CUSTOMERIO_RATE_LIMIT is unset: the clients' default.
_DEFAULT_SHARED_RATE = 100.0
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def token_key_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The service's secret for webhook-URL tokens, from `HULL_CUSTOMERIO_TOKEN_KEY`.

    Args:
        environ: Where to read the variable; `os.environ` by default.

    Returns:
        The key, as given (surrounding spaces removed).

    Raises:
        ConfigurationError: The variable is unset or empty.
    """
    name = SERVICE_VARIABLES["token_key"]
    value = _get(_environ(environ), name)
    if value is None:
        raise ConfigurationError([f"{name} is not set (the service's secret for webhook URLs)"])
    return value


def _hosts(env: Mapping[str, str], key: str, problems: list[str]) -> tuple[str, ...] | None:
    name = SERVICE_VARIABLES[key]
    raw = _get(env, name)
    if raw is None:
        return None
    hosts = tuple(host.strip() for host in raw.split(",") if host.strip())
    if not hosts:
        problems.append(f"{name} must list host names, comma-separated")
        return None
    return hosts


def _shared_limiter(
    env: Mapping[str, str], rate_limit: Mapping[str, Any], problems: list[str]
) -> Callable[[str], Any] | None:
    name = SERVICE_VARIABLES["redis_url"]
    url = _get(env, name)
    if url is None:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in _REDIS_SCHEMES:
        # The URL may hold a password: it is never repeated.
        problems.append(f"{name} must be a redis://, rediss:// or unix:// URL")
        return None
    rate = rate_limit.get("rate_limit", _DEFAULT_SHARED_RATE)
    if rate is None:
        problems.append(
            f"{CUSTOMERIO_VARIABLES['rate_limit']} turns the rate limit off, but {name} asks "
            "for a shared one: unset one of them"
        )
        return None
    try:
        from .redis_limiter import RedisRateLimiter  # noqa: PLC0415 -- an optional extra
    except ImportError:
        problems.append(f"{name} needs the 'redis' extra: pip install 'hull-customerio[redis]'")
        return None

    def limiter(name: str) -> RedisRateLimiter:
        # ``name`` is the hub's name of a workspace's limiter: its site_id and a fingerprint of
        # its api_key, so a tenant naming another's site_id never spends that tenant's rate.
        # The same key as workspace_key(site_id, api_key), which the recipes use.
        return RedisRateLimiter(url, key=f"customerio:{name}", rate=rate)

    return limiter


def hub_options_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for `ConnectorHub` / `AsyncConnectorHub`, from the environment.

    What it reads, and the hub argument each gives:

    - `HULL_CUSTOMERIO_TOKEN_KEY` → `token_key` (required);
    - `CUSTOMERIO_BASE_URL` and `CUSTOMERIO_RATE_LIMIT` → `customerio_options` (`base_url`,
      `rate_limit`) for every workspace;
    - `HULL_API_URL` and `HULL_FIREHOSE_URL` → `hull_options` (`api_url`, `firehose_url`) for
      every organization (a test server; pinning Hull's URL also lifts the check of the
      organization's domain);
    - `HULL_CUSTOMERIO_REDIS_URL` → `limiter_factory`: each workspace's limit (at
      `CUSTOMERIO_RATE_LIMIT`, else 100 requests per second) kept in Redis under
      `customerio:<site_id>:<fingerprint of the API key>`, shared by every hub process
      configured alike (extra `redis`);
    - `HULL_CUSTOMERIO_TRUSTED_KEY_HOSTS` and `HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS` (comma-
      separated host names) → `trusted_key_hosts` and `trusted_hull_hosts`.

    A variable that is unset (or empty) gives no argument: the hub's default holds.

    Args:
        environ: Where to read the variables; `os.environ` by default.

    Returns:
        The arguments, e.g. `AsyncConnectorHub(**hub_options_from_env(), mode="batch")`.

    Raises:
        ConfigurationError: A variable is missing or invalid; every problem is listed, each
            naming its variable, never a secret's value.

    Example:
        ```python
        import hull_customerio as hc
        from hull_customerio.config import hub_options_from_env

        hub = hc.AsyncConnectorHub(**hub_options_from_env())
        ```
    """
    env = _environ(environ)
    problems: list[str] = []
    options: dict[str, Any] = {}
    try:
        options["token_key"] = token_key_from_env(env)
    except ConfigurationError as exc:
        problems.extend(exc.problems)
    customerio: dict[str, Any] = {}
    base_url = _get(env, CUSTOMERIO_VARIABLES["base_url"])
    if base_url is not None:
        customerio["base_url"] = base_url
    rate_limit = _rate_limit(env, problems)
    limiter = _shared_limiter(env, rate_limit, problems)
    if limiter is not None:
        options["limiter_factory"] = limiter
    else:
        customerio.update(rate_limit)
    if customerio:
        options["customerio_options"] = customerio
    hull = {key: value for key in ("api_url", "firehose_url")
            if (value := _get(env, HULL_VARIABLES[key])) is not None}  # fmt: skip
    if hull:
        options["hull_options"] = hull
    for key in ("trusted_key_hosts", "trusted_hull_hosts"):
        hosts = _hosts(env, key, problems)
        if hosts is not None:
            options[key] = hosts
    if problems:
        raise ConfigurationError(problems)
    return options
