"""The command line's arguments: one parser, a sub-parser per command."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from importlib import metadata

from ._commands import run_plan, run_sync
from ._common import PROG
from ._progress import DEFAULT_INTERVAL
from ._serve import add_serve_parser
from ._tools import run_check, run_serve_command, run_webhook, run_webhook_url

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_CONCURRENCY", "build_parser", "version"]

DEFAULT_CHUNK_SIZE = 500
#: Users (and Customer.io requests) in flight at once during ``sync``.
DEFAULT_CONCURRENCY = 10

_DESCRIPTION = """\
Sync Hull users (and accounts, as objects) to Customer.io, check the connection, and inspect
webhooks.

FILE is a Hull notification (a JSON object with "messages"; user:update or account:update) or
JSON lines (one user:update or one account:update message per line, never both kinds in one
file); "-" reads standard input. Exit codes: 0 success, 1 something failed,
2 bad input or usage, 130 interrupted (plan and sync then say how to go on). See docs/cli.md.
"""

_ENVIRONMENT = """\
environment:
  CUSTOMERIO_SITE_ID, CUSTOMERIO_API_KEY, CUSTOMERIO_REGION (us, eu, auto),
  CUSTOMERIO_BASE_URL, CUSTOMERIO_RATE_LIMIT; HULL_ID, HULL_SECRET, HULL_ORGANIZATION,
  HULL_API_URL, HULL_FIREHOSE_URL; HULL_CUSTOMERIO_SETTINGS and HULL_CUSTOMERIO_<KEY> for
  settings. Flags win over the environment, which wins over the settings file.
"""


def version() -> str:
    """The installed package's version."""
    try:
        return metadata.version("hull-customerio")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``hull-customerio`` parser; each sub-command sets ``run`` to its function."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    plan = _add_command(
        commands,
        "plan",
        run_plan,
        help="dry run: each user's (or account's) plan as a JSON line (no network)",
        description="Print what would happen to each user (or account), one JSON object per "
        "line. Nothing is sent anywhere.",
    )
    _add_input_arguments(plan)

    sync = _add_command(
        commands,
        "sync",
        run_sync,
        help="send the users (or accounts) to Customer.io and write back to Hull",
        description="Sync the users (or the accounts, as objects) of FILE to Customer.io, "
        "write the sync state back to Hull (when Hull credentials are given) and print a "
        "summary. Exit code 1 when any user or account failed.",
        epilog=_ENVIRONMENT,
    )
    _add_input_arguments(sync)
    sync.add_argument(
        "--mode",
        choices=("v1", "batch"),
        default="v1",
        help="v1: one Track API call per operation; batch: v2 batch requests (default v1)",
    )
    sync.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="N",
        help="Customer.io requests per second, at most (default $CUSTOMERIO_RATE_LIMIT, else "
        "100); 0 sends without a limit",
    )
    sync.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"users processed, and Customer.io requests in flight, at once (default "
        f"{DEFAULT_CONCURRENCY})",
    )
    sync.add_argument(
        "--json",
        action="store_true",
        help="print every user's (or account's) outcome as a JSON line",
    )
    sync.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log the library's records (every user's and event's outcome) on stderr",
    )
    shown = sync.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress",
        action="store_true",
        help="print a progress line on stderr after every chunk (default: a bar on a "
        "terminal, a line every --progress-interval seconds elsewhere)",
    )
    shown.add_argument("--no-progress", action="store_true", help="show no progress at all")
    sync.add_argument(
        "--progress-interval",
        type=_positive_float,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between progress lines when stderr is not a terminal (default "
        f"{DEFAULT_INTERVAL:g})",
    )
    _add_credentials_arguments(sync)

    check = _add_command(
        commands,
        "check",
        run_check,
        help="check the Customer.io and Hull credentials and the connector's status",
        description="Print the connector's status: ok, warning or error, with its messages. "
        "Customer.io's credentials are checked with one call, Hull's (when given) with "
        "another. Exit code 0 for ok and warning, 1 for error.",
        epilog=_ENVIRONMENT,
    )
    check.add_argument("--settings", metavar="FILE", help="private_settings (a JSON object)")
    _add_segment_argument(check)
    check.add_argument("--json", action="store_true", help="print the status as JSON")
    _add_credentials_arguments(check)

    webhook = _add_command(
        commands,
        "webhook",
        run_webhook,
        help="show what a Customer.io webhook payload would become",
        description="Parse a Customer.io webhook body (optionally verifying its signature) "
        "and print the Hull event it would become, or why it would be dropped. Exit code 0 "
        "when it becomes an event, 1 when not.",
    )
    webhook.add_argument("file", metavar="FILE", help="the webhook body; - reads stdin")
    webhook.add_argument("--settings", metavar="FILE", help="private_settings (a JSON object)")
    webhook.add_argument(
        "--signing-key",
        metavar="KEY",
        help="the webhook signing key (default: $CUSTOMERIO_WEBHOOK_SIGNING_KEY, then the "
        "settings' webhook_signing_key); with it the signature is checked",
    )
    webhook.add_argument("--signature", help="the X-CIO-Signature header")
    webhook.add_argument("--timestamp", help="the X-CIO-Timestamp header")
    webhook.add_argument(
        "--tolerance",
        type=float,
        metavar="SECONDS",
        help="also refuse a timestamp further than this from now (default: not checked, "
        "since saved payloads are old)",
    )

    webhook_url = _add_command(
        commands,
        "webhook-url",
        run_webhook_url,
        help="print a connector's Customer.io webhook URL for a service run by 'serve'",
        description="Print the URL to give Customer.io as the reporting webhook of one Hull "
        "connector served by a hub ('serve'): the service's base URL, /webhook, and a token "
        "sealing the connector's credentials with the service's token key. The same URL the "
        "service's /credentials answers.",
        epilog="environment:\n  HULL_CUSTOMERIO_TOKEN_KEY  the service's secret for webhook URLs "
        "(required;\n      the same as the service's)\n  HULL_ORGANIZATION, HULL_ID, "
        "HULL_SECRET  defaults of the connector's credentials",
    )
    webhook_url.add_argument(
        "--base-url",
        required=True,
        metavar="URL",
        help="the service's public base URL, e.g. https://hooks.example.com",
    )
    webhook_url.add_argument(
        "--organization", metavar="HOST", help="the organization (default $HULL_ORGANIZATION)"
    )
    webhook_url.add_argument("--id", metavar="ID", help="the connector id (default $HULL_ID)")
    webhook_url.add_argument(
        "--secret",
        metavar="SECRET",
        help="the connector secret (default $HULL_SECRET; prefer the environment)",
    )

    add_serve_parser(commands, run_serve_command)
    return parser


def _add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """A sub-command that runs ``run``; an epilog is kept as written, line breaks and all."""
    parser = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.HelpFormatter
        if epilog is None
        else argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def _add_segment_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--segment",
        dest="segments",
        action="append",
        metavar="ID",
        help="a synchronized segment id (repeatable; replaces the settings' list)",
    )


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="a notification JSON or JSON lines; - reads stdin"
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="private_settings (a JSON object); replaces a notification's own",
    )
    _add_segment_argument(parser)
    parser.add_argument(
        "--account-segment",
        dest="account_segments",
        action="append",
        metavar="ID",
        help="a synchronized account segment id (repeatable; replaces the settings' "
        "synchronized_account_segments)",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="treat the users as a manual batch or export: no segment filter (accounts are "
        "planned the same either way)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="N",
        help=f"users (or accounts) read and processed at a time (default "
        f"{DEFAULT_CHUNK_SIZE}); they are de-duplicated within a chunk",
    )
    parser.add_argument(
        "--skip",
        type=_whole_number,
        default=0,
        metavar="N",
        help="leave out the first N users or accounts (messages) of FILE: what an "
        "interrupted run says to go on from",
    )


