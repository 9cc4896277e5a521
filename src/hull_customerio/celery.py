"""Run notifications and batch files on Celery workers, under one shared rate limit.

The web side answers Hull at once and enqueues the notification with its request headers;
workers check Hull's signature and run the engine. Every process that sends to a Customer.io
workspace shares one [`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter], so
adding workers adds throughput up to the workspace's limit and never past it::

    from celery import Celery
    import hull_customerio as hc
    from hull_customerio.celery import register_tasks
    from hull_customerio.redis_limiter import RedisRateLimiter, workspace_key

    app = Celery("connector", broker="redis://localhost:6379/1")

    def build_connector(payload):          # called once per connector and worker process
        settings = hc.Settings.from_private_settings(payload["connector"]["private_settings"])
        configuration = payload["configuration"]
        limiter = RedisRateLimiter("redis://localhost:6379/0",
                                   key=workspace_key(settings.site_id, settings.api_key), rate=100)
        return hc.Connector(
            settings,
            customerio=hc.CustomerIOClient(settings.site_id, settings.api_key,
                                           region=settings.region, rate_limit=limiter),
            hull=hc.HullClient(configuration["id"], configuration["secret"],
                               configuration["organization"]),
            require_signature=True,
        )

    tasks = register_tasks(app, build_connector)
    # web endpoint:  return tasks.enqueue_notification(payload, request.headers)

The tasks keep the connectors they build, one per Hull connector and Customer.io workspace
([`ConnectorKey`][hull_customerio.celery.ConnectorKey]), so ``build_connector`` need not cache.

Tasks are acknowledged only once they finish (``acks_late``) and given back to the queue when
the worker running them dies (``reject_on_worker_lost``), so a killed worker loses nothing:
another worker runs the task again, and the replay is harmless because every Customer.io event
carries an id derived from its Hull event and every Hull event its ``event_id``.

This module needs the ``celery`` extra: ``pip install "hull-customerio[celery]"``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from .errors import NotificationAuthenticationError, missing_extra

try:
    from celery import Celery
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("celery", "the 'celery' extra", "celery") from exc

from .engine import Connector
from .engine._api import SIGNATURE_HEADER, flow_control_for, log_event
from .hull.flow_control import flow_control_next
from .models.notification import parse_notification

__all__ = ["ConnectorBuilder", "ConnectorKey", "HullTasks", "register_tasks"]

logger = logging.getLogger("hull_customerio.celery")

#: Builds the connector for a notification payload, in the worker process. The tasks call it
#: once per [`ConnectorKey`][hull_customerio.celery.ConnectorKey] and keep what it returns.
ConnectorBuilder = Callable[[Mapping[str, Any]], Connector]

DEFAULT_BATCH_CHUNK = 100
#: Connectors a worker process keeps at most; the least recently used one is dropped past it.
DEFAULT_MAX_CONNECTORS = 64


@attrs.frozen(repr=False)
class ConnectorKey:
    """What a cached connector is for: one Hull connector sending to one Customer.io workspace.

    Two organizations sending to the same workspace are two keys (each has its own Hull
    client and credentials), and so is a connector whose secret or Customer.io credentials
    changed. A part that is missing or not text in the payload is ``None``.

    Attributes:
        organization: the Hull organization (``configuration.organization``).
        connector_id: the Hull connector id (``configuration.id``).
        secret: the Hull connector secret (``configuration.secret``); never in ``repr``.
        site_id: the Customer.io Site ID (``connector.private_settings.site_id``).
        api_key: the Customer.io API key; never in ``repr``.
        region: the Customer.io region setting.
    """

    organization: str | None
    connector_id: str | None
    secret: str | None
    site_id: str | None
    api_key: str | None
    region: str | None

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> ConnectorKey:
        """The key of the connector a notification payload is for (nothing is checked yet)."""
        configuration = _object(payload.get("configuration"))
        settings = _object(_object(payload.get("connector")).get("private_settings"))
        return cls(
            organization=_text(configuration.get("organization")),
            connector_id=_text(configuration.get("id")),
            secret=_text(configuration.get("secret")),
            site_id=_text(settings.get("site_id")),
            api_key=_text(settings.get("api_key")),
            region=_text(settings.get("region")),
        )

    def __repr__(self) -> str:
        return (
            f"ConnectorKey(organization={self.organization!r}, "
            f"connector_id={self.connector_id!r}, secret='***', site_id={self.site_id!r}, "
            f"api_key='***', region={self.region!r})"
        )


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@attrs.define(eq=False)
class _Entry:
    connector: Connector
    users: int = 0
    dropped: bool = False


class _ConnectorCache:
    """Connectors by key, least recently used dropped past ``max_size``; a dropped connector's
    clients are closed once no task uses it (threads of a worker may share the cache)."""

    def __init__(self, build: ConnectorBuilder, max_size: int) -> None:
        self._build = build
        self._max_size = max_size
        self._entries: OrderedDict[ConnectorKey, _Entry] = OrderedDict()
        # Held for the bookkeeping only, never while building or closing a connector.
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def lease(self, payload: Mapping[str, Any]) -> Iterator[Connector]:
        key = ConnectorKey.of(payload)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                entry.users += 1
        if entry is None:
            entry = _Entry(self._build(payload), users=1)
            entry = self._insert(key, entry)
        try:
            yield entry.connector
        finally:
            with self._lock:
                entry.users -= 1
                unused = entry.dropped and entry.users == 0
            if unused:
                _close(entry.connector)

    def _insert(self, key: ConnectorKey, built: _Entry) -> _Entry:
        to_close: list[Connector] = []
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                # Another thread built the same connector meanwhile: keep theirs.
                entry.users += 1
                to_close.append(built.connector)
            else:
                entry = self._entries[key] = built
                while len(self._entries) > self._max_size:
                    _, oldest = self._entries.popitem(last=False)
                    oldest.dropped = True
                    if oldest.users == 0:
                        to_close.append(oldest.connector)
        for connector in to_close:
            _close(connector)
        return entry


def _close(connector: Connector) -> None:
    for client in (connector.customerio, connector.hull):
        if client is None:
            continue
        try:
            client.close()
        except Exception as exc:
            # A client that fails to close (Hull messages it could not deliver) must not
            # fail the task that happened to drop it; the failure is logged.
            log_event(
                logging.ERROR, "celery.connector.close_failed", reason="close_failed",
                error=f"{type(exc).__name__}: {exc}",
            )  # fmt: skip


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
            headers: the request's headers: the worker checks Hull's signature in them
                (without them, the notification is refused). Only these plain strings travel
                with the task.

        The worker checks the notification's signature, credentials and settings as the
        connector always does; a refused one sends nothing. Celery's own logs and events show
        the task's arguments as the notification's id only: the payload holds credentials.
        """
        body = _plain(payload)
        self.notification.apply_async(
            (body, None if headers is None else {str(k): str(v) for k, v in headers.items()}),
            argsrepr=f"(notification {_short_id(body)}, headers)",
        )
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
                self._enqueue_chunk({**base, "messages": chunk})
                enqueued += 1
                chunk = []
        if chunk:
            self._enqueue_chunk({**base, "messages": chunk})
            enqueued += 1
        return enqueued

    def _enqueue_chunk(self, chunk: dict[str, Any]) -> None:
        self.batch.apply_async(
            (chunk,), argsrepr=f"(batch of {len(chunk['messages'])} for {_short_id(chunk)})"
        )


