"""The ``hull-customerio`` command line: each subcommand, its inputs, and its exit codes."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from cli_support import API_KEY, HULL_SECRET, json_lines, run

import hull_customerio as hc
from hull_customerio import sign_webhook
from hull_customerio.testing import FakeCustomerIO, FakeHull

DATA = Path(__file__).parent.parent / "data"
NOTIFICATION = DATA / "notification-user-update.json"
WEBHOOKS = DATA / "webhooks"

ADA, GRACE, LINUS = (
    "5c8a1f2e3b4d5e6f7a8b9c01",
    "5c8a1f2e3b4d5e6f7a8b9c02",
    "5c8a1f2e3b4d5e6f7a8b9c03",
)


@pytest.fixture
def payload() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(NOTIFICATION.read_text())
    return value


@pytest.fixture
def settings_file(tmp_path: Path, payload: dict[str, Any]) -> Path:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(payload["connector"]["private_settings"]))
    return path


@pytest.fixture
def users_file(tmp_path: Path, payload: dict[str, Any]) -> Path:
    """The sample's three messages as JSON lines, with blank lines in between."""
    path = tmp_path / "users.jsonl"
    path.write_text("".join(json.dumps(m) + "\n\n" for m in payload["messages"]))
    return path


# --------------------------------------------------------------------------------------------
# plan


def test_plan_prints_each_user_of_a_notification_as_one_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "plan", str(NOTIFICATION))

    assert code == 0
    assert err == ""
    ada, grace, linus = json_lines(out)
    assert (ada["user_id"], ada["action"], ada["reason"]) == (ADA, "identify", "new")
    assert ada["customer_id"] == "cust-001"
    assert ada["attributes"]["email"] == "ada@example.com"
    assert ada["chunks"] == 1
    assert [(e["kind"], e["name"]) for e in ada["events"]] == [
        ("event", "Signed Up"),
        ("page", "https://example.com/pricing"),
    ]
    assert ada["events"][0]["timestamp"] == 1717228798
    assert len(ada["events"][0]["id"]) == 26  # a ULID
    assert ada["skipped_events"] == [["Clicked Banner", "not_whitelisted"]]
    assert ada["errors"] == []
    assert (grace["action"], grace["reason"]) == ("delete", "left_segments")
    assert (linus["action"], linus["reason"]) == ("skip", "no_customer_id")
    assert linus["message"].startswith("User has no value")


def test_plan_reads_json_lines_with_a_settings_file_and_skips_blank_lines(
    capsys: pytest.CaptureFixture[str], users_file: Path, settings_file: Path
) -> None:
    code, out, _ = run(capsys, "plan", str(users_file), "--settings", str(settings_file))

    assert code == 0
    assert [(r["user_id"], r["action"]) for r in json_lines(out)] == [
        (ADA, "identify"),
        (GRACE, "delete"),
        (LINUS, "skip"),
    ]


def test_plan_reads_standard_input_for_a_dash(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    users_file: Path,
    settings_file: Path,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(users_file.read_text()))

    code, out, _ = run(capsys, "plan", "-", "--settings", str(settings_file))

    assert code == 0
    assert [r["user_id"] for r in json_lines(out)] == [ADA, GRACE, LINUS]


def test_plan_reads_a_notification_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(NOTIFICATION.read_text()))

    code, out, _ = run(capsys, "plan", "-")

    assert code == 0
    assert [r["action"] for r in json_lines(out)] == ["identify", "delete", "skip"]


def test_plan_reports_a_malformed_message_as_an_error_line_and_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, payload: dict[str, Any]
) -> None:
    path = tmp_path / "users.jsonl"
    bad = {"user": {"id": "u-bad", "email": 42}}
    path.write_text(json.dumps(bad) + "\n" + json.dumps(payload["messages"][0]) + "\n")

    code, out, _ = run(capsys, "plan", str(path), "--segment", "seg_paying")

    assert code == 0
    malformed, ada = json_lines(out)
    assert malformed["user_id"] == "u-bad"
    assert (malformed["action"], malformed["reason"]) == ("error", "malformed_message")
    assert malformed["line"] == 1
    assert any("$.user.email" in problem for problem in malformed["errors"])
    assert ada["action"] == "identify"


def test_plan_reports_a_malformed_message_of_a_notification(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, payload: dict[str, Any]
) -> None:
    payload["messages"].insert(1, {"user": {"id": 7}})
    path = tmp_path / "notification.json"
    path.write_text(json.dumps(payload, indent=2))

    code, out, _ = run(capsys, "plan", str(path))

    assert code == 0
    records = json_lines(out)
    assert [r["reason"] for r in records] == [
        "new",
        "malformed_message",
        "left_segments",
        "no_customer_id",
    ]


def test_plan_deduplicates_a_user_within_a_chunk_keeping_the_latest_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, payload: dict[str, Any]
) -> None:
    newer = payload["messages"][0]
    older = json.loads(json.dumps(newer))
    older["user"]["indexed_at"] = "2024-01-01T00:00:00Z"
    older["user"]["traits_first_name"] = "Old Ada"
    path = tmp_path / "users.jsonl"
    path.write_text(json.dumps(newer) + "\n" + json.dumps(older) + "\n")

    code, out, _ = run(capsys, "plan", str(path), "--segment", "seg_paying")

    assert code == 0
    (record,) = json_lines(out)
    assert record["user_id"] == ADA


def test_plan_streams_json_lines_so_users_before_a_bad_line_are_already_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, payload: dict[str, Any]
) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(json.dumps(payload["messages"][0]) + "\n{not json\n")

    code, out, err = run(capsys, "plan", str(path), "--segment", "s", "--chunk-size", "1")

    assert code == 2
    assert [r["user_id"] for r in json_lines(out)] == [ADA]
    assert err == f"hull-customerio: error: {path}:2: invalid JSON: Expecting property name " \
        "enclosed in double quotes\n"  # fmt: skip


def test_plan_without_segments_warns_that_nobody_is_sent(
    capsys: pytest.CaptureFixture[str], users_file: Path
) -> None:
    code, out, err = run(capsys, "plan", str(users_file))

    assert code == 0
    assert {r["reason"] for r in json_lines(out)} == {"not_in_segments"}
    assert "no synchronized segments" in err


def test_plan_segment_flag_replaces_the_settings_segments(
    capsys: pytest.CaptureFixture[str], users_file: Path, settings_file: Path
) -> None:
    code, out, _ = run(
        capsys, "plan", str(users_file), "--settings", str(settings_file), "--segment", "other"
    )

    assert code == 0
    ada = json_lines(out)[0]
    assert (ada["action"], ada["reason"]) == ("skip", "not_in_segments")


