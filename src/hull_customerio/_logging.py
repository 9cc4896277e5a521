"""Route the library's log records somewhere visible: what `hull-customerio serve` and `-v` use.

The library itself never configures logging (its logger has a `NullHandler`): an application
decides. A server started by this package's own command line has no application around it, so
the command line calls `configure_logging` to write the `hull_customerio` records (and, for
`serve`, uvicorn's) to stderr.

Every handler installed here carries a `RedactingFilter`: a credential in a URL's query
(`secret=`, `token=`, `api_key=`, `password=`...) or in its user-info (`redis://:pw@host`)
is masked before the line is written, whoever logged it. uvicorn's access log writes each
request's path with its query, and Hull and Customer.io put connector credentials there.
"""

from __future__ import annotations

import contextlib
import json as _json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO
from urllib.parse import unquote_plus

__all__ = [
    "HANDLER_NAME",
    "LIBRARY_LOGGER",
    "MASK",
    "SECRET_WORDS",
    "TEXT_FORMAT",
    "JSONFormatter",
    "RedactingFilter",
    "configure_logging",
    "logging_to_stderr",
    "redact",
]

#: The library's logger; every module logs on it or one of its children.
LIBRARY_LOGGER = "hull_customerio"

#: What a masked value reads as.
MASK = "***"

#: A query parameter whose name (decoded, any case, ``-`` read as ``_``) contains one of these
#: words has its value masked: ``secret``, ``Token``, ``api%5Fkey``, ``hull_secret``...
SECRET_WORDS = ("secret", "token", "password", "passwd", "api_key", "apikey")

#: The name of the handler `configure_logging` installs (a later call replaces it).
HANDLER_NAME = "hull_customerio.configured"

#: The line format of text logs: time, level, logger and the readable message.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Every attribute a plain LogRecord has: what is left over came from `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


# ``name=value`` after a query separator or a space: the value ends at the next separator,
# fragment or space (a quote too is part of a value: masking more is the safe side).
_PARAMETER = re.compile(r"(?P<lead>[?&;\s]|^)(?P<name>[^=&;?#\s]+)=(?P<value>[^&;#\s]*)")
# A URL's user-info: ``scheme://user:password@`` (Redis URLs hold passwords there). The scheme
# is bounded so that a long run of dots and letters costs linear time, not quadratic.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://)(?P<userinfo>[^@/?#\s]+)@")


def _secret_name(name: str) -> bool:
    normal = unquote_plus(name).strip().lower().replace("-", "_")
    return any(word in normal for word in SECRET_WORDS)


def _mask_parameter(match: re.Match[str]) -> str:
    if not match["value"] or not _secret_name(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={MASK}"


def redact(text: str) -> str:
    """``text`` with every credential of a URL masked: secret query values and user-info.

    ``/status?organization=o&id=i&secret=s`` becomes ``/status?organization=o&id=i&secret=***``
    (the values of every parameter named as `SECRET_WORDS` says, however it is cased, repeated
    or percent-encoded); ``redis://:pw@host:6379`` becomes ``redis://***@host:6379``.
    """
    if "=" in text:
        text = _PARAMETER.sub(_mask_parameter, text)
    if "://" in text:
        text = _USERINFO.sub(lambda match: f"{match['scheme']}{MASK}@", text)
    return text


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (int, float)):
        return value  # kept as they are for %d and %f
    shown = str(value)
    masked = redact(shown)
    return value if masked == shown else masked


class RedactingFilter(logging.Filter):
    """Masks credentials (see `redact`) in a record's message, arguments, fields and traceback.

    uvicorn's access records keep their shape (a tuple of client, method, path, HTTP version
    and status), so its own formatters still work; only the path's secret values change.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redacted(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _redacted(value) for key, value in args.items()}
        for key, value in vars(record).items():
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and every `extra` field."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _json.dumps(entry, default=str)


def configure_logging(
    level: int | str = logging.INFO,
    *,
    json: bool = False,
    stream: IO[str] | None = None,
    loggers: Iterable[str] = (LIBRARY_LOGGER,),
) -> logging.Handler:
    """Write the records of the `hull_customerio` logger (and its children's) to a stream.

    Installs one handler, with a `RedactingFilter`, on each logger named and sets their level;
    calling it again replaces that handler (never stacks a second one). The handler is shared:
    removing it from every logger in `loggers` undoes the call. Other loggers, the root logger
    and handlers the application added are left alone.

    Args:
        level: the lowest level written, e.g. `logging.INFO` or `"DEBUG"`.
        json: one JSON object per line (message plus the structured fields) instead of text.
        stream: where to write (default: `sys.stderr`).
        loggers: the loggers to write (default: the library's). A logger other than the
            library's stops passing its records on to the root logger, so that a handler
            there does not write them a second time, unredacted.

    Returns:
        The handler installed.

    Raises:
        ValueError: `level` is not a known level name.
    """
    if isinstance(level, str):
        named = logging.getLevelName(level.upper())
        if not isinstance(named, int):
            raise ValueError(f"unknown log level {level!r}")
        level = named
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JSONFormatter() if json else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter())
    for name in loggers:
        logger = logging.getLogger(name)
        for existing in list(logger.handlers):
            if existing.get_name() == HANDLER_NAME:
                logger.removeHandler(existing)
                existing.close()
        logger.addHandler(handler)
        logger.setLevel(level)
        if name != LIBRARY_LOGGER:
            logger.propagate = False
    return handler


@contextlib.contextmanager
def logging_to_stderr(
    level: int | str, *, json: bool = False, loggers: Sequence[str] = (LIBRARY_LOGGER,)
) -> Iterator[logging.Handler]:
    """Write ``loggers``' records to stderr, masked, for the duration of the block.

    Each logger's handlers, level and propagation are put back afterwards, so an embedding
    program (or a test calling the command line in-process) keeps its own set-up.
    """
    saved = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.level, logger.propagate))
    handler = configure_logging(level, json=json, loggers=loggers)
    try:
        yield handler
    finally:
        for logger, handlers, previous_level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(previous_level)
            logger.propagate = propagate
        handler.close()
