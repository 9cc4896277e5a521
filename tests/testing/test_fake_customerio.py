"""FakeCustomerIO speaks the Track API as SPEC §6 describes it, in both forms."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from fakes_support import FORMS, async_client, sync_client

from hull_customerio.testing import CustomerIOEvent, CustomerIOMerge, FakeCustomerIO

ULID_1 = "01HX0000000000000000000001"
ULID_2 = "01HX0000000000000000000002"


# -- auth and account -----------------------------------------------------------------------


@pytest.mark.parametrize("auth", [("site", "wrong"), ("other", "key"), None])
def test_every_request_needs_the_right_basic_credentials(
    cio: FakeCustomerIO, form: str, auth: tuple[str, str] | None
) -> None:
    with sync_client(cio, form, auth=auth) as client:
        for method, path in [("GET", "/auth"), ("PUT", "/api/v1/customers/1")]:
            response = client.request(method, path, json={})
            assert response.status_code == 401
            assert response.json() == {"meta": {"error": "Unauthorized request"}}
    assert cio.people == {}


def test_auth_answers_success_for_valid_credentials(cio_client: httpx.Client) -> None:
    response = cio_client.get("/auth")
    assert response.status_code == 200
    assert response.json() == {"meta": {"message": "Success"}}


def test_region_points_at_the_real_host_in_process(cio: FakeCustomerIO) -> None:
    with sync_client(cio, "transport", auth=("site", "key")) as client:
        assert client.get("/api/v1/accounts/region").json() == {
            "url": "https://track.customer.io",
            "region": "us",
            "environment_id": 1,
        }


def test_region_points_at_the_loopback_server_when_served() -> None:
    fake = FakeCustomerIO(region="eu")
    with sync_client(fake, "server", auth=("site", "key")) as client:
        answer = client.get("/api/v1/accounts/region").json()
        assert answer == {"url": fake.url, "region": "eu", "environment_id": 1}


def test_repr_hides_the_api_key() -> None:
    assert "key'" not in repr(FakeCustomerIO(api_key="key")).replace("'***'", "")
    assert "topsecret" not in repr(FakeCustomerIO(api_key="topsecret"))


# -- v1 people --------------------------------------------------------------------------------


def test_identify_merges_attributes_into_the_person(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    assert cio_client.put("/api/v1/customers/42", json={"email": "a@x.io", "n": 1}).json() == {}
    cio_client.put("/api/v1/customers/42", json={"n": 2, "plan": None})
    assert cio.people == {"42": {"email": "a@x.io", "n": 2, "plan": None}}


def test_path_ids_are_percent_decoded_from_the_raw_path(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio_client.put("/api/v1/customers/a%2Fb%2Bc%40x.io", json={"x": 1})
    cio_client.post("/api/v1/customers/a%2Fb%2Bc%40x.io/events", json={"name": "e"})
    assert cio.people == {"a/b+c@x.io": {"x": 1}}
    assert cio.events[0].customer_id == "a/b+c@x.io"


def test_delete_removes_the_person_and_records_the_id(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.add_person("1", {"email": "a@x.io"})
    assert cio_client.delete("/api/v1/customers/1").status_code == 200
    cio_client.delete("/api/v1/customers/never-seen")
    assert cio.people == {}
    assert cio.deletions == ["1", "never-seen"]


def test_a_cio_prefixed_path_id_addresses_the_cio_id(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.add_person("1", {"email": "a@x.io"})
    person = cio.person(id="1")
    assert person is not None
    cio_client.put(f"/api/v1/customers/cio_{person.cio_id}", json={"n": 1})
    assert cio.people == {"1": {"email": "a@x.io", "n": 1}}
    assert cio_client.put("/api/v1/customers/cio_nobody", json={}).status_code == 404


def test_suppress_deletes_and_blocks_later_identifies_until_unsuppressed(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio_client.put("/api/v1/customers/1", json={"a": 1})
    cio_client.post("/api/v1/customers/1/suppress")
    cio_client.put("/api/v1/customers/1", json={"a": 2})
    assert cio.people == {}
    assert cio.suppressed == {"1"}
    cio_client.post("/api/v1/customers/1/unsuppress")
    cio_client.put("/api/v1/customers/1", json={"a": 3})
    assert cio.people == {"1": {"a": 3}}
    assert cio.suppressed == set()


def test_merge_keeps_the_primary_and_its_values(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.add_person("1", {"email": "one@x.io", "a": 1})
    cio.add_person("2", {"email": "two@x.io", "a": 2, "b": 2})
    body = {"primary": {"id": "1"}, "secondary": {"email": "two@x.io"}}
    assert cio_client.post("/api/v1/merge_customers", json=body).status_code == 200
    assert cio.people == {"1": {"email": "one@x.io", "a": 1, "b": 2}}
    assert cio.merges == [CustomerIOMerge({"id": "1"}, {"email": "two@x.io"}, applied=True)]
    bad = cio_client.post("/api/v1/merge_customers", json={"primary": {"id": "1"}})
    assert bad.status_code == 400


def test_unknown_paths_and_methods_are_refused(cio_client: httpx.Client) -> None:
    assert cio_client.get("/api/v1/nothing").status_code == 404
    assert cio_client.post("/api/v1/customers/1").status_code == 405
    assert cio_client.get("/api/v2/batch").status_code == 405


# -- v1 events --------------------------------------------------------------------------------


def test_events_and_page_views_are_recorded_with_everything_sent(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    event = {"name": "Signed Up", "data": {"plan": "pro"}, "timestamp": 1700000000, "id": ULID_1}
    page = {"type": "page", "name": "https://x.io/a", "data": {"referrer": "https://g.co"}}
    cio_client.post("/api/v1/customers/42/events", json=event)
    cio_client.post("/api/v1/customers/42/events", json=page)
    assert cio.events == [
        CustomerIOEvent(
            name="Signed Up",
            type="event",
            data={"plan": "pro"},
            customer_id="42",
            anonymous_id=None,
            timestamp=1700000000,
            id=ULID_1,
            api="v1",
            identifiers={"id": "42"},
        ),
        CustomerIOEvent(
            name="https://x.io/a",
            type="page",
            data={"referrer": "https://g.co"},
            customer_id="42",
            anonymous_id=None,
            timestamp=None,
            id=None,
            api="v1",
            identifiers={"id": "42"},
        ),
    ]
    assert [e.name for e in cio.page_views] == ["https://x.io/a"]
    assert cio.events_for("42") == cio.events
    assert cio.people == {}  # events do not create people in the fake


def test_an_event_whose_id_was_already_received_is_ignored(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    body = {"name": "Bought", "id": ULID_1, "data": {"n": 1}}
    for _ in range(3):
        assert cio_client.post("/api/v1/customers/1/events", json=body).status_code == 200
    cio_client.post("/api/v1/events", json={**body, "anonymous_id": "anon"})
    cio_client.post("/api/v1/customers/1/events", json={**body, "id": ULID_2})
    assert [e.id for e in cio.events] == [ULID_1, ULID_2]
    assert [e.id for e in cio.duplicate_events] == [ULID_1, ULID_1, ULID_1]


def test_anonymous_events_need_an_anonymous_id(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    missing = cio_client.post("/api/v1/events", json={"name": "Visited"})
    assert missing.status_code == 400
    assert any("anonymous_id" in e for e in missing.json()["meta"]["errors"])
    page = {"name": "Visited", "anonymous_id": "a1", "type": "page"}
    cio_client.post("/api/v1/events", json=page)
    (event,) = cio.anonymous_events
    assert (event.anonymous_id, event.type, event.customer_id) == ("a1", "page", None)


# -- limits (SPEC §6.3) -----------------------------------------------------------------------

LIMIT_CASES = [
    pytest.param("PUT", "/api/v1/customers/" + "é" * 76, {}, "identifier", id="id-151-bytes"),
    pytest.param("PUT", "/api/v1/customers/1", {"n" * 151: 1}, "attribute name", id="name"),
    pytest.param("PUT", "/api/v1/customers/1", {"v": "x" * 1001}, "value", id="value"),
    pytest.param(
        "PUT", "/api/v1/customers/1", {"v": ["x" * 498, "y" * 498]}, "value", id="list-as-json"
    ),
    pytest.param(
        "PUT",
        "/api/v1/customers/1",
        {f"a{i}": i for i in range(301)},
        "attributes",
        id="301-attributes",
    ),
    pytest.param("POST", "/api/v1/customers/1/events", {"name": "e" * 101}, "name", id="name"),
    pytest.param(
        "POST",
        "/api/v1/customers/1/events",
        {"name": "e", "data": {"d": "x" * 100_000}},
        "data",
        id="data-over-100kB",
    ),
    pytest.param("POST", "/api/v1/customers/1/events", {"data": {}}, "name", id="no-name"),
    pytest.param(
        "POST",
        "/api/v1/customers/1/events",
        {"name": "e", "timestamp": "yesterday"},
        "timestamp",
        id="timestamp-not-int",
    ),
    pytest.param(
        "POST",
        "/api/v1/customers/1/events",
        {"name": "e", "timestamp": 1700000000000},
        "milliseconds",
        id="timestamp-in-ms",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "mentioned"), LIMIT_CASES)
def test_limits_are_answered_400_with_meta_errors(
    cio: FakeCustomerIO,
    cio_client: httpx.Client,
    *,
    method: str,
    path: str,
    body: object,
    mentioned: str,
) -> None:
    response = cio_client.request(method, path, json=body)
    assert response.status_code == 400
    errors = response.json()["meta"]["errors"]
    assert any(mentioned in error for error in errors), errors
    assert cio.people == {}
    assert cio.events == []


def test_values_exactly_at_the_limits_are_accepted(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    customer_id = "é" * 75  # 150 bytes
    attributes = {"n" * 150: "x" * 1000, **{f"a{i}": i for i in range(299)}}
    assert cio_client.put(f"/api/v1/customers/{customer_id}", json=attributes).status_code == 200
    event = {"name": "e" * 100, "data": {"d": "x" * (100_000 - 8)}}  # {"d":"..."} = 100 000 B
    assert cio_client.post("/api/v1/customers/1/events", json=event).status_code == 200
    assert len(cio.people[customer_id]) == 300


def test_a_body_that_is_not_json_is_refused(cio_client: httpx.Client) -> None:
    response = cio_client.put(
        "/api/v1/customers/1", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "error" in response.json()["meta"]


# -- v2 batch (SPEC §6.4) ---------------------------------------------------------------------


def _identify(identifiers: dict[str, str], **attributes: object) -> dict[str, object]:
    return {
        "type": "person",
        "action": "identify",
        "identifiers": identifiers,
        "attributes": attributes,
    }


def test_a_valid_batch_is_applied_and_answered_200(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    batch = [
        _identify({"id": "1"}, email="one@x.io"),
        {
            "type": "person",
            "action": "event",
            "identifiers": {"id": "1"},
            "name": "Bought",
            "attributes": {"sku": "a"},
            "id": ULID_1,
            "timestamp": 1700000000,
        },
        {
            "type": "person",
            "action": "page",
            "identifiers": {"email": "one@x.io"},
            "name": "https://x.io/",
        },
        {"type": "person", "action": "event", "anonymous_id": "anon-1", "name": "Visited"},
        _identify({"email": "only@x.io"}, plan="free"),
        _identify({"id": "2"}),
        {"type": "person", "action": "delete", "identifiers": {"id": "2"}},
    ]
    response = cio_client.post("/api/v2/batch", json={"batch": batch})
    assert response.status_code == 200
    assert cio.people == {"1": {"email": "one@x.io"}}
    assert cio.person(email="only@x.io") is not None
    assert cio.deletions == ["2"]
    bought, page, anonymous = cio.events
    assert (bought.name, bought.data, bought.api, bought.customer_id) == (
        "Bought",
        {"sku": "a"},
        "v2",
        "1",
    )
    assert (page.type, page.customer_id, page.identifiers) == ("page", "1", {"email": "one@x.io"})
    assert (anonymous.anonymous_id, anonymous.customer_id) == ("anon-1", None)


def test_invalid_operations_get_a_207_and_the_valid_ones_are_applied(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    batch = [
        _identify({"id": "1"}, a=1),
        _identify({"id": "2"}, v="x" * 1001),
        {"type": "person", "action": "event", "identifiers": {"id": "3"}},
        _identify({"id": "4", "email": "two@identifiers.io"}),
        {"type": "person", "action": "explode", "identifiers": {"id": "5"}},
        _identify({"id": "6"}, big="x" * 900, **{f"k{i}": "y" * 900 for i in range(40)}),
    ]
    response = cio_client.post("/api/v2/batch", json={"batch": batch})
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [e["batch_index"] for e in errors] == [1, 2, 3, 4, 5]
    assert errors[0]["field"] == "attributes.v"
    assert errors[1]["field"] == "name"
    assert errors[4]["reason"] == "too_large"
    assert all(set(e) == {"batch_index", "reason", "field", "message"} for e in errors)
    assert cio.people == {"1": {"a": 1}}


def test_a_batch_of_500_kb_or_more_is_refused_whole(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    operation = _identify({"id": "1"}, **{f"a{i}": "x" * 900 for i in range(30)})
    batch = {"batch": [operation] * 20}
    assert len(json.dumps(batch)) >= 500_000
    response = cio_client.post("/api/v2/batch", json=batch)
    assert response.status_code == 413
    assert "500000" in response.json()["meta"]["error"]
    assert cio.people == {}


def test_a_batch_body_without_a_batch_list_is_a_400(cio_client: httpx.Client) -> None:
    assert cio_client.post("/api/v2/batch", json={"ops": []}).status_code == 400


def test_events_in_a_batch_are_deduplicated_by_id_too(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    event = {
        "type": "person",
        "action": "event",
        "identifiers": {"id": "1"},
        "name": "E",
        "id": ULID_1,
    }
    cio_client.post("/api/v2/batch", json={"batch": [event, event]})
    cio_client.post("/api/v1/customers/1/events", json={"name": "E", "id": ULID_1})
    assert len(cio.events) == 1
    assert len(cio.duplicate_events) == 2


def test_the_entity_endpoint_applies_one_operation(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    assert cio_client.post("/api/v2/entity", json=_identify({"id": "1"}, a=1)).status_code == 200
    bad = cio_client.post("/api/v2/entity", json=_identify({}, a=1))
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "identifiers"
    assert cio.people == {"1": {"a": 1}}


# -- records ----------------------------------------------------------------------------------


def test_requests_are_recorded_in_order_with_raw_path_json_and_status(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio_client.put("/api/v1/customers/a%2Fb?x=1", json={"a": 1})
    cio_client.get("/nothing")
    first, second = cio.requests
    assert (first.method, first.path, first.query, first.json, first.status) == (
        "PUT",
        "/api/v1/customers/a%2Fb",
        "x=1",
        {"a": 1},
        200,
    )
    assert first.headers["authorization"].startswith("Basic ")
    assert json.loads(first.body) == {"a": 1}
    assert (second.method, second.status, second.json) == ("GET", 404, None)


def test_reset_forgets_everything_but_keeps_serving(cio: FakeCustomerIO) -> None:
    with sync_client(cio, "server", auth=("site", "key")) as client:
        client.put("/api/v1/customers/1", json={"a": 1})
        cio.fail_next(500)
        cio.latency = 0.01
        cio.rate_limit = 5
        cio.reset()
        assert (cio.people, cio.requests, cio.pending_faults) == ({}, [], 0)
        assert (cio.latency, cio.rate_limit) == (0.0, None)
        assert client.get("/auth").status_code == 200


def test_concurrent_requests_over_the_server_are_all_recorded(cio: FakeCustomerIO) -> None:
    with sync_client(cio, "server", auth=("site", "key")) as client:

        def work(worker: int) -> None:
            for n in range(5):
                client.put(f"/api/v1/customers/{worker}", json={f"n{n}": n})
                client.post(
                    f"/api/v1/customers/{worker}/events",
                    json={"name": "E", "id": f"{worker:02d}{n:024d}"},
                )

        threads = [threading.Thread(target=work, args=(w,)) for w in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(cio.requests) == 100
    assert cio.people == {str(w): {f"n{n}": n for n in range(5)} for w in range(10)}
    assert len(cio.events) == 50


@pytest.mark.anyio
@pytest.mark.parametrize("form", FORMS)
async def test_async_clients_are_served_in_both_forms(form: str) -> None:
    fake = FakeCustomerIO()
    async with async_client(fake, form, auth=("site", "key")) as client:
        assert (await client.put("/api/v1/customers/1", json={"a": 1})).status_code == 200
        batch = {"batch": [_identify({"id": "2"}, b=2), _identify({"id": "3"}, c="x" * 2000)]}
        response = await client.post("/api/v2/batch", json=batch)
        assert response.status_code == 207
    assert fake.people == {"1": {"a": 1}, "2": {"b": 2}}
    assert not fake.running
