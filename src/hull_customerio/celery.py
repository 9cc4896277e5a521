"""Run notifications and batch files on Celery workers, under one shared rate limit.

The web side answers Hull at once and enqueues; workers run the engine. Every process that
sends to a Customer.io workspace shares one
[`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter], so adding workers adds
throughput up to the workspace's limit and never past it::

    from celery import Celery
    import hull_customerio as hc
    from hull_customerio.celery import register_tasks
    from hull_customerio.redis_limiter import RedisRateLimiter

    app = Celery("connector", broker="redis://localhost:6379/1")

    def build_connector(payload):          # called in the worker; cache what you build
        settings = hc.Settings.from_private_settings(payload["connector"]["private_settings"])
        limiter = RedisRateLimiter("redis://localhost:6379/0",
                                   key=f"cio:{settings.site_id}", rate=100)
        return hc.Connector(settings, customerio=hc.CustomerIOClient(
            settings.site_id, settings.api_key, rate_limit=limiter), hull=...)

    tasks = register_tasks(app, build_connector)
    # web endpoint:  return tasks.enqueue_notification(payload)   -> {"flow_control": next}

Tasks are acknowledged only once they finish (``acks_late``) and given back to the queue when
the worker running them dies (``reject_on_worker_lost``), so a killed worker loses nothing:
another worker runs the task again, and the replay is harmless because every Customer.io event
carries an id derived from its Hull event and every Hull event its ``event_id``.

This module needs the ``celery`` extra: ``pip install "hull-customerio[celery]"``.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

try:
    from celery import Celery
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "hull_customerio.celery needs the 'celery' extra: pip install 'hull-customerio[celery]'"
    ) from exc

from .engine import Connector
from .hull.flow_control import flow_control_next

__all__ = ["ConnectorBuilder", "HullTasks", "register_tasks"]

logger = logging.getLogger("hull_customerio.celery")

#: Builds (or returns a cached) connector for a notification payload, in the worker process.
ConnectorBuilder = Callable[[Mapping[str, Any]], Connector]

DEFAULT_BATCH_CHUNK = 100


@attrs.frozen
class HullTasks:
    """The Celery tasks [`register_tasks`][hull_customerio.celery.register_tasks] made, and the web
    side's way to enqueue them.

    Attributes:
        notification: the task running one smart-notifier notification (``user:update``).
        batch: the task running one chunk of a batch file (users sent by Hull's "send to"
            or an export) through the batch rules.
    """

    # Celery's task objects are untyped.
    notification: Any
    batch: Any

    def enqueue_notification(
        self, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Enqueue a notification and return the answer to give Hull at once (``next``).

        Args:
            payload: the notification's JSON body, decoded.
            headers: the request's headers, when the worker's connector should check Hull's
                signature on them; only these plain strings travel with the task.

        The worker checks the notification's credentials and settings as the connector always
        does; a refused one sends nothing.
        """
        self.notification.delay(_plain(payload), None if headers is None else dict(headers))
        return dict(flow_control_next())

    def enqueue_batch(
        self,
        envelope: Mapping[str, Any],
        lines: Iterable[str | bytes],
        *,
        chunk_size: int = DEFAULT_BATCH_CHUNK,
    ) -> int:
        """Enqueue a batch file (JSON lines, one user-update message each) in chunks.

        Args:
            envelope: a notification without messages: ``configuration``, ``connector`` (its
                ``private_settings``) and ``segments``; each chunk travels with a copy.
            lines: the file's lines; blank lines are skipped, and a line that is not JSON
                is kept as a malformed message so that it gets its own error outcome.
            chunk_size: users per task.

        Returns:
            How many tasks were enqueued.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size!r}")
        base = {key: value for key, value in _plain(envelope).items() if key != "messages"}
        enqueued = 0
        chunk: list[Any] = []
        for line in lines:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            if not text.strip():
                continue
            try:
                chunk.append(json.loads(text))
            except ValueError:
                chunk.append(text)
            if len(chunk) >= chunk_size:
                self.batch.delay({**base, "messages": chunk})
                enqueued += 1
                chunk = []
        if chunk:
            self.batch.delay({**base, "messages": chunk})
            enqueued += 1
        return enqueued


def register_tasks(
    app: Celery,
    build_connector: ConnectorBuilder,
    *,
    name: str = "hull_customerio",
    retry_delay: float = 5.0,
    max_retries: int = 20,
) -> HullTasks:
    """Register the notification and batch tasks on your Celery app.

    Args:
        app: your Celery application (its broker, queues and settings are yours).
        build_connector: called in the worker with each payload; returns the
            [`Connector`][hull_customerio.Connector] to run it with. Build the Customer.io client
            with a shared [`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter], and
            cache connectors (e.g. per ``site_id``) rather than building one per task.
        name: prefix of the task names (``<name>.notification``, ``<name>.batch``).
        retry_delay: seconds before a task whose users failed for a passing reason (the
            engine answered ``retry``) runs again.
        max_retries: how many times such a task is retried before it is given up (logged).

    Returns:
        The tasks, with the web side's ``enqueue_notification`` and ``enqueue_batch``.
    """
    options: dict[str, Any] = {
        "bind": True,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "max_retries": max_retries,
        "default_retry_delay": retry_delay,
    }

    def run(
        task: Any, payload: Mapping[str, Any], headers: Mapping[str, str] | None, *, batch: bool
    ) -> dict[str, Any]:
        connector = build_connector(payload)
        if batch:
            payload = {**payload, "is_export": True}
        if headers is None:
            answer = connector.handle_notification(payload)
        else:
            # Connectors that authenticate notifications take the request's headers too
            # (handle_notification(payload, headers)); typed loosely to accept both forms.
            handle: Any = connector.handle_notification
            answer = handle(payload, headers)
        if answer.get("flow_control", {}).get("type") == "retry":
            if task.request.retries >= max_retries:
                logger.error(
                    "celery.task.gave_up",
                    extra={"task": task.name, "retries": task.request.retries},
                )
                return answer
            raise task.retry()
        return answer

    def notification(
        task: Any, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return run(task, payload, headers, batch=False)

    def batch(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return run(task, payload, None, batch=True)

    return HullTasks(
        notification=app.task(name=f"{name}.notification", **options)(notification),
        batch=app.task(name=f"{name}.batch", **options)(batch),
    )


def _plain(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-serialisable copy of the payload (Celery's default serializer is JSON)."""
    return dict(copy.deepcopy(dict(payload)))
