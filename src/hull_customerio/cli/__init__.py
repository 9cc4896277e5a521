"""The ``hull-customerio`` command line: a thin layer over the engine (see ``docs/cli.md``).

Subcommands:

- ``plan FILE``: what would happen to each user (or account), as JSON lines; no network.
- ``sync FILE``: send the users (or the accounts, as objects) to Customer.io (and write back
  to Hull), with a summary.
- ``check``: the connector's status: settings, and one call each to check the Customer.io and
  Hull credentials.
- ``webhook FILE``: what a Customer.io webhook payload would become.
- ``webhook-url``: the Customer.io webhook URL of one connector served by ``serve``.
- ``serve``: the connector service for any number of Hull connectors (the ``server`` extra).

FILE is a Hull notification (a JSON object with ``messages``; ``user:update`` or
``account:update``) or a JSON-lines stream of ``user:update`` or of ``account:update`` messages
(one kind per file); ``-`` reads standard input.

Exit codes: ``0`` success; ``1`` a user or an account failed (``sync``), the status is ``error``
(``check``) or the webhook would not become an event (``webhook``); ``2`` bad input or usage;
``130`` interrupted (``plan`` and ``sync`` then say what was done and the ``--skip N`` that goes
on from there).

The package is split by concern: ``_input`` reads FILE, ``_settings`` and ``_clients`` build
the settings and clients (through `hull_customerio.config`), ``_output`` prints, ``_progress``
shows how far a sync is, ``_stats`` times and counts a run and knows where it stopped,
``_commands`` runs each command and ``_arguments`` parses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from ._arguments import build_parser
from ._commands import log_to_stderr
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    error,
)

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The exit code: ``0`` success, ``1`` something failed, ``2`` bad input or usage,
        ``130`` interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error argparse printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        # -v: the library's records, DEBUG and above, on stderr for this run.
        with log_to_stderr(logging.DEBUG if getattr(args, "verbose", False) else None):
            code: int = args.run(args)
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    except UnicodeDecodeError as exc:  # raised wherever a text file is read, even mid-stream
        error(f"the input is not UTF-8 text: {exc.reason} at byte {exc.start} of a read")
        return EXIT_USAGE
    except (RecursionError, OverflowError, ValueError) as exc:
        # Input no check above foresaw (absurd nesting or numbers): still one line, never a
        # traceback.
        error(f"the input cannot be processed ({type(exc).__name__})")
        return EXIT_USAGE
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's shutdown flush of
        # the dead pipe from printing a traceback.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    return code
