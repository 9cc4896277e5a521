"""The ``hull-customerio`` command line: a thin layer over the engine (see ``docs/cli.md``).

Subcommands:

- ``plan FILE``: what would happen to each user, as JSON lines; no network.
- ``sync FILE``: send the users to Customer.io (and write back to Hull), with a summary.
- ``check``: the connector's status: credentials, segments, a credential check round trip.
- ``webhook FILE``: what a Customer.io webhook payload would become.

FILE is a Hull notification (a JSON object with ``messages``) or a JSON-lines stream of
``user:update`` messages; ``-`` reads standard input.

Exit codes: ``0`` success; ``1`` a user failed (``sync``), the status is ``error``
(``check``) or the webhook would not become an event (``webhook``); ``2`` bad input or usage.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, TextIO

import attrs

from ._serialization import describe
from ._serve import add_serve_parser, run_serve
from .customerio import CustomerIOClient
from .engine import Connector
from .engine._core import check_status_messages, malformed_outcome, status_from
from .errors import (
    ConfigurationError,
    ValidationError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from .hull import HullClient
from .models.hull import UserUpdateMessage, parse_notification
from .models.plan import OutgoingEvent, UserPlan
from .models.report import Status, UserOutcome
from .rules.dedupe import deduplicate_messages
from .rules.plan import plan_user_update
from .rules.signature import verify_webhook_signature
from .rules.webhooks import parse_webhook
from .settings import Settings

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

PROG = "hull-customerio"

EXIT_OK = 0
#: ``sync``: a user failed; ``check``: status ``error``; ``webhook``: no event would result.
EXIT_FAILED = 1
#: Bad input or usage (argparse uses 2 as well).
EXIT_USAGE = 2

DEFAULT_CHUNK_SIZE = 500
# Enough failed users for a readable summary; ``--json`` lists every one.
MAX_FAILURES_SHOWN = 50
# A terminal gets a progress line at most this often (``--progress`` prints every chunk).
TTY_PROGRESS_INTERVAL = 2.0

_CUSTOMERIO_ENV = {
    "site_id": "CUSTOMERIO_SITE_ID",
    "api_key": "CUSTOMERIO_API_KEY",
    "region": "CUSTOMERIO_REGION",
}


class UsageError(Exception):
    """Bad input or usage: one line for stderr, exit code 2."""


# --------------------------------------------------------------------------------------------
# Entry point.


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The exit code: ``0`` success, ``1`` something failed, ``2`` bad input or usage.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        with _logging(verbose=getattr(args, "verbose", False)):
            code: int = args.run(args)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except UnicodeDecodeError as exc:  # raised wherever a text file is read, even mid-stream
        _error(f"the input is not UTF-8 text: {exc.reason} at byte {exc.start} of a read")
        return EXIT_USAGE
    except (RecursionError, OverflowError, ValueError) as exc:
        # Input no check above foresaw (absurd nesting or numbers): still one line, never a
        # traceback.
        _error(f"the input cannot be processed ({type(exc).__name__})")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's shutdown flush of
        # the dead pipe from printing a traceback.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    return code


_LOG_FIELDS = ("user_id", "customer_id", "reason", "event_name", "event_id", "error")


class _LogFormatter(logging.Formatter):
    """The engine's event name and its structured fields on one line (never secrets)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{name}={getattr(record, name)!r}"
            for name in _LOG_FIELDS
            if getattr(record, name, None) is not None
        )
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()} {fields}".rstrip()


@contextlib.contextmanager
def _logging(*, verbose: bool) -> Iterator[None]:
    """Route the library's log to stderr (``-v``) or nowhere, for this run only.

    Without a handler, Python's last-resort handler would print bare event names such as
    ``outgoing.user.error``; the summary already says what failed, and ``-v`` says more.
    """
    logger = logging.getLogger("hull_customerio")
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LogFormatter())
    else:
        handler = logging.NullHandler()
    previous_level = logger.level
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Arguments.

