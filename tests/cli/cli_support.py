"""Helpers of the command-line tests: running the CLI in process and reading its JSON lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hull_customerio.cli import main

API_KEY = "key-456"
HULL_SECRET = "connector-secret-for-tests"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
