"""Peak memory and speed of ``examples/sync_export.py`` on a large generated export.

Generates an export of ``--users`` synthetic users (default 200,000), then runs the example on
it in a subprocess, against a ``FakeCustomerIO`` and a ``FakeHull`` served by *this* process —
so the fakes' records do not count towards the example's memory. A small baseline export runs
first: constant memory means both peaks are about the same.

    python benchmarks/bench_export_memory.py
    python benchmarks/bench_export_memory.py --users 50000 --chunk-size 1000 --keep export.jsonl
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from hull_customerio.testing import FakeCustomerIO, FakeHull

# The benchmark writes the example's own synthetic export, with the example's own code.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from sync_export import generate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sync_export.py"

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes (the fake's default is).
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

BASELINE_USERS = 2_000


def forget_periodically(fakes: list[FakeCustomerIO | FakeHull], stop: threading.Event) -> None:
    """Empty the fakes' records now and then, so this process does not grow with the export."""
    while not stop.wait(2.0):
        for fake in fakes:
            fake.reset()


def run_example(
    path: Path, users: int, chunk_size: int, env: dict[str, str], urls: tuple[str, str]
) -> None:
    command = [
        sys.executable, str(EXAMPLE), "--file", str(path), "--chunk-size", str(chunk_size),
        "--customerio-url", urls[0], "--hull-url", urls[1],
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    # Not the child's ru_maxrss: Linux carries the high-water mark of the process image an exec
    # replaces into the new one, and the child is spawned from this process (vfork), so its
    # ru_maxrss is at least this process's peak -- the fakes' (measured: 74.0 MiB reported for
    # an example that peaked at 61 MiB). The child's own peak is the VmHWM of its memory,
    # sampled until it exits (it only rises; read every 20 ms).
    status_file = Path(f"/proc/{process.pid}/status")
    peak_kib = 0
    while True:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except OSError:
            pass  # not Linux, or the child just went
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if peak_kib:
        peak_mib = peak_kib / 1024
    else:  # no /proc: ru_maxrss (kilobytes on Linux, bytes on macOS), an upper bound
        peak_mib = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    print(
        f"{users:>9,} users: peak RSS {peak_mib:,.1f} MiB, {elapsed:.1f} s wall "
        f"({users / elapsed:,.0f} users/s, interpreter start included), "
        f"exit code {process.returncode}"
    )
    if process.returncode != 0:
        sys.exit(f"sync_export.py failed with exit code {process.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="write (or reuse) the export at this path")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        baseline = Path(temp) / "baseline.jsonl"
        generate(BASELINE_USERS, baseline)
        large = args.keep or Path(temp) / "export.jsonl"
        if not large.exists():
            started = time.perf_counter()
            generate(args.users, large)
            print(f"Generated {args.users:,} users in {time.perf_counter() - started:.1f} s")
        size_mib = large.stat().st_size / 2**20
        print(f"Export: {large} ({size_mib:,.0f} MiB), chunks of {args.chunk_size} users")

        with FakeCustomerIO() as customerio, FakeHull() as hull:
            env = {
                **os.environ,
                "CUSTOMERIO_SITE_ID": customerio.site_id,
                "CUSTOMERIO_API_KEY": customerio.api_key,
                "HULL_ID": hull.id,
                "HULL_SECRET": hull.secret,
                "HULL_ORGANIZATION": hull.organization,
            }
            stop = threading.Event()
            forgetter = threading.Thread(
                target=forget_periodically, args=([customerio, hull], stop), daemon=True
            )
            forgetter.start()
            try:
                for path, users in ((baseline, BASELINE_USERS), (large, args.users)):
                    urls = (customerio.url, hull.url)
                    run_example(path, users, args.chunk_size, env, urls)
            finally:
                stop.set()
                forgetter.join()


if __name__ == "__main__":
    main()
