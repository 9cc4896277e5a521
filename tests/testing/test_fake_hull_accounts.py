"""FakeHull takes account traits (issue 24, SPEC §11 write-back): tokens acting as an account
(`io.hull.subjectType: "account"`, `io.hull.asAccount`), resolved and queried like users.

Every test runs in both forms (in process and over the loopback server, see ``conftest.py``).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fakes_support import HULL_ID, firehose, message, sign

from hull_customerio.hull import HullClient
from hull_customerio.testing import FakeHull, HullAccount


def account_message(as_account: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    claims = {
        "iss": HULL_ID,
        "iat": int(time.time()),
        "io.hull.asAccount": as_account,
        "io.hull.subjectType": "account",
    }
    return {
        "type": "traits",
        "requestId": "req-a",
        "body": body,
        "headers": {"Hull-Access-Token": sign(claims)},
        "timestamp": "2024-05-01T10:00:00Z",
    }


def test_account_traits_are_kept_on_the_account_not_on_a_user(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    body = {"customerio/object_id": "acme", "customerio/hash": "h", "customerio/deleted_at": None}

    response = hull_client.post(
        "/", json=firehose(account_message({"id": "a1", "domain": "acme.io"}, body))
    )

    assert response.status_code == 200
    assert hull.account_traits("a1") == body
    assert hull.account_traits(domain="acme.io") == body
    assert hull.accounts == [HullAccount({"id": "a1", "domain": "acme.io"}, body)]
    assert hull.users == []
    (recorded,) = hull.messages
    assert (recorded.subject_type, recorded.claims) == (
        "account",
        {"id": "a1", "domain": "acme.io"},
    )


def test_later_account_traits_merge_and_null_is_kept(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    first = account_message({"external_id": "acme"}, {"customerio/object_id": "acme", "n": 1})
    second = account_message(
        {"external_id": "acme", "id": "a1"}, {"customerio/object_id": None, "m": 2}
    )

    hull_client.post("/", json=firehose(first))
    hull_client.post("/", json=firehose(second))

    assert hull.account_traits(external_id="acme") == {
        "customerio/object_id": None,
        "n": 1,
        "m": 2,
    }
    assert hull.account(id="a1") == hull.account(external_id="acme")  # one account, both claims
    assert len(hull.accounts) == 1


def test_an_account_whose_id_differs_is_another_account(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    hull_client.post("/", json=firehose(account_message({"id": "a1", "domain": "x.io"}, {"n": 1})))
    hull_client.post("/", json=firehose(account_message({"id": "a2", "domain": "x.io"}, {"n": 2})))

    assert [a.claims for a in hull.accounts] == [
        {"id": "a1", "domain": "x.io"},
        {"id": "a2", "domain": "x.io"},
    ]
    assert hull.account_traits("a2") == {"n": 2}


def test_users_and_accounts_with_the_same_id_stay_apart(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    user = message("traits", {"id": "same"}, {"who": "user"})
    account = account_message({"id": "same"}, {"who": "account"})

    assert hull_client.post("/", json=firehose(user, account)).status_code == 200

    assert hull.traits_for(id="same") == {"who": "user"}
    assert hull.account_traits("same") == {"who": "account"}


def test_an_account_token_may_not_send_a_track(hull: FakeHull, hull_client: httpx.Client) -> None:
    track = {**account_message({"id": "a1"}, {"event": "Signed"}), "type": "track"}

    response = hull_client.post("/", json=firehose(track))

    assert response.status_code == 400
    assert "traits" in hull.rejections[0].reason
    assert hull.accounts == []


def test_an_unknown_account_is_a_lookup_error_naming_the_known_ones(
    hull: FakeHull, hull_client: httpx.Client
) -> None:
    hull_client.post("/", json=firehose(account_message({"id": "a1"}, {"n": 1})))

    assert hull.account(id="nobody") is None
    with pytest.raises(LookupError, match="known accounts: id=a1"):
        hull.account_traits("nobody")
    with pytest.raises(ValueError, match="pass at least one"):
        hull.account_traits()


def test_the_hull_client_s_account_scope_reaches_the_fake_over_loopback() -> None:
    with FakeHull() as fake:
        client = HullClient(
            fake.id, fake.secret, fake.organization, api_url=fake.url, firehose_url=fake.url
        )
        with client:
            client.as_account({"id": "a1", "external_id": "acme"}).traits(
                {"object_id": "acme", "hash": "h"}, source="customerio"
            )

        assert fake.rejections == []
        assert fake.account_traits(external_id="acme") == {
            "customerio/object_id": "acme",
            "customerio/hash": "h",
        }
        assert fake.messages[0].token_claims["io.hull.subjectType"] == "account"
