"""SPEC §9: the Celery recipe, run by real worker processes over a real Redis broker.

The web side (this test process) enqueues notifications and answers Hull at once; a
`celery worker` subprocess runs the engine against the loopback fakes, which live in this
process. Two tests kill a task mid-way with SIGKILL — the pool process running it (the worker
gives the task back at once: `acks_late`, `reject_on_worker_lost`), and the whole worker (the
broker delivers it again after its visibility timeout, to a new worker) — and find no user lost
and no event stored twice.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from scaleout_support import RedisServer

from hull_customerio.testing import FakeCustomerIO, FakeHull

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
HULL_ID = "5c8a1f2e3b4d5e6f7a8b9c0d"
HULL_SECRET = "connector-secret-for-tests"
HULL_ORG = "acme42.hullapp.io"
OTHER_ID = "6d9b2f3e4c5d6e7f8a9b0c1d"
OTHER_SECRET = "other-connector-secret"
OTHER_ORG = "globex7.hullapp.io"


@pytest.fixture
def hull() -> Iterator[FakeHull]:
    with FakeHull(id=HULL_ID, secret=HULL_SECRET, organization=HULL_ORG) as fake:
        yield fake


@pytest.fixture
def other_hull(hull: FakeHull) -> Iterator[FakeHull]:
    """A second organization; Hull signs every organization's notifications with one key."""
    with FakeHull(id=OTHER_ID, secret=OTHER_SECRET, organization=OTHER_ORG) as fake:
        fake.notification_private_key = hull.notification_private_key
        yield fake


@pytest.fixture
def cio() -> Iterator[FakeCustomerIO]:
    with FakeCustomerIO(site_id="site-123", api_key="key-456") as fake:
        yield fake