_DESCRIPTION = """\
Sync Hull users to Customer.io, check the connection, and inspect webhooks.

FILE is a Hull notification (a JSON object with "messages") or JSON lines (one user:update
message per line); "-" reads standard input. Exit codes: 0 success, 1 something failed,
2 bad input or usage. See docs/cli.md.
"""

_ENVIRONMENT = """\
environment:
  CUSTOMERIO_SITE_ID, CUSTOMERIO_API_KEY, CUSTOMERIO_REGION (us, eu, auto),
  CUSTOMERIO_BASE_URL; HULL_ID, HULL_SECRET, HULL_ORGANIZATION, HULL_API_URL,
  HULL_FIREHOSE_URL. Flags win over the environment, which wins over the settings.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    plan = commands.add_parser(
        "plan",
        help="dry run: each user's plan as a JSON line (no network)",
        description="Print what would happen to each user, one JSON object per line. "
        "Nothing is sent anywhere.",
    )
    _add_input_arguments(plan)
    plan.set_defaults(run=_run_plan)

    sync = commands.add_parser(
        "sync",
        help="send the users to Customer.io and write back to Hull",
        description="Sync the users of FILE to Customer.io, write the sync state back to Hull "
        "(when Hull credentials are given) and print a summary. Exit code 1 when any user "
        "failed.",
        epilog=_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_arguments(sync)
    sync.add_argument(
        "--mode",
        choices=("v1", "batch"),
        default="v1",
        help="v1: one Track API call per operation; batch: v2 batch requests (default v1)",
    )
    sync.add_argument(
        "--json", action="store_true", help="print every user's outcome as a JSON line"
    )
    sync.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every user's and event's outcome on stderr",
    )
    sync.add_argument(
        "--progress",
        action="store_true",
        help="print a progress line on stderr after every chunk (default: only on a terminal)",
    )
    _add_customerio_arguments(sync)
    _add_hull_arguments(sync)
    sync.set_defaults(run=_run_sync)

    check = commands.add_parser(
        "check",
        help="check the Customer.io credentials and the connector's status",
        description="Print the connector's status: ok, warning or error, with its messages. "
        "Exit code 0 for ok and warning, 1 for error.",
        epilog=_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--settings", metavar="FILE", help="private_settings (a JSON object)")
    check.add_argument(
        "--segment",
        dest="segments",
        action="append",
        metavar="ID",
        help="a synchronized segment id (repeatable; replaces the settings' list)",
    )
    check.add_argument("--json", action="store_true", help="print the status as JSON")
    _add_customerio_arguments(check)
    check.set_defaults(run=_run_check)

    webhook = commands.add_parser(
        "webhook",
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
    webhook.set_defaults(run=_run_webhook)

    add_serve_parser(commands, lambda args: run_serve(args, UsageError))
    return parser


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="a notification JSON or JSON lines; - reads stdin"
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="private_settings (a JSON object); replaces a notification's own",
    )
    parser.add_argument(
        "--segment",
        dest="segments",
        action="append",
        metavar="ID",
        help="a synchronized segment id (repeatable; replaces the settings' list)",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="treat the users as a manual batch or export: no segment filter",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="N",
        help=f"users read and processed at a time (default {DEFAULT_CHUNK_SIZE}); users are "
        "de-duplicated within a chunk",
    )


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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _env(name: str) -> str | None:
    # An empty variable counts as unset, as shells make ``VAR= cmd`` easy.
    return os.environ.get(name) or None


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


# --------------------------------------------------------------------------------------------
# Reading FILE: a notification or JSON lines, streamed.


@attrs.frozen
class _Entry:
    """One message of the input, parsed or not."""

    message: UserUpdateMessage | None
    error: ValidationError | None = None
    user_id: str | None = None
    #: The line it was read from, for JSON lines.
    line: int | None = None


@attrs.frozen
class _Input:
    """What FILE holds: the messages (an iterator, for JSON lines) and any settings."""

    entries: Iterator[_Entry]
    private_settings: Mapping[str, Any] | None
    is_export: bool


@contextlib.contextmanager
def _open_text(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdin
        return
    try:
        stream = open(path, encoding="utf-8")  # noqa: SIM115 -- closed below, after the yield
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream


def _name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _read_input(stream: TextIO, name: str) -> _Input:
    """Tell a notification from JSON lines by the first non-blank line, and read accordingly.

    A pretty-printed notification's first line is not JSON on its own; a JSON-lines stream's
    is. Only a notification is read whole; JSON lines are parsed as they are consumed.
    """
    first_number, first = 0, ""
    for first_number, line in enumerate(stream, start=1):  # noqa: B007 -- used after the loop
        if line.strip():
            first = line
            break
    if not first:
        return _Input(entries=iter(()), private_settings=None, is_export=False)
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        # The skipped blank lines are put back so JSON errors quote the file's line numbers.
        text = "\n" * (first_number - 1) + first + stream.read()
        return _notification_input(_load_json(text, name), name)
    if isinstance(value, dict) and "messages" in value:
        if stream.read().strip():
            raise UsageError(
                f"{name}: unexpected content after the notification on line {first_number}; "
                "give one notification per file, or JSON lines of user:update messages"
            )
        return _notification_input(value, name)
    return _Input(
        entries=_json_lines(stream, name, first_number, value),
        private_settings=None,
        is_export=False,
    )


def _load_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{name}: unusable JSON: {_json_problem(exc)}") from None


def _json_problem(exc: ValueError | RecursionError) -> str:
    """What is wrong with JSON that parses but that Python refuses to hold."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "a number has too many digits"


