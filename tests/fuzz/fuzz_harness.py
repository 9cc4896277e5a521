"""Hostile inputs and the documented result of every entry point (SPEC §10).

Shared by the hypothesis suite (``tests/fuzz/``) and the long-running fuzzer
(``benchmarks/fuzz_entry_points.py``). Each target feeds one input to one entry point and checks
that the result is one the docs promise: a value of the documented shape, or a documented
exception with a short message. Anything else escapes as is: that is the bug being hunted.

The generator is a plain :class:`random.Random` so the benchmark can run 100,000 inputs per
target quickly; the hypothesis suite drives it through ``st.randoms()`` and adds its own
strategies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import http.server
import io
import json
import random
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import attrs
import httpx

import hull_customerio as hc
import hull_customerio.testing
from hull_customerio._serialization import unsendable
from hull_customerio.cli import main as cli_main
from hull_customerio.rules.dedupe import deduplicate_messages
from hull_customerio.rules.plan import plan_user_update

DATA = Path(__file__).parent / "data"
#: Longest error message the docs would call short.
SHORT = 2000


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


NOTIFICATION: dict[str, Any] = _load("notification-user-update.json")
WEBHOOKS: list[dict[str, Any]] = [
    _load(name)
    for name in (
        "legacy-email-delivered.json",
        "reporting-customer-subscribed.json",
        "reporting-email-sent.json",
        "reporting-sms-sent.json",
    )
]
MESSAGES: list[dict[str, Any]] = NOTIFICATION["messages"]
PRIVATE_SETTINGS: dict[str, Any] = NOTIFICATION["connector"]["private_settings"]


# --------------------------------------------------------------------------------------------
# Hostile values.


def nest(value: object, depth: int, *, as_object: bool = False) -> object:
    """``value`` inside ``depth`` lists (or objects), built without recursion."""
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


SPECIAL_STRINGS = [
    "\ud800",
    "a\udfffb",
    "x\ud83d",  # the first half of an emoji, alone
    "",
    " ",
    "\x00",
    "null",
    "1e400",
    "9" * 5000,
    "2018-03-30 14:38:02 UTC",
    "99999-01-01",
    "john.doe@example.com",
    "Sven <sven@example.com>",
    "\u202e\u0000\ufeff",
]
SPECIAL_NUMBERS: list[object] = [
    0,
    -1,
    2**63,
    10**400,
    -(10**400),
    10**4000,
    1e308,
    1.7976931348623157e308,
    -1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    5e-324,
    253_402_300_800,
    True,
    False,
]


class Hostile:
    """Hostile JSON values, mutations of real payloads and raw bytes, from one ``Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def scalar(self) -> object:
        rng = self.rng
        kind = rng.randrange(8)
        if kind == 0:
            return rng.choice(SPECIAL_STRINGS)
        if kind == 1:
            return rng.choice(SPECIAL_NUMBERS)
        if kind == 2:
            return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(12)))
        if kind == 3:
            return "x" * rng.choice([1000, 1000, 1000, 100_000, 1_000_000])
        if kind == 4:
            return rng.randrange(-(10**12), 10**12)
        if kind == 5:
            return rng.uniform(-1e12, 1e12)
        if kind == 6:
            return None
        return rng.choice(["id", "email", "external_id", "page", "E", "s", "seg_paying"])

    def value(self, depth: int = 0) -> object:
        """Any JSON value (and then some): deep, huge, unencodable, or of the wrong type."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return nest(self.scalar(), rng.choice([99, 100, 101, 999, 1000, 5000, 10_000]),
                        as_object=rng.random() < 0.5)  # fmt: skip
        if depth > 3 or roll < 0.55:
            return self.scalar()
        if roll < 0.77:
            return [self.value(depth + 1) for _ in range(rng.randrange(4))]
        if roll < 0.79:  # a long list of one small item (now and then a very long one)
            length = 100_000 if rng.random() < 0.05 else 1000
            return [rng.choice([None, 1, "x", "\ud800", [], 1.5])] * length
        return {self.key(): self.value(depth + 1) for _ in range(rng.randrange(5))}

    def key(self) -> str:
        keys = ["id", "email", "user", "events", "segments", "messages", "data", "event",
                "properties", "created_at", "indexed_at", "x_at", "identifiers",
                "timestamp"]  # fmt: skip
        roll = self.rng.random()
        if roll < 0.6:
            return self.rng.choice(keys)
        scalar = self.scalar()
        return scalar if isinstance(scalar, str) else str(self.rng.randrange(100))

    def mutate(self, document: object, mutations: int | None = None) -> object:
        """A deep copy of ``document`` with a few values replaced, removed or added."""
        document = copy.deepcopy(document)
        for _ in range(mutations if mutations is not None else self.rng.randrange(1, 4)):
            document = self._mutate_once(document)
        return document

    def _mutate_once(self, document: object) -> object:
        rng = self.rng
        path: list[tuple[Any, Any]] = []  # (container, key) from the root down
        node = document
        while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            path.append((node, key))
            node = node[key]
        if not path:
            return self.value()
        container, key = path[-1]
        action = rng.randrange(4)
        if action == 0 and isinstance(container, dict):
            del container[key]
        elif action == 1 and isinstance(container, dict):
            container[self.key()] = self.value()
        else:
            container[key] = self.value()
        return document

    def raw_bytes(self, seed: object) -> bytes:
        """Bytes: random, or a JSON text of ``seed`` with bytes flipped, cut or repeated."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        if roll < 0.3:
            return b"[" * rng.choice([1000, 10_000, 100_000]) + b"]" * rng.randrange(2)
        if roll < 0.35:
            return b'{"a": ' + b"9" * rng.choice([4301, 10_000]) + b"}"
        text = _json_bytes(seed)
        data = bytearray(text)
        for _ in range(rng.randrange(1, 4)):
            if not data:
                break
            at = rng.randrange(len(data))
            choice = rng.randrange(3)
            if choice == 0:
                data[at] = rng.randrange(256)
            elif choice == 1:
                del data[at : at + rng.randrange(1, 8)]
            else:
                data[at:at] = rng.choice([b"\\ud800", b"1e999", b"NaN", b"[", b"\xff", b'"'])
        return bytes(data)

    # Inputs per entry point -------------------------------------------------------------

    def notification(self) -> object:
        return self.mutate(NOTIFICATION) if self.rng.random() < 0.85 else self.value()

    def message(self) -> object:
        return self.mutate(self.rng.choice(MESSAGES)) if self.rng.random() < 0.85 else self.value()

    def messages(self) -> list[object]:
        return [self.message() for _ in range(self.rng.randrange(1, 5))]

    def private_settings(self) -> object:
        return self.mutate(PRIVATE_SETTINGS) if self.rng.random() < 0.85 else self.value()

    def webhook(self) -> object:
        return self.mutate(self.rng.choice(WEBHOOKS)) if self.rng.random() < 0.85 else self.value()

    def webhook_body(self) -> bytes:
        if self.rng.random() < 0.5:
            return _json_bytes(self.webhook())
        return self.raw_bytes(self.rng.choice(WEBHOOKS))

    def cli_file(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.4:
            return _json_bytes(self.notification())
        if roll < 0.7:
            return b"\n".join(_json_bytes(m) for m in self.messages())
        return self.raw_bytes(self.rng.choice([NOTIFICATION, *MESSAGES]))


def _json_bytes(value: object) -> bytes:
    """The JSON text of a hostile value, as an attacker would send it (escapes kept ASCII)."""
    try:
        return json.dumps(value).encode("ascii")
    except (ValueError, RecursionError):
        # Too deep, or an int too long to print: say it in JSON text directly.
        return b'{"user": ' + b"[" * 5000 + b"]" * 5000 + b"}"


# --------------------------------------------------------------------------------------------
# The documented results.


class UndocumentedResultError(AssertionError):
    """The entry point answered something its documentation does not promise."""


def expect(condition: bool, what: str) -> None:
    """Fail with ``what`` unless ``condition`` (an assert that ``python -O`` keeps)."""
    if not condition:
        raise UndocumentedResultError(what)


def short(exc: BaseException) -> None:
    """A documented exception's text must be short."""
    expect(len(str(exc)) <= SHORT, f"{type(exc).__name__} message of {len(str(exc))} chars")


def sendable(value: object, what: str) -> None:
    """What is sent to Customer.io or Hull must be JSON that UTF-8 can carry."""
    problem = unsendable(value)
    expect(problem is None, f"{what} would be sent although {problem}")


BASE_SETTINGS = hc.Settings.from_private_settings(PRIVATE_SETTINGS)


def _settings_for(messages: list[hc.UserUpdateMessage]) -> hc.Settings:
    """Settings whitelisting every attribute the users have, so every value is sent."""
    names = {name for m in messages for name in m.user} - {"id"}
    events = {e.event for m in messages for e in m.events} | {"page"}
    return hc.Settings(
        synchronized_segments=[s.id for m in messages for s in m.segments if _encodable(s.id)]
        or ["seg"],
        synchronized_attributes=sorted(n for n in names if _encodable(n)),
        events_filter=sorted(e for e in events if _encodable(e)),
        enable_user_deletion=True,
        anonymous_events=True,
    )


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_parse_notification(payload: object) -> None:
    try:
        notification = hc.parse_notification(payload)  # type: ignore[arg-type]
    except (hc.ValidationError, hc.ConfigurationError) as exc:
        short(exc)
        return
    for bad in notification.malformed:
        short(bad.error)


def check_from_dict(raw: object) -> hc.UserUpdateMessage | None:
    try:
        return hc.UserUpdateMessage.from_dict(raw, index=0)  # type: ignore[arg-type]
    except hc.ValidationError as exc:
        short(exc)
        return None


def _parsed(raws: list[object]) -> list[hc.UserUpdateMessage]:
    messages = []
    for raw in raws:
        with contextlib.suppress(hc.ValidationError):
            messages.append(hc.UserUpdateMessage.from_dict(raw))  # type: ignore[arg-type]
    return messages


def check_deduplicate(raws: list[object]) -> None:
    messages = _parsed(raws)
    kept = deduplicate_messages(messages)
    expect(len({m.user.id for m in kept}) == len(kept), "two messages kept for one user")
    expect({m.user.id for m in kept} == {m.user.id for m in messages}, "a user was lost")


def check_plan(raws: list[object]) -> None:
    messages = _parsed(raws)
    if not messages:
        return
    settings = _settings_for(messages)
    for message in messages:
        for batch in (False, True):
            plan = plan_user_update(message, settings, batch=batch)
            check_plan_result(plan)


def check_plan_result(plan: hc.UserPlan) -> None:
    """A plan that sends only sends what JSON and UTF-8 can carry."""
    if plan.action is hc.Action.ERROR:
        expect(bool(plan.errors), "an error plan without errors")
        for error in plan.errors:
            expect(len(error) <= SHORT, "a long plan error")
        return
    if plan.action in {hc.Action.IDENTIFY, hc.Action.DELETE}:  # a skip sends no person
        sendable(plan.customer_id, "the Customer.io id")
    for chunk in plan.chunks:
        for name, value in chunk.items():
            sendable([name], "an attribute name")
            sendable(value, "an attribute value")
    if plan.traits is not None:  # only then is anything written back to Hull
        sendable([plan.traits, plan.hull_claims], "the Hull write-back")
    for event in plan.events:
        sendable([event.name, event.data, event.anonymous_id, event.id], "an event")


def check_settings(raw: object) -> None:
    try:
        hc.Settings.from_private_settings(raw)  # type: ignore[arg-type]
    except hc.ConfigurationError as exc:
        short(exc)
    if isinstance(raw, Mapping):
        known = {k: v for k, v in raw.items() if k in attrs.fields_dict(hc.Settings)}
        try:
            hc.Settings(**known)
        except hc.ConfigurationError as exc:
            short(exc)


def check_parse_webhook(payload: object) -> None:
    try:
        event = hc.parse_webhook(payload, BASE_SETTINGS)  # type: ignore[arg-type]
    except hc.WebhookPayloadError as exc:
        short(exc)
        expect(exc.reason in {"invalid_payload", "unknown_event", "no_identifier"}, exc.reason)
        return
    sendable(dict(event.track_arguments()), "a webhook event")
    sendable(event.claims, "a webhook's claims")


# The engine, with Customer.io and Hull answered in memory: every body sent is checked.


def _accepting(request: httpx.Request) -> httpx.Response:
    if request.content:
        json.loads(request.content.decode("utf-8"), parse_constant=_no_constant)
    return httpx.Response(200, json={"ok": True})


def _no_constant(name: str) -> object:
    raise UndocumentedResultError(f"{name} was sent")


def _clients() -> tuple[hc.CustomerIOClient, hc.HullClient]:
    customerio = hc.CustomerIOClient(
        "site", "key", rate_limit=None,
        http_client=httpx.Client(transport=httpx.MockTransport(_accepting)),
    )  # fmt: skip
    hull = hc.HullClient(
        "5a0000000000000000000000", "secret", "org.hullapp.io",
        http_client=httpx.Client(transport=httpx.MockTransport(_accepting)),
    )  # fmt: skip
    return customerio, hull


def _async_clients() -> tuple[hc.AsyncCustomerIOClient, hc.AsyncHullClient]:
    async def accepting(request: httpx.Request) -> httpx.Response:
        return _accepting(request)

    customerio = hc.AsyncCustomerIOClient(
        "site", "key", rate_limit=None,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(accepting)),
    )  # fmt: skip
    hull = hc.AsyncHullClient(
        "5a0000000000000000000000", "secret", "org.hullapp.io",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(accepting)),
    )  # fmt: skip
    return customerio, hull


