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
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

# The attributes of a plain LogRecord: what a record has beyond them came from `extra`.
from ..redaction import _STANDARD, RedactingFilter

__all__ = [
    "HANDLER_NAME",
    "LIBRARY_LOGGER",
    "TEXT_FORMAT",
    "JSONFormatter",
    "configure_logging",
    "logging_to_stderr",
]

#: The library's logger; every module logs on it or one of its children.
LIBRARY_LOGGER = "hull_customerio"

#: The name of the handler `configure_logging` installs (a later call replaces it).
HANDLER_NAME = "hull_customerio.configured"

#: The line format of text logs: time, level, logger and the readable message.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
