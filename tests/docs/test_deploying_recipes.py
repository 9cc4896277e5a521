"""The recipes of the Deploying page that need no web framework run as written."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "deploying.md"
FENCE = re.compile(r"^```python\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)


def block_with(marker: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    (code,) = [m["code"] for m in FENCE.finditer(text) if marker in m["code"]]
    return code


@pytest.fixture
def library_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("hull_customerio")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_the_json_logging_recipe_writes_one_object_per_line_with_the_extra_fields(
    library_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    exec(compile(block_with("class JSONFormatter"), "deploying.md", "exec"), {})  # noqa: S102
    library_logger.info(
        "outgoing.user.success",
        extra={"hull_event": "outgoing.user.success", "user_id": "u1", "reason": None},
    )
    try:
        raise ValueError("boom")
    except ValueError:
        library_logger.exception("outgoing.user.error", extra={"hull_event": "x"})
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first == {
        "time": first["time"],
        "level": "INFO",
        "logger": "hull_customerio",
        "message": "outgoing.user.success",
        "hull_event": "outgoing.user.success",
        "user_id": "u1",
        "reason": None,
    }
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["exception"]
