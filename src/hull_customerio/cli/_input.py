"""Reading FILE: a Hull notification or a JSON-lines stream of messages, and settings files.

FILE holds users (``user:update``) or accounts (``account:update``), never both: a
notification's ``channel`` says which; in JSON lines the first message does (an object with
``"user"`` is a user, one with ``"account"`` and no ``"user"`` an account) and a message of the
other kind further on is bad input.

Every problem with the input is a `UsageError` holding one line that names the file (and the
line, for JSON lines). JSON lines are parsed as they are consumed, so memory stays flat.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Literal, TextIO, TypeVar

import attrs

from .._serialization import describe
from ..errors import ConfigurationError, ValidationError
from ..models.account import AccountUpdateMessage
from ..models.hull import UserUpdateMessage
from ..models.notification import (
    ACCOUNT_UPDATE,
    MalformedMessage,
    Notification,
    parse_notification,
)
from ._common import UsageError, one_line

__all__ = [
    "ACCOUNTS",
    "USERS",
    "AccountEntry",
    "Entry",
    "Input",
    "Kind",
    "MessageKind",
    "UserEntry",
    "json_problem",
    "load_json",
    "malformed_error",
    "name_of",
    "open_text",
    "read_bytes",
    "read_chunks",
    "read_input",
    "read_settings_file",
    "settings_problems",
]


_Message = TypeVar("_Message", UserUpdateMessage, AccountUpdateMessage)


@attrs.frozen
class Entry(Generic[_Message]):
    """One message of the input (a ``user:update`` or an ``account:update``), parsed or not."""

    message: _Message | None
    error: ValidationError | None = None
    #: The user's (or account's) id, when it could be read.
    id: str | None = None
    #: The line it was read from, for JSON lines.
    line: int | None = None


#: One ``user:update`` message of the input.
UserEntry = Entry[UserUpdateMessage]
#: One ``account:update`` message of the input.
AccountEntry = Entry[AccountUpdateMessage]

#: What FILE holds: users (``user:update`` messages) or accounts (``account:update``).
Kind = Literal["users", "accounts"]


@attrs.frozen
class MessageKind(Generic[_Message]):
    """What tells reading users from reading accounts: the rest of the reading is shared."""

    kind: Kind
    #: The key of a message's object holding the id: ``user`` or ``account``.
    key: str
    parse: Callable[[Mapping[str, Any]], _Message]
    #: A parsed message's id: its user's or its account's.
    message_id: Callable[[_Message], str]
    #: A malformed message's id, when it could be read.
    malformed_id: Callable[[MalformedMessage], str | None]
    #: A notification's well-formed messages of this kind.
    messages: Callable[[Notification], Sequence[_Message]]


#: Reading ``user:update`` messages.
USERS = MessageKind(
    kind="users",
    key="user",
    parse=UserUpdateMessage.from_dict,
    message_id=lambda message: message.user.id,
    malformed_id=lambda bad: bad.user_id,
    messages=lambda notification: notification.messages,
)
#: Reading ``account:update`` messages.
ACCOUNTS = MessageKind(
    kind="accounts",
    key="account",
    parse=AccountUpdateMessage.from_dict,
    message_id=lambda message: message.account_id,
    malformed_id=lambda bad: bad.account_id,
    messages=lambda notification: notification.account_messages,
)

_Item = TypeVar("_Item", UserEntry, AccountEntry)


@attrs.frozen
class Input:
    """What FILE holds: the messages (an iterator, for JSON lines) and any settings.

    ``kind`` says which of ``entries`` (users) and ``accounts`` holds the messages; the other
    is empty.
    """

    entries: Iterator[UserEntry]
    private_settings: Mapping[str, Any] | None
    is_export: bool
    #: How many messages, when known before reading them (a notification); else ``None``.
    total: int | None = None
    kind: Kind = "users"
    accounts: Iterator[AccountEntry] = attrs.field(factory=lambda: iter(()))

    @property
    def noun(self) -> str:
        """How the summary and progress name one message: ``user`` or ``account``."""
        return "account" if self.kind == "accounts" else "user"


@contextlib.contextmanager
def open_text(path: str) -> Iterator[TextIO]:
    """The file at ``path`` as UTF-8 text (standard input for ``-``)."""
    if path == "-":
        yield sys.stdin
        return
    try:
        stream = open(path, encoding="utf-8")  # noqa: SIM115 -- closed below, after the yield
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream


def name_of(path: str) -> str:
    """How error messages name the file."""
    return "<stdin>" if path == "-" else path


def read_bytes(path: str) -> bytes:
    """The whole file at ``path`` (standard input for ``-``), as bytes."""
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


def read_input(stream: TextIO, name: str) -> Input:
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
        return Input(entries=iter(()), private_settings=None, is_export=False, total=0)
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        # The skipped blank lines are put back so JSON errors quote the file's line numbers.
        text = "\n" * (first_number - 1) + first + stream.read()
        return _notification_input(load_json(text, name), name)
    if isinstance(value, dict) and "messages" in value:
        if stream.read().strip():
            raise UsageError(
                f"{name}: unexpected content after the notification on line {first_number}; "
                "give one notification per file, or JSON lines of messages"
            )
        return _notification_input(value, name)
    if _kind_of(value, name, first_number) == "accounts":
        return Input(
            entries=iter(()),
            private_settings=None,
            is_export=False,
            kind="accounts",
            accounts=_json_lines(stream, name, first_number, value, ACCOUNTS),
        )
    return Input(
        entries=_json_lines(stream, name, first_number, value, USERS),
        private_settings=None,
        is_export=False,
    )


def load_json(text: str, name: str) -> Any:
    """``text`` parsed as JSON; a `UsageError` naming the file and the place, if it is not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{name}: unusable JSON: {json_problem(exc)}") from None