_CUSTOMERIO, _HULL = _clients()
CONNECTOR = hc.Connector(BASE_SETTINGS, customerio=_CUSTOMERIO, hull=_HULL)


def check_webhook_outcome(outcome: hc.WebhookOutcome) -> None:
    expect(isinstance(outcome, hc.WebhookOutcome), f"{type(outcome).__name__}")
    expect(outcome.http_status in {200, 401}, f"status {outcome.http_status} for bad input")
    expect(len(outcome.message) <= SHORT, "a long webhook message")


HEADERS: list[dict[str, str]] = [{}, {"X-CIO-Timestamp": "1", "X-CIO-Signature": "00"}]


def check_handle_webhook(body: bytes) -> None:
    for headers in HEADERS:
        check_webhook_outcome(CONNECTOR.handle_webhook(body, headers))
    signed = hc.Connector(hc.Settings(webhook_signing_key="k"), customerio=_CUSTOMERIO, hull=_HULL)
    check_webhook_outcome(signed.handle_webhook(body, {"X-CIO-Timestamp": "\ud800"}))


def check_report(report: hc.SyncReport) -> None:
    for outcome in report.outcomes:
        expect(outcome.reason != "internal_error", f"internal error: {outcome.error}")
        expect(len(outcome.error or "") <= SHORT, "a long outcome error")


