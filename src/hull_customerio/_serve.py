"""The ``hull-customerio serve`` command: the ASGI app over a hub, run by uvicorn."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["TOKEN_KEY_VARIABLE", "add_serve_parser", "run_serve"]

#: The environment variable holding the service's webhook-URL token key (never an argument:
#: command lines are visible to every user of the machine).
TOKEN_KEY_VARIABLE = "HULL_CUSTOMERIO_TOKEN_KEY"  # noqa: S105 -- a variable name, not a secret


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
        epilog=f"environment:\n  {TOKEN_KEY_VARIABLE}  the service's secret for webhook URLs "
        "(required)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
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
    serve.set_defaults(run=run)
    return serve


def run_serve(args: argparse.Namespace, usage_error: type[Exception]) -> int:
    """Build the hub and the app, run them until interrupted; bad usage raises ``usage_error``."""
    token_key = os.environ.get(TOKEN_KEY_VARIABLE, "")
    if not token_key.strip():
        raise usage_error(f"set {TOKEN_KEY_VARIABLE} to the service's secret for webhook URLs")
    try:
        import uvicorn  # noqa: PLC0415 -- an optional extra

        from .server import create_app  # noqa: PLC0415 -- an optional extra
    except ImportError:
        raise usage_error(
            "serve needs the 'server' extra: pip install 'hull-customerio[server]'"
        ) from None
    from .hub import AsyncConnectorHub  # noqa: PLC0415

    public_key = None
    if args.public_key:
        try:
            public_key = Path(args.public_key).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise usage_error(f"cannot read --public-key: {exc}") from None
    from .errors import ConfigurationError  # noqa: PLC0415

    try:
        hub = AsyncConnectorHub(
            token_key=token_key,
            notification_public_key=public_key,
            require_signature=not args.allow_unsigned,
            mode=args.mode,
        )
    except ConfigurationError as exc:
        raise usage_error(str(exc)) from None
    app = create_app(hub, batch_hosts=args.batch_hosts)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