def register_tasks(
    app: Celery,
    build_connector: ConnectorBuilder,
    *,
    name: str = "hull_customerio",
    retry_delay: float = 5.0,
    max_retries: int = 20,
    max_connectors: int = DEFAULT_MAX_CONNECTORS,
    require_signature: bool = True,
) -> HullTasks:
    """Register the notification and batch tasks on your Celery app.

    Args:
        app: your Celery application (its broker, queues and settings are yours).
        build_connector: called in the worker the first time a Hull connector and
            Customer.io workspace ([`ConnectorKey`][hull_customerio.celery.ConnectorKey]) is
            seen, with that task's payload; returns the [`Connector`][hull_customerio.Connector]
            to run it with. Build its Hull client from the payload's ``configuration`` and its
            Customer.io client with a shared
            [`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter]. Do not cache
            connectors yourself: the tasks keep them, keyed by connector.
        name: prefix of the task names (``<name>.notification``, ``<name>.batch``).
        retry_delay: seconds before a task whose users failed for a passing reason (the
            engine answered ``retry``) runs again.
        max_retries: how many times such a task is retried before it is given up (logged).
        max_connectors: connectors each worker process keeps; past it the least recently used
            one is dropped and its clients closed.
        require_signature: refuse a notification whose headers carry no Hull signature (the
            connector verifies the signature when there is one). Keep it on: a connector
            built from the payload's own credentials can only tell Hull's notifications from
            anyone's by the signature.

    Returns:
        The tasks, with the web side's ``enqueue_notification`` and ``enqueue_batch``. A
        notification that must be refused fails its task with
        [`NotificationAuthenticationError`][hull_customerio.errors.NotificationAuthenticationError]
        (its ``reason`` says why), an expected failure Celery logs without a traceback and
        never retries; nothing of it is sent.
    """
    if (
        isinstance(max_connectors, bool)
        or not isinstance(max_connectors, int)
        or max_connectors < 1
    ):
        raise ValueError(
            f"max_connectors must be a whole number of at least 1, got {max_connectors!r}"
        )
    connectors = _ConnectorCache(build_connector, max_connectors)
    options: dict[str, Any] = {
        "bind": True,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "max_retries": max_retries,
        "default_retry_delay": retry_delay,
        # A refusal is an answer, not a crash: logged as expected, without a traceback.
        "throws": (NotificationAuthenticationError,),
    }

    def run(
        task: Any, payload: Mapping[str, Any], headers: Mapping[str, str] | None, *, batch: bool
    ) -> dict[str, Any]:
        if not batch and require_signature and not _signed(headers):
            raise NotificationAuthenticationError(
                "The notification is not signed by Hull, and a signature is required: enqueue "
                "it with the request's headers, enqueue_notification(payload, headers).",
                reason="missing_signature",
            )
        with connectors.lease(payload) as connector:
            if batch:
                # Hull signs no batch call: the web side vouched for the envelope (it read the
                # settings from Hull with the request's credentials) before enqueueing it.
                report = connector.sync_notification(
                    parse_notification({**payload, "is_export": True})
                )
                answer = flow_control_for(report)
            elif headers is None:
                answer = connector.handle_notification(payload)
            else:
                answer = connector.handle_notification(payload, headers)
        if answer.get("flow_control", {}).get("type") == "retry":
            if task.request.retries >= max_retries:
                log_event(
                    logging.ERROR, "celery.task.gave_up", reason="retries_exhausted",
                    error=f"Hull was asked to retry {task.request.retries} times; giving up",
                    task=task.name, retries=task.request.retries,
                )  # fmt: skip
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


def _signed(headers: Mapping[str, str] | None) -> bool:
    if not isinstance(headers, Mapping):
        return False
    return any(
        isinstance(key, str) and key.lower() == SIGNATURE_HEADER and bool(value)
        for key, value in headers.items()
    )


def _short_id(payload: Mapping[str, Any]) -> str:
    notification_id = payload.get("notification_id")
    return repr(notification_id[:64]) if isinstance(notification_id, str) else "(no id)"


def _plain(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-serialisable copy of the payload (Celery's default serializer is JSON)."""
    return dict(copy.deepcopy(dict(payload)))
