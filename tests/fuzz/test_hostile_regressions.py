"""The crashes fuzzing found, one test each (SPEC §10): each input now gets its documented result.

Nothing in here may raise anything but a documented error: a ``ValidationError``,
``ConfigurationError`` or ``WebhookPayloadError`` with a short message, an error outcome for the
one user at fault while the others proceed, a webhook outcome, or exit code 2 with one line.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import hull_customerio as hc
from hull_customerio.cli import main as cli_main
from hull_customerio.testing import FakeHull

SHORT = 2000
TOKEN_KEY = "a-service-token-key-of-32-bytes-at-least"
NOTIFICATION = json.loads(
    (Path(__file__).parent / "data" / "notification-user-update.json").read_text()
)
WEBHOOK = json.loads((Path(__file__).parent / "data" / "reporting-email-sent.json").read_text())
SETTINGS = hc.Settings(
    synchronized_segments=["seg"],
    synchronized_attributes=["plan_at", "tags", "nickname", "score"],
    events_filter=["Order"],
)


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def message(user_id: str = "u1", **attributes: Any) -> dict[str, Any]:
    return {
        "user": {"id": user_id, "email": f"{user_id}@example.com", "external_id": user_id,
                 **attributes},
        "segments": [{"id": "seg", "name": "Seg"}],
        "events": [],
    }  # fmt: skip


class Recorder:
    """An in-memory Customer.io and Hull that accept everything and keep what was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        # What left the library is strict JSON in UTF-8: no NaN, no lone surrogates.
        json.loads(request.content.decode("utf-8") or "null", parse_constant=_refuse)
        return httpx.Response(200, json={})

    def connector(self, settings: hc.Settings = SETTINGS) -> hc.Connector:
        transport = httpx.MockTransport(self)
        customerio = hc.CustomerIOClient(
            "site", "key", rate_limit=None, http_client=httpx.Client(transport=transport)
        )
        hull = hc.HullClient(
            "5a0000000000000000000000",
            "secret-of-32-bytes-for-hs256-jwt!",
            "org.hullapp.io",
            http_client=httpx.Client(transport=transport),
        )
        return hc.Connector(settings, customerio=customerio, hull=hull)  # fmt: skip

    def async_connector(self, settings: hc.Settings = SETTINGS) -> hc.AsyncConnector:
        async def handler(request: httpx.Request) -> httpx.Response:
            return self(request)

        transport = httpx.MockTransport(handler)
        customerio = hc.AsyncCustomerIOClient(
            "site", "key", rate_limit=None, http_client=httpx.AsyncClient(transport=transport)
        )
        hull = hc.AsyncHullClient(
            "5a0000000000000000000000",
            "secret-of-32-bytes-for-hs256-jwt!",
            "org.hullapp.io",
            http_client=httpx.AsyncClient(transport=transport),
        )
        return hc.AsyncConnector(settings, customerio=customerio, hull=hull)  # fmt: skip


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} was sent")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


# --------------------------------------------------------------------------------------------
# handle_webhook: RecursionError, UnicodeEncodeError


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_handle_webhook_answers_json_nested_10000_deep_without_recursion_error(
    recorder: Recorder, flavour: str
) -> None:
    body = b'{"data": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"

    if flavour == "sync":
        outcome = recorder.connector().handle_webhook(body, {})
    else:
        outcome = asyncio.run(recorder.async_connector().handle_webhook(body, {}))

    assert (outcome.http_status, outcome.reason) == (200, "invalid_payload")
    assert recorder.requests == []


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("field", ["subject", "campaign_name", "recipient", "tags"])
def test_handle_webhook_refuses_a_lone_surrogate_in_a_forwarded_field(
    recorder: Recorder, flavour: str, field: str
) -> None:
    payload = json.loads(json.dumps(WEBHOOK))
    payload["data"][field] = "\ud800" if field != "tags" else ["ok", "\ud800"]
    body = json.dumps(payload).encode("ascii")  # the escape "\ud800", as an attacker sends it

    if flavour == "sync":
        outcome = recorder.connector().handle_webhook(body, {})
    else:
        outcome = asyncio.run(recorder.async_connector().handle_webhook(body, {}))

    assert (outcome.http_status, outcome.reason) == (200, "invalid_payload")
    assert "not valid Unicode" in outcome.message
    assert recorder.requests == []  # nothing reached Hull