# Once notifications are authenticated, handle_notification documents refusing one (and a body
# that is not a JSON object) with these errors; before that it documents no error at all.
REFUSALS: tuple[type[Exception], ...] = (
    (hc.NotificationAuthenticationError, hc.ValidationError)  # type: ignore[attr-defined]
    if hasattr(hc, "NotificationAuthenticationError")
    else ()
)


def check_handle_notification(payload: object) -> None:
    try:
        answer = CONNECTOR.handle_notification(payload)  # type: ignore[arg-type]
    except REFUSALS as exc:
        short(exc)
        return
    expect(answer.get("flow_control", {}).get("type") in {"next", "retry"}, repr(answer))
    with contextlib.suppress(hc.ValidationError, hc.ConfigurationError):
        notification = hc.parse_notification(payload)  # type: ignore[arg-type]
        check_report(CONNECTOR.sync_notification(notification))


def check_sync(raws: list[object]) -> None:
    """Every input user ends in exactly one outcome; none in an internal error."""
    parsed = _parsed(raws)
    report = CONNECTOR.sync_user_updates(raws, settings=_settings_for(parsed))  # type: ignore[arg-type]
    users = len(raws) - len(parsed) + len({m.user.id for m in parsed})
    expect(len(report.outcomes) == users, f"{len(report.outcomes)} outcomes for {users} users")
    check_report(report)


_LOOP: asyncio.AbstractEventLoop | None = None
_ASYNC: hc.AsyncConnector | None = None


def _run(coro_factory: Callable[[hc.AsyncConnector], Any]) -> Any:
    global _LOOP, _ASYNC  # noqa: PLW0603 -- one loop and one connector for every input
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    if _ASYNC is None:
        customerio, hull = _async_clients()
        _ASYNC = hc.AsyncConnector(BASE_SETTINGS, customerio=customerio, hull=hull)
    return _LOOP.run_until_complete(coro_factory(_ASYNC))


def check_async_handle_webhook(body: bytes) -> None:
    for headers in HEADERS:
        check_webhook_outcome(_run(lambda c: c.handle_webhook(body, headers)))  # noqa: B023


def check_async_handle_notification(payload: object) -> None:
    try:
        answer = _run(lambda c: c.handle_notification(payload))
    except REFUSALS as exc:
        short(exc)
        return
    expect(answer.get("flow_control", {}).get("type") in {"next", "retry"}, repr(answer))


