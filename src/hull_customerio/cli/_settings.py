"""Settings for a run: the settings file, then the environment, then the flags.

The environment is read through `hull_customerio.config`, the one place that names the
variables; a flag is applied by writing its variable into a copy of the environment, so a flag
always wins over the variable and both go through the same checks.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from typing import Any

from ..config import CUSTOMERIO_VARIABLES, HULL_VARIABLES, SETTINGS_PREFIX, settings_from_env
from ..errors import ConfigurationError
from ..settings import Settings
from ._common import UsageError, note
from ._input import read_settings_file, settings_problems

__all__ = [
    "build_settings",
    "environment",
    "warn_if_no_account_is_sent",
    "warn_if_nobody_is_sent",
]

#: Flag (argparse ``dest``) -> the variable it stands for.
_FLAG_VARIABLES = {
    "site_id": CUSTOMERIO_VARIABLES["site_id"],
    "api_key": CUSTOMERIO_VARIABLES["api_key"],
    "region": CUSTOMERIO_VARIABLES["region"],
    "base_url": CUSTOMERIO_VARIABLES["base_url"],
    "hull_id": HULL_VARIABLES["id"],
    "hull_secret": HULL_VARIABLES["secret"],
    "hull_organization": HULL_VARIABLES["organization"],
    "hull_api_url": HULL_VARIABLES["api_url"],
    "hull_firehose_url": HULL_VARIABLES["firehose_url"],
}

#: What ``plan`` and ``webhook`` leave out: they send nothing, so credentials are not theirs.
_CREDENTIAL_VARIABLES = tuple(CUSTOMERIO_VARIABLES[key] for key in ("site_id", "api_key", "region"))


def environment(args: argparse.Namespace, *, credentials: bool = True) -> dict[str, str]:
    """A copy of the environment with the flags given written over their variables."""
    env = dict(os.environ)
    if not credentials:
        for name in _CREDENTIAL_VARIABLES:
            env.pop(name, None)
    for dest, variable in _FLAG_VARIABLES.items():
        value = getattr(args, dest, None)
        if credentials and value:
            env[variable] = value
    return env


def build_settings(
    args: argparse.Namespace,
    base: Mapping[str, Any] | None,
    *,
    credentials: bool,
) -> Settings:
    """Settings from ``--settings`` (else ``base``), then the environment, then the flags.

    ``credentials=False`` (``plan``, ``webhook``) leaves the Customer.io credentials out.
    """
    merged: dict[str, Any] = dict(base or {})
    if args.settings is not None:
        merged = read_settings_file(args.settings)
    env = environment(args, credentials=credentials)
    if getattr(args, "segments", None):
        env[SETTINGS_PREFIX + "SYNCHRONIZED_SEGMENTS"] = json.dumps(list(args.segments))
    if getattr(args, "account_segments", None):
        env[SETTINGS_PREFIX + "SYNCHRONIZED_ACCOUNT_SEGMENTS"] = json.dumps(
            list(args.account_segments)
        )
    try:
        return settings_from_env(env, base=merged)
    except ConfigurationError as exc:
        raise UsageError(settings_problems(exc)) from None


def warn_if_nobody_is_sent(settings: Settings, batch: bool) -> None:
    """Say on stderr when the settings let nobody through (no segments, not a batch)."""
    if not settings.synchronized_segments and not batch:
        note(
            "warning: no synchronized segments, so no user will be sent "
            "(give --settings, --segment ID or --batch)"
        )


def warn_if_no_account_is_sent(settings: Settings) -> None:
    """Say on stderr when the settings let no account through (no account segments)."""
    if not settings.synchronized_account_segments:
        note(
            "warning: no synchronized account segments, so no account will be sent "
            "(give --settings or --account-segment ID)"
        )