@pytest.mark.parametrize("length", [100, 101, 1_000_000])
def test_a_channel_metric_of_a_megabyte_is_no_event_to_forward(length: int) -> None:
    payload = {**WEBHOOK, "object_type": "sms", "metric": "x" * (length - len("sms_"))}

    if length <= 100:
        assert hc.parse_webhook(payload, SETTINGS).event.startswith("SMS X")
        return
    with pytest.raises(hc.WebhookPayloadError) as caught:
        hc.parse_webhook(payload, SETTINGS)
    assert caught.value.reason == "unknown_event"
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("value", [float("nan"), float("inf"), deep(150)])
def test_parse_webhook_refuses_values_hull_could_not_read(value: object) -> None:
    payload = json.loads(json.dumps(WEBHOOK))
    payload["data"]["tags"] = value

    with pytest.raises(hc.WebhookPayloadError) as caught:
        hc.parse_webhook(payload, SETTINGS)

    assert caught.value.reason == "invalid_payload"
    assert len(str(caught.value)) < 300


# --------------------------------------------------------------------------------------------
# indexed_at of 400 digits: OverflowError for the whole batch


def test_a_400_digit_indexed_at_does_not_stop_deduplication() -> None:
    huge = hc.UserUpdateMessage.from_dict(message("u1", indexed_at=10**400))
    dated = hc.UserUpdateMessage.from_dict(message("u1", indexed_at="2024-01-01T00:00:00Z"))

    kept = hc.deduplicate_messages([huge, dated])

    # A number past the year 9999 is no date: it sorts first, like a missing one.
    assert kept == [dated]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_400_digit_indexed_at_costs_no_user_of_the_batch(
    recorder: Recorder, flavour: str
) -> None:
    messages = [message("u1", indexed_at=10**400), message("u2"), message("u3")]

    if flavour == "sync":
        report = recorder.connector().sync_user_updates(messages)
    else:
        report = asyncio.run(recorder.async_connector().sync_user_updates(messages))

    assert [(o.user_id, o.status) for o in report.outcomes] == [
        ("u1", "success"), ("u2", "success"), ("u3", "success"),
    ]  # fmt: skip


def test_a_notification_with_a_400_digit_indexed_at_is_synced_user_by_user(
    recorder: Recorder,
) -> None:
    payload = json.loads(json.dumps(NOTIFICATION))
    payload["messages"][0]["user"]["indexed_at"] = 10**400

    report = recorder.connector().sync_notification(hc.parse_notification(payload))

    assert len(report.outcomes) == len(payload["messages"])
    assert all(outcome.status != "error" for outcome in report.outcomes)
    assert recorder.requests  # the users were sent


# --------------------------------------------------------------------------------------------
# plan_user_update: huge-int dates, lone surrogates, values nested ~1,000 deep


@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), 10**4000, float("inf"), float("nan")],
    ids=["400-digits", "-400-digits", "4000-digits", "inf", "nan"],
)
def test_plan_user_update_keeps_a_huge_number_under_a_date_name_as_it_is(value: object) -> None:
    plan = hc.plan_user_update(
        hc.UserUpdateMessage.from_dict(message(plan_at=10**20, created_at=value)),
        SETTINGS,
    )
    # Not a date: created_at is left out, plan_at is not cast; nothing raised.
    assert "created_at" not in plan.attributes
    assert plan.attributes["plan_at"] == 10**20


@pytest.mark.parametrize(
    "value", [10**5000, float("nan"), float("-inf")], ids=["5001-digits", "nan", "-inf"]
)
def test_plan_user_update_refuses_a_value_json_cannot_carry(value: object) -> None:
    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(message(score=value)), SETTINGS)

    assert (plan.action, plan.reason) == (hc.Action.ERROR, "invalid_attributes")
    assert plan.errors == [
        "The value of attribute 'score' cannot be sent: it is not valid JSON (text that is not "
        "valid Unicode, a number that is not finite or too long, or nesting too deep)."
    ]


def test_plan_user_update_sends_a_400_digit_number_it_can_carry() -> None:
    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(message(score=10**400)), SETTINGS)

    assert plan.action is hc.Action.IDENTIFY
    assert plan.attributes["score"] == 10**400


@pytest.mark.parametrize("where", ["nickname", "email", "tags"])
def test_plan_user_update_refuses_a_lone_surrogate_as_invalid_for_that_user(where: str) -> None:
    value: Any = "Ad\ud800a"
    if where == "tags":
        value = ["ok", {"nested": "\ud800"}]
    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(message(**{where: value})), SETTINGS)

    assert (plan.action, plan.reason) == (hc.Action.ERROR, "invalid_attributes")
    assert all("\ud800" not in error for error in plan.errors)
    assert not plan.chunks


def test_settings_refuse_an_attribute_name_that_is_not_valid_unicode() -> None:
    with pytest.raises(hc.ConfigurationError):
        hc.Settings(synchronized_attributes=["nick\ud800"])


