"""Customer.io's own error messages in exception texts, outcomes and logs (SPEC §6.3).

Customer.io's messages may quote the input. Wherever the library shows them they are cut to 300
characters in all and every email address in them is masked (``j***@example.com``); the full
answer stays on the exception's ``.body``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
import pytest
from pytest_httpx import HTTPXMock

import hull_customerio as hc
from hull_customerio.engine import _core
from hull_customerio.errors import safe_service_text
from hull_customerio.models.plan import UserPlan

EMAIL = "john.doe@example.com"
MEGABYTE = "x" * 1_000_000
ECHO = {"meta": {"errors": [f"attribute email '{EMAIL}' is invalid: {MEGABYTE}",
                            f"also <{EMAIL}> again"]}}  # fmt: skip
NO_RETRY = hc.RetryPolicy(max_attempts=1)
SETTINGS = hc.Settings(synchronized_segments=["seg"])
MESSAGE = {
    "user": {"id": "u1", "email": EMAIL, "external_id": "c1"},
    "segments": [{"id": "seg"}],
}
#: "Customer.io answered 400 to PUT <url>: " + at most 300 characters of Customer.io's text.
LONGEST_TEXT = 400


def test_the_exception_text_masks_emails_and_stays_short(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=400, json=ECHO)

    with hc.CustomerIOClient("site", "key", retry=NO_RETRY, rate_limit=None) as client, \
            pytest.raises(hc.BadRequestError) as caught:  # fmt: skip
        client.identify("c1", {"email": EMAIL})

    text = str(caught.value)
    assert EMAIL not in text
    assert "attribute email 'j***@example.com' is invalid: xxx" in text
    assert text.endswith("...")
    assert len(text) <= LONGEST_TEXT
    assert caught.value.body == ECHO  # the full answer, for code that needs it


def test_a_short_message_is_shown_whole_with_every_email_masked(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=400, json={"meta": {"errors": ["a@b.io and Sven <sven@x.io> are invalid"]}}
    )

    with hc.CustomerIOClient("site", "key", retry=NO_RETRY, rate_limit=None) as client, \
            pytest.raises(hc.BadRequestError) as caught:  # fmt: skip
        client.identify("c1", {})

    assert str(caught.value).endswith(": a***@b.io and Sven <s***@x.io> are invalid")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("", ""),
        ("no address here", "no address here"),
        ("j@x.io", "j***@x.io"),
        ("'jane.roe+tag@mail.example.org' bounced", "'j***@mail.example.org' bounced"),
        ("x" * 300, "x" * 300),
        ("x" * 301, "x" * 297 + "..."),
        ("x" * 290 + " ann@example.com", "x" * 290 + " a***@e..."),
    ],
)
def test_safe_service_text_masks_then_cuts_to_300_characters(text: str, shown: str) -> None:
    assert safe_service_text(text) == shown


def test_safe_service_text_is_fast_on_a_megabyte_of_hostile_text() -> None:
    assert len(safe_service_text("a" * 1_000_000 + "@")) == 300
    assert len(safe_service_text("@a" * 500_000)) == 300


def _check_report(report: hc.SyncReport, caplog: pytest.LogCaptureFixture) -> None:
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.reason) == ("error", "identify_failed")
    for text in (outcome.error or "", outcome.message, str(outcome.exception)):
        assert EMAIL not in text
        assert len(text) <= LONGEST_TEXT
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s %(error)s")
    records = [r for r in caplog.records if r.name == "hull_customerio"]
    assert any(getattr(r, "hull_event", None) == "outgoing.user.error" for r in records)
    for record in records:
        record.__dict__.setdefault("error", None)
        assert EMAIL not in formatter.format(record)
        assert EMAIL not in repr(record.__dict__)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_outcome_and_the_log_never_show_the_email_customerio_echoed(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture, flavour: str
) -> None:
    httpx_mock.add_response(status_code=400, json=ECHO)
    caplog.set_level(logging.DEBUG, logger="hull_customerio")

    if flavour == "sync":
        with hc.CustomerIOClient("site", "key", retry=NO_RETRY, rate_limit=None) as client:
            report = hc.Connector(SETTINGS, customerio=client).sync_user_updates([MESSAGE])
    else:

        async def run() -> hc.SyncReport:
            async with hc.AsyncCustomerIOClient(
                "site", "key", retry=NO_RETRY, rate_limit=None
            ) as client:
                return await hc.AsyncConnector(SETTINGS, customerio=client).sync_user_updates(
                    [MESSAGE]
                )

        report = asyncio.run(run())

    _check_report(report, caplog)


def test_a_v2_batch_error_echoing_an_email_is_masked_and_short(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(status_code=207, json={"errors": [
        {"batch_index": 0, "reason": "invalid", "field": "email",
         "message": f"'{EMAIL}' is invalid {MEGABYTE}"}]})  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="hull_customerio")

    with hc.CustomerIOClient("site", "key", retry=NO_RETRY, rate_limit=None) as client:
        report = hc.Connector(SETTINGS, customerio=client, mode="batch").sync_user_updates(
            [MESSAGE]
        )

    _check_report(report, caplog)


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_a_users_internal_error_line_says_its_cause(
    httpx_mock: HTTPXMock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    # A plan the engine cannot read (its chunks are not a list): a bug, not bad input.
    real_plan = _core.plan_user_update

    def plan(message: Any, settings: Any, *, batch: bool, now: Any) -> UserPlan:
        planned = real_plan(message, settings, batch=batch, now=now)
        if planned.user_id == "u1":
            return attrs.evolve(planned, chunks=None)  # not a list: the engine trips on it
        return planned

    monkeypatch.setattr(_core, "plan_user_update", plan)
    httpx_mock.add_response(is_reusable=True, json={})
    settings = hc.Settings(site_id="s", api_key="k", synchronized_segments=["seg"])
    messages = [
        {
            "user": {"id": f"u{n}", "email": f"u{n}@example.com", "external_id": f"x{n}"},
            "segments": [{"id": "seg", "name": "Seg"}],
        }
        for n in range(3)
    ]
    client = hc.CustomerIOClient("s", "k", retry=hc.RetryPolicy(max_attempts=1), rate_limit=None)
    with caplog.at_level(logging.ERROR, logger="hull_customerio"), client:
        report = hc.Connector(settings, customerio=client, mode=mode).sync_user_updates(messages)

    assert [(o.user_id, o.reason) for o in report.outcomes if o.status == "error"] == [
        ("u1", "internal_error")
    ]
    # The bug's own line (with its traceback) and the user's outcome line: each says why.
    lines = [r.getMessage() for r in caplog.records if "outgoing.user.error" in r.getMessage()]
    assert len(lines) == 2
    assert any(r.exc_info for r in caplog.records if "outgoing.user.error" in r.getMessage())
    for line in lines:
        assert "user=u1" in line
        assert "reason=internal_error" in line
        assert "cause=\"TypeError: 'NoneType' object is not iterable\"" in line
