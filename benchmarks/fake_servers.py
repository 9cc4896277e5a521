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
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from hull_customerio.testing import FakeCustomerIO, FakeHull


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