@pytest.mark.parametrize("depth", [101, 999, 1000, 5000])
def test_plan_user_update_refuses_a_value_nested_about_1000_deep(depth: int) -> None:
    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(message(tags=deep(depth))), SETTINGS)

    assert plan.action is hc.Action.ERROR
    assert plan.errors
    assert "'tags'" in plan.errors[0]


def test_an_event_json_cannot_carry_is_skipped_as_invalid_and_the_user_still_sent() -> None:
    raw = message()
    raw["events"] = [
        {"event": "Order", "event_id": "e1", "properties": {"note": "\ud800"}},
        {"event": "Order", "event_id": "e2", "properties": {"total": float("nan")}},
        {"event": "Order", "event_id": "e3", "properties": {"items": deep(2000)}},
        {"event": "Order", "properties": {"items": deep(2000)}},  # no id: its content is hashed
        {"event": "Order", "event_id": "\ud800"},
        {"event": "Order", "event_id": "ok", "properties": {"total": 5}},
    ]

    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(raw), SETTINGS)

    assert plan.action is hc.Action.IDENTIFY
    assert [e.source_event_id for e in plan.events] == ["ok"]
    assert plan.skipped_events == [("Order", "invalid_event")] * 5


def test_a_customer_id_of_thousands_of_digits_is_no_customer_id() -> None:
    settings = hc.Settings(synchronized_segments=["seg"], user_id_mapping="number")

    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(message(number=10**4000)), settings)

    assert (plan.action, plan.reason) == (hc.Action.SKIP, "no_customer_id")


def test_a_lone_surrogate_in_a_hull_claim_is_not_written_back() -> None:
    settings = hc.Settings(synchronized_segments=["seg"], user_id_mapping="email")
    raw = message(external_id=None)
    raw["user"]["id"] = "\ud800"

    plan = hc.plan_user_update(hc.UserUpdateMessage.from_dict(raw), settings)

    assert plan.action is hc.Action.ERROR
    assert plan.errors == ["The user's id is not valid Unicode text."]
    assert plan.traits is None


# --------------------------------------------------------------------------------------------
# Settings: huge numbers


@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), "9" * 5000, 1e400, "1e400"],
    ids=["400-digits", "-400-digits", "5000-digit-string", "1e400", "1e400-string"],
)
def test_a_huge_number_in_a_numeric_setting_is_a_short_configuration_error(value: object) -> None:
    for build in (hc.Settings.from_private_settings, lambda s: hc.Settings(**s)):
        with pytest.raises(hc.ConfigurationError) as caught:
            build({"max_attribute_value_length": value})
        assert "max_attribute_value_length" in str(caught.value)
        assert len(str(caught.value)) < 200


# --------------------------------------------------------------------------------------------
# The CLI: tracebacks on deep nesting, numbers past 4,300 digits, huge dates


def run_cli(tmp_path: Path, data: bytes, capsys: pytest.CaptureFixture[str],
            command: str = "plan") -> tuple[int, str, str]:  # fmt: skip
    path = tmp_path / "input.json"
    path.write_bytes(data)
    code = cli_main([command, "--batch", str(path)] if command == "plan" else [command, str(path)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["plan", "webhook"])
@pytest.mark.parametrize(
    "data",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"messages": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b'{"user": {"id": "u", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}\n{}",
        b'{"messages": [], "x": ' + b"9" * 5000 + b"}",
        b'{"user": {"id": "u", "created_at": ' + b"9" * 4301 + b"}}",
    ],
    ids=["deep-array", "deep-notification", "deep-json-line", "5000-digits", "4301-digit-date"],
)
def test_cli_answers_absurd_json_with_exit_2_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, command: str
) -> None:
    code, _, err = run_cli(tmp_path, data, capsys, command)

    assert code == 2
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_cli_plans_a_user_with_a_huge_date_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = {"user": {"id": "u", "email": "u@example.com", "external_id": "u",
                     "created_at": 10**400, "indexed_at": -(10**4000)}}  # fmt: skip

    code, out, err = run_cli(tmp_path, json.dumps(line).encode(), capsys)

    assert (code, err) == (0, "")
    assert json.loads(out)["user_id"] == "u"


def test_cli_prints_a_user_id_with_a_lone_surrogate_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = json.dumps({"user": {"id": "\ud800", "email": 5}}).encode("ascii")

    code, out, err = run_cli(tmp_path, line, capsys)

    assert (code, err) == (0, "")
    assert json.loads(out)["reason"] == "malformed_message"