def test_plan_batch_flag_bypasses_the_segment_filter(
    capsys: pytest.CaptureFixture[str], users_file: Path
) -> None:
    code, out, err = run(capsys, "plan", str(users_file), "--batch")

    assert code == 0
    assert json_lines(out)[0]["action"] == "identify"
    assert err == ""


def test_plan_settings_file_replaces_a_notifications_own_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = _write(tmp_path, "s.json", '{"synchronized_segments": ["seg_trial"]}')

    code, out, _ = run(capsys, "plan", str(NOTIFICATION), "--settings", settings)

    assert code == 0
    ada = json_lines(out)[0]
    # seg_trial is synchronized now, but not the events filter of the notification's settings.
    assert (ada["action"], ada["events"]) == ("identify", [])


def test_plan_of_an_export_notification_bypasses_the_segment_filter(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, payload: dict[str, Any]
) -> None:
    payload["is_export"] = True
    private_settings = payload["connector"]["private_settings"]
    private_settings["synchronized_segments"] = ["other"]
    # With deletion on, rules 3-5 still apply to exports (SPEC §2.2).
    private_settings["enable_user_deletion"] = False
    path = _write(tmp_path, "export.json", json.dumps(payload))

    code, out, _ = run(capsys, "plan", path)

    assert code == 0
    assert json_lines(out)[0]["action"] == "identify"


def test_plan_of_an_empty_input_prints_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")

    assert run(capsys, "plan", str(path), "--segment", "s") == (0, "", "")


# --------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, no traceback.


