"""The Deploying page's access-log recipe masks what uvicorn and gunicorn log (SPEC §8.7)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "deploying.md"
FENCE = re.compile(r"^ *```python\n(?P<code>.*?)^ *```$", re.MULTILINE | re.DOTALL)
NAMES = ("uvicorn.access", "gunicorn.access")


@pytest.fixture
def loggers() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    saved = {}
    for name in NAMES:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.filters), logger.propagate, logger.level)
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
    yield stream
    for name, (filters, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.removeHandler(handler)
        logger.filters[:] = filters
        logger.propagate = propagate
        logger.setLevel(level)


def test_the_recipe_masks_the_secret_and_the_token_in_access_lines(loggers: io.StringIO) -> None:
    text = PAGE.read_text(encoding="utf-8")
    (code,) = [m["code"] for m in FENCE.finditer(text) if "RedactingFilter()" in m["code"]]
    lines = "\n".join(line.removeprefix("  ") for line in code.splitlines())
    exec(compile(lines, "deploying.md", "exec"), {})  # noqa: S102

    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.7:4000", "POST", "/webhook?token=t0k3n", "1.1", 200
    )
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s', {"h": "10.0.0.7", "r": "GET /status?id=i&Secret=s3cr HTTP/1.1",
                                 "s": "200"},
    )  # fmt: skip

    assert loggers.getvalue().splitlines() == [
        '10.0.0.7:4000 - "POST /webhook?token=*** HTTP/1.1" 200',
        '10.0.0.7 "GET /status?id=i&Secret=*** HTTP/1.1" 200',
    ]
