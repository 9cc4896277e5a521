"""Fuzz every entry point with hostile input; print the unexpected exceptions per target.

Each target gets N inputs (default 100,000): arbitrary JSON values (nested 10,000 deep, ints of
thousands of digits, floats past 1e308, NaN, lone surrogates, megabyte strings, wrong types),
mutations of real Hull and Customer.io payloads, and raw bytes. An input is *unexpected* when
the entry point raises anything but its documented error, or answers something its docs do not
promise (see ``tests/fuzz/fuzz_harness.py``). The run is reproducible with ``--seed``.

    .venv/bin/python benchmarks/fuzz_entry_points.py                     # 100,000 per target
    .venv/bin/python benchmarks/fuzz_entry_points.py -n 2000 --target parse_webhook
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fuzz"))

import fuzz_harness


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--inputs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", action="append", choices=sorted(fuzz_harness.TARGETS),
                        help="only these targets (repeatable); default: all")  # fmt: skip
    parser.add_argument("--show", type=int, default=3, help="tracebacks shown per target")
    parser.add_argument("--progress", type=int, default=0, metavar="K",
                        help="print a running count every K inputs (0: at the end)")  # fmt: skip
    args = parser.parse_args()
    # The engine logs every bad user; millions of log lines would only slow the run down.
    logging.getLogger("hull_customerio").setLevel(logging.CRITICAL)
    sys.setrecursionlimit(1000)
    total = 0
    for name in args.target or list(fuzz_harness.TARGETS):
        check = fuzz_harness.TARGETS[name][1]
        rng = random.Random(f"{args.seed}:{name}")
        inputs = fuzz_harness.inputs(name, rng)
        kinds: collections.Counter[str] = collections.Counter()
        shown = 0
        started = time.monotonic()
        for done in range(args.inputs):
            if args.progress and done and done % args.progress == 0:
                print(f"  {name}: {done} inputs, {sum(kinds.values())} unexpected "
                      f"({time.monotonic() - started:.0f} s)", flush=True)  # fmt: skip
            value = next(inputs)
            try:
                check(value)
            except Exception as exc:
                kinds[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                if shown < args.show:
                    shown += 1
                    print(f"--- {name}: unexpected {type(exc).__name__}", file=sys.stderr)
                    traceback.print_exc(limit=-4, file=sys.stderr)
        unexpected = sum(kinds.values())
        total += unexpected
        elapsed = time.monotonic() - started
        print(f"{name:36} {args.inputs:>8} inputs  {unexpected:>6} unexpected  "
              f"({elapsed:.0f} s)", flush=True)  # fmt: skip
        for kind, count in kinds.most_common(5):
            print(f"    {count:>6}  {kind}", flush=True)
    print(f"total unexpected: {total}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
