"""`hull-customerio serve` as a real process, pointed at the loopback fakes by its environment."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

from hull_customerio.testing import FakeCustomerIO, FakeHull

TOKEN_KEY = "service-token-key-for-the-serve-tests"


@attrs.define
class Served:
    """A running ``serve`` process: its base URL, and where its output goes."""

    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> str:
        """Stop the server as Ctrl-C would; everything it wrote to stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.stdout.read_text() + self.stderr.read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_environment(
    customerio: FakeCustomerIO, hull: FakeHull, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment without any real credential, pointing at the fakes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOMERIO_", "HULL_"))}
    env.update({
        "HULL_CUSTOMERIO_TOKEN_KEY": TOKEN_KEY,
        "CUSTOMERIO_BASE_URL": customerio.url,
        "CUSTOMERIO_RATE_LIMIT": "none",
        "HULL_API_URL": hull.url,
        "HULL_FIREHOSE_URL": hull.url,
    })  # fmt: skip
    env.update(extra or {})
    return env


@contextlib.contextmanager
def running_serve(
    directory: Path,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    *arguments: str,
    environment: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """``python -m hull_customerio serve`` on a free port, with Hull's public key and the
    fakes' hosts allowed for batch files; stopped (SIGINT) on exit."""
    public_key = directory / "hull-public-key.pem"
    public_key.write_text(hull.notification_public_key)
    port = _free_port()
    stdout, stderr = directory / f"serve-{port}.out", directory / f"serve-{port}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", "hull_customerio", "serve", "--port", str(port),
             "--public-key", str(public_key), "--batch-host", "127.0.0.1", *arguments],
            env=service_environment(customerio, hull, environment), stdout=out, stderr=err,
        )  # fmt: skip
    served = Served(f"http://127.0.0.1:{port}", process, stdout, stderr)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}: {served.stop()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {served.stop()}")
            time.sleep(0.05)
        yield served
    finally:
        served.stop()
