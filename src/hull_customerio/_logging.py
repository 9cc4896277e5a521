"""Route the library's log records somewhere visible: what `hull-customerio serve` and `-v` use.

The library itself never configures logging (its logger has a `NullHandler`): an application
decides. A server started by this package's own command line has no application around it, so
the command line calls `configure_logging` to write the `hull_customerio` records to stderr.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from typing import IO

__all__ = ["HANDLER_NAME", "TEXT_FORMAT", "JSONFormatter", "configure_logging"]

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
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _json.dumps(entry, default=str)


def configure_logging(
    level: int | str = logging.INFO, *, json: bool = False, stream: IO[str] | None = None
) -> logging.Handler:
    """Write the `hull_customerio` logger's records (and its children's) to a stream.

    Installs one handler on the `hull_customerio` logger and sets the logger's level; calling
    it again replaces that handler (never stacks a second one). Other loggers, the root logger
    and handlers the application added are left alone.

    Args:
        level: the lowest level written, e.g. `logging.INFO` or `"DEBUG"`.
        json: one JSON object per line (message plus the structured fields) instead of text.
        stream: where to write (default: `sys.stderr`).

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
    logger = logging.getLogger("hull_customerio")
    for existing in list(logger.handlers):
        if existing.get_name() == HANDLER_NAME:
            logger.removeHandler(existing)
            existing.close()
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JSONFormatter() if json else logging.Formatter(TEXT_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler

