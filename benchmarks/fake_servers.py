"""The loopback fakes in a process of their own, driven over stdin/stdout.

Benchmarks start this script as a subprocess so that the fakes' work (parsing requests,
keeping people and events) does not share a process, a GIL and a profile with the code being
measured. It starts ``FakeCustomerIO`` and ``FakeHull`` on 127.0.0.1, prints one JSON line
with their URLs and credentials, then answers one command per stdin line:

- ``reset``: forget everything both fakes recorded (and set the latencies again);
  answers ``ok``.
- ``stats``: answers a JSON line ``{"customerio": {status: count}, "hull": count}``.
- ``quit`` (or end of input): stops both servers and exits.

    python benchmarks/fake_servers.py --latency 0.02 --hull-latency 0.02

Benchmarks drive it through :class:`FakeServers` (``from fake_servers import FakeServers``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hull_customerio.testing import FakeCustomerIO, FakeHull


class FakeServers:
    """``fake_servers.py`` in a subprocess: its URLs and credentials, ``reset()``, ``stats()``."""

    def __init__(self, latency: float, hull_latency: float) -> None:
        script = Path(__file__).resolve()
        self.process = subprocess.Popen(  # noqa: S603 -- our own script, our own Python
            [sys.executable, str(script), "--latency", str(latency),
             "--hull-latency", str(hull_latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.info: dict[str, Any] = json.loads(self._read())

    def _read(self) -> str:
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            raise RuntimeError("fake_servers.py exited")
        return line

    def _command(self, command: str) -> str:
        if self.process.stdin is None:
            raise RuntimeError("fake_servers.py has no stdin")
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def reset(self) -> None:
        self._command("reset")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._command("stats"))
        return result

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.020, help="Customer.io, seconds")
    parser.add_argument("--hull-latency", type=float, default=0.020, help="Hull, seconds")
    args = parser.parse_args()

    with FakeCustomerIO() as customerio, FakeHull() as hull:

        def configure() -> None:
            customerio.latency = args.latency
            hull.latency = args.hull_latency

        configure()
        info = {
            "customerio_url": customerio.url,
            "site_id": customerio.site_id,
            "api_key": customerio.api_key,
            "hull_url": hull.url,
            "hull_id": hull.id,
            "hull_secret": hull.secret,
            "hull_organization": hull.organization,
        }
        print(json.dumps(info), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                customerio.reset()
                hull.reset()
                configure()
                print("ok", flush=True)
            elif command == "stats":
                statuses = Counter(str(request.status) for request in customerio.requests)
                answer = {"customerio": dict(statuses), "hull": len(hull.requests)}
                print(json.dumps(answer), flush=True)
            elif command == "quit":
                break
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)


if __name__ == "__main__":
    main()
