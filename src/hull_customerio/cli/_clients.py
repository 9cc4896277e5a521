"""The Customer.io and Hull clients of a run, built through `hull_customerio.config`."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import (
    HULL_VARIABLES,
    async_customerio_client_from_env,
    async_hull_client_from_env,
    customerio_client_from_env,
    hull_client_from_env,
)
from ..customerio import AsyncCustomerIOClient, CustomerIOClient
from ..errors import ConfigurationError
from ..hull import AsyncHullClient, HullClient
from ..metrics import Metrics
from ..settings import Settings
from ._common import UsageError
from ._input import settings_problems
from ._settings import environment

__all__ = [
    "async_customerio_client",
    "async_hull_client",
    "customerio_client",
    "hull_client",
]

_MISSING_CUSTOMERIO = (
    "Customer.io credentials missing: set CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY "
    "(or --site-id and --api-key, or site_id and api_key in the settings)"
)


def _customerio_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    if not settings.has_credentials:
        raise UsageError(_MISSING_CUSTOMERIO)
    options: dict[str, Any] = {}
    rate_limit = getattr(args, "rate_limit", None)
    if rate_limit is not None:
        options["rate_limit"] = rate_limit or None  # 0: no limit
    return options


def customerio_client(args: argparse.Namespace, settings: Settings) -> CustomerIOClient:
    """The synchronous client (``check``): flags, then environment, then settings."""
    options = _customerio_options(args, settings)
    try:
        return customerio_client_from_env(environment(args), settings=settings, **options)
    except ConfigurationError as exc:
        raise UsageError(settings_problems(exc)) from None


def async_customerio_client(
    args: argparse.Namespace,
    settings: Settings,
    *,
    max_concurrency: int,
    metrics: Metrics | None = None,
) -> AsyncCustomerIOClient:
    """The asyncio client (``sync``), with at most ``max_concurrency`` requests in flight."""
    options = _customerio_options(args, settings)
    try:
        return async_customerio_client_from_env(
            environment(args),
            settings=settings,
            max_concurrency=max_concurrency,
            metrics=metrics,
            **options,
        )
    except ConfigurationError as exc:
        raise UsageError(settings_problems(exc)) from None


def _check_hull_credentials(env: dict[str, str]) -> bool:
    """Whether Hull credentials are given: all three (``True``) or none (``False``)."""
    names = [HULL_VARIABLES[key] for key in ("id", "secret", "organization")]
    missing = [name for name in names if not (env.get(name) or "").strip()]
    if len(missing) == len(names):
        return False
    if missing:
        raise UsageError(
            "Hull credentials incomplete: missing "
            + ", ".join(missing)
            + " (set all three, or none to sync without writing back to Hull)"
        )
    return True


def hull_client(args: argparse.Namespace) -> HullClient | None:
    """The synchronous Hull client, or ``None`` when no Hull credential is given."""
    env = environment(args)
    if not _check_hull_credentials(env):
        return None
    try:
        return hull_client_from_env(env)
    except ConfigurationError as exc:
        raise UsageError("invalid Hull credentials: " + "; ".join(exc.problems)) from None


def async_hull_client(
    args: argparse.Namespace, *, metrics: Metrics | None = None
) -> AsyncHullClient | None:
    """The asyncio Hull client, or ``None`` when no Hull credential is given."""
    env = environment(args)
    if not _check_hull_credentials(env):
        return None
    try:
        return async_hull_client_from_env(env, metrics=metrics)
    except ConfigurationError as exc:
        raise UsageError("invalid Hull credentials: " + "; ".join(exc.problems)) from None