def json_problem(exc: ValueError | RecursionError) -> str:
    """What is wrong with JSON that parses but that Python refuses to hold."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "a number has too many digits"


def settings_problems(exc: ConfigurationError) -> str:
    """The one line saying why settings were refused."""
    return "invalid settings: " + "; ".join(exc.problems)


def _notification_input(payload: object, name: str) -> Input:
    if not isinstance(payload, dict) or "messages" not in payload:
        raise UsageError(
            f'{name}: expected a notification (a JSON object with "messages") or JSON lines '
            f"of user:update or account:update messages, got {describe(payload)}"
            + (' without "messages"' if isinstance(payload, dict) else "")
        )
    try:
        notification = parse_notification(payload)
    except ConfigurationError as exc:
        raise UsageError(f"{name}: {settings_problems(exc)}") from None
    except ValidationError as exc:
        raise UsageError(f"{name}: {one_line(str(exc))}") from None
    connector = payload.get("connector")
    private_settings = connector.get("private_settings") if isinstance(connector, dict) else None
    if notification.channel == ACCOUNT_UPDATE:
        accounts = _notification_entries(notification, ACCOUNTS)
        return Input(
            entries=iter(()),
            private_settings=private_settings or {},
            is_export=notification.is_export,
            total=len(accounts),
            kind="accounts",
            accounts=iter(accounts),
        )
    entries = _notification_entries(notification, USERS)
    return Input(
        entries=iter(entries),
        private_settings=private_settings or {},
        is_export=notification.is_export,
        total=len(entries),
    )


def _notification_entries(
    notification: Notification, kind: MessageKind[_Message]
) -> list[Entry[_Message]]:
    """A notification's messages of ``kind``, malformed ones in their place."""
    malformed = {bad.index: bad for bad in notification.malformed}
    messages = kind.messages(notification)
    parsed = iter(messages)
    entries: list[Entry[_Message]] = []
    for index in range(len(messages) + len(malformed)):
        bad = malformed.get(index)
        if bad is None:
            message = next(parsed)
            entries.append(Entry(message, id=kind.message_id(message)))
        else:
            entries.append(Entry(None, error=bad.error, id=kind.malformed_id(bad)))
    return entries


