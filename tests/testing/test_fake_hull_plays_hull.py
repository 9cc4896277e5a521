"""FakeHull playing Hull's side against an app: batch files and notifications it sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from hull_customerio.testing import FakeHull


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def app_url() -> Iterator[str]:
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_batch_file_is_served_as_json_lines_without_hull_headers() -> None:
    with FakeHull() as hull:
        url = hull.add_batch_file([{"user": {"id": "1"}}, {"user": {"id": "2"}}])
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert answer.content == b'{"user":{"id":"1"}}\n{"user":{"id":"2"}}\n'
        assert httpx.get(hull.url + "/batch-files/unknown.json").status_code == 404


def test_send_batch_names_the_file_and_passes_the_credentials(app_url: str) -> None:
    with FakeHull() as hull:
        hull.send_batch(app_url, [{"user": {"id": "1"}}])
        ((path, _, body),) = _Recorder.received
        document = json.loads(body)
        assert path.startswith("/batch?")
        assert f"secret={hull.secret}" in path
        assert f"organization={hull.organization}" in path
        assert document["format"] == "json"
        assert document["object_type"] == "user_report"
        assert httpx.get(document["url"]).content == b'{"user":{"id":"1"}}\n'


def test_send_notification_signs_unless_told_not_to(app_url: str) -> None:
    hull = FakeHull()
    payload = hull.notification([])
    hull.send_notification(app_url, payload)
    hull.send_notification(app_url, payload, sign=False)
    (path, signed, body), (_, unsigned, _) = _Recorder.received
    assert path == "/smart-notifier"
    assert json.loads(body) == payload
    assert "x-hull-smart-notifier-signature" in {k.lower() for k in signed}
    assert "x-hull-smart-notifier-signature" not in {k.lower() for k in unsigned}