def test_cli_error_line_stays_short_with_a_megabyte_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(tmp_path, json.dumps({"k" * 1_000_000: 1}).encode(), capsys)

    assert code == 2
    assert err.startswith("hull-customerio: error: ")
    assert 'an object with keys "kkkk' in err
    assert len(err) < 300


# Hubs and the app: credentials no Hull client can be built for (fuzzing round 2).

NOT_A_HOST = ["None", "915479779802", "acme"]  # no domain to derive Hull's firehose URL from


def _hub_hull() -> FakeHull:
    return FakeHull(private_settings={"site_id": "site", "api_key": "key"})


def _batch_query(organization: str, fake: FakeHull) -> dict[str, str]:
    return {"organization": organization, "id": fake.id, "secret": fake.secret}


BATCH_BODY = json.dumps({"url": "http://127.0.0.1/batch.json"}).encode()


@pytest.mark.parametrize("organization", NOT_A_HOST)
def test_hub_answer_batch_refuses_an_organization_that_is_not_a_hull_host_with_403(
    organization: str,
) -> None:
    fake = _hub_hull()
    with hc.ConnectorHub(
        token_key=TOKEN_KEY, hull_options={"http_client": httpx.Client(transport=fake.transport())}
    ) as hub:
        answer = hub.answer_batch(BATCH_BODY, {}, _batch_query(organization, fake))
    assert (answer.http_status, answer.reason) == (403, "untrusted_organization")
    assert fake.requests == []


@pytest.mark.parametrize("organization", NOT_A_HOST)
def test_async_hub_answer_batch_refuses_an_organization_that_is_not_a_hull_host_with_403(
    organization: str,
) -> None:
    fake = _hub_hull()

    async def answer() -> hc.NotificationAnswer:
        client = httpx.AsyncClient(transport=fake.transport())
        hub_options: dict[str, Any] = {"http_client": client}
        async with hc.AsyncConnectorHub(token_key=TOKEN_KEY, hull_options=hub_options) as hub:
            return await hub.answer_batch(BATCH_BODY, {}, _batch_query(organization, fake))

    answer = asyncio.run(answer())
    assert (answer.http_status, answer.reason) == (403, "untrusted_organization")
    assert fake.requests == []


def _token_query(hub: hc.ConnectorHub | hc.AsyncConnectorHub, fake: FakeHull) -> dict:
    # A hub that pins Hull's URL may seal any organization; one that does not refuses it.
    pinned = {"api_url": "https://pinned.test"}
    with hc.ConnectorHub(token_key=TOKEN_KEY, hull_options=pinned) as sealer:
        url = sealer.webhook_url(
            "https://c.example", organization="acme", connector_id=fake.id, secret=fake.secret
        )
    return {"token": url.split("token=", 1)[1]}


def test_hub_answer_webhook_for_a_token_naming_an_untrusted_organization_is_403() -> None:
    fake = _hub_hull()
    with hc.ConnectorHub(
        token_key=TOKEN_KEY, hull_options={"http_client": httpx.Client(transport=fake.transport())}
    ) as hub:
        outcome = hub.answer_webhook(json.dumps(WEBHOOK).encode(), {}, _token_query(hub, fake))
    assert (outcome.http_status, outcome.reason) == (403, "untrusted_organization")
    assert fake.requests == []


def test_async_hub_answer_webhook_for_a_token_naming_an_untrusted_organization_is_403() -> None:
    fake = _hub_hull()

    async def answer() -> hc.WebhookOutcome:
        client = httpx.AsyncClient(transport=fake.transport())
        hub_options: dict[str, Any] = {"http_client": client}
        async with hc.AsyncConnectorHub(token_key=TOKEN_KEY, hull_options=hub_options) as hub:
            body = json.dumps(WEBHOOK).encode()
            return await hub.answer_webhook(body, {}, _token_query(hub, fake))

    outcome = asyncio.run(answer())
    assert (outcome.http_status, outcome.reason) == (403, "untrusted_organization")
    assert fake.requests == []


@pytest.mark.parametrize("organization", NOT_A_HOST)
def test_app_status_refuses_an_organization_that_is_not_a_hull_host_with_403(
    organization: str,
) -> None:
    from hull_customerio.server import create_app  # noqa: PLC0415 -- the 'server' extra

    fake = _hub_hull()

    async def status() -> httpx.Response:
        client = httpx.AsyncClient(transport=fake.transport())
        hub = hc.AsyncConnectorHub(token_key=TOKEN_KEY, hull_options={"http_client": client})
        app = create_app(hub)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://app.test"
        ) as http:
            return await http.get("/status", params=_batch_query(organization, fake))

    response = asyncio.run(status())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "untrusted_organization"
    assert fake.requests == []


