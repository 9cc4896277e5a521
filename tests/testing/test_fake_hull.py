"""FakeHull speaks Hull's firehose and REST API as SPEC §5 describes them, in both forms."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fakes_support import (
    FORMS,
    HULL_HEADERS,
    HULL_ID,
    async_client,
    firehose,
    message,
    sign,
    sync_client,
    user_token,
)

from hull_customerio.testing import FakeHull, HullRejection, HullStatus, HullTrack, claims_key


def _track_body(event: str, event_id: str | None, **properties: Any) -> dict[str, Any]:
    return {
        "event": event,
        "properties": properties,
        "event_id": event_id,
        "created_at": "2024-05-01T10:00:00Z",
        "source": "customerio",
        "type": "email",
        "ip": "0",
        "url": None,
        "referer": None,
    }


# -- credentials ------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", list(HULL_HEADERS))
def test_every_request_needs_the_three_connector_headers(
    hull: FakeHull, form: str, missing: str
) -> None:
    headers = {**HULL_HEADERS, missing: "wrong"}
    with sync_client(hull, form, headers=headers) as client:
        traits = message("traits", {"external_id": "u1"}, {"a": 1})
        response = client.post("/", json=firehose(traits))
        assert response.status_code == 401
        assert client.get("/api/v1/app").status_code == 401
    assert hull.users == []


def test_repr_hides_the_secret() -> None:
    assert "s3cr3t" not in repr(FakeHull(secret="s3cr3t"))


# -- firehose: traits and tracks --------------------------------------------------------------


def test_traits_are_merged_per_user(hull: FakeHull, hull_client: httpx.Client) -> None:
    batch = firehose(
        message("traits", {"external_id": "u1"}, {"customerio/id": "u1", "a": 1}),
        message("traits", {"external_id": "u1", "email": "u1@x.io"}, {"a": 2, "gone": None}),
        message("traits", {"email": "other@x.io"}, {"b": 1}),
    )
    response = hull_client.post("/", json=batch)
    assert response.status_code == 200
    assert hull.traits_for(external_id="u1") == {"customerio/id": "u1", "a": 2, "gone": None}
    assert hull.traits_for(email="u1@x.io") == hull.traits_for(external_id="u1")
    assert hull.traits == {
        "email=u1%40x.io&external_id=u1": {"customerio/id": "u1", "a": 2, "gone": None},
        "email=other%40x.io": {"b": 1},
    }
    assert claims_key({"external_id": "u1", "email": "u1@x.io"}) in hull.traits
    assert [m.request_id for m in hull.messages] == ["req-1"] * 3


def test_a_user_with_another_external_id_is_never_merged_by_email(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    hull_client.post(
        "/",
        json=firehose(
            message("traits", {"external_id": "a", "email": "same@x.io"}, {"n": 1}),
            message("traits", {"external_id": "b", "email": "same@x.io"}, {"n": 2}),
            message("traits", {"anonymous_id": "anon-1", "external_id": "a"}, {"m": 1}),
            message("traits", {"anonymous_id": "anon-1"}, {"k": 1}),
        ),
    )
    assert len(hull.users) == 2
    assert hull.traits_for(external_id="a") == {"n": 1, "m": 1, "k": 1}
    assert hull.traits_for(external_id="b") == {"n": 2}
    user = hull.user(anonymous_id="anon-1")
    assert user is not None
    assert user.anonymous_ids == ["anon-1"]


def test_tracks_are_recorded_and_the_same_event_id_overwrites(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    user = {"external_id": "u1"}
    hull_client.post(
        "/",
        json=firehose(
            message("track", user, _track_body("Email Opened", "ev-1", n=1)),
            message("track", user, _track_body("Email Sent", "ev-2")),
            message("track", user, _track_body("Email Opened", "ev-1", n=2)),
            message("track", {"email": "b@x.io"}, _track_body("Email Opened", "ev-1")),
            message("track", user, _track_body("No Id", None)),
            message("track", user, _track_body("No Id", None)),
        ),
    )
    tracks = hull.tracks_for(external_id="u1")
    assert [(t.event, t.event_id) for t in tracks] == [
        ("Email Opened", "ev-1"),
        ("Email Sent", "ev-2"),
        ("No Id", None),
        ("No Id", None),
    ]
    assert tracks[0] == HullTrack(
        claims={"external_id": "u1"},
        event="Email Opened",
        properties={"n": 2},
        event_id="ev-1",
        created_at="2024-05-01T10:00:00Z",
        source="customerio",
        type="email",
        ip="0",
        body=_track_body("Email Opened", "ev-1", n=2),
    )
    assert len(hull.tracks) == 5  # another user's ev-1 is its own event
    assert len(hull.messages) == 6  # every delivery is still visible
    assert hull.tracks_for(email="nobody@x.io") == []


def test_io_hull_create_false_does_not_create_a_user(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    body = firehose(message("traits", {"email": "new@x.io"}, {"a": 1}, **{"io.hull.create": False}))
    assert hull_client.post("/", json=body).status_code == 200
    assert hull.users == []
    assert len(hull.messages) == 1


def test_traits_for_an_unknown_user_names_the_known_ones(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    hull_client.post("/", json=firehose(message("traits", {"external_id": "u1"}, {"a": 1})))
    with pytest.raises(LookupError, match="external_id=u1"):
        hull.traits_for(external_id="nobody")
    with pytest.raises(ValueError, match="at least one"):
        hull.traits_for()


# -- firehose: token verification -------------------------------------------------------------

NOW = int(time.time())
GOOD = {
    "iss": HULL_ID,
    "iat": NOW,
    "io.hull.asUser": {"external_id": "u1"},
    "io.hull.subjectType": "user",
}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(sign(GOOD, "other-secret"), "signature", id="wrong-secret"),
        pytest.param(sign({**GOOD, "iss": "someone-else"}), "iss", id="wrong-iss"),
        pytest.param(sign({k: v for k, v in GOOD.items() if k != "iat"}), "iat", id="no-iat"),
        pytest.param(sign({**GOOD, "io.hull.subjectType": "group"}), "subjectType", id="subject"),
        pytest.param(
            sign({**GOOD, "io.hull.subjectType": "account"}), "asAccount", id="account-no-claims"
        ),
        pytest.param(
            sign({**GOOD, "io.hull.subjectType": "account", "io.hull.asAccount": {"email": "x"}}),
            "only hold",
            id="account-user-claim",
        ),
        pytest.param(sign({**GOOD, "io.hull.asUser": {}}), "at least one", id="no-claims"),
        pytest.param(
            sign({**GOOD, "io.hull.asUser": {"external_id": ""}}), "at least one", id="blank"
        ),
        pytest.param(
            sign({**GOOD, "io.hull.asUser": {"external_id": "u1", "name": "x"}}),
            "only hold",
            id="extra-claim",
        ),
        pytest.param(
            sign({k: v for k, v in GOOD.items() if k != "io.hull.asUser"}),
            "asUser",
            id="no-as-user",
        ),
        pytest.param(sign({**GOOD, "io.hull.create": "yes"}), "io.hull.create", id="create"),
        pytest.param("not-a-jwt", "invalid token", id="garbage"),
    ],
)
def test_a_bad_token_fails_the_whole_request_with_a_clear_reason(
    hull: FakeHull, hull_client: httpx.Client, token: str, reason: str
) -> None:
    good = message("traits", {"external_id": "u0"}, {"a": 1})
    bad = {**good, "headers": {"Hull-Access-Token": token}}
    response = hull_client.post("/", json=firehose(good, bad))
    assert response.status_code == 400
    answer = response.json()
    assert reason in answer["message"]
    assert answer["errors"][0]["batch_index"] == 1
    assert hull.users == []  # nothing of a refused request is applied
    assert [r.batch_index for r in hull.rejections] == [1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "alias"}, "type"),
        ({"headers": {}}, "Hull-Access-Token"),
        ({"body": ["a"]}, "body"),
        ({"type": "track", "body": {"properties": {}}}, "event"),
        ({"type": "track", "body": {"event": "E", "properties": []}}, "properties"),
    ],
)
def test_malformed_messages_are_refused(
    hull: FakeHull, hull_client: httpx.Client, change: dict[str, Any], reason: str
) -> None:
    bad = {**message("traits", {"external_id": "u1"}, {"a": 1}), **change}
    response = hull_client.post("/", json=firehose(bad))
    assert response.status_code == 400
    assert reason in response.json()["errors"][0]["reason"]
    assert hull.rejections == [HullRejection(0, response.json()["errors"][0]["reason"])]


def test_a_firehose_body_without_a_batch_is_refused(hull_client: httpx.Client) -> None:
    assert hull_client.post("/", json={"messages": []}).status_code == 400
    assert hull_client.post("/", content=b"nope").status_code == 400
    assert hull_client.get("/").status_code == 405


def test_a_long_secret_and_pyjwt_tokens_work_too() -> None:
    import jwt  # noqa: PLC0415 -- only this test signs with PyJWT

    secret = "s" * 40  # long enough for PyJWT to sign without a key-length warning
    fake = FakeHull(secret=secret)
    token = jwt.encode({**GOOD, "io.hull.asUser": {"email": "a@x.io"}}, secret, algorithm="HS256")
    traits = {
        "type": "traits",
        "body": {"a": 1},
        "headers": {"hull-access-token": token},
    }
    headers = {**HULL_HEADERS, "Hull-Access-Token": secret}
    with sync_client(fake, "transport", headers=headers) as client:
        assert client.post("/", json=firehose(traits)).status_code == 200
    assert fake.traits_for(email="a@x.io") == {"a": 1}


# -- REST -------------------------------------------------------------------------------------


def test_status_reports_are_recorded(hull: FakeHull, hull_client: httpx.Client) -> None:
    body = {"status": "warning", "messages": ["No users will be synchronized"]}
    assert hull_client.put(f"/api/v1/{HULL_ID}/status", json=body).status_code == 200
    assert hull.statuses == [HullStatus("warning", ["No users will be synchronized"])]
    assert hull_client.put(f"/api/v1/{HULL_ID}/status", json={"messages": []}).status_code == 400
    assert hull_client.put("/api/v1/someone-else/status", json=body).status_code == 404


def test_the_connector_settings_are_served() -> None:
    fake = FakeHull(private_settings={"site_id": "site"})
    with sync_client(fake, "transport", headers=HULL_HEADERS) as client:
        answer = client.get("/api/v1/app").json()
    assert answer["private_settings"] == {"site_id": "site"}
    assert answer["id"] == HULL_ID


def test_reset_forgets_users_messages_and_statuses(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    hull_client.post("/", json=firehose(message("traits", {"external_id": "u1"}, {"a": 1})))
    hull_client.put(f"/api/v1/{HULL_ID}/status", json={"status": "ok", "messages": []})
    hull.reset()
    assert (hull.users, hull.messages, hull.statuses, hull.requests) == ([], [], [], [])


def test_faults_apply_to_hull_too(hull: FakeHull, hull_client: httpx.Client) -> None:
    hull.fail_next(503, retry_after=1)
    batch = firehose(message("traits", {"external_id": "u1"}, {"a": 1}))
    first = hull_client.post("/", json=batch)
    assert (first.status_code, first.headers["Retry-After"]) == (503, "1")
    assert "message" in first.json()
    assert hull.users == []
    assert hull_client.post("/", json=batch).status_code == 200
    assert hull.traits_for(external_id="u1") == {"a": 1}


@pytest.mark.anyio
@pytest.mark.parametrize("form", FORMS)
async def test_async_clients_are_served_in_both_forms(form: str) -> None:
    fake = FakeHull()
    async with async_client(fake, form, headers=HULL_HEADERS) as client:
        batch = firehose(
            message("traits", {"external_id": "u1"}, {"a": 1}),
            message("track", {"external_id": "u1"}, _track_body("E", "ev-1")),
        )
        assert (await client.post("/", json=batch)).status_code == 200
    assert fake.traits_for(external_id="u1") == {"a": 1}
    assert [t.event for t in fake.tracks] == ["E"]
    assert user_token({"external_id": "u1"}).count(".") == 2
