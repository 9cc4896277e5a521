"""The sub-commands that move users and accounts: ``plan`` and ``sync``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ..engine import AsyncConnector
from ..engine._api import (
    FAILURE_MESSAGES,
    malformed_outcome,
)
from ..errors import (
    ValidationError,
)
from ..models.account import AccountUpdateMessage
from ..models.hull import UserUpdateMessage
from ..models.plan import Action
from ..models.report import AccountOutcome, UserOutcome
from ..rules.accounts import plan_account_update
from ..rules.dedupe import deduplicate_account_messages, deduplicate_messages
from ..rules.plan import plan_user_update
from ..settings import Settings
from ._clients import async_customerio_client, async_hull_client
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, note, one_line
from ._input import (
    ACCOUNTS,
    USERS,
    Entry,
    Input,
    MessageKind,
    malformed_error,
    name_of,
    open_text,
    read_chunks,
    read_input,
)
from ._logging import logging_to_stderr
from ._output import (
    Tally,
    account_outcome_record,
    account_plan_record,
    dump,
    outcome_record,
    plan_record,
    summarise,
    unplanned_account_record,
    unplanned_record,
)
from ._progress import NoProgress, Progress, make_progress
from ._settings import (
    build_settings,
    warn_if_no_account_is_sent,
    warn_if_nobody_is_sent,
)
from ._stats import Position, RequestCounter, RunClock, resume_hint, run_line

__all__ = ["log_to_stderr", "run_plan", "run_sync"]

_Message = TypeVar("_Message", UserUpdateMessage, AccountUpdateMessage)
_Outcome = TypeVar("_Outcome", UserOutcome, AccountOutcome)


@contextlib.contextmanager
def log_to_stderr(level: int | None) -> Iterator[None]:
    """Write the library's records of ``level`` and above to stderr, for this run only.

    ``None`` writes nothing: the library's logger keeps its own (silent) set-up.
    """
    if level is None:
        yield
        return
    with logging_to_stderr(level):
        yield


# --------------------------------------------------------------------------------------------
# plan


def run_plan(args: argparse.Namespace) -> int:
    """``plan FILE``: each user's (or account's) plan as a JSON line; no network.

    On Ctrl-C: where it stopped (the users whose plans were all printed) and how to go on.
    """
    position = Position(done=args.skip)
    noun = "user"
    try:
        with open_text(args.file) as stream:
            source = read_input(stream, name_of(args.file))
            noun = source.noun
            _plan(args, source, position)
    except KeyboardInterrupt:
        hint = resume_hint(position, name_of(args.file), verb="planned", noun=noun)
        print(hint, file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _plan(args: argparse.Namespace, source: Input, position: Position) -> None:
    flow = _flow_of(source)
    chunks = read_chunks(_skipped(flow.entries(source), args.skip), args.chunk_size)
    settings = build_settings(args, source.private_settings, credentials=False)
    batch = args.batch or source.is_export
    flow.warn(settings, batch)
    for chunk in chunks:
        for record in _plan_chunk(flow, chunk, settings, batch=batch):
            print(dump(record))
        # Printed (buffered lines are written on the way out, Ctrl-C or not), then
        # flushed so a reader downstream sees each chunk as soon as it is planned.
        position.chunk_done(chunk)
        sys.stdout.flush()


def _skipped(entries: Iterator[Entry[_Message]], skip: int) -> Iterator[Entry[_Message]]:
    """``entries`` without the first ``skip`` (``--skip``)."""
    return itertools.islice(entries, skip, None) if skip else entries


def _plan_chunk(
    flow: _Flow[_Message, _Outcome],
    chunk: Sequence[Entry[_Message]],
    settings: Settings,
    *,
    batch: bool,
) -> list[dict[str, Any]]:
    """The plans of one chunk, as the engine would make them: de-duplicated (the latest
    ``indexed_at`` per user or account), in input order."""
    records: dict[int, dict[str, Any]] = {}
    first_position: dict[str, int] = {}
    parsed: list[_Message] = []
    for position, entry in enumerate(chunk):
        if entry.message is None:
            error = malformed_error(entry)
            records[position] = flow.unplanned(
                entry.id,
                "malformed_message",
                one_line(str(error)),
                error.problems or [str(error)],
                entry.line,
            )
            continue
        first_position.setdefault(flow.reading.message_id(entry.message), position)
        parsed.append(entry.message)
    for message in flow.deduplicate(parsed):
        item_id = flow.reading.message_id(message)
        position = first_position[item_id]
        try:
            records[position] = flow.plan(message, settings, batch)
        except Exception as exc:  # a bug must cost one user (or account), not the run
            records[position] = flow.unplanned(
                item_id, "internal_error", f"An unexpected error stopped this {flow.noun}.",
                [f"{type(exc).__name__}: {exc}"], chunk[position].line,
            )  # fmt: skip
    return [records[position] for position in sorted(records)]


# --------------------------------------------------------------------------------------------
# sync


def run_sync(args: argparse.Namespace) -> int:
    """``sync FILE``: send the users (or accounts), write back to Hull, print a summary.

    The summary ends with the run's time, rate and requests. On Ctrl-C the summary of the
    users (accounts) done so far goes to stderr, with where the run stopped and how to go on
    from there.
    """
    clock = RunClock()
    requests = RequestCounter()
    position = Position(done=args.skip)
    tally = Tally()
    progress: Progress = NoProgress()
    try:
        with open_text(args.file) as stream:
            source = read_input(stream, name_of(args.file))
            tally.noun = source.noun
            flow = _flow_of(source)
            chunks = read_chunks(_skipped(flow.entries(source), args.skip), args.chunk_size)
            settings = build_settings(args, source.private_settings, credentials=True)
            batch = args.batch or source.is_export
            progress = make_progress(
                sys.stderr,
                every_chunk=args.progress,
                enabled=not args.no_progress,
                interval=args.progress_interval,
                total=None if source.total is None else max(source.total - args.skip, 0),
                noun=source.noun,
            )
            run = _SyncRun(args, settings, tally, progress, position, requests, batch=batch)
            try:
                asyncio.run(run.sync_all(flow, chunks))
            except UsageError:
                progress.close()  # the bar ends before the summary starts
                if tally.total:  # the users before the bad line were synced: say so
                    summarise(tally, sys.stderr)
                raise
            finally:
                progress.close()
    except KeyboardInterrupt:
        progress.close()
        last_line = run_line(tally.total, clock.elapsed(), requests, noun=tally.noun)
        summarise(tally, sys.stderr, last_line)
        hint = resume_hint(position, name_of(args.file), verb="synced", noun=tally.noun)
        print(hint, file=sys.stderr)
        return EXIT_INTERRUPTED
    last_line = run_line(tally.total, clock.elapsed(), requests, noun=tally.noun)
    summarise(tally, sys.stderr if args.json else sys.stdout, last_line)
    return EXIT_FAILED if tally.failed else EXIT_OK


@attrs.define
class _SyncRun:
    """One ``sync``: its arguments, and what it counts as it goes."""

    args: argparse.Namespace
    settings: Settings
    tally: Tally
    progress: Progress
    position: Position
    requests: RequestCounter
    batch: bool

    async def sync_all(
        self, flow: _Flow[_Message, _Outcome], chunks: Iterator[list[Entry[_Message]]]
    ) -> None:
        """Sync every chunk, counting (and with ``--json`` printing) each outcome."""
        args, settings = self.args, self.settings
        customerio = async_customerio_client(
            args, settings, max_concurrency=args.concurrency, metrics=self.requests
        )
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(customerio)
            hull = async_hull_client(args, metrics=self.requests)
            if hull is None:
                note("no Hull credentials (HULL_ID, HULL_SECRET, HULL_ORGANIZATION): syncing "
                     "without writing back to Hull")  # fmt: skip
            else:
                await stack.enter_async_context(hull)
            flow.warn(settings, self.batch)
            connector = AsyncConnector(
                settings,
                customerio=customerio,
                hull=hull,
                mode=args.mode,
                max_concurrency=args.concurrency,
            )
            for chunk in chunks:
                results = await _sync_chunk(flow, connector, chunk, batch=self.batch)
                # No await from here to the next chunk: a Ctrl-C (a cancellation) finds the
                # counts and the position agreeing, a chunk at a time.
                for outcome, line in results:
                    self.tally.add(outcome)
                    if args.json:
                        print(dump(flow.record(outcome, line)), flush=True)
                self.position.chunk_done(chunk)
                self.progress.update(self.tally, len(results))


async def _sync_chunk(
    flow: _Flow[_Message, _Outcome],
    connector: AsyncConnector,
    chunk: Sequence[Entry[_Message]],
    *,
    batch: bool,
) -> list[tuple[_Outcome, int | None]]:
    """Sync one chunk; every entry's outcome, in input order, with its line."""
    results: dict[int, tuple[_Outcome, int | None]] = {}
    first_position: dict[str, int] = {}
    messages: list[_Message] = []
    for position, entry in enumerate(chunk):
        if entry.message is None:
            outcome = flow.malformed(entry.id, malformed_error(entry))
            results[position] = (outcome, entry.line)
            continue
        first_position.setdefault(flow.reading.message_id(entry.message), position)
        messages.append(entry.message)
    if messages:
        with warnings.catch_warnings():
            _quiet_short_hull_secret()
            outcomes = await flow.sync(connector, messages, batch)
        for outcome in outcomes:
            position = first_position[flow.outcome_id(outcome) or ""]
            results[position] = (outcome, chunk[position].line)
    return [results[position] for position in sorted(results)]