def _add_credentials_arguments(parser: argparse.ArgumentParser) -> None:
    """Customer.io's credentials, then Hull's (optional), each in its own group."""
    _add_customerio_arguments(parser)
    _add_hull_arguments(parser)


def _add_customerio_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Customer.io")
    group.add_argument("--site-id", help="Site ID (default $CUSTOMERIO_SITE_ID)")
    group.add_argument(
        "--api-key", help="Track API key (default $CUSTOMERIO_API_KEY; prefer the environment)"
    )
    group.add_argument(
        "--region", choices=("us", "eu", "auto"), help="region (default $CUSTOMERIO_REGION)"
    )
    group.add_argument(
        "--base-url", help="Track API URL, e.g. a test server (default $CUSTOMERIO_BASE_URL)"
    )


def _add_hull_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Hull (optional: without them nothing is written back)")
    group.add_argument("--hull-id", help="connector id (default $HULL_ID)")
    group.add_argument(
        "--hull-secret", help="connector secret (default $HULL_SECRET; prefer the environment)"
    )
    group.add_argument("--hull-organization", help="organization host (default $HULL_ORGANIZATION)")
    group.add_argument("--hull-api-url", help="REST API URL (default $HULL_API_URL)")
    group.add_argument("--hull-firehose-url", help="firehose URL (default $HULL_FIREHOSE_URL)")


def _whole_number_from(minimum: int) -> Callable[[str], int]:
    """An argument type: a whole number, ``minimum`` or more."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return whole_number


_positive_int = _whole_number_from(1)
_whole_number = _whole_number_from(0)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _rate(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (0: no limit), got {text}")
    return value