def _notification_input(payload: object, name: str) -> _Input:
    if not isinstance(payload, dict) or "messages" not in payload:
        raise UsageError(
            f'{name}: expected a notification (a JSON object with "messages") or JSON lines '
            f"of user:update messages, got {describe(payload)}"
            + (' without "messages"' if isinstance(payload, dict) else "")
        )
    try:
        notification = parse_notification(payload)
    except ConfigurationError as exc:
        raise UsageError(f"{name}: {_settings_problems(exc)}") from None
    except ValidationError as exc:
        raise UsageError(f"{name}: {_one_line(str(exc))}") from None
    connector = payload.get("connector")
    private_settings = connector.get("private_settings") if isinstance(connector, dict) else None
    malformed = {bad.index: bad for bad in notification.malformed}
    parsed = iter(notification.messages)
    entries: list[_Entry] = []
    for index in range(len(notification.messages) + len(malformed)):
        bad = malformed.get(index)
        if bad is None:
            message = next(parsed)
            entries.append(_Entry(message, user_id=message.user.id))
        else:
            entries.append(_Entry(None, error=bad.error, user_id=bad.user_id))
    return _Input(
        entries=iter(entries),
        private_settings=private_settings or {},
        is_export=notification.is_export,
    )


def _json_lines(
    stream: Iterable[str], name: str, first_number: int, first: object
) -> Iterator[_Entry]:
    yield _line_entry(first, name, first_number)
    for number, line in enumerate(stream, start=first_number + 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else _json_problem(exc)
            raise UsageError(f"{name}:{number}: invalid JSON: {reason}") from None
        yield _line_entry(value, name, number)


def _line_entry(value: object, name: str, number: int) -> _Entry:
    if not isinstance(value, dict):
        raise UsageError(
            f"{name}:{number}: expected a user:update message (a JSON object), "
            f"got {describe(value)}"
        )
    if "messages" in value:
        raise UsageError(
            f"{name}:{number}: a notification inside JSON lines; JSON lines hold one "
            "user:update message per line"
        )
    if "user" not in value:
        # Not a message at all (a settings file, say): the wrong file, not a malformed user.
        raise UsageError(
            f'{name}:{number}: expected a user:update message (an object with "user"), got '
            f"an object with {_keys(value)}"
        )
    user = value.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    user_id = user_id if isinstance(user_id, str) else None
    try:
        message = UserUpdateMessage.from_dict(value)
    except ValidationError as exc:
        return _Entry(None, error=exc, user_id=user_id, line=number)
    return _Entry(message, user_id=user_id, line=number)


def _keys(value: Mapping[str, Any]) -> str:
    # A key may be megabytes long: each is shown cut, so the error stays one short line.
    keys = [_cut(json.dumps(key), 40) for key in itertools.islice(value, 5)]
    return "keys " + ", ".join(keys) + (", ..." if len(value) > 5 else "") if keys else "no keys"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_chunks(entries: Iterator[_Entry], size: int) -> Iterator[list[_Entry]]:
    """Chunks of ``size`` entries, the first read at once.

    A bad line in the first chunk is then reported before anything is printed, sent or warned
    about: bad input gets its one line on stderr and nothing else.
    """
    chunks = _chunks(entries, size)
    first = next(chunks, None)
    return chunks if first is None else itertools.chain([first], chunks)


def _chunks(entries: Iterator[_Entry], size: int) -> Iterator[list[_Entry]]:
    chunk: list[_Entry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --------------------------------------------------------------------------------------------
# Settings and credentials.


def _read_settings_file(path: str) -> dict[str, Any]:
    with _open_text(path) as stream:
        value = _load_json(stream.read(), _name(path))
    if isinstance(value, dict) and isinstance(value.get("connector"), dict):
        # A saved notification works too: its connector's settings.
        value = value["connector"].get("private_settings") or {}
    if not isinstance(value, dict):
        raise UsageError(
            f"{_name(path)}: expected private_settings (a JSON object), got {describe(value)}"
        )
    return value


def _settings_problems(exc: ConfigurationError) -> str:
    return "invalid settings: " + "; ".join(exc.problems)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _build_settings(
    args: argparse.Namespace,
    base: Mapping[str, Any] | None,
    *,
    credentials: bool,
) -> Settings:
    """Settings from ``--settings`` (else ``base``), then the environment, then flags."""
    merged: dict[str, Any] = dict(base or {})
    if args.settings is not None:
        merged = _read_settings_file(args.settings)
    if credentials:
        for key, variable in _CUSTOMERIO_ENV.items():
            value = _first(getattr(args, key), _env(variable))
            if value is not None:
                merged[key] = value
    if getattr(args, "segments", None):
        merged["synchronized_segments"] = list(args.segments)
    try:
        return Settings.from_private_settings(merged)
    except ConfigurationError as exc:
        raise UsageError(_settings_problems(exc)) from None


def _customerio_client(args: argparse.Namespace, settings: Settings) -> CustomerIOClient:
    if not settings.has_credentials:
        raise UsageError(
            "Customer.io credentials missing: set CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY "
            "(or --site-id and --api-key, or site_id and api_key in the settings)"
        )
    try:
        return CustomerIOClient(
            settings.site_id or "",
            settings.api_key or "",
            region=settings.region,
            base_url=_first(args.base_url, _env("CUSTOMERIO_BASE_URL")),
        )
    except ConfigurationError as exc:
        raise UsageError(_settings_problems(exc)) from None


def _hull_client(args: argparse.Namespace) -> HullClient | None:
    given = {
        "HULL_ID": _first(args.hull_id, _env("HULL_ID")),
        "HULL_SECRET": _first(args.hull_secret, _env("HULL_SECRET")),
        "HULL_ORGANIZATION": _first(args.hull_organization, _env("HULL_ORGANIZATION")),
    }
    missing = [name for name, value in given.items() if value is None]
    if len(missing) == len(given):
        return None
    if missing:
        raise UsageError(
            "Hull credentials incomplete: missing "
            + ", ".join(missing)
            + " (set all three, or none to sync without writing back to Hull)"
        )
    try:
        return HullClient(
            given["HULL_ID"] or "",
            given["HULL_SECRET"] or "",
            given["HULL_ORGANIZATION"] or "",
            api_url=_first(args.hull_api_url, _env("HULL_API_URL")),
            firehose_url=_first(args.hull_firehose_url, _env("HULL_FIREHOSE_URL")),
        )
    except ConfigurationError as exc:
        raise UsageError("invalid Hull credentials: " + "; ".join(exc.problems)) from None


def _warn_if_nobody_is_sent(settings: Settings, batch: bool) -> None:
    if not settings.synchronized_segments and not batch:
        _note(
            "warning: no synchronized segments, so no user will be sent "
            "(give --settings, --segment ID or --batch)"
        )


# --------------------------------------------------------------------------------------------
# JSON records.


def _dump(record: Mapping[str, Any]) -> str:
    # default=str: a value the rules left unserialisable must not cost the whole run.
    try:
        return json.dumps(record, default=str)
    except (ValueError, RecursionError):
        # A value refused as unsendable (absurdly deep, say) cannot be shown either.
        return json.dumps({key: _shown(value) for key, value in record.items()}, default=str)


def _shown(value: object) -> object:
    try:
        json.dumps(value, default=str)
    except (ValueError, RecursionError):
        return "<cannot be shown as JSON>"
    return value


def _event_record(event: OutgoingEvent) -> dict[str, Any]:
    return {"kind": event.kind, "name": event.name, "id": event.id, "timestamp": event.timestamp}


def _plan_record(plan: UserPlan) -> dict[str, Any]:
    return {
        "user_id": plan.user_id,
        "action": str(plan.action),
        "reason": plan.reason,
        "message": plan.message,
        "customer_id": plan.customer_id,
        "attributes": plan.attributes,
        "chunks": len(plan.chunks),
        "events": [_event_record(event) for event in plan.events],
        "skipped_events": [list(skipped) for skipped in plan.skipped_events],
        "errors": list(plan.errors),
    }


def _unplanned_record(
    user_id: str | None, reason: str, message: str, errors: list[str], line: int | None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "user_id": user_id,
        "action": "error",
        "reason": reason,
        "message": message,
        "customer_id": None,
        "attributes": {},
        "chunks": 0,
        "events": [],
        "skipped_events": [],
        "errors": errors,
    }
    if line is not None:
        record["line"] = line
    return record


def _outcome_record(outcome: UserOutcome, line: int | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "user_id": outcome.user_id,
        "customer_id": outcome.customer_id,
        "action": str(outcome.action),
        "status": outcome.status,
        "reason": outcome.reason,
        "message": outcome.message,
        "calls": list(outcome.calls),
        "events_sent": [_event_record(event) for event in outcome.events_sent],
        "events_skipped": [list(skipped) for skipped in outcome.events_skipped],
        "error": outcome.error,
    }
    if line is not None:
        record["line"] = line
    return record


def _malformed_error(entry: _Entry) -> ValidationError:
    error = entry.error or ValidationError("The message is malformed.")
    if entry.line is not None:
        return ValidationError(f"line {entry.line}: {error}", error.problems)
    return error


# --------------------------------------------------------------------------------------------
# plan


def _run_plan(args: argparse.Namespace) -> int:
    with _open_text(args.file) as stream:
        source = _read_input(stream, _name(args.file))
        chunks = _read_chunks(source.entries, args.chunk_size)
        settings = _build_settings(args, source.private_settings, credentials=False)
        batch = args.batch or source.is_export
        _warn_if_nobody_is_sent(settings, batch)
        for chunk in chunks:
            for record in _plan_chunk(chunk, settings, batch=batch):
                print(_dump(record))
    return EXIT_OK


def _plan_chunk(
    chunk: Sequence[_Entry], settings: Settings, *, batch: bool
) -> list[dict[str, Any]]:
    """The plans of one chunk, as the engine would make them: de-duplicated, in input order."""
    records: dict[int, dict[str, Any]] = {}
    first_position: dict[str, int] = {}
    parsed: list[UserUpdateMessage] = []
    for position, entry in enumerate(chunk):
        if entry.message is None:
            error = _malformed_error(entry)
            records[position] = _unplanned_record(
                entry.user_id,
                "malformed_message",
                _one_line(str(error)),
                error.problems or [str(error)],
                entry.line,
            )
            continue
        first_position.setdefault(entry.message.user.id, position)
        parsed.append(entry.message)
    for message in deduplicate_messages(parsed):
        position = first_position[message.user.id]
        try:
            records[position] = _plan_record(plan_user_update(message, settings, batch=batch))
        except Exception as exc:  # a bug must cost one user, not the run
            records[position] = _unplanned_record(
                message.user.id, "internal_error", "An unexpected error stopped this user.",
                [f"{type(exc).__name__}: {exc}"], chunk[position].line,
            )  # fmt: skip
    return [records[position] for position in sorted(records)]


# --------------------------------------------------------------------------------------------
# sync


@attrs.define
class _Tally:
    """Running counts of a sync, and the first failures for the summary (memory stays flat)."""

    succeeded: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[UserOutcome] = attrs.field(factory=list)

    @property
    def total(self) -> int:
        return self.succeeded + self.skipped + self.failed

    def add(self, outcome: UserOutcome) -> None:
        if outcome.status == "success":
            self.succeeded += 1
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            if len(self.failures) < MAX_FAILURES_SHOWN:
                self.failures.append(outcome)

    def counts(self) -> str:
        users = "user" if self.total == 1 else "users"
        return (
            f"{self.total} {users}: {self.succeeded} succeeded, {self.skipped} skipped, "
            f"{self.failed} failed"
        )


def _run_sync(args: argparse.Namespace) -> int:
    with _open_text(args.file) as stream:
        source = _read_input(stream, _name(args.file))
        chunks = _read_chunks(source.entries, args.chunk_size)
        settings = _build_settings(args, source.private_settings, credentials=True)
        batch = args.batch or source.is_export
        with contextlib.ExitStack() as stack:
            customerio = stack.enter_context(_customerio_client(args, settings))
            hull = _hull_client(args)
            if hull is None:
                _note("no Hull credentials (HULL_ID, HULL_SECRET, HULL_ORGANIZATION): syncing "
                      "without writing back to Hull")  # fmt: skip
            else:
                stack.enter_context(hull)
            _warn_if_nobody_is_sent(settings, batch)
            connector = Connector(settings, customerio=customerio, hull=hull, mode=args.mode)
            tally = _Tally()
            try:
                _sync_chunks(args, connector, chunks, tally, batch=batch)
            except UsageError:
                if tally.total:  # the users before the bad line were synced: say so
                    _summarise(tally, sys.stderr)
                raise
    _summarise(tally, sys.stderr if args.json else sys.stdout)
    return EXIT_FAILED if tally.failed else EXIT_OK


def _sync_chunks(
    args: argparse.Namespace,
    connector: Connector,
    chunks: Iterator[list[_Entry]],
    tally: _Tally,
    *,
    batch: bool,
) -> None:
    progress = args.progress or sys.stderr.isatty()
    started = last_progress = time.monotonic()
    for chunk in chunks:
        for outcome, line in _sync_chunk(connector, chunk, batch=batch):
            tally.add(outcome)
            if args.json:
                print(_dump(_outcome_record(outcome, line)), flush=True)
        now = time.monotonic()
        if progress and (args.progress or now - last_progress >= TTY_PROGRESS_INTERVAL):
            last_progress = now
            rate = tally.total / max(now - started, 1e-9)
            _note(f"{tally.counts()} ({rate:.0f} users/s)")


def _sync_chunk(
    connector: Connector, chunk: Sequence[_Entry], *, batch: bool
) -> list[tuple[UserOutcome, int | None]]:
    """Sync one chunk; every entry's outcome, in input order, with its line."""
    results: dict[int, tuple[UserOutcome, int | None]] = {}
    first_position: dict[str, int] = {}
    messages: list[UserUpdateMessage] = []
    for position, entry in enumerate(chunk):
        if entry.message is None:
            outcome = malformed_outcome(entry.user_id, _malformed_error(entry))
            results[position] = (outcome, entry.line)
            continue
        first_position.setdefault(entry.message.user.id, position)
        messages.append(entry.message)
    if messages:
        with warnings.catch_warnings():
            _quiet_short_hull_secret()
            report = connector.sync_user_updates(messages, batch=batch)
        for outcome in report.outcomes:
            position = first_position[outcome.user_id or ""]
            results[position] = (outcome, chunk[position].line)
    return [results[position] for position in sorted(results)]


def _quiet_short_hull_secret() -> None:
    # Hull issues the connector secret; PyJWT's warning about its length is noise to a user
    # who cannot choose it.
    try:
        from jwt.warnings import InsecureKeyLengthWarning  # noqa: PLC0415 -- PyJWT >= 2.10
    except ImportError:  # pragma: no cover - older PyJWT does not warn
        return
    warnings.simplefilter("ignore", InsecureKeyLengthWarning)


def _summarise(tally: _Tally, out: IO[str]) -> None:
    print(f"Synced {tally.counts()}.", file=out)
    for outcome in tally.failures:
        who = outcome.user_id or "(unknown user)"
        if outcome.customer_id:
            who += f" ({outcome.customer_id})"
        line = f"  failed: {who}: {outcome.reason}: {_one_line(outcome.error or '')}"
        # An id with a lone surrogate cannot be written as UTF-8: escape it, keep the line.
        print(line.encode("utf-8", "backslashreplace").decode("utf-8"), file=out)
    hidden = tally.failed - len(tally.failures)
    if hidden:
        print(f"  ... and {hidden} more failed users (--json lists every one)", file=out)


# --------------------------------------------------------------------------------------------
# check


def _run_check(args: argparse.Namespace) -> int:
    settings = _build_settings(args, None, credentials=True)
    if settings.has_credentials:
        with _customerio_client(args, settings) as customerio:
            status = Connector(settings, customerio=customerio).check_status()
    else:
        # Nothing to ask Customer.io with: report the status the connector would.
        status = status_from(*check_status_messages(settings))
    _print_status(status, as_json=args.json)
    return EXIT_FAILED if status.status == "error" else EXIT_OK


def _print_status(status: Status, *, as_json: bool) -> None:
    if as_json:
        print(_dump({"status": status.status, "messages": list(status.messages)}))
        return
    print(f"status: {status.status}")
    for message in status.messages:
        print(f"  - {message}")


# --------------------------------------------------------------------------------------------
# webhook


def _read_bytes(path: str) -> bytes:
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        if isinstance(buffer, io.BufferedIOBase):
            return buffer.read()
        return sys.stdin.read().encode("utf-8")
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _run_webhook(args: argparse.Namespace) -> int:
    settings = _build_settings(args, None, credentials=False)
    signing_key = _first(
        args.signing_key, _env("CUSTOMERIO_WEBHOOK_SIGNING_KEY"), settings.webhook_signing_key
    )
    if (args.signature or args.timestamp) and not signing_key:
        raise UsageError("--signature and --timestamp need a --signing-key to be checked with")
    body = _read_bytes(args.file)
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
            print(_dump(_webhook_record(401, exc.reason, str(exc), "invalid")))
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
            reason = _json_problem(exc)
        raise UsageError(f"{_name(args.file)}: invalid JSON: {reason}") from None
    try:
        event = parse_webhook(payload, settings)
    except WebhookPayloadError as exc:
        print(_dump(_webhook_record(200, exc.reason, str(exc), signature)))
        return EXIT_FAILED
    record = _webhook_record(
        200, None, f"Would be forwarded to Hull as {event.event!r}.", signature
    )
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
    print(_dump(record))
    return EXIT_OK


def _webhook_record(
    http_status: int, reason: str | None, message: str, signature: str
) -> dict[str, Any]:
    return {
        "http_status": http_status,
        "reason": reason,
        "message": message,
        "signature": signature,
        "event": None,
    }