@pytest.fixture
def unreachable_customerio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid credentials and nothing listening: only the input can be wrong, and finding out
    must need no request."""
    monkeypatch.setenv("CUSTOMERIO_SITE_ID", "site")
    monkeypatch.setenv("CUSTOMERIO_API_KEY", API_KEY)
    monkeypatch.setenv("CUSTOMERIO_BASE_URL", "http://127.0.0.1:9")


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("make_file", "expected"),
    [
        pytest.param(lambda tmp: str(tmp / "missing.json"), "cannot read", id="missing-file"),
        pytest.param(
            lambda tmp: _write(tmp, "bad.json", '{\n  "messages": [\n'),
            "invalid JSON at line 3",
            id="invalid-json",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "list.json", "[\n1, 2\n]\n"),
            "expected a notification",
            id="not-an-object",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "obj.json", '{\n"channel": "user:update"\n}\n'),
            'without "messages"',
            id="no-messages",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "env.json", '{"messages": {"a": 1}}\n'),
            "$.messages: expected a list",
            id="malformed-envelope",
        ),
        pytest.param(
            lambda tmp: _write(
                tmp,
                "settings.json",
                json.dumps(
                    {
                        "connector": {
                            "private_settings": {"max_attributes_per_call": 0, "region": "mars"}
                        },
                        "messages": [],
                    }
                ),
            ),
            "invalid settings: region must be one of",
            id="invalid-settings",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "lines.jsonl", '{"user": {"id": "a"}}\n[1, 2]\n'),
            ":2: expected a user:update or account:update message (a JSON object), got a list",
            id="json-lines-not-an-object",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "lines.jsonl", '{"account": {"id": "a"}}\n"text"\n'),
            ":2: expected a user:update or account:update message (a JSON object), got a string",
            id="account-lines-not-an-object",
        ),
        pytest.param(
            lambda tmp: _write(
                tmp, "mixed.jsonl", '{"user": {"id": "u"}}\n{"account": {"id": "a"}}\n'
            ),
            ":2: an account:update message among user:update messages; give users and "
            "accounts in separate files",
            id="account-among-users",
        ),
        pytest.param(
            lambda tmp: _write(
                tmp,
                "mixed.jsonl",
                '{"account": {"id": "a"}}\n\n{"user": {"id": "u"}, "account": {"id": "a"}}\n',
            ),
            ":3: a user:update message among account:update messages; give users and "
            "accounts in separate files",
            id="user-among-accounts",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "lines.jsonl", '{"account": {"id": "a"}}\n{"messages": []}\n'),
            ":2: a notification inside JSON lines",
            id="account-lines-notification",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "lines.jsonl", '{"site_id": "x"}\n'),
            ':1: expected a user:update message (an object with "user") or an account:update '
            'message (an object with "account"), got an object with keys "site_id"',
            id="json-lines-unknown-object",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "lines.jsonl", '{"user": {"id": "a"}}\n{"messages": []}\n'),
            ":2: a notification inside JSON lines",
            id="json-lines-notification",
        ),
        pytest.param(
            lambda tmp: _write(tmp, "two.json", '{"messages": []}\n{"messages": []}\n'),
            "unexpected content after the notification",
            id="two-notifications",
        ),
    ],
)
@pytest.mark.parametrize("command", ["plan", "sync"])
@pytest.mark.usefixtures("unreachable_customerio")
def test_bad_input_gets_one_line_on_stderr_and_exit_code_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
    make_file: Any,
    expected: str,
) -> None:
    path = make_file(tmp_path)

    # The default chunk size reads these small files whole before any user is processed.
    code, out, err = run(capsys, command, path, "--segment", "s")

    assert code == 2
    assert out == ""
    assert err.startswith("hull-customerio: error: ")
    assert err.count("\n") == 1, err
    assert expected in err
    assert API_KEY not in err


@pytest.mark.parametrize(
    ("settings_text", "expected"),
    [
        ("{not json", "invalid JSON at line 1"),
        ('["site_id"]', "expected private_settings (a JSON object), got a list"),
        ('{"synchronized_segments": "seg"}', "invalid settings: synchronized_segments must be"),
    ],
)
def test_a_bad_settings_file_is_bad_input(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    users_file: Path,
    settings_text: str,
    expected: str,
) -> None:
    settings = _write(tmp_path, "settings.json", settings_text)

    code, out, err = run(capsys, "plan", str(users_file), "--settings", settings)

    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert expected in err


def test_a_file_that_is_not_utf8_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"user": {"id": "a"}}\n{"user": {"id": "Zoë"}}\n'.encode("latin-1"))

    code, out, err = run(capsys, "plan", str(path), "--segment", "s")

    assert (code, out) == (2, "")
    assert err.startswith("hull-customerio: error: the input is not UTF-8 text")
    assert err.count("\n") == 1


def test_a_missing_settings_file_is_bad_input(
    capsys: pytest.CaptureFixture[str], users_file: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "plan", str(users_file), "--settings", str(tmp_path / "nope"))

    assert code == 2
    assert "cannot read" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["plan"],
        ["sync", "f", "--mode", "v3"],
        ["plan", "f", "--chunk-size", "0"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)

    assert code == 2
    assert "error:" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sync", "--help")

    assert code == 0
    assert "CUSTOMERIO_SITE_ID" in out


# --------------------------------------------------------------------------------------------
# sync


def test_sync_against_the_fakes_sends_everyone_and_exits_0(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, hull = services

    code, out, err = run(capsys, "sync", str(NOTIFICATION))

    assert code == 0
    summary, last = out.splitlines()
    assert summary == "Synced 3 users: 2 succeeded, 1 skipped, 0 failed."
    # The last line: time, rate, and every request the fakes received.
    took = re.fullmatch(
        r"Took (\d+\.\d) s: (\d+) users/s, (\d+) Customer\.io requests?, (\d+) Hull requests?\.",
        last,
    )
    assert took is not None, last
    assert (int(took[3]), int(took[4])) == (len(customerio.requests), len(hull.requests))
    assert len(customerio.requests) == 4  # identify, event, page, delete
    assert len(hull.requests) >= 1
    assert customerio.people["cust-001"]["first_name"] == "Ada"
    assert [e.name for e in customerio.events_for("cust-001")] == [
        "Signed Up",
        "https://example.com/pricing",
    ]
    assert customerio.deletions == ["cust-002"]
    assert hull.traits_for(external_id="cust-001")["customerio/id"] == "cust-001"
    assert hull.traits_for(external_id="cust-002")["customerio/deleted_at"] is not None
    assert "without writing back" not in err
    assert API_KEY not in out + err
    assert HULL_SECRET not in out + err


def test_sync_exits_1_when_a_user_fails_and_names_them_in_the_summary(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, _ = services
    customerio.fail_next(400, path="/api/v1/customers/cust-001", method="PUT")

    code, out, _ = run(capsys, "sync", str(NOTIFICATION))

    assert code == 1
    summary, failure, last = out.splitlines()
    assert last.startswith("Took ")
    assert summary == "Synced 3 users: 1 succeeded, 1 skipped, 1 failed."
    assert failure.startswith(f"  failed: {ADA} (cust-001): identify_failed: ")
    assert "400" in failure
    assert "cust-001" not in customerio.people
    assert customerio.deletions == ["cust-002"]  # one user's failure never stops the others


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_sync_json_prints_every_outcome_and_keeps_the_summary_on_stderr(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull], mode: str
) -> None:
    customerio, _ = services

    code, out, err = run(capsys, "sync", str(NOTIFICATION), "--json", "--mode", mode)

    assert code == 0
    ada, grace, linus = json_lines(out)
    assert (ada["user_id"], ada["status"], ada["reason"]) == (ADA, "success", "new")
    assert [e["name"] for e in ada["events_sent"]] == ["Signed Up", "https://example.com/pricing"]
    assert ["Clicked Banner", "not_whitelisted"] in ada["events_skipped"]
    assert ada["calls"] == ["identify", "event", "page", "hull_traits"]  # same in both modes
    assert (grace["action"], grace["status"]) == ("delete", "success")
    assert (linus["status"], linus["error"]) == ("skipped", None)
    assert "Synced 3 users: 2 succeeded, 1 skipped, 0 failed." in err
    if mode == "batch":
        assert any(r.path == "/api/v2/batch" for r in customerio.requests)


def test_sync_without_hull_credentials_syncs_and_says_there_is_no_write_back(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERIO_BASE_URL", customerio.url)

    code, _, err = run(capsys, "sync", str(NOTIFICATION))

    assert code == 0
    assert "cust-001" in customerio.people
    assert "without writing back to Hull" in err


def test_sync_reads_json_lines_from_stdin_in_chunks_and_reports_malformed_lines(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    services: tuple[FakeCustomerIO, FakeHull],
    users_file: Path,
    settings_file: Path,
) -> None:
    customerio, _ = services
    text = users_file.read_text() + json.dumps({"user": {"id": "u-bad", "email": []}}) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    code, out, _ = run(
        capsys, "sync", "-", "--settings", str(settings_file), "--chunk-size", "2", "--json"
    )

    assert code == 1
    records = json_lines(out)
    assert [(r["user_id"], r["status"]) for r in records] == [
        (ADA, "success"),
        (GRACE, "success"),
        (LINUS, "skipped"),
        ("u-bad", "error"),
    ]
    assert records[-1]["reason"] == "malformed_message"
    assert records[-1]["line"] == 7
    assert "cust-001" in customerio.people


def test_sync_flags_win_over_the_environment_and_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeCustomerIO(site_id="flag-site", api_key="flag-key") as customerio:
        monkeypatch.setenv("CUSTOMERIO_SITE_ID", "env-site")
        monkeypatch.setenv("CUSTOMERIO_API_KEY", "env-key")
        monkeypatch.setenv("CUSTOMERIO_BASE_URL", "http://127.0.0.1:9")
        argv = ["--site-id", "flag-site", "--api-key", "flag-key", "--base-url", customerio.url]

        code, out, err = run(capsys, "sync", str(NOTIFICATION), *argv)

        assert code == 0, out + err
        assert "cust-001" in customerio.people
        assert "flag-key" not in out + err


def test_sync_environment_wins_over_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeCustomerIO(site_id="env-site", api_key="env-key") as customerio:
        monkeypatch.setenv("CUSTOMERIO_SITE_ID", "env-site")
        monkeypatch.setenv("CUSTOMERIO_API_KEY", "env-key")
        monkeypatch.setenv("CUSTOMERIO_BASE_URL", customerio.url)

        code, _, _ = run(capsys, "sync", str(NOTIFICATION))

        assert code == 0
        assert "cust-001" in customerio.people


def test_sync_with_wrong_credentials_fails_every_sent_user_without_printing_the_key(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERIO_BASE_URL", customerio.url)
    monkeypatch.setenv("CUSTOMERIO_API_KEY", "wrong-secret-key")

    code, out, err = run(capsys, "sync", str(NOTIFICATION))

    assert code == 1
    assert "2 failed" in out
    assert "401" in out
    assert "wrong-secret-key" not in out + err


def test_sync_without_customerio_credentials_is_bad_input(
    capsys: pytest.CaptureFixture[str], users_file: Path
) -> None:
    code, out, err = run(capsys, "sync", str(users_file), "--segment", "seg_paying")

    assert (code, out) == (2, "")
    assert err == (
        "hull-customerio: error: Customer.io credentials missing: set CUSTOMERIO_SITE_ID and "
        "CUSTOMERIO_API_KEY (or --site-id and --api-key, or site_id and api_key in the "
        "settings)\n"
    )


def test_sync_with_incomplete_hull_credentials_is_bad_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HULL_ID", "5c8a1f2e3b4d5e6f7a8b9c0d")

    code, _, err = run(capsys, "sync", str(NOTIFICATION), "--base-url", "http://127.0.0.1:9")

    assert code == 2
    assert "missing HULL_SECRET, HULL_ORGANIZATION" in err


def test_sync_with_an_invalid_region_is_bad_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERIO_REGION", "mars")

    code, _, err = run(capsys, "sync", str(NOTIFICATION))

    assert code == 2
    assert "region must be one of 'us', 'eu', 'auto'" in err


def test_sync_progress_prints_a_line_per_chunk_on_stderr(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    code, _, err = run(capsys, "sync", str(NOTIFICATION), "--progress", "--chunk-size", "1")

    assert code == 0
    progress = [line for line in err.splitlines() if "users/s" in line]
    assert [line.split(" (")[0] for line in progress] == [
        "hull-customerio: 1 user: 1 succeeded, 0 skipped, 0 failed",
        "hull-customerio: 2 users: 2 succeeded, 0 skipped, 0 failed",
        "hull-customerio: 3 users: 2 succeeded, 1 skipped, 0 failed",
    ]


def test_sync_stops_at_a_bad_line_and_says_what_was_already_synced(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    tmp_path: Path,
    payload: dict[str, Any],
    settings_file: Path,
) -> None:
    customerio, _ = services
    path = _write(tmp_path, "users.jsonl", json.dumps(payload["messages"][0]) + "\n[]\n")

    code, out, err = run(
        capsys, "sync", path, "--settings", str(settings_file), "--chunk-size", "1"
    )

    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "Synced 1 user: 1 succeeded, 0 skipped, 0 failed.",
        f"hull-customerio: error: {path}:2: expected a user:update or account:update message "
        "(a JSON object), got a list",
    ]
    assert "cust-001" in customerio.people


def test_sync_verbose_logs_the_engine_events(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    code, _, err = run(capsys, "sync", str(NOTIFICATION), "-v")

    assert code == 0
    assert f"outgoing.user.success user={ADA} " in err
    assert "outgoing.user.deletion" in err
    assert API_KEY not in err


def test_sync_without_verbose_prints_no_log_records(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, _ = services
    customerio.fail_next(400, path="/api/v1/customers/cust-001", method="PUT")

    code, _, err = run(capsys, "sync", str(NOTIFICATION))

    assert code == 1
    assert "outgoing.user.error" not in err


# --------------------------------------------------------------------------------------------
# check


def test_check_is_ok_with_valid_credentials_and_segments(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO
) -> None:
    argv = ["--site-id", "site-123", "--api-key", API_KEY, "--base-url", customerio.url]

    code, out, _ = run(capsys, "check", *argv, "--segment", "seg_paying")

    assert (code, out) == (0, "status: ok\n")
    assert [r.path for r in customerio.requests] == ["/api/v1/accounts/region"]


def test_check_reads_credentials_from_the_environment_and_segments_from_settings(
    capsys: pytest.CaptureFixture[str],
    customerio: FakeCustomerIO,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CUSTOMERIO_SITE_ID", "site-123")
    monkeypatch.setenv("CUSTOMERIO_API_KEY", API_KEY)
    monkeypatch.setenv("CUSTOMERIO_BASE_URL", customerio.url)
    settings = _write(tmp_path, "s.json", '{"synchronized_segments": ["seg_paying"]}')

    code, out, _ = run(capsys, "check", "--settings", settings, "--json")

    assert code == 0
    assert json.loads(out) == {"status": "ok", "messages": []}


def test_check_warns_without_segments_and_still_exits_0(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO
) -> None:
    argv = ["--site-id", "site-123", "--api-key", API_KEY, "--base-url", customerio.url]

    code, out, _ = run(capsys, "check", *argv)

    assert code == 0
    assert out.splitlines()[0] == "status: warning"
    assert "No users will be synchronized" in out


def test_check_with_invalid_credentials_is_an_error_exit_1(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO
) -> None:
    argv = ["--site-id", "site-123", "--api-key", "not-the-key", "--base-url", customerio.url]

    code, out, err = run(capsys, "check", *argv, "--segment", "s")

    assert code == 1
    assert out.splitlines() == [
        "status: error",
        "  - Invalid credentials: Customer.io refused the Site ID and API Key.",
    ]
    assert "not-the-key" not in out + err


def test_check_without_credentials_is_an_error_exit_1_without_any_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "check", "--segment", "s")

    assert code == 1
    assert out.startswith("status: error\n  - Missing credentials")


def test_check_when_customerio_cannot_be_reached_is_an_error(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO
) -> None:
    customerio.fail_next(403)
    argv = ["--site-id", "site-123", "--api-key", API_KEY, "--base-url", customerio.url]

    code, out, _ = run(capsys, "check", *argv, "--segment", "s")

    assert code == 1
    assert "Error when trying to connect with Customer.io" in out


# --------------------------------------------------------------------------------------------
# webhook


def test_webhook_shows_the_hull_event_a_payload_becomes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "webhook", str(WEBHOOKS / "reporting-email-sent.json"))

    assert (code, err) == (0, "")
    record = json.loads(out)
    assert (record["http_status"], record["reason"]) == (200, None)
    assert record["signature"] == "not checked"
    event = record["event"]
    assert event["event"] == "Email Sent"
    assert event["claims"] == {"email": "test@example.com", "external_id": "42"}
    assert event["event_id"] == "01E4C4CT6YDC7Y5M7FE1GWWPQJ"
    assert event["created_at"] == "2021-02-11T17:04:49Z"
    assert event["properties"]["email_id"] == "RPILAgUBcRhIBqSfeiIwdIYJKxTY"


def test_webhook_reads_the_body_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (WEBHOOKS / "legacy-email-delivered.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))

    code, out, _ = run(capsys, "webhook", "-")

    assert code == 0
    assert json.loads(out)["event"]["event"] == "Email Delivered"


def _signed(path: Path, key: str = "signing-key") -> tuple[str, str]:
    timestamp = "1613063089"
    return timestamp, sign_webhook(path.read_bytes(), timestamp=timestamp, signing_key=key)


def test_webhook_checks_a_valid_signature(capsys: pytest.CaptureFixture[str]) -> None:
    path = WEBHOOKS / "reporting-sms-sent.json"
    timestamp, signature = _signed(path)
    argv = ["--signing-key", "signing-key", "--signature", signature, "--timestamp", timestamp]

    code, out, _ = run(capsys, "webhook", str(path), *argv)

    assert code == 0
    record = json.loads(out)
    assert (record["signature"], record["event"]["event"]) == ("valid", "SMS Sent")
    assert "signing-key" not in out


def test_webhook_refuses_a_tampered_body_like_the_connector_would(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = WEBHOOKS / "reporting-email-sent.json"
    timestamp, signature = _signed(original)
    tampered = _write(tmp_path, "t.json", original.read_text().replace("42", "43"))
    monkeypatch.setenv("CUSTOMERIO_WEBHOOK_SIGNING_KEY", "signing-key")

    code, out, _ = run(
        capsys, "webhook", tampered, "--signature", signature, "--timestamp", timestamp
    )

    assert code == 1
    record = json.loads(out)
    assert (record["http_status"], record["reason"]) == (401, "signature_mismatch")
    assert record["event"] is None


def test_webhook_with_a_signing_key_and_no_signature_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = _write(tmp_path, "s.json", '{"webhook_signing_key": "signing-key"}')

    code, out, _ = run(capsys, "webhook", str(WEBHOOKS / "reporting-email-sent.json"),
                       "--settings", settings)  # fmt: skip

    assert code == 1
    assert json.loads(out)["reason"] == "missing_signature"


def test_webhook_tolerance_refuses_an_old_timestamp(capsys: pytest.CaptureFixture[str]) -> None:
    path = WEBHOOKS / "reporting-email-sent.json"
    timestamp, signature = _signed(path)
    argv = ["--signing-key", "signing-key", "--signature", signature, "--timestamp", timestamp]

    code, out, _ = run(capsys, "webhook", str(path), *argv, "--tolerance", "300")

    assert code == 1
    assert json.loads(out)["reason"] == "stale_timestamp"


def test_webhook_explains_a_payload_that_can_never_be_used(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "w.json",
        json.dumps({"object_type": "email", "metric": "teleported", "event_id": "e",
                    "timestamp": 1613063089, "data": {"identifiers": {"id": "42"}}}),
    )  # fmt: skip

    code, out, _ = run(capsys, "webhook", path)

    assert code == 1
    record = json.loads(out)
    assert (record["http_status"], record["reason"]) == (200, "unknown_event")
    assert "email_teleported" in record["message"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["webhook", "{missing}"], "cannot read"),
        (["webhook", "{bad}"], "invalid JSON"),
        (["webhook", "{good}", "--signature", "abc", "--timestamp", "1"], "need a --signing-key"),
    ],
)
def test_webhook_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], expected: str
) -> None:
    files = {
        "{missing}": str(tmp_path / "missing.json"),
        "{bad}": _write(tmp_path, "bad.json", "{nope"),
        "{good}": str(WEBHOOKS / "reporting-email-sent.json"),
    }

    code, out, err = run(capsys, *[files.get(a, a) for a in argv])

    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert expected in err


# --------------------------------------------------------------------------------------------
# Ctrl-C: what was done, and how to go on (issue 22)


def _many_users(tmp_path: Path, count: int) -> tuple[Path, Path]:
    """``count`` users of a synchronized segment as JSON lines, and their settings file."""
    users = tmp_path / "many.jsonl"
    users.write_text("".join(
        json.dumps({"user": {"id": f"u{n:04d}", "external_id": f"ext-{n:04d}",
                             "email": f"user{n}@example.com"},
                    "segments": [{"id": "seg", "name": "Segment"}]}) + "\n"
        for n in range(1, count + 1)
    ))  # fmt: skip
    settings = tmp_path / "many-settings.json"
    settings.write_text(json.dumps({"site_id": "site-123", "api_key": API_KEY,
                                    "synchronized_segments": ["seg"]}))  # fmt: skip
    return users, settings


def _fake_environment(customerio: FakeCustomerIO, hull: FakeHull) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOMERIO_", "HULL_"))}
    env.update({"CUSTOMERIO_BASE_URL": customerio.url, "HULL_ID": hull.id,
                "HULL_SECRET": hull.secret, "HULL_ORGANIZATION": hull.organization,
                "HULL_API_URL": hull.url, "HULL_FIREHOSE_URL": hull.url})  # fmt: skip
    return env


def _wait_for(path: Path, predicate: Any, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text()
        if predicate(text):
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; so far: {text!r}")
        time.sleep(0.02)


def test_ctrl_c_during_sync_prints_what_was_done_and_how_to_go_on(
    tmp_path: Path, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    users, settings = _many_users(tmp_path, 200)
    customerio.latency = 0.05  # 200 identifies, 2 at a time: about 5 s, so Ctrl-C lands mid-run
    err_path = tmp_path / "sync.err"
    command = [sys.executable, "-m", "hull_customerio", "sync", str(users), "--settings",
               str(settings), "--chunk-size", "10", "--concurrency", "2", "--rate-limit", "0",
               "--progress"]  # fmt: skip
    with err_path.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            command, env=_fake_environment(customerio, hull), stdout=subprocess.PIPE, stderr=err
        )
    try:
        _wait_for(err_path, lambda text: text.count("users/s") >= 3)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = err_path.read_text().splitlines()

    assert process.returncode == 130
    assert out == b""  # the summary of an interrupted run goes to stderr, with the hint
    assert "Traceback" not in "\n".join(lines)
    summary, took, hint = lines[-3:]
    done = int(re.fullmatch(r"Synced (\d+) users: \1 succeeded, 0 skipped, 0 failed\.", summary)[1])
    assert done % 10 == 0  # whole chunks
    assert 30 <= done < 200
    assert re.fullmatch(
        r"Took \d+\.\d s: \d+ users/s, \d+ Customer\.io requests, \d+ Hull requests?\.", took
    )
    assert hint == (
        f"hull-customerio: interrupted: the first {done} users of {users} were synced, "
        f"through line {done}; to go on, run the same command with --skip {done}"
    )
    # What it says is done is done: sent, and written back to Hull.
    done_ids = [f"ext-{n:04d}" for n in range(1, done + 1)]
    assert set(done_ids) <= set(customerio.people)
    assert all(hull.traits_for(external_id=i).get("customerio/id") == i for i in done_ids)

    # Going on from there sends the rest; nobody is missed.
    customerio.latency = 0.0
    resumed = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [*command, "--skip", str(done)], env=_fake_environment(customerio, hull),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith(
        f"Synced {200 - done} users: {200 - done} succeeded, 0 skipped, 0 failed.\n"
    )
    assert len(customerio.people) == 200


def test_ctrl_c_during_plan_says_which_plans_were_printed(tmp_path: Path) -> None:
    users, settings = _many_users(tmp_path, 30)
    lines = users.read_text().splitlines(keepends=True)
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "hull_customerio", "plan", "-", "--settings", str(settings),
         "--chunk-size", "10"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        # Two whole chunks and part of a third: the plan waits for the rest of its input.
        process.stdin.write("".join(lines[:25]).encode())
        process.stdin.flush()
        printed = [process.stdout.readline() for _ in range(20)]
        # The 20th line may reach us while its print() is still returning: give the plan time
        # to get back to waiting for its input, where nothing is half done.
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130
    assert [json.loads(line)["user_id"] for line in printed] == [f"u{n:04d}" for n in range(1, 21)]
    assert out == b""
    assert err.decode() == (
        "hull-customerio: interrupted: the first 20 users of <stdin> were planned, through "
        "line 20; to go on, run the same command with --skip 20\n"
    )


def test_skip_leaves_out_the_first_users(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    users, settings = _many_users(tmp_path, 5)

    code, out, _ = run(capsys, "plan", str(users), "--settings", str(settings), "--skip", "3")

    assert code == 0
    assert [record["user_id"] for record in json_lines(out)] == ["u0004", "u0005"]


def test_skip_of_a_notification_counts_its_messages(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, _ = services

    code, out, _ = run(capsys, "sync", str(NOTIFICATION), "--skip", "2")

    assert code == 0
    assert out.startswith("Synced 1 user: 0 succeeded, 1 skipped, 0 failed.\n")
    assert customerio.requests == []  # Ada and Grace were left out; Linus is skipped


# --------------------------------------------------------------------------------------------
# webhook-url (SPEC §8.8)

SERVICE_KEY = "the-services-token-key-0123456789abcdef"
WEBHOOK_SIGNING_KEY = "cio-signing-key-for-webhook-url"


def _forwarded_by_a_hub(token_key: str, url: str, hull: FakeHull) -> hc.WebhookOutcome:
    """What a hub with ``token_key`` answers Customer.io posting a signed webhook to ``url``."""
    body = (WEBHOOKS / "reporting-email-sent.json").read_bytes()
    timestamp = str(int(time.time()))
    headers = {
        "x-cio-timestamp": timestamp,
        "x-cio-signature": sign_webhook(body, timestamp=timestamp, signing_key=WEBHOOK_SIGNING_KEY),
    }
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    hub = hc.ConnectorHub(token_key=token_key, hull_options={"api_url": hull.url,
                                                             "firehose_url": hull.url})  # fmt: skip
    try:
        return hub.answer_webhook(body, headers, query)
    finally:
        hub.close()


def test_webhook_url_prints_the_hubs_url_whose_token_opens_to_the_connector(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", SERVICE_KEY)
    with FakeHull(private_settings={"webhook_signing_key": WEBHOOK_SIGNING_KEY}) as hull:
        code, out, err = run(
            capsys, "webhook-url", "--base-url", "https://hooks.example.com/hull/",
            "--organization", hull.organization, "--id", hull.id, "--secret", hull.secret,
        )  # fmt: skip
        url = out.strip()
        expected = hc.ConnectorHub(token_key=SERVICE_KEY).webhook_url(
            "https://hooks.example.com/hull/",
            organization=hull.organization, connector_id=hull.id, secret=hull.secret,
        )  # fmt: skip

        # The shape of the hub's own URL (its token holds a random nonce: never twice the same).
        assert (code, err, out.count("\n")) == (0, "", 1)
        assert url.startswith("https://hooks.example.com/hull/webhook?token=")
        assert len(url) == len(expected)
        assert hull.secret not in url
        # The token opens, through a hub with the same key, to exactly these credentials: Hull
        # (which checks them) receives the event.
        outcome = _forwarded_by_a_hub(SERVICE_KEY, url, hull)
        assert (outcome.http_status, outcome.reason) == (200, None)
        assert [track.event for track in hull.tracks] == ["Email Sent"]
        # A hub with another key cannot open it.
        foreign = _forwarded_by_a_hub(SERVICE_KEY + "-other", url, hull)
        assert foreign.http_status == 401
        assert len(hull.tracks) == 1


def test_webhook_url_takes_the_credentials_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_TOKEN_KEY", SERVICE_KEY)
    with FakeHull(private_settings={"webhook_signing_key": WEBHOOK_SIGNING_KEY}) as hull:
        monkeypatch.setenv("HULL_ORGANIZATION", hull.organization)
        monkeypatch.setenv("HULL_ID", hull.id)
        monkeypatch.setenv("HULL_SECRET", hull.secret)

        code, out, _ = run(capsys, "webhook-url", "--base-url", "http://127.0.0.1:8000")

        assert code == 0
        assert _forwarded_by_a_hub(SERVICE_KEY, out.strip(), hull).http_status == 200


@pytest.mark.parametrize(
    ("argv", "environment", "expected"),
    [
        (["--base-url", "https://h.example", "--organization", "o.hullapp.io", "--id", "1",
          "--secret", "s"], {}, "HULL_CUSTOMERIO_TOKEN_KEY is not set"),
        (["--base-url", "https://h.example", "--id", "1"],
         {"HULL_CUSTOMERIO_TOKEN_KEY": SERVICE_KEY},
         "missing the connector's --organization (or HULL_ORGANIZATION), --secret (or "
         "HULL_SECRET)"),
        (["--base-url", "h.example", "--organization", "o", "--id", "1", "--secret", "s"],
         {"HULL_CUSTOMERIO_TOKEN_KEY": SERVICE_KEY}, "--base-url must be the service's http"),
        (["--base-url", "https://h.example/?x=1", "--organization", "o", "--id", "1",
          "--secret", "s"], {"HULL_CUSTOMERIO_TOKEN_KEY": SERVICE_KEY}, "--base-url must be"),
        (["--base-url", "https://h.example", "--organization", "o", "--id", "1",
          "--secret", "s\u00e9cr\u00e8t"], {"HULL_CUSTOMERIO_TOKEN_KEY": SERVICE_KEY},
         "invalid connector credentials: organization, connector_id and secret must be"),
        (["--organization", "o"], {"HULL_CUSTOMERIO_TOKEN_KEY": SERVICE_KEY}, "--base-url"),
        (["--base-url", "https://h.example", "--organization", "o", "--id", "1",
          "--secret", "s"], {"HULL_CUSTOMERIO_TOKEN_KEY": "short-k\u00e9y"},
         "HULL_CUSTOMERIO_TOKEN_KEY: token_key must be at least 32 bytes"),
    ],
)  # fmt: skip
def test_webhook_url_bad_usage_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    environment: dict[str, str],
    expected: str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    code, out, err = run(capsys, "webhook-url", *argv)

    assert (code, out) == (2, "")
    assert expected in err
    assert "s\u00e9cr\u00e8t" not in err
    assert "short-k\u00e9y" not in err
    if "--base-url" in argv:  # argparse's own usage errors print a usage line first
        assert err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# The installed program.


def test_python_dash_m_runs_the_command_line_with_stdin(users_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hull_customerio", "plan", "-", "--batch"],
        input=users_file.read_text(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["user_id"] for line in result.stdout.splitlines()] == [
        ADA,
        GRACE,
        LINUS,
    ]


def test_python_dash_m_reports_a_missing_file_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "hull_customerio", "plan", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("hull-customerio: error: cannot read")


def test_the_console_script_is_installed_and_shows_help() -> None:
    script = Path(sys.executable).parent / "hull-customerio"
    if not script.exists():
        pytest.skip("the package is not installed with its console script in this environment")

    result = subprocess.run(  # noqa: S603 -- the project's own console script
        [str(script), "--help"], capture_output=True, text=True, check=False, timeout=60
    )

    assert result.returncode == 0
    for command in ("plan", "sync", "check", "webhook"):
        assert command in result.stdout


# --------------------------------------------------------------------------------------------
# --version, --rate-limit, --concurrency (issue 17)


def _identify_only_users(tmp_path: Path, count: int) -> Path:
    """``count`` users in seg_paying, each one identify call and nothing else."""
    path = tmp_path / "many.jsonl"
    lines = [
        json.dumps({"user": {"id": f"u-{n}", "external_id": f"c-{n}", "email": f"u{n}@x.io"},
                    "segments": [{"id": "seg_paying"}], "events": []})
        for n in range(count)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def _most_arrivals_within(times: list[float], window: float) -> int:
    """The most requests that arrived within any ``window`` seconds of one another."""
    times = sorted(times)
    return max(
        sum(1 for later in times[i:] if later - start < window) for i, start in enumerate(times)
    )


def test_version_prints_the_installed_version_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib.metadata import version  # noqa: PLC0415

    code, out, err = run(capsys, "--version")

    assert (code, err) == (0, "")
    assert out == f"hull-customerio {version('hull-customerio')}\n"


def test_rate_limit_spaces_the_customerio_requests(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    settings_file: Path,
) -> None:
    customerio, _ = services
    monkeypatch.setenv("CUSTOMERIO_RATE_LIMIT", "1000")  # the flag wins over the variable
    users = _identify_only_users(tmp_path, 5)

    started = time.monotonic()
    code, out, _ = run(capsys, "sync", str(users), "--settings", str(settings_file),
                       "--rate-limit", "5", "--concurrency", "5")  # fmt: skip
    elapsed = time.monotonic() - started

    assert (code, out.splitlines()[0]) == (0, "Synced 5 users: 5 succeeded, 0 skipped, 0 failed.")
    assert len(customerio.requests) == 5
    # One request per 0.2 s: the fifth cannot leave before 0.8 s, however fast the rest is.
    # (Arrival times are no measure: on a busy machine new connections bunch them up.)
    assert elapsed >= 0.8


def test_rate_limit_from_the_environment_is_used_without_the_flag(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    settings_file: Path,
) -> None:
    customerio, _ = services
    monkeypatch.setenv("CUSTOMERIO_RATE_LIMIT", "5")
    users = _identify_only_users(tmp_path, 4)

    started = time.monotonic()
    code, _, _ = run(capsys, "sync", str(users), "--settings", str(settings_file))
    elapsed = time.monotonic() - started

    assert code == 0
    assert len(customerio.requests) == 4
    assert elapsed >= 0.6


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_bounds_the_requests_in_flight_and_uses_all_of_them(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    tmp_path: Path,
    settings_file: Path,
    concurrency: int,
) -> None:
    customerio, _ = services
    customerio.latency = 0.8
    users = _identify_only_users(tmp_path, 2 * concurrency + 1)

    code, out, _ = run(capsys, "sync", str(users), "--settings", str(settings_file),
                       "--rate-limit", "0", "--concurrency", str(concurrency))  # fmt: skip

    assert code == 0, out
    arrivals = [r.received_at for r in customerio.requests]
    assert len(arrivals) == 2 * concurrency + 1
    # Requests arriving within less than the latency were all in flight together.
    assert _most_arrivals_within(arrivals, 0.75) == concurrency


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--rate-limit", "-1"], "--rate-limit: expected a number >= 0"),
        (["--rate-limit", "fast"], "--rate-limit: expected a number, got 'fast'"),
        (["--rate-limit", "inf"], "--rate-limit: expected a finite number"),
        (["--concurrency", "0"], "--concurrency: expected a number >= 1"),
        (["--progress-interval", "0"], "--progress-interval: expected a number > 0"),
        (["--progress", "--no-progress"], "not allowed with argument"),
        (["--mode", "v2"], "--mode: invalid choice: 'v2'"),
    ],
)
def test_bad_volume_flags_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    code, out, err = run(capsys, "sync", str(NOTIFICATION), *flags)

    assert (code, out) == (2, "")
    assert expected in err


def test_an_invalid_rate_limit_variable_is_bad_input_naming_it(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CUSTOMERIO_RATE_LIMIT", "lots")

    code, out, err = run(capsys, "sync", str(NOTIFICATION))

    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "CUSTOMERIO_RATE_LIMIT must be a positive number" in err


def test_settings_variables_are_read_through_the_configuration_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, users_file: Path
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS", "seg_paying")
    monkeypatch.setenv("HULL_CUSTOMERIO_USER_ID_MAPPING", "external_id")
    monkeypatch.setenv("HULL_CUSTOMERIO_ENABLE_USER_DELETION", "true")

    code, out, err = run(capsys, "plan", str(users_file))

    assert (code, err) == (0, "")  # no "nobody is sent" warning: the segment came through
    assert [r["action"] for r in json_lines(out)] == ["identify", "delete", "skip"]


def test_the_segment_flag_wins_over_the_settings_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, users_file: Path
) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS", "seg_paying")
    monkeypatch.setenv("HULL_CUSTOMERIO_USER_ID_MAPPING", "external_id")

    code, out, _ = run(capsys, "plan", str(users_file), "--segment", "seg_other")

    assert code == 0
    assert {r["reason"] for r in json_lines(out)} <= {"not_in_segments", "no_customer_id"}
    assert "identify" not in {r["action"] for r in json_lines(out)}


# --------------------------------------------------------------------------------------------
# Progress (issue 17)


class _Clock:
    """A monotonic clock that moves ``step`` seconds at every reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _progress_lines(err: str) -> list[str]:
    return [line.split(" (")[0] for line in err.splitlines() if line.endswith(" users/s)")]


