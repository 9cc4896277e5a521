"""The Celery recipe's own rules, without a worker: task options and how batch files are cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from celery import Celery

import hull_customerio as hc
from hull_customerio.celery import ConnectorKey, HullTasks, _ConnectorCache, register_tasks


class RecordingTask:
    """Stands in for a Celery task: records what would have been enqueued."""

    def __init__(self) -> None:
        self.enqueued: list[dict[str, Any]] = []
        self.headers: list[dict[str, str] | None] = []

        self.argsreprs: list[str] = []

    def apply_async(self, args: tuple[Any, ...], *, argsrepr: str) -> None:
        payload, headers = args if len(args) == 2 else (args[0], None)
        self.enqueued.append(payload)
        self.headers.append(headers)
        self.argsreprs.append(argsrepr)


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


def payload_for(organization: str, site_id: str, **configuration: str) -> dict[str, Any]:
    return {
        "notification_id": "n-1",
        "configuration": {
            "organization": organization,
            "id": "5c8a1f2e3b4d5e6f7a8b9c0d",
            "secret": "hull-secret-never-shown",
            **configuration,
        },
        "connector": {"private_settings": {"site_id": site_id, "api_key": "cio-key-never-shown"}},
    }


def test_a_connector_key_tells_two_organizations_on_one_workspace_apart() -> None:
    first = ConnectorKey.of(payload_for("one.hullapp.io", "site-1"))
    assert first == ConnectorKey.of(payload_for("one.hullapp.io", "site-1"))
    assert first != ConnectorKey.of(payload_for("two.hullapp.io", "site-1"))
    # A new secret or another connector is another key too: its Hull client differs.
    assert first != ConnectorKey.of(payload_for("one.hullapp.io", "site-1", secret="rotated"))
    assert first != ConnectorKey.of(payload_for("one.hullapp.io", "site-1", id="f" * 24))
    assert "never-shown" not in repr(first)


@pytest.mark.parametrize("payload", [{}, {"configuration": "x", "connector": []},
                                     {"configuration": {"id": 5}}])  # fmt: skip
def test_a_connector_key_of_a_malformed_payload_has_none_for_what_is_missing(
    payload: dict[str, Any],
) -> None:
    key = ConnectorKey.of(payload)
    assert (key.organization, key.connector_id, key.site_id) == (None, None, None)


def test_celery_shows_no_credentials_in_the_arguments_it_logs() -> None:
    notification, batch = RecordingTask(), RecordingTask()
    tasks = HullTasks(notification=notification, batch=batch)
    payload = payload_for("one.hullapp.io", "site-1")
    tasks.enqueue_notification(payload, {"x-hull-smart-notifier-signature": "jwt"})
    tasks.enqueue_batch(payload, ['{"user": {"id": "1"}}'])
    assert notification.argsreprs == ["(notification 'n-1', headers)"]
    assert batch.argsreprs == ["(batch of 1 for 'n-1')"]


class ClosingClient(hc.CustomerIOClient):
    def __init__(self, site_id: str, closed: list[str]) -> None:
        super().__init__(site_id, "cio-key-never-shown")
        self.closed = closed

    def close(self) -> None:
        self.closed.append(self.site_id)
        super().close()


def test_the_tasks_build_one_connector_per_key_and_close_the_ones_they_drop() -> None:
    built: list[str] = []
    closed: list[str] = []

    def build(payload: Any) -> hc.Connector:
        site_id = payload["connector"]["private_settings"]["site_id"]
        built.append(site_id)
        return hc.Connector(hc.Settings(), customerio=ClosingClient(site_id, closed))

    cache = _ConnectorCache(build, max_size=1)
    with cache.lease(payload_for("one.hullapp.io", "site-1")) as first:
        with cache.lease(payload_for("one.hullapp.io", "site-1")) as again:
            assert again is first
        # Another key pushes the first out, but a task still uses it: not closed yet.
        with cache.lease(payload_for("two.hullapp.io", "site-2")):
            pass
        assert closed == []
    assert closed == ["site-1"]
    assert built == ["site-1", "site-2"]


def test_an_unsigned_notification_is_refused_as_typed_before_any_connector_is_built() -> None:
    app = Celery("refusal-test", broker="memory://")
    tasks = register_tasks(app, never_built)
    result = tasks.notification.apply((payload_for("one.hullapp.io", "site-1"), None))
    assert result.failed()
    assert isinstance(result.result, hc.NotificationAuthenticationError)
    assert result.result.reason == "missing_signature"
    assert tasks.notification.throws == (hc.NotificationAuthenticationError,)
    app.close()


@pytest.mark.parametrize("size", [0, -3, True, 2.5])
def test_max_connectors_below_one_is_refused(size: Any) -> None:
    with pytest.raises(ValueError, match="max_connectors"):
        register_tasks(Celery("bad", broker="memory://"), never_built, max_connectors=size)


def test_the_documented_recipe_builds_a_signature_checking_connector_per_organization() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "scaling-out.md").read_text()
    (recipe,) = [block for block in page.split("```python\n") if "def build_connector" in block]
    namespace: dict[str, Any] = {}
    exec(compile(recipe.split("```")[0], "scaling-out.md", "exec"), namespace)  # noqa: S102
    tasks = namespace["tasks"]
    assert tasks.notification.acks_late is True

    one = namespace["build_connector"](payload_for("one.hullapp.io", "site-1"))
    two = namespace["build_connector"](payload_for("two.hullapp.io", "site-1"))
    assert isinstance(one, hc.Connector)
    assert one.notification_guard.require_signature is True
    assert (one.hull.organization, two.hull.organization) == ("one.hullapp.io", "two.hullapp.io")
    assert one.customerio.site_id == two.customerio.site_id == "site-1"
    namespace["app"].close()
