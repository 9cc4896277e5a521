"""`configure_logging`: what `hull-customerio serve` and `-v` use to show the library's log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from hull_customerio._logging import HANDLER_NAME, configure_logging
from hull_customerio.engine._core import LogContext, log_event


@pytest.fixture(autouse=True)
def library_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("hull_customerio")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def outcome() -> None:
    log_event(
        logging.INFO, "outgoing.user.success", LogContext("n-1", "abc.hullapp.io"),
        user_id="u1", customer_id="c1", reason="new", error=None,
    )  # fmt: skip


def test_text_lines_show_the_readable_message(library_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)

    outcome()
    logging.getLogger("hull_customerio.customerio").debug("not shown at INFO")

    (line,) = stream.getvalue().splitlines()
    assert line.endswith(
        " INFO hull_customerio: outgoing.user.success user=u1 customer_id=c1 reason=new "
        "notification=n-1 organization=abc.hullapp.io"
    )


def test_json_lines_carry_the_message_and_the_structured_fields() -> None:
    stream = io.StringIO()
    configure_logging(logging.DEBUG, json=True, stream=stream)

    outcome()

    entry = json.loads(stream.getvalue())
    assert entry == {
        "time": entry["time"],
        "level": "INFO",
        "logger": "hull_customerio",
        "message": "outgoing.user.success user=u1 customer_id=c1 reason=new notification=n-1 "
        "organization=abc.hullapp.io",
        "hull_event": "outgoing.user.success",
        "user_id": "u1",
        "customer_id": "c1",
        "reason": "new",
        "error": None,
        "notification_id": "n-1",
        "organization": "abc.hullapp.io",
    }


def test_calling_it_again_replaces_its_handler(library_logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging("warning", stream=second)

    outcome()  # INFO: below the new level
    library_logger.warning("outgoing.user.error")

    ours = [h for h in library_logger.handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1
    assert first.getvalue() == ""
    assert second.getvalue().count("\n") == 1
    assert library_logger.level == logging.WARNING


def test_handlers_the_application_added_are_kept(library_logger: logging.Logger) -> None:
    mine = logging.StreamHandler(io.StringIO())
    library_logger.addHandler(mine)

    configure_logging(stream=io.StringIO())

    assert mine in library_logger.handlers


def test_an_unknown_level_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")