def test_without_a_terminal_progress_lines_come_every_interval(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each chunk takes 6 s by this clock: with the default 10 s, a line after chunks 2 (12 s).
    monkeypatch.setattr("hull_customerio.cli._progress._now", _Clock(6.0))

    code, _, err = run(capsys, "sync", str(NOTIFICATION), "--chunk-size", "1")

    assert code == 0
    assert _progress_lines(err) == [
        "hull-customerio: 2 users: 2 succeeded, 0 skipped, 0 failed",
    ]


def test_progress_interval_sets_the_time_between_lines(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hull_customerio.cli._progress._now", _Clock(6.0))

    code, _, err = run(
        capsys, "sync", str(NOTIFICATION), "--chunk-size", "1", "--progress-interval", "5"
    )

    assert code == 0
    assert len(_progress_lines(err)) == 3
    line = next(line for line in err.splitlines() if line.endswith(" users/s)"))
    assert line == "hull-customerio: 1 user: 1 succeeded, 0 skipped, 0 failed (0 users/s)"


def test_a_short_run_without_a_terminal_prints_no_progress_line(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    code, out, err = run(capsys, "sync", str(NOTIFICATION))

    assert code == 0
    assert _progress_lines(err) == []
    assert out.splitlines()[0] == "Synced 3 users: 2 succeeded, 1 skipped, 0 failed."


def test_no_progress_prints_nothing_however_long_the_run(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hull_customerio.cli._progress._now", _Clock(60.0))

    code, _, err = run(capsys, "sync", str(NOTIFICATION), "--chunk-size", "1", "--no-progress")

    assert code == 0
    assert _progress_lines(err) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_sync_draws_a_progress_bar(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    code, out, _ = run(capsys, "sync", str(NOTIFICATION), "--chunk-size", "1")

    assert code == 0
    drawn = terminal.getvalue()
    assert "\r" in drawn  # redrawn in place, not one line per update
    assert "3/3" in drawn  # a notification's size is known: the bar has a total
    assert "2 succeeded, 1 skipped, 0 failed" in drawn
    assert out.splitlines()[0] == "Synced 3 users: 2 succeeded, 1 skipped, 0 failed."


def test_on_a_terminal_without_tqdm_progress_lines_come_every_two_seconds(
    capsys: pytest.CaptureFixture[str],
    services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if the "cli" extra were not installed
    monkeypatch.setattr("hull_customerio.cli._progress._now", _Clock(1.5))

    code, _, _ = run(capsys, "sync", str(NOTIFICATION), "--chunk-size", "1")

    assert code == 0
    assert _progress_lines(terminal.getvalue()) == [
        "hull-customerio: 2 users: 2 succeeded, 0 skipped, 0 failed",
    ]


# --------------------------------------------------------------------------------------------
# check covers Hull (issue 17)


def _customerio_flags(customerio: FakeCustomerIO) -> list[str]:
    return ["--site-id", "site-123", "--api-key", API_KEY, "--base-url", customerio.url]


def test_check_asks_hull_with_the_connector_credentials(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, hull = services

    code, out, err = run(capsys, "check", *_customerio_flags(customerio), "--segment", "s")

    assert (code, out) == (0, "status: ok\n")
    assert [(r.method, r.path) for r in hull.requests] == [("GET", "/api/v1/app")]
    assert "Hull not checked" not in err


def test_check_with_a_wrong_hull_secret_is_an_error_without_showing_it(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, _ = services
    argv = [*_customerio_flags(customerio), "--segment", "s", "--hull-secret", "not-the-secret"]

    code, out, err = run(capsys, "check", *argv)

    assert code == 1
    assert out.splitlines() == [
        "status: error",
        "  - Invalid Hull credentials: Hull refused the connector id, secret or organization "
        "(HTTP 401).",
    ]
    assert "not-the-secret" not in out + err


def test_check_reports_both_services_when_both_refuse(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    customerio, _ = services
    monkeypatch.setenv("HULL_ORGANIZATION", "other.hullapp.io")
    argv = ["--site-id", "site-123", "--api-key", "nope", "--base-url", customerio.url]

    code, out, _ = run(capsys, "check", *argv, "--json")

    assert code == 1
    status = json.loads(out)
    assert status["status"] == "error"
    assert status["messages"][0].startswith("Invalid credentials: Customer.io refused")
    assert status["messages"][-1].startswith("Invalid Hull credentials")
    assert "No users will be synchronized" in " ".join(status["messages"])


def test_check_when_hull_cannot_be_reached_is_an_error(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, hull = services
    hull.fail_next(503)

    code, out, _ = run(capsys, "check", *_customerio_flags(customerio), "--segment", "s")

    assert code == 1
    assert out.splitlines()[0] == "status: error"
    assert "Error when trying to connect with Hull" in out
    assert len(hull.requests) == 1  # one try: a check must answer quickly


def test_check_checks_hull_even_without_customerio_credentials(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    _, hull = services

    code, out, _ = run(capsys, "check", "--segment", "s", "--hull-secret", "wrong")

    assert code == 1
    assert out.startswith("status: error\n  - Missing credentials")
    assert "Invalid Hull credentials" in out
    assert len(hull.requests) == 1


def test_check_without_hull_credentials_says_hull_was_not_checked(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO
) -> None:
    code, out, err = run(capsys, "check", *_customerio_flags(customerio), "--segment", "s")

    assert (code, out) == (0, "status: ok\n")
    assert "Hull not checked" in err


def test_check_with_incomplete_hull_credentials_is_bad_input(
    capsys: pytest.CaptureFixture[str], customerio: FakeCustomerIO
) -> None:
    code, out, err = run(capsys, "check", *_customerio_flags(customerio), "--hull-id", "x")

    assert (code, out) == (2, "")
    assert "missing HULL_SECRET, HULL_ORGANIZATION" in err
    assert customerio.requests == []


# --------------------------------------------------------------------------------------------
# Logging (issue 17)


def test_verbose_writes_debug_records_once_each_with_their_fields_in_the_message(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    customerio, _ = services
    customerio.fail_next(503, path="/api/v1/customers/cust-001", method="PUT")

    code, _, err = run(capsys, "sync", str(NOTIFICATION), "-v")

    assert code == 0
    assert " DEBUG hull_customerio.customerio: Customer.io attempt 1 failed: " in err
    assert API_KEY not in err
    [success] = [line for line in err.splitlines() if "outgoing.user.success" in line]
    # One readable message; the old formatter appended the fields a second time.
    assert success.endswith(
        f" INFO hull_customerio: outgoing.user.success user={ADA} customer_id=cust-001 reason=new"
    )


def test_verbose_logging_ends_with_the_run(
    capsys: pytest.CaptureFixture[str], services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    logger = logging.getLogger("hull_customerio")
    handlers, level = list(logger.handlers), logger.level

    run(capsys, "sync", str(NOTIFICATION), "-v")

    assert (logger.handlers, logger.level) == (handlers, level)


def test_python_dash_m_of_the_cli_package_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hull_customerio.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("hull-customerio ")
