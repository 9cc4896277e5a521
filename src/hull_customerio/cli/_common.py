"""What every part of the command line shares: its name, exit codes, and stderr messages."""

from __future__ import annotations

import sys

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "UsageError",
    "error",
    "first",
    "note",
    "one_line",
]

PROG = "hull-customerio"

EXIT_OK = 0
#: ``sync``: a user failed; ``check``: status ``error``; ``webhook``: no event would result.
EXIT_FAILED = 1
#: Bad input or usage (argparse uses 2 as well).
EXIT_USAGE = 2
#: Stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input or usage: one line for stderr, exit code 2."""


def error(message: str) -> None:
    """Print ``hull-customerio: error: <message>`` on stderr."""
    print(f"{PROG}: error: {message}", file=sys.stderr)


def note(message: str) -> None:
    """Print ``hull-customerio: <message>`` on stderr."""
    print(f"{PROG}: {message}", file=sys.stderr)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) as one space."""
    return " ".join(text.split())


def first(*values: str | None) -> str | None:
    """The first value that is neither ``None`` nor empty."""
    return next((value for value in values if value), None)