def _malformed_account(account_id: str | None, error: ValidationError) -> AccountOutcome:
    """The error outcome of an account message that could not be parsed, as the engine makes
    it for a notification's malformed messages."""
    return AccountOutcome(
        account_id=account_id,
        object_id=None,
        action=Action.ERROR,
        status="error",
        reason="malformed_message",
        message=FAILURE_MESSAGES["malformed_message"],
        error=str(error),
        exception=error,
    )


def _quiet_short_hull_secret() -> None:
    # Hull issues the connector secret; PyJWT's warning about its length is noise to a user
    # who cannot choose it.
    try:
        from jwt.warnings import InsecureKeyLengthWarning  # noqa: PLC0415 -- PyJWT >= 2.10
    except ImportError:  # pragma: no cover - older PyJWT does not warn
        return
    warnings.simplefilter("ignore", InsecureKeyLengthWarning)


# --------------------------------------------------------------------------------------------
# users and accounts: what differs between ``plan``/``sync`` of the one and of the other


@attrs.frozen
class _Flow(Generic[_Message, _Outcome]):
    """What ``plan`` and ``sync`` do differently for users and for accounts."""

    #: How the summary, progress and messages name one: ``user`` or ``account``.
    noun: str
    #: How the messages are read and identified.
    reading: MessageKind[_Message]
    #: The input's messages of this kind.
    entries: Callable[[Input], Iterator[Entry[_Message]]]
    #: The warning when the settings let none through (``batch``: no segment filter).
    warn: Callable[[Settings, bool], None]
    #: One message per user or account, the latest, in the order they first appear.
    deduplicate: Callable[[list[_Message]], list[_Message]]
    #: A message's plan as ``plan`` prints it (``batch``: no segment filter).
    plan: Callable[[_Message, Settings, bool], dict[str, Any]]
    #: ``plan``'s line for one that could not be planned: id, reason, message, errors, line.
    unplanned: Callable[[str | None, str, str, list[str], int | None], dict[str, Any]]
    #: Sync the messages (``batch``: no segment filter); their outcomes.
    sync: Callable[[AsyncConnector, list[_Message], bool], Awaitable[Sequence[_Outcome]]]
    #: The error outcome of a message that could not be parsed.
    malformed: Callable[[str | None, ValidationError], _Outcome]
    #: An outcome's user or account id.
    outcome_id: Callable[[_Outcome], str | None]
    #: An outcome as ``sync --json`` prints it, with its line.
    record: Callable[[_Outcome, int | None], dict[str, Any]]


async def _sync_users(
    connector: AsyncConnector, messages: list[UserUpdateMessage], batch: bool
) -> Sequence[UserOutcome]:
    return (await connector.sync_user_updates(messages, batch=batch)).outcomes


async def _sync_accounts(
    connector: AsyncConnector, messages: list[AccountUpdateMessage], batch: bool
) -> Sequence[AccountOutcome]:
    # Accounts are planned the same with or without --batch: no segment filter to lift.
    return (await connector.sync_account_updates(messages)).account_outcomes


_USERS = _Flow(
    noun="user",
    reading=USERS,
    entries=lambda source: source.entries,
    warn=warn_if_nobody_is_sent,
    deduplicate=deduplicate_messages,
    plan=lambda message, settings, batch: plan_record(
        plan_user_update(message, settings, batch=batch)
    ),
    unplanned=unplanned_record,
    sync=_sync_users,
    malformed=malformed_outcome,
    outcome_id=lambda outcome: outcome.user_id,
    record=outcome_record,
)
_ACCOUNTS = _Flow(
    noun="account",
    reading=ACCOUNTS,
    entries=lambda source: source.accounts,
    warn=lambda settings, batch: warn_if_no_account_is_sent(settings),
    deduplicate=deduplicate_account_messages,
    plan=lambda message, settings, batch: account_plan_record(
        plan_account_update(message, settings)
    ),
    unplanned=unplanned_account_record,
    sync=_sync_accounts,
    malformed=_malformed_account,
    outcome_id=lambda outcome: outcome.account_id,
    record=account_outcome_record,
)


def _flow_of(source: Input) -> _Flow[Any, Any]:
    """The flow of what ``source`` holds: users or accounts."""
    return _ACCOUNTS if source.kind == "accounts" else _USERS


# --------------------------------------------------------------------------------------------
# check