def check_cli(data: bytes, command: str = "plan") -> None:
    """The CLI: exit 0, 1 or 2; on 2 exactly one line on stderr; never a traceback."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(data)
    path = Path(handle.name)
    try:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main([command, "--batch", str(path)] if command == "plan"
                            else [command, str(path)])  # fmt: skip
    finally:
        path.unlink()
    expect(code in {0, 1, 2}, f"exit {code}")
    expect("Traceback" not in err.getvalue(), "a traceback")
    if code == 2:
        lines = err.getvalue().splitlines()
        expect(len(lines) == 1, f"exit 2 with {len(lines)} lines on stderr")
        expect(len(lines[0]) <= SHORT, "a long error line")


# --------------------------------------------------------------------------------------------
# Past authentication: signed notifications, hubs, batches, webhook tokens, the app, `sync`.
#
# Hull signs a JWT whose `jti` is the notification id, not the body, so one signature made by
# `FakeHull` (valid for a day) stays valid for any body keeping that id and the configuration:
# the fuzzer mutates messages, segments and settings inside a correctly signed body and gets
# past authentication to the sync itself. Hull's API is `FakeHull` in process (it verifies
# every firehose JWT); Customer.io accepts in memory, checking every body it is sent.

FAKE_HULL = hc.testing.FakeHull(private_settings={**PRIVATE_SETTINGS})
NOTIFICATION_ID = "fuzz-notification"
SIGNED = FAKE_HULL.signed_notification(
    MESSAGES,
    private_settings=PRIVATE_SETTINGS,
    segments=NOTIFICATION["segments"],
    notification_id=NOTIFICATION_ID,
)
SIGNED_HEADERS = FAKE_HULL.sign_notification(NOTIFICATION_ID, expires_in=86_400)
HULL_QUERY = {"organization": FAKE_HULL.organization, "id": FAKE_HULL.id,
              "secret": FAKE_HULL.secret}  # fmt: skip
#: The content of the batch file the hubs download next (set by each batch input).
_batch_file = [b""]


class _BatchFileHandler(http.server.BaseHTTPRequestHandler):
    """Serves `_batch_file` on loopback: the hubs download batch files on connections of their
    own, to the address checked for the URL's host, never through an injected client."""

    def do_GET(self) -> None:
        content = _batch_file[0]
        self.send_response(200)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve_batch_files() -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BatchFileHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fuzz-batch-files", daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


BATCH_URL = _serve_batch_files() + "/batch/users.json"
BATCH_BODY = {"url": BATCH_URL, "format": "json", "object_type": "user_report"}
TOKEN_KEY = "fuzz-token-key-of-32-bytes-or-more"
HEADER_NAMES = ["x-hull-smart-notifier-signature", "x-hull-smart-notifier-signature-version",
                "x-hull-smart-notifier-signature-public-key-url", "x-hull-smart-notifier",
                "X-CIO-Signature", "X-CIO-Timestamp", "content-type", "content-length",
                "Content-Length"]  # fmt: skip
_inputs_since_reset = [0]


def _reset_fake_hull() -> None:
    """Forget what FakeHull recorded now and then: a long run must not grow without bound."""
    _inputs_since_reset[0] += 1
    if _inputs_since_reset[0] >= 200:
        _inputs_since_reset[0] = 0
        FAKE_HULL.reset()


def _hostile_text(hostile: Hostile) -> str:
    value = hostile.scalar()
    return value if isinstance(value, str) else str(value)[:50]


class Request:
    """One HTTP request to an entry point: body, headers, query and the batch file it names."""

    def __init__(self, body: bytes, headers: dict[str, str], query: dict[str, str],
                 batch_file: bytes = b"", path: str = "") -> None:  # fmt: skip
        self.body, self.headers, self.query = body, headers, query
        self.batch_file, self.path = batch_file, path

    def __repr__(self) -> str:
        return (f"Request(path={self.path!r}, body={self.body[:200]!r}, headers={self.headers!r}, "
                f"query={self.query!r}, batch_file={self.batch_file[:200]!r})")  # fmt: skip


def _mutated_headers(hostile: Hostile, headers: Mapping[str, str]) -> dict[str, str]:
    result = dict(headers)
    rng = hostile.rng
    for _ in range(rng.randrange(1, 3)):
        action = rng.randrange(3)
        if action == 0 and result:
            del result[rng.choice(list(result))]
        elif action == 1:
            result[rng.choice(HEADER_NAMES)] = _hostile_text(hostile)
        else:
            name = rng.choice(list(result) or HEADER_NAMES)
            value = result.get(name, "")
            at = rng.randrange(len(value) + 1)
            result[name] = value[:at] + _hostile_text(hostile)[:8] + value[at + 1 :]
    return result


def _mutated_query(hostile: Hostile, query: Mapping[str, str]) -> dict[str, str]:
    result = dict(query)
    rng = hostile.rng
    action = rng.randrange(3)
    if action == 0 and result:
        del result[rng.choice(list(result))]
    elif action == 1:
        result[rng.choice(["organization", "id", "ship", "secret", "token"])] = _hostile_text(
            hostile
        )
    else:
        name = rng.choice(list(result) or ["token"])
        value = result.get(name, "")
        at = rng.randrange(len(value) + 1)
        result[name] = value[:at] + _hostile_text(hostile)[:4] + value[at + 1 :]
    return result


def signed_request(hostile: Hostile) -> Request:
    """A notification as Hull POSTs it, signed; mostly mutated inside, past authentication."""
    rng = hostile.rng
    roll = rng.random()
    headers = dict(SIGNED_HEADERS)
    payload: Any = copy.deepcopy(SIGNED.payload)
    if roll < 0.25:
        payload["messages"] = hostile.messages()
    elif roll < 0.4:
        payload["connector"]["private_settings"] = hostile.private_settings()
    elif roll < 0.5:
        payload["segments"] = hostile.mutate(payload["segments"])
    elif roll < 0.6:  # anything but the id and the credentials, which the signature ties
        payload = hostile.mutate(payload)
        if isinstance(payload, dict):
            payload["notification_id"] = NOTIFICATION_ID
            payload["configuration"] = dict(SIGNED.payload["configuration"])
    elif roll < 0.7:
        headers = _mutated_headers(hostile, headers)
    elif roll < 0.8:
        payload = hostile.mutate(payload)  # credentials and id too
    elif roll < 0.9:
        return Request(hostile.raw_bytes(SIGNED.payload), headers, {})
    elif roll < 0.95:
        return Request(_json_bytes(hostile.value()), headers, {})
    else:
        return Request(bytes(rng.randrange(256) for _ in range(rng.randrange(64))), {}, {})
    return Request(_json_bytes(payload), headers, {})


