"""The sub-commands that look at one thing: ``check``, ``webhook``, ``webhook-url``, and
``serve``, which starts the service."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import urllib.parse

from ..config import (
    CUSTOMERIO_VARIABLES,
    HULL_VARIABLES,
    SERVICE_VARIABLES,
    token_key_from_env,
)
from ..engine import Connector
from ..engine._api import (
    check_status_messages,
    status_from,
)
from ..errors import (
    APIError,
    APIStatusError,
    ConfigurationError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from ..hub import ConnectorHub
from ..hull import HullClient, hull_failure_kind
from ..models.report import Status
from ..rules.signature import verify_webhook_signature
from ..rules.webhooks import parse_webhook
from ._clients import customerio_client, hull_client
from ._common import EXIT_FAILED, EXIT_OK, UsageError, first, note
from ._input import (
    json_problem,
    name_of,
    read_bytes,
)
from ._output import (
    dump,
    print_status,
    webhook_record,
)
from ._serve import run_serve
from ._settings import (
    build_settings,
    environment,
)

__all__ = [
    "INVALID_HULL_CREDENTIALS",
    "run_check",
    "run_serve_command",
    "run_webhook",
    "run_webhook_url",
]

#: ``check``'s error when Hull answers 401 or 403 to the connector's credentials.
INVALID_HULL_CREDENTIALS = (
    "Invalid Hull credentials: Hull refused the connector id, secret or organization"
)


def run_check(args: argparse.Namespace) -> int:
    """``check``: the connector's status, Customer.io's and Hull's credentials included."""
    settings = build_settings(args, None, credentials=True)
    with contextlib.ExitStack() as stack:
        hull = hull_client(args)
        if hull is not None:
            stack.enter_context(hull)
        if settings.has_credentials:
            customerio = stack.enter_context(customerio_client(args, settings))
            status = Connector(settings, customerio=customerio).check_status()
        else:
            # Nothing to ask Customer.io with: report the status the connector would.
            status = status_from(*check_status_messages(settings))
        if hull is None:
            note("no Hull credentials (HULL_ID, HULL_SECRET, HULL_ORGANIZATION): Hull not checked")
        else:
            status = _with_hull(status, hull)
    print_status(status, as_json=args.json)
    return EXIT_FAILED if status.status == "error" else EXIT_OK


def _with_hull(status: Status, hull: HullClient) -> Status:
    """``status`` plus what one Hull REST call (``GET /api/v1/app``) says of the credentials."""
    try:
        hull.api("GET", "app", retry=False)
    except APIStatusError as exc:
        if hull_failure_kind(exc) == "credentials":
            problem = f"{INVALID_HULL_CREDENTIALS} (HTTP {exc.status_code})."
        else:
            problem = f"Error when trying to connect with Hull: {exc}"
    except APIError as exc:
        problem = f"Error when trying to connect with Hull: {exc}"
    else:
        return status
    return Status(status="error", messages=[*status.messages, problem])


# --------------------------------------------------------------------------------------------
# webhook


def run_webhook(args: argparse.Namespace) -> int:
    """``webhook FILE``: the Hull event a Customer.io webhook body would become."""
    settings = build_settings(args, None, credentials=False)
    signing_key = first(
        args.signing_key,
        environment(args, credentials=False).get(CUSTOMERIO_VARIABLES["webhook_signing_key"]),
        settings.webhook_signing_key,
    )
    if (args.signature or args.timestamp) and not signing_key:
        raise UsageError("--signature and --timestamp need a --signing-key to be checked with")
    body = read_bytes(args.file)
    signature = "not checked"
    if signing_key:
        try:
            verify_webhook_signature(
                body,
                timestamp=args.timestamp,
                signature=args.signature,
                signing_key=signing_key,
                tolerance=args.tolerance,
            )
        except WebhookVerificationError as exc:
            print(dump(webhook_record(401, exc.reason, str(exc), "invalid")))
            return EXIT_FAILED
        except ValueError as exc:  # a negative --tolerance
            raise UsageError(str(exc)) from None
        signature = "valid"
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        if isinstance(exc, json.JSONDecodeError):
            reason = exc.msg
        elif isinstance(exc, UnicodeDecodeError):
            reason = str(exc)
        else:
            reason = json_problem(exc)
        raise UsageError(f"{name_of(args.file)}: invalid JSON: {reason}") from None
    try:
        event = parse_webhook(payload, settings)
    except WebhookPayloadError as exc:
        print(dump(webhook_record(200, exc.reason, str(exc), signature)))
        return EXIT_FAILED
    record = webhook_record(200, None, f"Would be forwarded to Hull as {event.event!r}.", signature)
    record["event"] = {
        "event": event.event,
        "properties": event.properties,
        "claims": event.claims,
        "event_id": event.event_id,
        "created_at": event.created_at,
        "key": event.key,
        "format": event.format,
        "source": event.source,
    }
    print(dump(record))
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# webhook-url

TOKEN_KEY = SERVICE_VARIABLES["token_key"]


def run_webhook_url(args: argparse.Namespace) -> int:
    """``webhook-url``: the connector's webhook URL, as a hub with the service's key builds it."""
    try:
        token_key = token_key_from_env()
    except ConfigurationError as exc:
        raise UsageError("; ".join(exc.problems)) from None
    base_url = args.base_url.strip()
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(
            "--base-url must be the service's http(s) base URL, without a query, e.g. "
            "https://hooks.example.com"
        )
    given = {
        "organization": (args.organization, HULL_VARIABLES["organization"], "--organization"),
        "connector_id": (args.id, HULL_VARIABLES["id"], "--id"),
        "secret": (args.secret, HULL_VARIABLES["secret"], "--secret"),
    }
    credentials: dict[str, str] = {}
    missing: list[str] = []
    for name, (flag_value, variable, flag) in given.items():
        value = (first(flag_value, os.environ.get(variable)) or "").strip()
        if value:
            credentials[name] = value
        else:
            missing.append(f"{flag} (or {variable})")
    if missing:
        raise UsageError("missing the connector's " + ", ".join(missing))
    try:
        hub = ConnectorHub(token_key=token_key)
    except ConfigurationError as exc:
        raise UsageError(f"{TOKEN_KEY}: " + "; ".join(exc.problems)) from None
    try:
        url = hub.webhook_url(base_url, **credentials)
    except ConfigurationError as exc:
        raise UsageError("invalid connector credentials: " + "; ".join(exc.problems)) from None
    finally:
        hub.close()
    print(url)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# serve


def run_serve_command(args: argparse.Namespace) -> int:
    """``serve``: the app under uvicorn; its and the library's records on stderr, masked."""
    return run_serve(args, UsageError)
