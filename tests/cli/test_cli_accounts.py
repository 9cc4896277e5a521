"""The command line with Hull accounts: ``plan`` and ``sync`` of ``account:update``
notifications and of JSON lines of account messages (issue 24, SPEC §11).

Syncs run against the project's fakes, each a real loopback HTTP server.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_support import API_KEY, HULL_SECRET, json_lines, run

from hull_customerio.testing import FakeCustomerIO, FakeHull

CUSTOMERS = {"id": "aseg_1", "name": "Customers"}
PROSPECTS = {"id": "aseg_2", "name": "Prospects"}

SETTINGS: dict[str, Any] = {
    "site_id": "site-123",
    "api_key": API_KEY,
    "synchronized_account_segments": ["aseg_1"],
    "synchronized_account_attributes": ["plan", "created_at"],
    "enable_account_deletion": True,
}

ACME = {
    "account": {
        "id": "acc-acme",
        "external_id": "acme-1",
        "name": "Acme",
        "domain": "acme.example",
        "plan": "pro",
        "created_at": "2024-01-02T03:04:05Z",
    },
    "account_segments": [CUSTOMERS],
}
GLOBEX_LEFT = {
    # Left the synchronized segments, synced before: with deletion on, its stored object goes.
    "account": {"id": "acc-globex", "external_id": "globex-2", "customerio/object_id": "globex"},
    "account_segments": [PROSPECTS],
}
INITECH_NO_ID = {
    "account": {"id": "acc-initech", "name": "Initech"},
    "account_segments": [CUSTOMERS],
}
HOOLI_OUT = {"account": {"id": "acc-hooli", "external_id": "hooli-4"}, "account_segments": []}

ACME_ATTRIBUTES = {
    "name": "Acme",
    "domain": "acme.example",
    "hull_segments": ["Customers"],
    "plan": "pro",
    "created_at": 1704164645,
}


def notification(*messages: object, **settings: Any) -> dict[str, Any]:
    return {
        "notification_id": "n-accounts",
        "channel": "account:update",
        "connector": {"private_settings": {**SETTINGS, **settings}},
        "accounts_segments": [CUSTOMERS, PROSPECTS],
        "messages": list(messages),
    }


def write(tmp_path: Path, name: str, content: object) -> str:
    path = tmp_path / name
    if isinstance(content, list):
        path.write_text("".join(json.dumps(line) + "\n" for line in content))
    else:
        path.write_text(json.dumps(content, indent=2))
    return str(path)


@pytest.fixture
def settings_file(tmp_path: Path) -> str:
    return write(tmp_path, "settings.json", SETTINGS)


def _skip_line(account_id: str, reason: str, message: str, object_id: str | None) -> str:
    return json.dumps({
        "account_id": account_id, "action": "skip", "reason": reason, "message": message,
        "object_type_id": "1", "object_id": object_id, "attributes": {}, "hash": "",
        "errors": [],
    })  # fmt: skip


ACME_LINE = json.dumps({
    "account_id": "acc-acme", "action": "identify", "reason": "new",
    "message": "Account is new to Customer.io and its object will be created.",
    "object_type_id": "1", "object_id": "acme-1", "attributes": ACME_ATTRIBUTES,
    # The digest of {"object_type_id", "object_id", **attributes}: a golden value, checked
    # end to end by the re-sync test below (what Hull stores makes the next plan no_changes).
    "hash": "5efedb8c71ae4430ff355c77f72f5caecf0a216a57c1ca752ddd0583f1a42389",
    "errors": [],
})  # fmt: skip
GLOBEX_LINE = json.dumps({
    "account_id": "acc-globex", "action": "delete", "reason": "left_segments",
    "message": "Account left the synchronized account segments and its object will be deleted "
    "from Customer.io.",
    "object_type_id": "1", "object_id": "globex", "attributes": {}, "hash": "", "errors": [],
})  # fmt: skip
INITECH_LINE = _skip_line(
    "acc-initech",
    "no_object_id",
    "Account has no value for the attribute used as the object id and will not be sent to "
    "Customer.io.",
    None,
)
HOOLI_LINE = _skip_line(
    "acc-hooli",
    "not_in_segments",
    "Account is not in the synchronized account segments and will not be sent to Customer.io.",
    "hooli-4",
)


# --------------------------------------------------------------------------------------------
# plan


def test_plan_of_an_account_notification_prints_one_exact_line_per_account(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(
        tmp_path, "accounts.json", notification(ACME, GLOBEX_LEFT, INITECH_NO_ID, HOOLI_OUT)
    )

    code, out, err = run(capsys, "plan", path)

    assert (code, err) == (0, "")
    assert out.splitlines() == [ACME_LINE, GLOBEX_LINE, INITECH_LINE, HOOLI_LINE]


def test_plan_names_account_segments_from_the_notifications_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    unnamed = {**ACME, "account_segments": [{"id": "aseg_1"}, {"id": "aseg_2"}]}
    path = write(tmp_path, "accounts.json", notification(unnamed))

    code, out, _ = run(capsys, "plan", path)

    assert code == 0
    (record,) = json_lines(out)
    assert record["attributes"]["hull_segments"] == ["Customers", "Prospects"]


def test_plan_of_account_json_lines_prints_the_same_lines_with_a_settings_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings_file: str
) -> None:
    path = write(tmp_path, "accounts.jsonl", [ACME, GLOBEX_LEFT, INITECH_NO_ID, HOOLI_OUT])

    code, out, err = run(capsys, "plan", path, "--settings", settings_file)

    assert (code, err) == (0, "")
    assert out.splitlines() == [ACME_LINE, GLOBEX_LINE, INITECH_LINE, HOOLI_LINE]


def test_plan_reports_a_malformed_account_line_as_an_error_line_and_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings_file: str
) -> None:
    bad = {"account": {"id": 7, "name": "Seven"}, "account_segments": [CUSTOMERS]}
    path = write(tmp_path, "accounts.jsonl", [bad, ACME, {"account": None}])

    code, out, _ = run(capsys, "plan", path, "--settings", settings_file)

    assert code == 0
    first, acme, last = out.splitlines()
    assert json.loads(first) == {
        "account_id": None,
        "action": "error",
        "reason": "malformed_message",
        "message": "line 1: Message is malformed: $.account.id: expected a non-blank string, "
        "got a number",
        "object_type_id": None,
        "object_id": None,
        "attributes": {},
        "hash": "",
        "errors": ["$.account.id: expected a non-blank string, got a number"],
        "line": 1,
    }
    assert acme == ACME_LINE
    assert json.loads(last)["errors"] == ["$.account: expected an object, got null"]
    assert json.loads(last)["line"] == 3


def test_plan_reports_a_malformed_message_of_an_account_notification_in_its_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = {"account": {"id": "acc-bad", "name": ["not", "text"]}, "account_segments": "aseg_1"}
    path = write(tmp_path, "accounts.json", notification(ACME, bad, HOOLI_OUT))

    code, out, _ = run(capsys, "plan", path)

    assert code == 0
    acme, malformed, hooli = out.splitlines()
    assert (acme, hooli) == (ACME_LINE, HOOLI_LINE)
    record = json.loads(malformed)
    assert (record["account_id"], record["reason"]) == ("acc-bad", "malformed_message")
    assert "line" not in record  # a notification has no lines to point at


def test_plan_keeps_the_latest_message_of_an_account_within_a_chunk(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings_file: str
) -> None:
    newer = {**ACME, "account": {**ACME["account"], "indexed_at": "2024-06-02T00:00:00Z"}}
    older = {**ACME, "account": {**ACME["account"], "indexed_at": "2024-06-01T00:00:00Z",
                                 "plan": "free"}}  # fmt: skip
    path = write(tmp_path, "accounts.jsonl", [newer, older])

    code, out, _ = run(capsys, "plan", path, "--settings", settings_file)

    assert code == 0
    (record,) = json_lines(out)  # one line per account, in the place of its first message
    assert record["attributes"]["plan"] == "pro"


def test_plan_of_accounts_without_account_segments_warns_that_no_account_is_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "accounts.jsonl", [ACME])

    code, out, err = run(capsys, "plan", path, "--segment", "seg_paying")

    assert code == 0
    assert json_lines(out)[0]["reason"] == "no_segments"
    assert err == (
        "hull-customerio: warning: no synchronized account segments, so no account will be "
        "sent (give --settings or --account-segment ID)\n"
    )


def test_plan_account_segment_flag_replaces_the_settings_account_segments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings_file: str
) -> None:
    path = write(tmp_path, "accounts.jsonl", [ACME, HOOLI_OUT])

    code, out, _ = run(
        capsys, "plan", path, "--settings", settings_file, "--account-segment", "aseg_2"
    )

    assert code == 0
    assert [(r["account_id"], r["reason"]) for r in json_lines(out)] == [
        ("acc-acme", "not_in_segments"),
        ("acc-hooli", "not_in_segments"),
    ]


def test_skip_leaves_out_the_first_accounts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings_file: str
) -> None:
    path = write(tmp_path, "accounts.jsonl", [ACME, GLOBEX_LEFT, INITECH_NO_ID])

    code, out, _ = run(capsys, "plan", path, "--settings", settings_file, "--skip", "2")

    assert code == 0
    assert out.splitlines() == [INITECH_LINE]


# --------------------------------------------------------------------------------------------
# sync


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_sync_of_an_account_notification_puts_the_objects_and_writes_back_to_hull(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    services: tuple[FakeCustomerIO, FakeHull],
    mode: str,
) -> None:
    customerio, hull = services
    customerio.add_object("1", "globex", {"name": "Globex"})
    path = write(
        tmp_path, "accounts.json", notification(ACME, GLOBEX_LEFT, INITECH_NO_ID, HOOLI_OUT)
    )

    code, out, err = run(capsys, "sync", path, "--mode", mode)

    assert code == 0, out + err
    summary, last = out.splitlines()
    assert summary == "Synced 4 accounts: 2 succeeded, 2 skipped, 0 failed."
    took = re.fullmatch(
        r"Took (\d+\.\d) s: (\d+) accounts/s, (\d+) Customer\.io requests?, (\d+) Hull "
        r"requests?\.",
        last,
    )
    assert took is not None, last
    assert (int(took[3]), int(took[4])) == (len(customerio.requests), len(hull.requests))
    assert customerio.objects == {("1", "acme-1"): ACME_ATTRIBUTES}
    assert customerio.object_deletions == [("1", "globex")]
    acme = hull.account_traits("acc-acme")
    assert acme["customerio/object_id"] == "acme-1"
    assert acme["customerio/hash"] == json.loads(ACME_LINE)["hash"]
    assert acme["customerio/deleted_at"] is None
    globex = hull.account_traits("acc-globex")
    assert globex["customerio/object_id"] is None
    assert globex["customerio/deleted_at"] is not None
    assert API_KEY not in out + err
    assert HULL_SECRET not in out + err


def test_a_resync_after_the_write_back_plans_no_changes(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    services: tuple[FakeCustomerIO, FakeHull],
    settings_file: str,
) -> None:
    customerio, hull = services
    path = write(tmp_path, "accounts.jsonl", [ACME])
    assert run(capsys, "sync", path, "--settings", settings_file)[0] == 0
    # Hull sends the account again, with the traits the sync wrote back.
    stored = {key: value for key, value in hull.account_traits("acc-acme").items()
              if key.startswith("customerio/")}  # fmt: skip
    again = {**ACME, "account": {**ACME["account"], **stored}}
    path = write(tmp_path, "again.jsonl", [again])

    code, out, _ = run(capsys, "plan", path, "--settings", settings_file)

    assert code == 0
    (record,) = json_lines(out)
    assert (record["action"], record["reason"]) == ("skip", "no_changes")
    requests = len(customerio.requests)
    code, out, _ = run(capsys, "sync", path, "--settings", settings_file)
    assert (code, out.splitlines()[0]) == (0, "Synced 1 account: 0 succeeded, 1 skipped, 0 failed.")
    assert len(customerio.requests) == requests  # nothing sent for an unchanged account


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_sync_json_prints_every_account_outcome_and_a_malformed_line_fails_the_run(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    services: tuple[FakeCustomerIO, FakeHull],
    settings_file: str,
    mode: str,
) -> None:
    customerio, _ = services
    bad = {"account": {"id": "acc-bad", "external_id": {"nested": 1}}, "account_segments": 3}
    path = write(tmp_path, "accounts.jsonl", [ACME, bad, HOOLI_OUT])

    code, out, err = run(
        capsys, "sync", path, "--settings", settings_file, "--json", "--mode", mode,
        "--chunk-size", "2",
    )  # fmt: skip

    assert code == 1
    acme, malformed, hooli = json_lines(out)
    assert acme == {
        "account_id": "acc-acme",
        "object_id": "acme-1",
        "action": "identify",
        "status": "success",
        "reason": "new",
        "message": "Account is new to Customer.io and its object will be created.",
        "calls": ["object_identify", "hull_traits"],  # the same in both modes
        "error": None,
        "line": 1,
    }
    assert (malformed["account_id"], malformed["status"]) == ("acc-bad", "error")
    assert (malformed["reason"], malformed["line"]) == ("malformed_message", 2)
    assert malformed["message"] == "The message is malformed and cannot be synchronized."
    assert (malformed["object_id"], malformed["action"], malformed["calls"]) == (None, "error", [])
    assert malformed["error"] == (
        "line 2: Message (account 'acc-bad') is malformed: $.account_segments: expected a "
        "list, got a number"
    )
    assert (hooli["status"], hooli["reason"], hooli["line"]) == ("skipped", "not_in_segments", 3)
    assert err.splitlines()[:2] == [
        "Synced 3 accounts: 1 succeeded, 1 skipped, 1 failed.",
        f"  failed: acc-bad: malformed_message: {malformed['error']}",
    ]
    assert ("1", "acme-1") in customerio.objects


def test_sync_exits_1_when_customerio_refuses_an_object_and_names_the_account(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    services: tuple[FakeCustomerIO, FakeHull],
    settings_file: str,
) -> None:
    customerio, hull = services
    customerio.fail_next(400, path="/api/v2/entity", method="POST")
    other = {**ACME, "account": {**ACME["account"], "id": "acc-other", "external_id": "other-5"}}
    path = write(tmp_path, "accounts.jsonl", [ACME, other])

    code, out, _ = run(capsys, "sync", path, "--settings", settings_file, "--concurrency", "1")

    assert code == 1
    summary, failure, last = out.splitlines()
    assert summary == "Synced 2 accounts: 1 succeeded, 0 skipped, 1 failed."
    assert failure.startswith("  failed: acc-acme (acme-1): object_failed: ")
    assert "400" in failure
    assert last.startswith("Took ")
    assert customerio.objects.keys() == {("1", "other-5")}  # one failure never stops the others
    assert hull.account(id="acc-acme") is None  # nothing written back for the refused object


def test_sync_progress_counts_accounts(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    services: tuple[FakeCustomerIO, FakeHull],
    settings_file: str,
) -> None:
    path = write(tmp_path, "accounts.jsonl", [ACME, HOOLI_OUT, INITECH_NO_ID])

    code, _, err = run(
        capsys, "sync", path, "--settings", settings_file, "--progress", "--chunk-size", "2"
    )

    assert code == 0
    progress = [line for line in err.splitlines() if line.startswith("hull-customerio: ")]
    assert len(progress) == 2
    assert re.fullmatch(
        r"hull-customerio: 2 accounts: 1 succeeded, 1 skipped, 0 failed \(\d+ accounts/s\)",
        progress[0],
    ), progress
    assert progress[1].startswith("hull-customerio: 3 accounts: 1 succeeded, 2 skipped, 0 failed")


def test_sync_of_accounts_without_hull_credentials_sends_the_objects(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    customerio: FakeCustomerIO,
    monkeypatch: pytest.MonkeyPatch,
    settings_file: str,
) -> None:
    monkeypatch.setenv("CUSTOMERIO_BASE_URL", customerio.url)
    path = write(tmp_path, "accounts.jsonl", [ACME])

    code, out, err = run(capsys, "sync", path, "--settings", settings_file)

    assert code == 0
    assert out.splitlines()[0] == "Synced 1 account: 1 succeeded, 0 skipped, 0 failed."
    assert customerio.object("1", "acme-1") == ACME_ATTRIBUTES
    assert "without writing back to Hull" in err


def test_sync_verbose_logs_each_accounts_outcome(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    services: tuple[FakeCustomerIO, FakeHull],
    settings_file: str,
) -> None:
    path = write(tmp_path, "accounts.jsonl", [ACME, HOOLI_OUT])

    code, _, err = run(capsys, "sync", path, "--settings", settings_file, "-v")

    assert code == 0
    assert len(re.findall(r"outgoing\.account\.success\b.*acc-acme", err)) == 1, err
    assert len(re.findall(r"outgoing\.account\.skip\b.*acc-hooli", err)) == 1, err
    assert API_KEY not in err


def test_sync_stops_at_a_user_line_among_accounts_and_says_what_was_already_synced(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    services: tuple[FakeCustomerIO, FakeHull],
    settings_file: str,
) -> None:
    customerio, _ = services
    path = write(tmp_path, "mixed.jsonl", [ACME, {"user": {"id": "u1"}, "account": {"id": "a"}}])

    code, out, err = run(capsys, "sync", path, "--settings", settings_file, "--chunk-size", "1")

    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "Synced 1 account: 1 succeeded, 0 skipped, 0 failed.",
        f"hull-customerio: error: {path}:2: a user:update message among account:update "
        "messages; give users and accounts in separate files",
    ]
    assert ("1", "acme-1") in customerio.objects


def test_ctrl_c_during_an_account_sync_counts_accounts_and_says_how_to_go_on(
    tmp_path: Path, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    accounts = [
        {"account": {"id": f"acc-{n:04d}", "external_id": f"ext-{n:04d}"},
         "account_segments": [CUSTOMERS]}
        for n in range(1, 201)
    ]  # fmt: skip
    path = write(tmp_path, "accounts.jsonl", accounts)
    settings = write(tmp_path, "settings.json", SETTINGS)
    customerio.latency = 0.05  # 200 objects, 2 at a time: about 5 s, so Ctrl-C lands mid-run
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOMERIO_", "HULL_"))}
    env.update({"CUSTOMERIO_BASE_URL": customerio.url, "HULL_ID": hull.id,
                "HULL_SECRET": hull.secret, "HULL_ORGANIZATION": hull.organization,
                "HULL_API_URL": hull.url, "HULL_FIREHOSE_URL": hull.url})  # fmt: skip
    err_path = tmp_path / "sync.err"
    command = [sys.executable, "-m", "hull_customerio", "sync", path, "--settings", settings,
               "--chunk-size", "10", "--concurrency", "2", "--rate-limit", "0",
               "--progress"]  # fmt: skip
    with err_path.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            command, env=env, stdout=subprocess.PIPE, stderr=err
        )
    try:
        deadline = time.monotonic() + 30
        while err_path.read_text().count("accounts/s") < 3:
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = err_path.read_text().splitlines()

    assert process.returncode == 130
    assert out == b""
    assert "Traceback" not in "\n".join(lines)
    summary, took, hint = lines[-3:]
    matched = re.fullmatch(r"Synced (\d+) accounts: \1 succeeded, 0 skipped, 0 failed\.", summary)
    assert matched is not None, summary
    done = int(matched[1])
    assert 30 <= done < 200
    assert re.fullmatch(r"Took \d+\.\d s: \d+ accounts/s, .*", took), took
    assert hint == (
        f"hull-customerio: interrupted: the first {done} accounts of {path} were synced, "
        f"through line {done}; to go on, run the same command with --skip {done}"
    )
    assert len(customerio.objects) >= done
