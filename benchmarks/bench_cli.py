"""Users per second through the ``hull-customerio sync`` command, with and without Hull.

Writes N synthetic users (the generator of ``examples/sync_export.py``) as JSON lines, starts
the fakes in a process of their own (``fake_servers.py``), and runs the installed command line
(``python -m hull_customerio sync``) once per scenario: the defaults, the volume flags
(``--rate-limit``, ``--concurrency``) and batch mode, each with Hull write-back and without.
Every scenario starts from empty fakes. The figure is wall-clock users/s of the whole command,
start-up included.

    python benchmarks/bench_cli.py                         # N=2000, 20 ms latency
    python benchmarks/bench_cli.py --users 20000 --scenarios fast
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from sync_export import DEMO_SETTINGS, synthetic_message

HERE = Path(__file__).resolve().parent

#: name -> the sync flags it adds.
SCENARIOS = {
    "default": [],
    "fast": ["--rate-limit", "0", "--concurrency", "20"],
    "batch": ["--mode", "batch"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.020, help="both fakes, seconds")
    parser.add_argument(
        "--scenarios", nargs="+", choices=sorted(SCENARIOS), default=list(SCENARIOS)
    )
    args = parser.parse_args()

    fakes = subprocess.Popen(  # noqa: S603 -- our own script
        [sys.executable, str(HERE / "fake_servers.py"), "--latency", str(args.latency),
         "--hull-latency", str(args.latency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert fakes.stdin is not None  # noqa: S101
    assert fakes.stdout is not None  # noqa: S101
    info = json.loads(fakes.stdout.readline())
    try:
        with tempfile.TemporaryDirectory() as folder:
            users = Path(folder) / "users.jsonl"
            users.write_text(
                "".join(json.dumps(synthetic_message(n)) + "\n" for n in range(args.users))
            )
            settings = Path(folder) / "settings.json"
            settings.write_text(json.dumps(dict(DEMO_SETTINGS)))
            print(f"{args.users} users, {args.latency * 1000:.0f} ms latency")
            for name in args.scenarios:
                for with_hull in (False, True):
                    fakes.stdin.write("reset\n")
                    fakes.stdin.flush()
                    fakes.stdout.readline()
                    env = _environment(info, with_hull=with_hull)
                    argv = [sys.executable, "-m", "hull_customerio", "sync", str(users),
                            "--settings", str(settings), "--batch", "--no-progress",
                            *SCENARIOS[name]]  # fmt: skip
                    started = time.perf_counter()
                    result = subprocess.run(  # noqa: S603 -- our own command line
                        argv, env=env, capture_output=True, text=True, check=False
                    )
                    elapsed = time.perf_counter() - started
                    summary = (result.stdout.splitlines() or [result.stderr.strip()])[0]
                    hull = "with Hull" if with_hull else "no Hull"
                    print(
                        f"{name:8} {hull:10} {args.users / elapsed:8.0f} users/s "
                        f"({elapsed:6.1f} s, exit {result.returncode}): {summary}",
                        flush=True,
                    )
    finally:
        fakes.stdin.write("quit\n")
        fakes.stdin.flush()
        fakes.wait(timeout=30)


def _environment(info: dict[str, str], *, with_hull: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOMERIO_", "HULL_"))}
    env.update(
        CUSTOMERIO_SITE_ID=info["site_id"],
        CUSTOMERIO_API_KEY=info["api_key"],
        CUSTOMERIO_BASE_URL=info["customerio_url"],
    )
    if with_hull:
        env.update(
            HULL_ID=info["hull_id"],
            HULL_SECRET=info["hull_secret"],
            HULL_ORGANIZATION=info["hull_organization"],
            HULL_API_URL=info["hull_url"],
            HULL_FIREHOSE_URL=info["hull_url"],
        )
    return env


if __name__ == "__main__":
    main()