def _jsonl(lines: list[object]) -> bytes:
    return b"\n".join(_json_bytes(line) for line in lines) + b"\n"


def batch_file(hostile: Hostile) -> bytes:
    """A JSON-lines batch file: users with hostile values, broken lines, raw bytes."""
    rng = hostile.rng
    roll = rng.random()
    if roll < 0.6:
        return _jsonl(hostile.messages())
    if roll < 0.75:
        return _jsonl([*MESSAGES, hostile.value()])
    if roll < 0.85:
        return hostile.raw_bytes(rng.choice(MESSAGES)) + b"\n" + _jsonl(MESSAGES[:1])
    if roll < 0.9:
        return b"\n" * rng.randrange(5) + b'{"user": {"id": "a"}' + b"\r\n\n"
    return bytes(rng.randrange(256) for _ in range(rng.randrange(256)))


def batch_request(hostile: Hostile) -> Request:
    """Hull's batch call: credentials in the query, the file's URL in the body; hostile file."""
    rng = hostile.rng
    roll = rng.random()
    body: Any = dict(BATCH_BODY)
    query = dict(HULL_QUERY)
    if roll < 0.1:
        body = hostile.mutate(body)
    elif roll < 0.2:
        query = _mutated_query(hostile, query)
    elif roll < 0.25:
        return Request(hostile.raw_bytes(BATCH_BODY), {}, query, batch_file(hostile))
    return Request(_json_bytes(body), {}, query, batch_file(hostile))


def webhook_token() -> str:
    url = hc.ConnectorHub(token_key=TOKEN_KEY).webhook_url(
        "https://connector.example", organization=FAKE_HULL.organization,
        connector_id=FAKE_HULL.id, secret=FAKE_HULL.secret,
    )  # fmt: skip
    return url.split("token=", 1)[1]


WEBHOOK_QUERY = {"token": webhook_token()}


def webhook_request(hostile: Hostile) -> Request:
    """A Customer.io webhook to a hub: the URL's valid token (now and then altered), any body."""
    headers: dict[str, str] = {}
    query = dict(WEBHOOK_QUERY)
    if hostile.rng.random() < 0.15:
        query = _mutated_query(hostile, query)
    if hostile.rng.random() < 0.1:
        headers = _mutated_headers(hostile, headers)
    return Request(hostile.webhook_body(), headers, query)


APP_PATHS = ["/smart-notifier", "/batch", "/webhook", "/status"]


def app_request(hostile: Hostile) -> Request:
    """Any request to the app: one endpoint's input, now and then any path, query or bytes."""
    rng = hostile.rng
    path = rng.choice([*APP_PATHS, *APP_PATHS, "/", "/smart-notifier/", "/x"])
    if path == "/smart-notifier":
        request = signed_request(hostile)
    elif path == "/batch":
        request = batch_request(hostile)
    elif path == "/webhook":
        request = webhook_request(hostile)
    elif path == "/status":
        query = dict(HULL_QUERY) if rng.random() < 0.5 else _mutated_query(hostile, HULL_QUERY)
        request = Request(b"", {}, query)
    else:
        request = Request(hostile.raw_bytes(SIGNED.payload), {}, {})
    if rng.random() < 0.1:
        request.headers = _mutated_headers(hostile, request.headers)
    if rng.random() < 0.1:
        request.body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    request.path = path
    return request


def check_notification_answer(answer: object, statuses: frozenset[int]) -> None:
    """A NotificationAnswer of a documented status, a JSON body and a short message."""
    expect(isinstance(answer, hc.NotificationAnswer), f"{type(answer).__name__}")
    assert isinstance(answer, hc.NotificationAnswer)
    expect(answer.http_status in statuses, f"status {answer.http_status}: {answer.message}")
    expect(len(answer.message) <= SHORT, "a long answer message")
    json.dumps(answer.body, allow_nan=False).encode()
    if answer.report is not None:
        check_report(answer.report)


ANSWERED = frozenset({200, 400, 401})
#: A hub also refuses an organization outside Hull's domains (403 untrusted_organization).
HUB_ANSWERED = ANSWERED | {403}


def _notification_clients() -> tuple[hc.CustomerIOClient, hc.HullClient]:
    customerio = hc.CustomerIOClient(
        PRIVATE_SETTINGS["site_id"], PRIVATE_SETTINGS["api_key"], rate_limit=None,
        http_client=httpx.Client(transport=httpx.MockTransport(_accepting)),
    )  # fmt: skip
    hull = hc.HullClient(
        FAKE_HULL.id, FAKE_HULL.secret, FAKE_HULL.organization,
        http_client=httpx.Client(transport=FAKE_HULL.transport()),
    )  # fmt: skip
    return customerio, hull


_SIGNED_CONNECTOR: list[hc.Connector] = []


def _signed_connector() -> hc.Connector:
    if not _SIGNED_CONNECTOR:
        customerio, hull = _notification_clients()
        _SIGNED_CONNECTOR.append(hc.Connector(
            BASE_SETTINGS, customerio=customerio, hull=hull,
            notification_public_key=FAKE_HULL.notification_public_key, require_signature=True,
        ))  # fmt: skip
    return _SIGNED_CONNECTOR[0]


def check_answer_notification(request: Request) -> None:
    _reset_fake_hull()
    answer = _signed_connector().answer_notification(request.body, request.headers)
    check_notification_answer(answer, ANSWERED)


_ASYNC_SIGNED: list[hc.AsyncConnector] = []


