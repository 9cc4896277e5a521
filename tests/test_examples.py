"""Every script in ``examples/`` runs, as a newcomer would run it: no credentials, no network.

Scripts are discovered with a glob, so a new example is tested as soon as it exists. A script
that needs arguments to finish (a server's self-test) gets them from ``ARGUMENTS``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
TIMEOUT = 20  # seconds; each script finishes in about one

ARGUMENTS: dict[str, list[str]] = {
    "webhook_receiver.py": ["--self-test"],
}

# Lines each script must print: the parts of the story a newcomer reads.
EXPECTED_LINES: dict[str, list[str]] = {
    "quickstart.py": [
        "created  cust-001",
        "sent 'Signed Up' as a Customer.io event",
        "sent 'https://example.com/pricing' as a page view",
        "skipped 'Clicked Banner': not_whitelisted",
        "deleted  cust-002",
        "skipped  linus@example.com",
        "=> 2 succeeded, 1 skipped, 0 failed",
        "webhook-email-sent.json: 'Email Sent'",
        "webhook-email-delivered-legacy.json: 'Email Delivered'",
        "deleted: cust-002",
        "tracked 'Email Sent'",
        "tracked 'Email Delivered'",
    ],
    "webhook_receiver.py": [
        "Answered 200:",
        "Hull received 'Email Sent'",
    ],
    "sync_export.py": [
        "Synced 1,000 users",
        "success: 1,000",
        "events sent: 2,000, events skipped: 0",
    ],
}


def clean_environment() -> dict[str, str]:
    """The current environment without credentials, so every script uses the fakes."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CUSTOMERIO_", "HULL_"))
    }


def test_examples_are_found() -> None:
    assert {"quickstart.py", "webhook_receiver.py", "sync_export.py"} <= {s.name for s in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_runs_without_credentials(script: Path) -> None:
    result = subprocess.run(  # noqa: S603 -- our own scripts, run with our own interpreter
        # -W error: a warning (an unclosed client or socket...) fails the example, as in pytest.
        [sys.executable, "-W", "error", str(script), *ARGUMENTS.get(script.name, [])],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_environment(),
        cwd=EXAMPLES.parent,
        check=False,
    )

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    for line in EXPECTED_LINES.get(script.name, []):
        assert line in result.stdout, f"{line!r} missing from:\n{result.stdout}"
    for problem in ("Traceback", "Exception ignored", "Warning"):
        assert problem not in result.stderr, result.stderr