def _values(stream: Iterable[str], name: str, first_number: int) -> Iterator[tuple[int, object]]:
    """Each non-blank line after the first, parsed, with its number."""
    for number, line in enumerate(stream, start=first_number + 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else json_problem(exc)
            raise UsageError(f"{name}:{number}: invalid JSON: {reason}") from None
        yield number, value


def _json_lines(
    stream: Iterable[str], name: str, first_number: int, first: object, kind: MessageKind[_Message]
) -> Iterator[Entry[_Message]]:
    yield _line_entry(first, name, first_number, kind)
    for number, value in _values(stream, name, first_number):
        yield _line_entry(value, name, number, kind)


def _kind_of(value: object, name: str, number: int) -> Kind:
    """Whether a JSON line is a user or an account message; bad input when neither."""
    return _message_object(value, name, number)[0]


def _message_object(value: object, name: str, number: int) -> tuple[Kind, dict[str, Any]]:
    """A JSON line as a message object and its kind; bad input when it is neither kind.

    A ``user:update`` message carries its user's ``account`` too, so ``"user"`` decides first.
    """
    if not isinstance(value, dict):
        raise UsageError(
            f"{name}:{number}: expected a user:update or account:update message (a JSON "
            f"object), got {describe(value)}"
        )
    if "messages" in value:
        raise UsageError(
            f"{name}:{number}: a notification inside JSON lines; JSON lines hold one "
            "user:update or account:update message per line"
        )
    if "user" in value:
        return "users", value
    if "account" in value:
        return "accounts", value
    # Not a message at all (a settings file, say): the wrong file, not a malformed message.
    raise UsageError(
        f'{name}:{number}: expected a user:update message (an object with "user") or an '
        f'account:update message (an object with "account"), got an object with {_keys(value)}'
    )


def _mixed(name: str, number: int, found: Kind) -> UsageError:
    if found == "accounts":
        what, among = "an account:update message", "user:update messages"
    else:
        what, among = "a user:update message", "account:update messages"
    return UsageError(
        f"{name}:{number}: {what} among {among}; give users and accounts in separate files"
    )


def _line_entry(
    value: object, name: str, number: int, kind: MessageKind[_Message]
) -> Entry[_Message]:
    found, data = _message_object(value, name, number)
    if found != kind.kind:
        raise _mixed(name, number, found)
    holder = data.get(kind.key)
    item_id = holder.get("id") if isinstance(holder, dict) else None
    item_id = item_id if isinstance(item_id, str) else None
    try:
        message = kind.parse(data)
    except ValidationError as exc:
        return Entry(None, error=exc, id=item_id, line=number)
    return Entry(message, id=item_id, line=number)


def _keys(value: Mapping[str, Any]) -> str:
    # A key may be megabytes long: each is shown cut, so the error stays one short line.
    keys = [_cut(json.dumps(key), 40) for key in itertools.islice(value, 5)]
    return "keys " + ", ".join(keys) + (", ..." if len(value) > 5 else "") if keys else "no keys"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def malformed_error(entry: UserEntry | AccountEntry) -> ValidationError:
    """The error of an entry that could not be parsed, with its line when known."""
    error = entry.error or ValidationError("The message is malformed.")
    if entry.line is not None:
        return ValidationError(f"line {entry.line}: {error}", error.problems)
    return error


def read_chunks(entries: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    """Chunks of ``size`` entries, the first read at once.

    A bad line in the first chunk is then reported before anything is printed, sent or warned
    about: bad input gets its one line on stderr and nothing else.
    """
    chunks = _chunks(entries, size)
    first = next(chunks, None)
    return chunks if first is None else itertools.chain([first], chunks)


def _chunks(entries: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    chunk: list[_Item] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_settings_file(path: str) -> dict[str, Any]:
    """``private_settings`` from a JSON file (a saved notification's connector's, too)."""
    with open_text(path) as stream:
        value = load_json(stream.read(), name_of(path))
    if isinstance(value, dict) and isinstance(value.get("connector"), dict):
        # A saved notification works too: its connector's settings.
        value = value["connector"].get("private_settings") or {}
    if not isinstance(value, dict):
        raise UsageError(
            f"{name_of(path)}: expected private_settings (a JSON object), got {describe(value)}"
        )
    return value