def check_async_answer_notification(request: Request) -> None:
    _reset_fake_hull()

    async def answer(_: hc.AsyncConnector) -> hc.NotificationAnswer:
        if not _ASYNC_SIGNED:
            customerio = hc.AsyncCustomerIOClient(
                PRIVATE_SETTINGS["site_id"], PRIVATE_SETTINGS["api_key"], rate_limit=None,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(_accepting)),
            )  # fmt: skip
            hull = hc.AsyncHullClient(
                FAKE_HULL.id, FAKE_HULL.secret, FAKE_HULL.organization,
                http_client=httpx.AsyncClient(transport=FAKE_HULL.transport()),
            )  # fmt: skip
            _ASYNC_SIGNED.append(hc.AsyncConnector(
                BASE_SETTINGS, customerio=customerio, hull=hull,
                notification_public_key=FAKE_HULL.notification_public_key,
                require_signature=True,
            ))  # fmt: skip
        return await _ASYNC_SIGNED[0].answer_notification(request.body, request.headers)

    check_notification_answer(_run(answer), ANSWERED)


def _hub_options() -> dict[str, Any]:
    return {
        "token_key": TOKEN_KEY,
        "notification_public_key": FAKE_HULL.notification_public_key,
        "batch_hosts": ["127.0.0.1"],
        "settings_ttl": 3600.0,
    }


_HUB: list[hc.ConnectorHub] = []


def _hub() -> hc.ConnectorHub:
    if not _HUB:
        _HUB.append(hc.ConnectorHub(
            customerio_options={"rate_limit": None, "http_client": httpx.Client(
                transport=httpx.MockTransport(_accepting))},
            hull_options={"http_client": httpx.Client(transport=FAKE_HULL.transport())},
            **_hub_options(),
        ))  # fmt: skip
    return _HUB[0]


_ASYNC_HUB: list[hc.AsyncConnectorHub] = []


def _async_hub() -> hc.AsyncConnectorHub:
    """Built inside the loop it serves (its clients belong to that loop)."""
    if not _ASYNC_HUB:
        _ASYNC_HUB.append(hc.AsyncConnectorHub(
            customerio_options={"rate_limit": None, "http_client": httpx.AsyncClient(
                transport=httpx.MockTransport(_accepting))},
            hull_options={"http_client": httpx.AsyncClient(transport=FAKE_HULL.transport())},
            **_hub_options(),
        ))  # fmt: skip
    return _ASYNC_HUB[0]


def check_hub_answer_notification(request: Request) -> None:
    _reset_fake_hull()
    check_notification_answer(_hub().answer_notification(request.body, request.headers),
                              HUB_ANSWERED)  # fmt: skip


def check_async_hub_notification(request: Request) -> None:
    _reset_fake_hull()

    async def answer(_: hc.AsyncConnector) -> hc.NotificationAnswer:
        return await _async_hub().answer_notification(request.body, request.headers)

    check_notification_answer(_run(answer), HUB_ANSWERED)


def check_hub_answer_batch(request: Request) -> None:
    _reset_fake_hull()
    _batch_file[0] = request.batch_file
    answer = _hub().answer_batch(request.body, request.headers, request.query)
    check_notification_answer(answer, HUB_ANSWERED)


def check_async_hub_answer_batch(request: Request) -> None:
    _reset_fake_hull()
    _batch_file[0] = request.batch_file

    async def answer(_: hc.AsyncConnector) -> hc.NotificationAnswer:
        return await _async_hub().answer_batch(request.body, request.headers, request.query)

    check_notification_answer(_run(answer), HUB_ANSWERED)


def check_hub_answer_webhook(request: Request) -> None:
    _reset_fake_hull()
    check_webhook_outcome(_hub().answer_webhook(request.body, request.headers, request.query))


def check_async_hub_answer_webhook(request: Request) -> None:
    _reset_fake_hull()

    async def answer(_: hc.AsyncConnector) -> hc.WebhookOutcome:
        return await _async_hub().answer_webhook(request.body, request.headers, request.query)

    check_webhook_outcome(_run(answer))


_APP: list[httpx.AsyncClient] = []


def _app_client() -> httpx.AsyncClient:
    if not _APP:
        from hull_customerio.server import create_app  # noqa: PLC0415 -- the 'server' extra

        app = create_app(_async_hub(), batch_hosts=["127.0.0.1"])
        _APP.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                      base_url="http://connector.test"))  # fmt: skip
    return _APP[0]


def _latin1(text: str) -> bytes:
    """A header or query text as bytes on the wire (what cannot be sent becomes UTF-8 bytes)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def check_app(request: Request) -> None:
    """Any request to an endpoint of the app: a 2xx or 4xx JSON answer, never a 5xx."""
    _reset_fake_hull()
    _batch_file[0] = request.batch_file
    headers = [(_latin1(k).strip() or b"x", _latin1(v)[:8000]) for k, v in request.headers.items()]
    # A URL is at most a few kilobytes on the wire (httpx refuses longer queries).
    query = "&".join(f"{quote_from_bytes(_latin1(k)[:100])}={quote_from_bytes(_latin1(v)[:2000])}"
                     for k, v in request.query.items())  # fmt: skip

    async def answer(_: hc.AsyncConnector) -> httpx.Response:
        client = _app_client()
        url = httpx.URL(request.path or "/", query=query.encode("ascii"))
        if request.path == "/status":
            return await client.get(url, headers=headers)
        return await client.post(url, content=request.body, headers=headers)

    response = _run(answer)
    expect(response.status_code < 500, f"{request.path} answered {response.status_code}")
    if response.status_code not in (307, 404, 405):  # Starlette's own answers: no JSON
        expect(isinstance(response.json(), dict), "an answer that is not a JSON object")


# The `sync` command, against FakeCustomerIO and FakeHull on loopback.

_SERVERS: list[Any] = []


def _servers() -> tuple[Any, Any]:
    if not _SERVERS:
        customerio = hc.testing.FakeCustomerIO()
        hull = hc.testing.FakeHull()
        customerio.start()
        hull.start()
        atexit.register(customerio.stop)
        atexit.register(hull.stop)
        _SERVERS.extend([customerio, hull])
    return _SERVERS[0], _SERVERS[1]


def check_cli_sync(data: bytes) -> None:
    """``sync`` sends the users: exit 0, 1 (a user failed) or 2 with one line; no traceback."""
    customerio, hull = _servers()
    _inputs_since_reset[0] += 1
    if _inputs_since_reset[0] >= 200:
        _inputs_since_reset[0] = 0
        customerio.reset()
        hull.reset()
    options = ["--site-id", customerio.site_id, "--api-key", customerio.api_key,
               "--base-url", customerio.url, "--hull-id", hull.id, "--hull-secret", hull.secret,
               "--hull-organization", hull.organization, "--hull-api-url", hull.url,
               "--hull-firehose-url", hull.url, "--batch"]  # fmt: skip
    check_cli_command(data, ["sync", *options])


def check_cli_command(data: bytes, command: list[str]) -> None:
    """Run ``command FILE``: exit 0, 1 or 2; on 2 exactly one line on stderr; no traceback."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(data)
    path = Path(handle.name)
    try:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main([*command, str(path)])
    finally:
        path.unlink()
    expect(code in {0, 1, 2}, f"exit {code}")
    expect("Traceback" not in err.getvalue(), "a traceback")
    if code == 2:
        lines = err.getvalue().splitlines()
        expect(len(lines) == 1, f"exit 2 with {len(lines)} lines on stderr: {lines[:3]}")
        expect(len(lines[0]) <= SHORT, "a long error line")


