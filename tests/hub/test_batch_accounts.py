"""`/batch` with an ``account_report`` file (SPEC §11): each line is an account, synced as a
Customer.io object through the same bounded download as users, and counted as accounts."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from batch_download_support import FileServer, Flavour, answer, batch_query

from hull_customerio.errors import ValidationError
from hull_customerio.hub._batch import parse_batch_request
from hull_customerio.testing import FakeCustomerIO, FakeHull

ACCOUNT_SETTINGS = {
    "site_id": "site-1",
    "api_key": "key-site-1",
    "synchronized_segments": ["seg"],
    "synchronized_account_segments": ["aseg"],
    "synchronized_account_attributes": ["plan"],
    "account_id_mapping": "domain",
    "object_type_id": "2",
}


def account_line(number: int, *, segment: str = "aseg") -> bytes:
    account = {"id": f"a{number:04d}", "domain": f"d{number:04d}.example", "plan": "pro"}
    line = {"account": account, "account_segments": [{"id": segment, "name": "Customers"}]}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    hull = FakeHull(id="b" * 24, secret="secret-beta", organization="beta.hullapp.io",
                    private_settings=ACCOUNT_SETTINGS)  # fmt: skip
    workspace = FakeCustomerIO(site_id="site-1", api_key="key-site-1")
    made = Flavour(str(request.param), hull, workspace)
    yield made
    made.finish()


def _answer_accounts(flavour: Flavour, file: bytes, **hub_options: Any) -> Any:
    with FileServer(answer(200, file)) as server:
        body = {"url": server.url(), "format": "json", "object_type": "account_report"}
        hub = flavour.hub(batch_hosts=["127.0.0.1"], **hub_options)
        try:
            return flavour.call(
                hub.answer_batch, json.dumps(body).encode(), {}, batch_query(flavour.hull)
            )
        finally:
            flavour.close(hub)


def test_an_account_report_file_puts_each_account_in_customerio_as_an_object(
    flavour: Flavour,
) -> None:
    file = b"".join(account_line(n) for n in range(3)) + account_line(3, segment="other")

    result = _answer_accounts(flavour, file)

    assert result.http_status == 200, result
    assert result.body == {"accounts": 4, "succeeded": 3, "skipped": 1, "failed": 0}
    assert set(flavour.workspace.objects) == {("2", f"d{n:04d}.example") for n in range(3)}
    assert flavour.workspace.object("2", "d0001.example") == {
        "domain": "d0001.example",
        "hull_segments": ["Customers"],
        "plan": "pro",
    }
    # Written back on the Hull account, not on a user.
    traits = flavour.hull.account_traits("a0002")
    assert traits["customerio/object_id"] == "d0002.example"
    assert flavour.hull.users == []
    # No person was created or touched.
    assert flavour.workspace.people == {}


def test_a_malformed_account_line_is_one_failed_account_the_others_go_on(
    flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    file = account_line(0) + b'{"account": {"domain": "no-id.example"}}\n' + b"[1]\n"
    file += account_line(1)

    with caplog.at_level(logging.ERROR, logger="hull_customerio"):
        result = _answer_accounts(flavour, file)

    assert result.http_status == 200, result
    assert result.body == {"accounts": 4, "succeeded": 2, "skipped": 0, "failed": 2}
    assert set(flavour.workspace.objects) == {("2", "d0000.example"), ("2", "d0001.example")}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(m.startswith("outgoing.account.error") for m in errors), errors
    assert not any(m.startswith("outgoing.user.") for m in errors), errors


def test_the_batch_request_may_name_an_account_report() -> None:
    body = json.dumps({"url": "https://x/y", "format": "json", "object_type": "account_report"})
    request = parse_batch_request(body.encode())
    assert (request.object_type, request.accounts) == ("account_report", True)
    users = parse_batch_request(b'{"url": "https://x/y"}')
    assert (users.object_type, users.accounts) == ("user_report", False)
    with pytest.raises(ValidationError, match="account_report"):
        parse_batch_request(b'{"url": "https://x/y", "object_type": "event_report"}')
