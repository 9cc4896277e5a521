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
import contextlib
import copy
import io
import json
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx

import hull_customerio as hc
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
}


def inputs(target: str, rng: random.Random) -> Iterator[Any]:
    """Endless inputs for ``target``."""
    make = TARGETS[target][0]
    hostile = Hostile(rng)
    while True:
        yield make(hostile)