# The service's edge (SPEC §8.7): organizations, key URLs and bodies an attacker chooses.

HOST_PIECES = [
    "acme42.hullapp.io",
    "hullapp.io",
    "a.hullbeta.io",
    "x.hull.io",
    "127.0.0.1",
    "[::1]",
    "169.254.169.254",
    "10.0.0.1",
    "localhost",
    "evil.example",
    "hullapp.io.evil.example",
    "xn--a.hullapp.io",
    "xn--hullapp-xyz.io",
    "xn--bcher-kva.hullapp.io",
    "xn--.hullapp.io",
    "\u0430cme.hullapp.io",
    "ACME42.HULLAPP.IO.",
    "acme42.hullapp.io..",
    "-a.hullapp.io",
    "0x7f.1",
    "2130706433",
    "1.hullapp.io",
    "a_b.hullapp.io",
    "%31%32%37.0.0.1",
]
HOST_SUFFIXES = [
    "",
    ":6379",
    ":443",
    ":0",
    ":99999",
    "/",
    "/api/v1/app#",
    "/internal",
    "?x=1",
    "#frag",
    "@127.0.0.1",
    ".",
    " ",
    "\n",
    "\\",
    "%2f",
    ":6379/x#",
]
HOST_PREFIXES = ["", "https://", "http://", "user@", "user:pw@", "//", " ", "HTTPS://"]


def hostile_host(hostile: Hostile) -> str:
    """An organization or key host: Hull's own, IP literals, ports, paths, IDN, junk."""
    rng = hostile.rng
    if rng.random() < 0.1:
        return _hostile_text(hostile)[:300]
    return rng.choice(HOST_PREFIXES) + rng.choice(HOST_PIECES) + rng.choice(HOST_SUFFIXES)


_TRUSTED = hc.HULL_KEY_HOSTS


def _is_trusted_host(host: str) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in _TRUSTED)


class _Recording:
    """An httpx transport recording every request; answers like Hull for the fake."""

    def __init__(self) -> None:
        self.urls: list[httpx.URL] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return httpx.Response(200, json={"private_settings": {}})


_EDGE_HUB: list[tuple[hc.ConnectorHub, _Recording]] = []


def _edge_hub() -> tuple[hc.ConnectorHub, _Recording]:
    if not _EDGE_HUB:
        recording = _Recording()
        hub = hc.ConnectorHub(
            token_key=TOKEN_KEY,
            notification_public_key=None,
            hull_options={"http_client": httpx.Client(transport=httpx.MockTransport(recording))},
            http_client=httpx.Client(transport=httpx.MockTransport(recording)),
            settings_ttl=0,
        )
        _EDGE_HUB.append((hub, recording))
    return _EDGE_HUB[0]


def check_hub_organization(organization: str) -> None:
    """Any organization: 200, 401 or 403 from every entry point that takes one, never a
    crash; a request is made only to a host name under Hull's domains, never another."""
    hub, recording = _edge_hub()
    recording.urls.clear()
    query = {"organization": organization, "id": FAKE_HULL.id, "secret": FAKE_HULL.secret}
    answers = [
        hub.answer_status(query),
        hub.answer_credentials(query, base_url="https://connector.example"),
        hub.answer_batch(_json_bytes(BATCH_BODY), {}, query),
    ]
    for answer in answers:
        check_notification_answer(answer, frozenset({200, 400, 401, 403, 502, 503}))
        if answer.reason == "untrusted_organization":
            expect(answer.http_status == 403, "untrusted_organization without 403")
    try:
        hub.webhook_url("https://c.example", organization=organization, connector_id="1",
                        secret="s")  # fmt: skip
    except hc.ConfigurationError as exc:
        short(exc)
    for url in recording.urls:
        expect(url.scheme == "https" and url.port is None, f"a request to {url}")
        expect(_is_trusted_host(url.host), f"a request to host {url.host!r}")
    if recording.urls:
        expect(answers[0].reason != "untrusted_organization", "refused after a request")


def check_key_url(key_url: str) -> None:
    """Any signature key URL: 200 or 401, never a crash, and a key fetched only over https
    from a host under Hull's domains (the fake answers none: key_unavailable)."""
    hub, recording = _edge_hub()
    recording.urls.clear()
    headers = FAKE_HULL.sign_notification(NOTIFICATION_ID, key_url=key_url)
    answer = hub.answer_notification(SIGNED.body, headers)
    check_notification_answer(answer, frozenset({401}))
    for url in recording.urls:
        expect(url.scheme == "https" and not url.userinfo, f"a key fetched from {url}")
        expect(_is_trusted_host(url.host), f"a key fetched from host {url.host!r}")
    hub._key_cache.clear()  # every input gets its own fetch budget


