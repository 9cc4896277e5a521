"""A minimal web app receiving Customer.io reporting webhooks and forwarding them to Hull.

Standard library only (``http.server``). Every ``POST`` goes through
``Connector.handle_webhook``, which verifies the signature, turns the payload into a Hull event,
delivers it and says what to answer: 200 (forwarded, or a payload that can never be used), 401
(bad signature) or 503 (Hull unreachable: Customer.io retries later).

Serve until Ctrl-C, with the credentials from the environment::

    HULL_ID=... HULL_SECRET=... HULL_ORGANIZATION=... \\
    CUSTOMERIO_WEBHOOK_SIGNING_KEY=... python examples/webhook_receiver.py --port 8000

Or check that it works, with no credentials (against the fake Hull, then exit)::

    python examples/webhook_receiver.py --self-test
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hull_customerio as hc
from hull_customerio.testing import FakeHull

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes.
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

# Customer.io waits 4 s for an answer. Bound the time spent on Hull (tries plus waits) well
# below that, so a slow Hull is answered 503 (and retried later) instead of timing out.
HULL_TIMEOUT = 1.5
HULL_RETRY = hc.RetryPolicy(max_attempts=2, initial_backoff=0.2, max_retry_after=0.5,
                            max_elapsed=3.0)  # fmt: skip
# Webhook bodies are a few kilobytes; refuse anything absurd before reading it.
MAX_BODY_BYTES = 1_000_000

HULL_VARIABLES = ("HULL_ID", "HULL_SECRET", "HULL_ORGANIZATION")
logger = logging.getLogger("webhook_receiver")

SAMPLE_WEBHOOK = Path(__file__).resolve().parent / "data" / "webhook-email-sent.json"
SELF_TEST_SIGNING_KEY = "self-test-signing-key"


def make_server(connector: hc.Connector, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server answering every ``POST`` with what ``handle_webhook`` decides."""

    class WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, {"reason": "too_large", "message": "Body too large."})
                return
            # The signature covers the raw bytes: hand them over untouched.
            body = self.rfile.read(length)
            outcome = connector.handle_webhook(body, dict(self.headers.items()))
            self._answer(
                outcome.http_status, {"reason": outcome.reason, "message": outcome.message}
            )

        def _answer(self, status: int, payload: dict[str, str | None]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return ThreadingHTTPServer((host, port), WebhookHandler)


def make_connector(settings: hc.Settings, hull: hc.HullClient) -> hc.Connector:
    # Receiving webhooks never calls Customer.io, but the Connector needs a client: use the
    # real credentials when present, placeholders otherwise.
    customerio = hc.CustomerIOClient(
        os.environ.get("CUSTOMERIO_SITE_ID") or "unused",
        os.environ.get("CUSTOMERIO_API_KEY") or "unused",
    )
    return hc.Connector(settings, customerio=customerio, hull=hull)


def serve(host: str, port: int) -> None:
    """Serve real webhooks until Ctrl-C."""
    signing_key = os.environ.get("CUSTOMERIO_WEBHOOK_SIGNING_KEY")
    if not signing_key:
        logger.warning("CUSTOMERIO_WEBHOOK_SIGNING_KEY is not set: signatures are NOT checked")
    settings = hc.Settings.from_private_settings(
        {
            "webhook_signing_key": signing_key,
            "user_id_mapping": os.environ.get("USER_ID_MAPPING", "external_id"),
        }
    )
    hull = hc.HullClient(
        os.environ["HULL_ID"], os.environ["HULL_SECRET"], os.environ["HULL_ORGANIZATION"],
        timeout=HULL_TIMEOUT, retry=HULL_RETRY,
    )  # fmt: skip
    connector = make_connector(settings, hull)
    with hull, connector.customerio, make_server(connector, host, port) as server:
        print(f"Receiving Customer.io webhooks on http://{host}:{server.server_port}/")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("Stopped.")


def self_test() -> None:
    """Serve on a free port against the fake Hull, post one signed webhook, print, stop."""
    settings = hc.Settings.from_private_settings({"webhook_signing_key": SELF_TEST_SIGNING_KEY})
    with FakeHull() as fake_hull:
        hull = hc.HullClient(
            fake_hull.id, fake_hull.secret, fake_hull.organization,
            api_url=fake_hull.url, firehose_url=fake_hull.url,
            timeout=HULL_TIMEOUT, retry=HULL_RETRY,
        )  # fmt: skip
        connector = make_connector(settings, hull)
        with hull, connector.customerio, make_server(connector, "127.0.0.1", 0) as server:
            # A short poll interval lets shutdown() return at once instead of after 0.5 s.
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            try:
                status, answer = post_signed(f"http://127.0.0.1:{server.server_port}/")
            finally:
                server.shutdown()
                thread.join()
        print(f"Answered {status}: {answer}")
        for track in fake_hull.tracks:
            print(f"Hull received {track.event!r} for {track.claims} (event_id {track.event_id})")


def post_signed(url: str) -> tuple[int, str]:
    """Post the sample webhook, signed as Customer.io would sign it."""
    body = SAMPLE_WEBHOOK.read_bytes()
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(body, timestamp=timestamp, signing_key=SELF_TEST_SIGNING_KEY)
    request = urllib.request.Request(  # noqa: S310 -- a fixed http://127.0.0.1 URL
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-CIO-Timestamp": timestamp,
            "X-CIO-Signature": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 -- ditto
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--self-test", action="store_true", help="post one signed webhook to itself, then exit"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if args.self_test:
        self_test()
        return
    missing = [name for name in HULL_VARIABLES if not os.environ.get(name)]
    if missing:
        parser.error(f"set {', '.join(missing)} (or try --self-test)")
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
