"""The loopback fakes in a process of their own, driven over stdin/stdout.

Benchmarks start this script as a subprocess so that the fakes' work (parsing requests,
keeping people and events) does not share a process, a GIL and a profile with the code being
measured; by default (:class:`FakeServers`) each service in a process of its own, as the real
Customer.io and Hull are separate services: one fake's work (Hull checking every message's
token, say) does not hold up the other's. It starts ``FakeCustomerIO`` and/or ``FakeHull``
(``--service``) on 127.0.0.1, prints one JSON line with their URLs and credentials, then
answers one command per stdin line:

- ``reset``: forget everything both fakes recorded (and set the latencies again);
  answers ``ok``.
- ``stats``: answers a JSON line ``{"customerio": {status: count}, "hull": count}``.
- ``quit`` (or end of input): stops both servers and exits.

    python benchmarks/fake_servers.py --latency 0.02 --hull-latency 0.02 [--service hull]

Benchmarks drive it through :class:`FakeServers` (``from fake_servers import FakeServers``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from hull_customerio.testing import FakeCustomerIO, FakeHull


class _FakeProcess:
    """One ``fake_servers.py`` subprocess, driven over its stdin and stdout."""

    def __init__(self, latency: float, hull_latency: float, service: str) -> None:
        script = Path(__file__).resolve()
        self.process = subprocess.Popen(  # noqa: S603 -- our own script, our own Python
            [sys.executable, str(script), "--latency", str(latency),
             "--hull-latency", str(hull_latency), "--service", service],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.info: dict[str, Any] = json.loads(self._read())

    def _read(self) -> str:
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            raise RuntimeError("fake_servers.py exited")
        return line

    def command(self, command: str) -> str:
        if self.process.stdin is None:
            raise RuntimeError("fake_servers.py has no stdin")
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        self.process.wait(timeout=10)


class FakeServers:
    """The fakes in subprocesses (one per service unless ``separate=False``): their URLs and
    credentials (``info``), ``reset()``, ``stats()``, ``close()``."""

    def __init__(self, latency: float, hull_latency: float, *, separate: bool = True) -> None:
        services = ["customerio", "hull"] if separate else ["both"]
        self._processes = [_FakeProcess(latency, hull_latency, s) for s in services]
        self.info: dict[str, Any] = {}
        for fake in self._processes:
            self.info.update(fake.info)

    def reset(self) -> None:
        for fake in self._processes:
            fake.command("reset")

    def pids(self) -> list[int]:
        """The fakes' process ids."""
        return [fake.process.pid for fake in self._processes]

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for fake in self._processes:
            result.update(json.loads(fake.command("stats")))
        return result

    def close(self) -> None:
        for fake in self._processes:
            fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.020, help="Customer.io, seconds")
    parser.add_argument("--hull-latency", type=float, default=0.020, help="Hull, seconds")
    parser.add_argument("--service", choices=["both", "customerio", "hull"], default="both")
    args = parser.parse_args()

    with ExitStack() as stack:
        customerio = stack.enter_context(FakeCustomerIO()) if args.service != "hull" else None
        hull = stack.enter_context(FakeHull()) if args.service != "customerio" else None

        def configure() -> None:
            if customerio is not None:
                customerio.latency = args.latency
            if hull is not None:
                hull.latency = args.hull_latency

        configure()
        info: dict[str, Any] = {}
        if customerio is not None:
            info.update(
                customerio_url=customerio.url,
                site_id=customerio.site_id,
                api_key=customerio.api_key,
            )
        if hull is not None:
            info.update(
                hull_url=hull.url,
                hull_id=hull.id,
                hull_secret=hull.secret,
                hull_organization=hull.organization,
            )
        print(json.dumps(info), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                for fake in (customerio, hull):
                    if fake is not None:
                        fake.reset()
                configure()
                print("ok", flush=True)
            elif command == "stats":
                answer: dict[str, Any] = {}
                if customerio is not None:
                    statuses = Counter(str(request.status) for request in customerio.requests)
                    answer["customerio"] = dict(statuses)
                if hull is not None:
                    answer["hull"] = len(hull.requests)
                print(json.dumps(answer), flush=True)
            elif command == "quit":
                break
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)


if __name__ == "__main__":
    main()
