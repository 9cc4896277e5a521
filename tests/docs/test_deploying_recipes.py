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
        library_logger.exception(
            "outgoing.user.error reason=identify_failed cause='boom'", extra={"hull_event": "x"}
        )
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


def test_the_text_logging_recipe_shows_the_readable_message(
    library_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    from hull_customerio.engine._core import LogContext, log_event  # noqa: PLC0415

    recipe = block_with('"%(asctime)s %(levelname)s %(name)s: %(message)s"')
    exec(compile(recipe, "deploying.md", "exec"), {})  # noqa: S102
    log_event(
        logging.INFO, "outgoing.user.success", LogContext("n-1", "acme42.hullapp.io"),
        user_id="u1", customer_id="c1", reason="new",
    )  # fmt: skip
    logging.getLogger("hull_customerio").debug("below INFO: not shown")

    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(
        " INFO hull_customerio: outgoing.user.success user=u1 customer_id=c1 reason=new "
        "notification=n-1 organization=acme42.hullapp.io"
    )


def test_the_uvicorn_recipe_routes_the_library_logger_to_uvicorns_handler(
    library_logger: logging.Logger,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging.config  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    given: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: given.update(kwargs, app=app))
    uvicorn_loggers = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level,
               logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }  # fmt: skip
    exec(compile(block_with("LOGGING_CONFIG"), "deploying.md", "exec"), {})  # noqa: S102
    try:
        assert given["app"] == "service:app"
        logging.config.dictConfig(given["log_config"])  # what uvicorn.run does with it
        library_logger.error("outgoing.user.error user=u1 reason=identify_failed cause='boom'")
        err = capsys.readouterr().err
    finally:
        library_logger.propagate = True
        for name, (handlers, level, propagate) in uvicorn_loggers.items():
            logger = logging.getLogger(name)
            logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate

    assert "outgoing.user.error user=u1 reason=identify_failed" in err