@pytest.fixture
def worker_env(
    redis_server: RedisServer,
    cio: FakeCustomerIO,
    hull: FakeHull,
    other_hull: FakeHull,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The environment of the worker and of the web side: a broker of this test's own."""
    broker = redis_server.url(db=1)
    # A fresh broker database per test: no task of another test can reach this worker.
    import redis  # noqa: PLC0415

    redis.Redis.from_url(broker).flushdb()
    values = {
        "HC_TEST_BROKER": broker,
        "HC_TEST_LIMITER_REDIS": redis_server.url(db=0),
        "HC_TEST_LIMITER_KEY": f"celery-test-{uuid.uuid4().hex}",
        "HC_TEST_RATE": "50",
        "HC_TEST_CIO_URL": cio.url,
        "HC_TEST_HULL_URLS": json.dumps({HULL_ORG: hull.url, OTHER_ORG: other_hull.url}),
        "HC_TEST_HULL_PUBLIC_KEY": hull.notification_public_key,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def web_side(worker_env: dict[str, str]) -> Any:
    """The recipe's tasks as the web side sees them (same app module, same broker)."""
    sys.modules.pop("celery_test_app", None)
    import celery_test_app  # noqa: PLC0415

    yield celery_test_app.tasks
    celery_test_app.app.close()
    sys.modules.pop("celery_test_app", None)


@pytest.fixture
def start_worker(worker_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(
        *, pool: str = "solo", loglevel: str = "WARNING", log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        env = {**os.environ, **worker_env, "PYTHONPATH": str(HERE)}
        command = [
            sys.executable, "-m", "celery", "-A", "celery_test_app", "worker",
            f"--pool={pool}", "--concurrency=1", f"--loglevel={loglevel}",
            "--without-heartbeat", "--without-mingle", "--without-gossip",
            f"--hostname=w{len(started)}-{uuid.uuid4().hex[:6]}@localhost",
        ]  # fmt: skip
        if log is not None:
            command.append(f"--logfile={log}")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=HERE, env=env, start_new_session=True
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            with_children = [process.pid] + [child.pid for child in _children(process.pid)]
            for pid in with_children:
                _kill(pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                for pid in with_children:
                    _kill(pid, signal.SIGKILL)
                process.wait()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def notification(users: int, *, tag: str, hull: FakeHull | None = None) -> dict[str, Any]:
    """A `user:update` notification of `users` users in the synchronised segment, each with a
    "Signed Up" event of its own Hull `event_id`; from `hull`'s connector when given."""
    payload: dict[str, Any] = json.loads((DATA / "notification-user-update.json").read_text())
    if hull is not None:
        payload["configuration"] = {
            "id": hull.id, "organization": hull.organization, "secret": hull.secret,
        }  # fmt: skip
        payload["connector"]["id"] = hull.id
    template = payload["messages"][0]
    messages = []
    for number in range(users):
        message = copy.deepcopy(template)
        message["message_id"] = f"{tag}-m{number}"
        message["user"]["id"] = f"{number:024x}"
        message["user"]["external_id"] = f"{tag}-user-{number}"
        message["user"]["email"] = f"{tag}-{number}@example.com"
        message["user"]["anonymous_ids"] = []
        message["segments"] = [{"id": "seg_paying", "name": "Paying customers"}]
        message["events"] = [
            {
                "event": "Signed Up",
                "event_id": f"{tag}-evt-{number}",
                "created_at": "2024-06-01 07:59:58 UTC",
                "properties": {"plan": "Pro"},
                "context": {},
            }
        ]
        message["changes"] = {}
        messages.append(message)
    payload["messages"] = messages
    payload["notification_id"] = f"{tag}-notification"
    return payload


def enqueue_signed(web_side: Any, hull: FakeHull, payload: dict[str, Any]) -> dict[str, Any]:
    """What the web side does: enqueue the notification with the request's headers, which
    carry Hull's signature."""
    signed = hull.sign_payload(payload)
    return web_side.enqueue_notification(signed.payload, signed.headers)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def written_back(hull: FakeHull, users: set[str]) -> bool:
    """Whether Hull has the write-back of every one of `users`."""
    try:
        return all(hull.traits_for(external_id=user) for user in users)
    except LookupError:
        return False


def expected_ids(tag: str, users: int) -> set[str]:
    return {f"{tag}-user-{number}" for number in range(users)}


def test_a_worker_runs_enqueued_notifications_and_the_web_side_answers_next_at_once(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
    hull: FakeHull,
) -> None:
    answers = [enqueue_signed(web_side, hull, notification(4, tag=tag)) for tag in ("a", "b", "c")]
    # Hull is answered before any worker exists: nothing has reached Customer.io yet.
    assert answers == [{"flow_control": {"type": "next"}}] * 3
    assert cio.people == {}

    start_worker()
    everyone = expected_ids("a", 4) | expected_ids("b", 4) | expected_ids("c", 4)
    wait_for(lambda: everyone <= set(cio.people), 60, "every user at Customer.io")
    wait_for(lambda: len(cio.events) == 12, 30, "every event at Customer.io")
    assert sorted(event.name for event in cio.events) == ["Signed Up"] * 12
    # The write-back reached Hull for every user.
    wait_for(lambda: written_back(hull, everyone), 30, "write-backs")


def test_a_notification_answered_retry_is_retried_by_the_worker_until_it_succeeds(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
    hull: FakeHull,
) -> None:
    # One user, more 503s than the client's 4 attempts: the first run can only end in "retry",
    # so the user lands only if the task itself runs again.
    cio.fail_next(503, 6)
    enqueue_signed(web_side, hull, notification(1, tag="retry"))
    start_worker()
    wait_for(lambda: expected_ids("retry", 1) <= set(cio.people), 60, "the user")
    # The user's event follows its identify: wait for it too, then check it came once.
    wait_for(lambda: len(cio.events) >= 1, 30, "the user's event")
    statuses = [request.status for request in cio.requests]
    assert statuses[:6] == [503] * 6
    time.sleep(0.5)
    assert len(cio.events) == 1


def test_a_batch_file_is_split_into_tasks_and_every_user_is_sent(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
) -> None:
    payload = notification(5, tag="batch")
    envelope = {key: value for key, value in payload.items() if key != "messages"}
    lines = [json.dumps(message) for message in payload["messages"]]

    assert web_side.enqueue_batch(envelope, [*lines, ""], chunk_size=2) == 3
    start_worker()
    wait_for(lambda: expected_ids("batch", 5) <= set(cio.people), 60, "the batch's users")


def test_a_task_whose_worker_process_is_killed_is_redone_with_no_user_lost_or_event_doubled(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
    hull: FakeHull,
) -> None:
    users = 12
    # Slow answers, so that the task is surely still running when its process is killed.
    cio.latency = 0.15
    enqueue_signed(web_side, hull, notification(users, tag="kill"))
    worker = start_worker(pool="prefork")

    wait_for(lambda: len(cio.events) >= 2, 60, "the task to be half-way")
    assert len(cio.people) < users, "the task finished before it could be killed"
    # SIGKILL the pool process running the task: no clean-up, no acknowledgement.
    running = _children(worker.pid)
    assert len(running) == 1
    running[0].send_signal(signal.SIGKILL)
    killed_at = len(cio.requests)

    # The worker starts a new pool process, which is given the task again and finishes it.
    wait_for(lambda: expected_ids("kill", users) <= set(cio.people), 90, "every user")
    wait_for(lambda: len(cio.events) == users, 30, "every event")
    assert len(cio.requests) > killed_at

    # Nothing doubled: every event is stored once under its own id; the replay re-sent some
    # with the same ids, which Customer.io (here, the fake) ignores.
    ids = [event.id for event in cio.events]
    assert len(set(ids)) == users
    assert {event.id for event in cio.duplicate_events} <= set(ids)
    assert len(cio.duplicate_events) >= 1
    wait_for(lambda: written_back(hull, expected_ids("kill", users)), 30, "write-backs")
    assert worker.poll() is None, "the worker itself survived its pool process"


def test_a_task_whose_whole_worker_is_killed_is_redone_by_another_worker(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
    hull: FakeHull,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The whole worker vanishes (as with a lost host): nobody is left to give the message back,
    # so the broker delivers it again once its visibility timeout has passed.
    monkeypatch.setenv("HC_TEST_VISIBILITY_TIMEOUT", "4")
    users = 12
    cio.latency = 0.15
    enqueue_signed(web_side, hull, notification(users, tag="host"))
    first = start_worker()

    wait_for(lambda: len(cio.events) >= 2, 60, "the task to be half-way")
    assert len(cio.people) < users, "the task finished before it could be killed"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    killed_at = len(cio.requests)

    start_worker()
    wait_for(lambda: expected_ids("host", users) <= set(cio.people), 90, "every user")
    wait_for(lambda: len(cio.events) == users, 30, "every event")
    assert len(cio.requests) > killed_at
    ids = [event.id for event in cio.events]
    assert len(set(ids)) == users
    assert len(cio.duplicate_events) >= 1
    assert {event.id for event in cio.duplicate_events} <= set(ids)
    wait_for(lambda: written_back(hull, expected_ids("host", users)), 30, "write-backs")


def test_two_organizations_on_one_workspace_are_both_synced_by_one_worker(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
    hull: FakeHull,
    other_hull: FakeHull,
) -> None:
    # Issue 22: a recipe caching connectors by site_id alone refused the second organization
    # (its Hull credentials are not the cached connector's). Alternate them, twice over.
    for round_ in range(2):
        enqueue_signed(web_side, hull, notification(2, tag=f"acme{round_}", hull=hull))
        enqueue_signed(
            web_side, other_hull, notification(2, tag=f"globex{round_}", hull=other_hull)
        )
    start_worker()

    acme = expected_ids("acme0", 2) | expected_ids("acme1", 2)
    globex = expected_ids("globex0", 2) | expected_ids("globex1", 2)
    wait_for(lambda: acme | globex <= set(cio.people), 60, "both organizations' users")
    # Each organization's write-backs reached its own Hull, and only its own.
    wait_for(lambda: written_back(hull, acme), 30, "acme's write-backs")
    wait_for(lambda: written_back(other_hull, globex), 30, "globex's write-backs")
    assert not written_back(hull, globex)
    assert not written_back(other_hull, acme)


def test_a_notification_with_a_bad_signature_is_refused_in_the_worker_as_a_typed_error(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
    hull: FakeHull,
    tmp_path: Path,
) -> None:
    forger = FakeHull(id=HULL_ID, secret=HULL_SECRET, organization=HULL_ORG)  # another key
    forged = forger.sign_payload(notification(2, tag="forged"))
    web_side.enqueue_notification(forged.payload, forged.headers)
    # Signed by Hull, but for another notification: the signature names its id.
    replayed = notification(2, tag="replayed")
    replayed_headers = hull.sign_notification("another-notification")
    web_side.enqueue_notification(replayed, replayed_headers)
    # No headers at all: nothing to check the notification with.
    web_side.enqueue_notification(notification(2, tag="unsigned"))
    enqueue_signed(web_side, hull, notification(2, tag="genuine"))

    log = tmp_path / "worker.log"
    start_worker(pool="prefork", loglevel="INFO", log=log)
    wait_for(lambda: expected_ids("genuine", 2) <= set(cio.people), 60, "the genuine users")
    wait_for(lambda: log.read_text().count("raised expected") >= 3, 30, "three refusals logged")

    text = log.read_text()
    assert set(cio.people) == expected_ids("genuine", 2)
    # Each refusal arrives as its own type (it crossed from the pool process by pickle),
    # logged as expected, without a traceback.
    refusals = [line for line in text.splitlines() if "raised expected" in line]
    assert len(refusals) == 3
    assert all("NotificationAuthenticationError(" in line for line in refusals)
    assert sum("does not verify with Hull's public key" in line for line in refusals) == 1
    assert sum("issued for another notification" in line for line in refusals) == 1
    assert sum("not signed by Hull" in line for line in refusals) == 1
    assert "raised unexpected" not in text
    assert "Traceback" not in text
    # The credentials in the payload never reach Celery's log.
    assert HULL_SECRET not in text
    assert "key-456" not in text


def account_notification(hull: FakeHull) -> dict[str, Any]:
    """The sample `account:update` notification, from `hull`'s connector."""
    payload: dict[str, Any] = json.loads((DATA / "notification-account-update.json").read_text())
    payload["configuration"] = {
        "id": hull.id, "organization": hull.organization, "secret": hull.secret,
    }  # fmt: skip
    payload["connector"]["id"] = hull.id
    settings = payload["connector"]["private_settings"]
    settings["site_id"], settings["api_key"] = "site-123", "key-456"
    return payload


def test_an_account_update_enqueued_by_the_web_side_becomes_a_customerio_object(
    web_side: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    cio: FakeCustomerIO,
    hull: FakeHull,
) -> None:
    cio.add_object("1", "gone.example", {"name": "Gone Ltd"})
    answer = enqueue_signed(web_side, hull, account_notification(hull))
    assert answer == {"flow_control": {"type": "next"}}
    assert ("1", "example.com") not in cio.objects

    start_worker()
    wait_for(lambda: ("1", "example.com") in cio.objects, 60, "the object at Customer.io")
    wait_for(lambda: cio.object_deletions == [("1", "gone.example")], 30, "the deletion")
    assert cio.object("1", "example.com")["hull_segments"] == ["Customers"]
    wait_for(
        lambda: hull.account(id="acc-1") is not None and hull.account(id="acc-2") is not None,
        30,
        "the account write-backs",
    )
    assert hull.account_traits("acc-1")["customerio/object_id"] == "example.com"
    assert hull.account_traits("acc-2")["customerio/object_id"] is None
