"""The Celery recipe's own rules, without a worker: task options and how batch files are cut."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

import hull_customerio as hc
from hull_customerio.celery import HullTasks, register_tasks


class RecordingTask:
    """Stands in for a Celery task: records what would have been enqueued."""

    def __init__(self) -> None:
        self.enqueued: list[dict[str, Any]] = []
        self.headers: list[dict[str, str] | None] = []

    def delay(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.enqueued.append(payload)
        self.headers.append(headers)


def never_built(payload: Any) -> hc.Connector:
    raise AssertionError("no task runs in these tests")


def test_tasks_are_acknowledged_late_and_given_back_when_their_worker_is_lost() -> None:
    app = Celery("options-test", broker="memory://")
    tasks = register_tasks(app, never_built, name="hc", retry_delay=2.5, max_retries=7)
    for task, name in ((tasks.notification, "hc.notification"), (tasks.batch, "hc.batch")):
        assert task.name == name
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.max_retries == 7
        assert task.default_retry_delay == 2.5
    app.close()


def test_enqueue_notification_answers_next_and_enqueues_a_plain_copy() -> None:
    notification, batch = RecordingTask(), RecordingTask()
    tasks = HullTasks(notification=notification, batch=batch)
    payload = {"channel": "user:update", "messages": [{"user": {"id": "u1"}}]}
    assert tasks.enqueue_notification(payload) == {"flow_control": {"type": "next"}}
    assert notification.enqueued == [payload]
    assert notification.enqueued[0] is not payload
    assert notification.headers == [None]
    assert batch.enqueued == []


def test_enqueue_notification_sends_the_headers_along_for_the_signature_check() -> None:
    notification = RecordingTask()
    tasks = HullTasks(notification=notification, batch=RecordingTask())
    headers = {"x-hull-smart-notifier-signature": "jwt"}
    tasks.enqueue_notification({"channel": "user:update"}, headers)
    assert notification.headers == [headers]


def test_enqueue_batch_cuts_lines_into_chunks_that_each_carry_the_envelope() -> None:
    notification, batch = RecordingTask(), RecordingTask()
    tasks = HullTasks(notification=notification, batch=batch)
    envelope = {"connector": {"private_settings": {"site_id": "s"}}, "messages": ["dropped"]}
    lines = ['{"user": {"id": "1"}}', b'{"user": {"id": "2"}}', "", "   ",
             "not json", '{"user": {"id": "4"}}', '{"user": {"id": "5"}}']  # fmt: skip

    assert tasks.enqueue_batch(envelope, lines, chunk_size=2) == 3
    assert [chunk["messages"] for chunk in batch.enqueued] == [
        [{"user": {"id": "1"}}, {"user": {"id": "2"}}],
        # a line that is not JSON travels as it is, to become that user's error outcome
        ["not json", {"user": {"id": "4"}}],
        [{"user": {"id": "5"}}],
    ]
    assert all(chunk["connector"] == envelope["connector"] for chunk in batch.enqueued)
    assert notification.enqueued == []


def test_an_empty_batch_file_enqueues_nothing() -> None:
    batch = RecordingTask()
    tasks = HullTasks(notification=RecordingTask(), batch=batch)
    assert tasks.enqueue_batch({}, ["", "\n"]) == 0
    assert batch.enqueued == []


@pytest.mark.parametrize("size", [0, -1])
def test_a_chunk_size_below_one_is_refused(size: int) -> None:
    tasks = HullTasks(notification=RecordingTask(), batch=RecordingTask())
    with pytest.raises(ValueError, match="chunk_size"):
        tasks.enqueue_batch({}, ["{}"], chunk_size=size)