def test_a_channel_name_of_a_megabyte_is_not_copied_into_the_answer_or_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeHull(private_settings={"site_id": "site", "api_key": "key"})
    signed = fake.signed_notification(channel="x" * 1_000_000, notification_id="n1")
    customerio = hc.CustomerIOClient(
        "site", "key", http_client=httpx.Client(transport=httpx.MockTransport(Recorder()))
    )
    hull = hc.HullClient(fake.id, fake.secret, fake.organization,
                         http_client=httpx.Client(transport=fake.transport()))  # fmt: skip
    connector = hc.Connector(SETTINGS, customerio=customerio, hull=hull,
                             notification_public_key=fake.notification_public_key)  # fmt: skip
    with caplog.at_level("INFO", logger="hull_customerio"):
        answer = connector.answer_notification(signed.body, signed.headers)
    assert (answer.http_status, answer.reason) == (200, "unsupported_channel")
    assert "xxxx" in answer.message
    assert len(answer.message) < 300
    assert len(json.dumps(answer.body)) < 300
    assert all(len(record.getMessage()) < 1000 for record in caplog.records)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/\ud800.json", "http://127.0.0.1/a\udfffb", "http://127.0.0.1:99999999/f"],
)
def test_a_batch_url_httpx_cannot_read_is_refused_with_400(url: str) -> None:
    fake = _hub_hull()
    body = json.dumps({"url": url}).encode()  # escaped: "\ud800" arrives as a lone surrogate
    query = _batch_query(fake.organization, fake)
    with hc.ConnectorHub(
        token_key=TOKEN_KEY,
        hull_options={"http_client": httpx.Client(transport=fake.transport())},
        batch_hosts=["127.0.0.1"],
    ) as hub:
        answer = hub.answer_batch(body, {}, query)

    async def async_answer() -> hc.NotificationAnswer:
        client = httpx.AsyncClient(transport=fake.transport())
        async with hc.AsyncConnectorHub(
            token_key=TOKEN_KEY, hull_options={"http_client": client}, batch_hosts=["127.0.0.1"]
        ) as hub:
            return await hub.answer_batch(body, {}, query)

    for each in (answer, asyncio.run(async_answer())):
        assert (each.http_status, each.reason) == (400, "batch_url_refused")
        assert "not a valid URL" in each.message


def _app_post(content_length: str) -> httpx.Response:
    from hull_customerio.server import create_app  # noqa: PLC0415 -- the 'server' extra

    async def post() -> httpx.Response:
        hub = hc.AsyncConnectorHub(token_key=TOKEN_KEY)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://app.test"
        ) as http:
            return await http.post(
                "/smart-notifier",
                content=b"{}",
                headers=[(b"content-length", content_length.encode("latin-1"))],
            )

    return asyncio.run(post())


@pytest.mark.parametrize("digits", [5000, 20])
def test_the_app_answers_a_content_length_of_thousands_of_digits_413(digits: int) -> None:
    response = _app_post("9" * digits)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("content_length", ["\u00b2", "1\u00b9", "-1", "0" * 5000 + "2"])
def test_the_app_ignores_a_content_length_that_is_not_a_length(content_length: str) -> None:
    # "²".isdigit() holds but int("²") raises: such a header must not become a 500.
    response = _app_post(content_length)
    assert response.status_code == 401  # read and answered: "{}" carries no signature
    assert response.json()["error"]["code"] == "missing_signature"


def test_a_site_id_of_a_megabyte_naming_another_workspace_is_not_copied_into_the_answer() -> None:
    fake = FakeHull()
    settings = {"site_id": "s" * 1_000_000, "api_key": "key", "synchronized_segments": ["seg"]}
    signed = fake.signed_notification([message()], private_settings=settings)
    customerio = hc.CustomerIOClient(
        "site", "key", http_client=httpx.Client(transport=httpx.MockTransport(Recorder()))
    )
    hull = hc.HullClient(fake.id, fake.secret, fake.organization,
                         http_client=httpx.Client(transport=fake.transport()))  # fmt: skip
    connector = hc.Connector(SETTINGS, customerio=customerio, hull=hull,
                             notification_public_key=fake.notification_public_key)  # fmt: skip
    answer = connector.answer_notification(signed.body, signed.headers)
    assert (answer.http_status, answer.reason) == (200, "credentials_mismatch")
    assert "ssss" in answer.message
    assert len(answer.message) < 400
    assert answer.report is not None
    assert [len(o.error or "") < 400 for o in answer.report.outcomes] == [True]