def hostile_key_url(hostile: Hostile) -> str:
    rng = hostile.rng
    return (rng.choice(["https://", "http://", "", "HTTPS://", "https:///", "ftp://"])
            + hostile_host(hostile).removeprefix("https://")
            + rng.choice(["/key", "", "/smart-notifier/public-key", "?a", "#"]))  # fmt: skip


class BodyRequest:
    """A raw upload: its body, the Content-Length it declares (or none), chunked or not."""

    def __init__(self, body: bytes, declared: str | None, chunked: bool, path: str) -> None:
        self.body, self.declared, self.chunked, self.path = body, declared, chunked, path

    def __repr__(self) -> str:
        return (f"BodyRequest(path={self.path!r}, size={len(self.body)}, "
                f"declared={(self.declared or '')[:40]!r}, chunked={self.chunked})")  # fmt: skip


BODY_LIMIT = 2000


def hostile_body(hostile: Hostile) -> BodyRequest:
    rng = hostile.rng
    size = rng.choice([0, 1, BODY_LIMIT - 1, BODY_LIMIT, BODY_LIMIT + 1, rng.randrange(5000)])
    body = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
    body = body[:size]
    declared_kind = rng.randrange(5)
    declared: str | None
    if declared_kind == 0:
        declared = None
    elif declared_kind == 1:
        declared = str(len(body))
    elif declared_kind == 2:
        declared = rng.choice(["-1", "0" * 300 + "5", "9" * 50, "1e3", "12 ", "0x10"])
    else:
        declared = str(rng.choice([0, BODY_LIMIT + 1, 10**12]))
    path = rng.choice(["/smart-notifier", "/batch", "/webhook"])
    return BodyRequest(body, declared, rng.random() < 0.3, path)


_LIMITED_APP: list[httpx.AsyncClient] = []


def check_body_limits(request: BodyRequest) -> None:
    """Any upload: 413 exactly when it is larger than the limit (declared or sent), never a
    5xx but a 503 from a full budget; the budget is free again after each request."""
    from hull_customerio.server import create_app  # noqa: PLC0415 -- the 'server' extra

    if not _LIMITED_APP:
        app = create_app(_async_hub(), max_body_bytes=BODY_LIMIT,
                         max_pending_body_bytes=BODY_LIMIT * 3, body_timeout=5)  # fmt: skip
        _LIMITED_APP.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                              base_url="http://connector.test"))  # fmt: skip
    client = _LIMITED_APP[0]

    async def answer(_: hc.AsyncConnector) -> tuple[httpx.Response, httpx.Response]:
        content: Any = request.body
        if request.chunked:

            async def chunks() -> Any:
                for at in range(0, len(request.body), 700):
                    yield request.body[at : at + 700]

            content = chunks()
        headers = {} if request.declared is None else {"content-length": request.declared}
        first = await client.post(request.path, content=content, headers=headers)
        after = await client.get("/health")
        return first, after

    response, health = _run(answer)
    expect(response.status_code < 500 or response.status_code == 503,
           f"{request.path} answered {response.status_code}")  # fmt: skip
    expect(response.status_code != 503, "a 503 with one request at a time: budget not freed")
    expect(health.status_code == 200, "health did not answer")
    too_large = len(request.body) > BODY_LIMIT
    if too_large:
        expect(response.status_code == 413, f"{len(request.body)} bytes answered "
               f"{response.status_code}")  # fmt: skip
    expect(isinstance(response.json(), dict), "an answer that is not a JSON object")


# --------------------------------------------------------------------------------------------
# Targets: name -> (input maker, check).

Target = tuple[Callable[[Hostile], Any], Callable[[Any], None]]

TARGETS: dict[str, Target] = {
    "parse_notification": (Hostile.notification, check_parse_notification),
    "UserUpdateMessage.from_dict": (Hostile.message, check_from_dict),
    "deduplicate_messages": (Hostile.messages, check_deduplicate),
    "plan_user_update": (Hostile.messages, check_plan),
    "Settings": (Hostile.private_settings, check_settings),
    "parse_webhook": (Hostile.webhook, check_parse_webhook),
    "Connector.handle_webhook": (Hostile.webhook_body, check_handle_webhook),
    "AsyncConnector.handle_webhook": (Hostile.webhook_body, check_async_handle_webhook),
    "Connector.handle_notification": (Hostile.notification, check_handle_notification),
    "Connector.sync_user_updates": (Hostile.messages, check_sync),
    "AsyncConnector.handle_notification": (Hostile.notification, check_async_handle_notification),
    "cli plan": (Hostile.cli_file, lambda data: check_cli(data, "plan")),
    "cli webhook": (Hostile.webhook_body, lambda data: check_cli(data, "webhook")),
    "Connector.answer_notification": (signed_request, check_answer_notification),
    "AsyncConnector.answer_notification": (signed_request, check_async_answer_notification),
    "ConnectorHub.answer_notification": (signed_request, check_hub_answer_notification),
    "AsyncConnectorHub.answer_notification": (signed_request, check_async_hub_notification),
    "ConnectorHub.answer_batch": (batch_request, check_hub_answer_batch),
    "AsyncConnectorHub.answer_batch": (batch_request, check_async_hub_answer_batch),
    "ConnectorHub.answer_webhook": (webhook_request, check_hub_answer_webhook),
    "AsyncConnectorHub.answer_webhook": (webhook_request, check_async_hub_answer_webhook),
    "app endpoints": (app_request, check_app),
    "cli sync": (Hostile.cli_file, check_cli_sync),
    "hub organizations": (hostile_host, check_hub_organization),
    "key URLs": (hostile_key_url, check_key_url),
    "app body limits": (hostile_body, check_body_limits),
}


def inputs(target: str, rng: random.Random) -> Iterator[Any]:
    """Endless inputs for ``target``."""
    make = TARGETS[target][0]
    hostile = Hostile(rng)
    while True:
        yield make(hostile)
