"""The ``hull-customerio serve`` command: the ASGI app over a hub, run by uvicorn.

The hub is configured from the environment the rest of the library reads
(`hull_customerio.config.hub_options_from_env`): Customer.io's and Hull's base URLs, the rate
limit, a Redis URL for a shared limiter, the token key and the trusted hosts. Logging is set up
here rather than by uvicorn: the library's records and uvicorn's (its access log included) go
to stderr through one handler that masks credentials (`hull_customerio.redaction.redact`), as
text or one JSON object per line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..config import CUSTOMERIO_VARIABLES, HULL_VARIABLES, SERVICE_VARIABLES, hub_options_from_env
from ..errors import ConfigurationError
from ._logging import LIBRARY_LOGGER, logging_to_stderr

__all__ = [
    "SERVER_LOGGERS",
    "TOKEN_KEY_VARIABLE",
    "add_serve_parser",
    "run_serve",
]

#: The environment variable holding the service's webhook-URL token key (never an argument:
#: command lines are visible to every user of the machine).
TOKEN_KEY_VARIABLE = SERVICE_VARIABLES["token_key"]

#: The loggers ``serve`` writes: the library's, uvicorn's (``uvicorn.error``,
#: ``uvicorn.access``...) and Python's warnings (so that a JSON log holds only JSON lines).
SERVER_LOGGERS = (LIBRARY_LOGGER, "uvicorn", "py.warnings")

_EPILOG = f"""\
environment:
  {TOKEN_KEY_VARIABLE}  the service's secret for webhook URLs (required)
  {CUSTOMERIO_VARIABLES["base_url"]}, {HULL_VARIABLES["api_url"]}, {HULL_VARIABLES["firehose_url"]}
      send every connector's requests there instead (test servers)
  {CUSTOMERIO_VARIABLES["rate_limit"]}  requests per second per Customer.io workspace
  {SERVICE_VARIABLES["redis_url"]}  share each workspace's rate limit through Redis
  {SERVICE_VARIABLES["trusted_key_hosts"]}, {SERVICE_VARIABLES["trusted_hull_hosts"]}
      comma-separated hosts (the key of Hull's signatures; organizations)

Credentials in request URLs (secret=, token=, api_key=, password=...) are masked in every log
line, the access log included.
"""


def add_serve_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """Add ``serve`` to the CLI's sub-commands; ``run`` is called with the parsed arguments."""
    serve: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve Hull and Customer.io for any number of connectors (needs the 'server' extra)",
        description="Run the connector service: POST /smart-notifier, /batch, /webhook and "
        "GET|POST /status, for every Hull connector that calls it, with uvicorn.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the service's public base URL, for the webhook URLs it shows (default: each "
        "request's own scheme and host)",
    )
    serve.add_argument(
        "--public-key", metavar="FILE", help="Hull's notification public key (PEM file)"
    )
    serve.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="accept notifications without Hull's signature (not recommended)",
    )
    serve.add_argument(
        "--batch-host",
        dest="batch_hosts",
        action="append",
        metavar="HOST",
        help="a host batch files may be downloaded from (repeatable; default any public host)",
    )
    serve.add_argument("--mode", choices=("v1", "batch"), default="v1", help="Customer.io API")
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object per line (default text)",
    )
    serve.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="the lowest level logged (default info)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on shutdown, how long requests still running (a batch download...) may go on "
        "before they are cancelled (default 30)",
    )
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="no line per request (by default one is written, its credentials masked)",
    )
    serve.set_defaults(run=run)
    return serve


@contextlib.contextmanager
def _warnings_logged() -> Iterator[None]:
    """Python's warnings as log records while serving (``py.warnings``), not bare stderr text."""
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            # Hull issues the connector secrets; PyJWT's warning about their length is noise
            # to an operator who cannot choose them.
            with contextlib.suppress(ImportError):
                from jwt.warnings import InsecureKeyLengthWarning  # noqa: PLC0415

                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            yield
    finally:
        logging.captureWarnings(False)


def run_serve(args: argparse.Namespace, usage_error: type[Exception]) -> int:
    """Build the hub and the app, run them until interrupted; bad usage raises ``usage_error``."""
    try:
        hub_options = hub_options_from_env()
    except ConfigurationError as exc:
        raise usage_error("; ".join(exc.problems)) from None
    try:
        import uvicorn  # noqa: PLC0415 -- an optional extra

        from ..server import create_app  # noqa: PLC0415 -- an optional extra
    except ImportError:
        raise usage_error(
            "serve needs the 'server' extra: pip install 'hull-customerio[server]'"
        ) from None
    from ..hub import AsyncConnectorHub  # noqa: PLC0415

    public_key = None
    if args.public_key:
        try:
            public_key = Path(args.public_key).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise usage_error(f"cannot read --public-key: {exc}") from None
    try:
        hub = AsyncConnectorHub(
            notification_public_key=public_key,
            require_signature=not args.allow_unsigned,
            mode=args.mode,
            **hub_options,
        )
    except ConfigurationError as exc:
        raise usage_error("; ".join(exc.problems)) from None
    app_options: dict[str, Any] = {"batch_hosts": args.batch_hosts}
    if args.public_url:
        app_options["public_url"] = args.public_url
    app = create_app(hub, **app_options)
    with (
        logging_to_stderr(
            args.log_level.upper(), json=args.log_format == "json", loggers=SERVER_LOGGERS
        ),
        _warnings_logged(),
    ):
        # log_config=None: uvicorn keeps the handler installed above (masking, our format)
        # instead of its own, which would print request URLs as they came.
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            log_level=args.log_level,
            access_log=args.access_log,
            # A batch download may run for an hour: past the grace period, a shutdown
            # cancels what is still running rather than wait for it.
            timeout_graceful_shutdown=max(0.0, args.graceful_timeout),
        )
    return 0
