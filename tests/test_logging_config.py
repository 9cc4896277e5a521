"""`configure_logging`: what `hull-customerio serve` and `-v` use to show the library's log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from hull_customerio.cli._logging import HANDLER_NAME, JSONFormatter, configure_logging
from hull_customerio.engine._core import LogContext, log_event
from hull_customerio.redaction import RedactingFilter, redact


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
    library_logger.warning("outgoing.user.error reason=identify_failed cause='boom'")

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


# --------------------------------------------------------------------------------------------
# masking credentials (SPEC §8.7 "Logs")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/status?organization=o&id=i&secret=s3", "/status?organization=o&id=i&secret=***"),
        ("/webhook?token=AdxH-9_z.q", "/webhook?token=***"),
        ("/x?api_key=k&password=p&a=1", "/x?api_key=***&password=***&a=1"),
        # any case, repeated, percent-encoded names; values with '=' or encoded characters
        ("/x?SECRET=a&Secret=b&secret=c", "/x?SECRET=***&Secret=***&secret=***"),
        ("/x?%73ecret=a&api%5Fkey=b&API-KEY=c", "/x?%73ecret=***&api%5Fkey=***&API-KEY=***"),
        ("/x?secret=a%26b%3Dc&id=1", "/x?secret=***&id=1"),
        ("/x?secret=a=b;token=c#frag", "/x?secret=***;token=***#frag"),
        # names holding a secret word: hull_secret, access_token...
        ("/x?hull_secret=a&access_token=b", "/x?hull_secret=***&access_token=***"),
        # in free text: an error quoting a URL, key=value pairs
        ("GET https://h/s?secret=abc failed", "GET https://h/s?secret=*** failed"),
        ("retry token=abc user=u1", "retry token=*** user=u1"),
        # user-info of a URL: Redis URLs in every form
        ("redis://:pw@localhost:6379/0", "redis://***@localhost:6379/0"),
        ("rediss://user:pw@r.example/1?password=pw", "rediss://***@r.example/1?password=***"),
        # nothing secret: unchanged
        ("/status?organization=o&id=i", "/status?organization=o&id=i"),
        ("outgoing.user.success user=u1 reason=new", "outgoing.user.success user=u1 reason=new"),
        ("/x?secret=&id=1", "/x?secret=&id=1"),
        ("https://example.com/path", "https://example.com/path"),
    ],
)
def test_redact_masks_secret_query_values_and_url_passwords(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_redact_takes_linear_time_on_hostile_text() -> None:
    import time  # noqa: PLC0415

    started = time.perf_counter()
    for text in ("a." * 50_000 + "://", "&a" * 50_000 + "=", " a" * 50_000 + "=x"):
        redact(text)
    assert time.perf_counter() - started < 1.0


def _record(msg: str, args: Any = (), **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_an_access_record_keeps_its_shape_with_the_path_masked() -> None:
    from uvicorn.logging import AccessFormatter  # noqa: PLC0415

    record = _record(
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/status?id=i&secret=s3", "1.1", 200),
    )
    assert RedactingFilter().filter(record) is True
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert line == '127.0.0.1:5000 - "GET /status?id=i&secret=*** HTTP/1.1" 200 OK'


def test_messages_fields_and_tracebacks_are_masked() -> None:
    try:
        raise RuntimeError("cannot fetch https://h/batch?secret=s3 (redis://:pw@r:6379)")
    except RuntimeError:
        import sys  # noqa: PLC0415

        exc_info = sys.exc_info()
    record = _record("failed %s %r", ("/webhook?token=t0k", {"u": "x"}), error="?api_key=k3y")
    record.exc_info = exc_info

    RedactingFilter().filter(record)
    text = logging.Formatter("%(message)s %(error)s").format(record)
    entry = json.loads(JSONFormatter().format(record))

    for shown in (text, json.dumps(entry)):
        assert "s3" not in shown
        assert "t0k" not in shown
        assert "k3y" not in shown
        assert ":pw@" not in shown
    assert "failed /webhook?token=*** {'u': 'x'} ?api_key=***" in text
    assert "secret=***" in entry["exception"]


def test_configured_handlers_mask_what_any_of_their_loggers_write() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, loggers=("hull_customerio", "uvicorn"))
    try:
        logging.getLogger("uvicorn.error").warning("bad request to %s", "/status?secret=s3")
        logging.getLogger("hull_customerio.hub").info("limiter at redis://:pw@r:6379")
    finally:
        for name in ("hull_customerio", "uvicorn"):
            for handler in list(logging.getLogger(name).handlers):
                if handler.get_name() == HANDLER_NAME:
                    logging.getLogger(name).removeHandler(handler)
        logging.getLogger("uvicorn").propagate = True
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("WARNING uvicorn.error: bad request to /status?secret=***")
    assert lines[1].endswith("INFO hull_customerio.hub: limiter at redis://***@r:6379")


def test_the_public_module_gives_the_filter_and_the_rule() -> None:
    from hull_customerio import redaction  # noqa: PLC0415

    assert redaction.RedactingFilter is RedactingFilter
    assert redaction.redact("/x?token=t") == "/x?token=***"


def test_a_filter_on_a_servers_access_logger_masks_dict_arguments_too() -> None:
    # gunicorn logs its access line with a dict of "atoms" (r: request line, U: path, q: query).
    stream = io.StringIO()
    logger = logging.getLogger("test.gunicorn.access")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter())
    logger.propagate = False
    try:
        logger.warning(
            '%(h)s "%(r)s" %(s)s %(q)s',
            {"h": "10.0.0.1", "r": "GET /status?id=i&secret=s3 HTTP/1.1", "s": 200,
             "q": "id=i&secret=s3"},
        )  # fmt: skip
    finally:
        logger.removeHandler(handler)
    assert (
        stream.getvalue() == '10.0.0.1 "GET /status?id=i&secret=*** HTTP/1.1" 200 id=i&secret=***\n'
    )
