"""FakeCustomerIO keeps objects and relationships (issue 24, SPEC §11, §6.4).

Requests are plain httpx calls with Customer.io's documented shapes, in both forms (in process
and over the loopback server, see ``conftest.py``); the last tests drive the library's own
clients against the fake's loopback server.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hull_customerio.customerio import (
    AsyncCustomerIOClient,
    CustomerIOClient,
    DeleteRelationships,
    Identify,
    ObjectDelete,
    ObjectIdentify,
    ObjectRef,
)
from hull_customerio.testing import FakeCustomerIO

ACME = {"object_type_id": "1", "object_id": "acme"}


def obj(action: str, identifiers: dict[str, str] = ACME, **fields: Any) -> dict[str, Any]:
    return {"type": "object", "identifiers": identifiers, "action": action, **fields}


def person(action: str, customer_id: str = "42", **fields: Any) -> dict[str, Any]:
    return {"type": "person", "identifiers": {"id": customer_id}, "action": action, **fields}


def links(*keys: dict[str, str]) -> list[dict[str, Any]]:
    return [{"identifiers": key} for key in keys]


def entity(client: httpx.Client, operation: dict[str, Any]) -> httpx.Response:
    return client.post("/api/v2/entity", json=operation)


def batch(client: httpx.Client, *operations: dict[str, Any]) -> httpx.Response:
    return client.post("/api/v2/batch", json={"batch": list(operations)})


# -- objects ------------------------------------------------------------------------------


def test_an_object_identify_creates_then_merges_and_null_or_empty_removes(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    first = entity(cio_client, obj("identify", attributes={"name": "Acme", "plan": "pro", "n": 1}))
    second = entity(cio_client, obj("identify", attributes={"plan": None, "n": "", "seats": 5}))

    assert (first.status_code, second.status_code) == (200, 200)
    assert cio.object("1", "acme") == {"name": "Acme", "seats": 5}
    assert cio.objects == {("1", "acme"): {"name": "Acme", "seats": 5}}
    assert cio.object("2", "acme") is None  # another type is another object


def test_deleting_an_object_drops_it_and_its_relationships(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    other = {"object_type_id": "1", "object_id": "other"}
    batch(
        cio_client,
        obj("identify", attributes={"name": "Acme"}),
        person("identify", attributes={}, cio_relationships=links(ACME, other)),
    )

    response = entity(cio_client, obj("delete"))

    assert response.status_code == 200
    assert cio.object("1", "acme") is None
    assert cio.relationships_of("42") == {("1", "other")}
    assert cio.related_people("1", "acme") == set()
    assert cio.object_deletions == [("1", "acme")]
    assert cio.people["42"] == {}  # the person stays


@pytest.mark.parametrize(
    ("identifiers", "field"),
    [
        ({"object_type_id": "company", "object_id": "acme"}, "identifiers.object_type_id"),
        ({"object_type_id": "01", "object_id": "acme"}, "identifiers.object_type_id"),
        ({"object_type_id": 1, "object_id": "acme"}, "identifiers.object_type_id"),
        ({"object_type_id": "1", "object_id": ""}, "identifiers.object_id"),
        ({"object_type_id": "1", "object_id": "x" * 151}, "identifiers.object_id"),
        ({"object_id": "acme"}, "identifiers"),
    ],
    ids=["name", "leading-zero", "number", "empty-id", "long-id", "no-type"],
)
def test_an_object_with_bad_identifiers_is_refused_with_a_v2_error(
    cio: FakeCustomerIO, cio_client: httpx.Client, identifiers: dict[str, Any], field: str
) -> None:
    response = entity(cio_client, obj("identify", identifiers, attributes={"n": 1}))

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert cio.objects == {}


# -- limits ---------------------------------------------------------------------------------


def test_an_object_of_300_attributes_is_kept_and_301_are_refused(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    ok = entity(cio_client, obj("identify", attributes={f"a{i}": i for i in range(300)}))
    too_many = entity(
        cio_client,
        obj("identify", {"object_type_id": "1", "object_id": "big"},
            attributes={f"a{i}": i for i in range(301)}),
    )  # fmt: skip

    assert ok.status_code == 200
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["reason"] == "too_many"
    assert cio.object("1", "big") is None


def _attributes_of_json_size(size: int) -> dict[str, str]:
    """Attributes (values under the 1000-byte limit) whose compact JSON is ``size`` bytes."""
    attributes = {f"k{i:03d}": "v" * 900 for i in range(size // 911)}
    short = size - len(json.dumps(attributes, separators=(",", ":"))) - len(',"pad":""')
    attributes["pad"] = "p" * short
    assert len(json.dumps(attributes, separators=(",", ":"))) == size
    return attributes


def test_object_attributes_of_100_kb_are_kept_and_one_byte_more_is_refused(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.MAX_BATCH_OPERATION_BYTES = 1_000_000  # so that the attributes' own limit is reached
    at_limit = entity(cio_client, obj("identify", attributes=_attributes_of_json_size(100_000)))
    over = entity(
        cio_client,
        obj("identify", {"object_type_id": "1", "object_id": "big"},
            attributes=_attributes_of_json_size(100_001)),
    )  # fmt: skip

    assert at_limit.status_code == 200
    assert over.status_code == 400
    assert over.json()["errors"] == [
        {
            "reason": "too_large",
            "field": "attributes",
            "message": "object attributes are 100001 bytes; the limit is 100000 bytes",
        }
    ]


def test_an_object_operation_over_32_kb_is_refused_by_entity_and_in_a_batch(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    large = obj("identify", attributes={f"k{i}": "v" * 900 for i in range(40)})

    alone = entity(cio_client, large)
    batched = batch(cio_client, obj("identify", attributes={"name": "Small"}), large)

    assert alone.status_code == 400
    assert alone.json()["errors"][0]["reason"] == "too_large"
    assert batched.status_code == 207
    assert [(e["batch_index"], e["reason"]) for e in batched.json()["errors"]] == [(1, "too_large")]
    assert cio.objects == {("1", "acme"): {"name": "Small"}}


# -- relationships ---------------------------------------------------------------------------


def test_a_v1_identify_adds_its_cio_relationships_and_keeps_them_out_of_the_attributes(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    body = {
        "plan": "pro",
        "cio_relationships": {"action": "add_relationships", "relationships": links(ACME)},
    }

    response = cio_client.put("/api/v1/customers/42", json=body)

    assert response.status_code == 200
    assert cio.people["42"] == {"plan": "pro"}
    assert cio.relationships_of("42") == {("1", "acme")}
    assert cio.object("1", "acme") == {}  # created by the relationship
    assert cio.related_people("1", "acme") == {"42"}


def test_a_v1_delete_relationships_put_removes_the_link_and_leaves_the_object(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    add = {"cio_relationships": {"action": "add_relationships", "relationships": links(ACME)}}
    remove = {"cio_relationships": {"action": "delete_relationships", "relationships": links(ACME)}}
    cio_client.put("/api/v1/customers/42", json={"plan": "pro", **add})

    response = cio_client.put("/api/v1/customers/42", json=remove)

    assert response.status_code == 200
    assert cio.relationships_of("42") == set()
    assert cio.object("1", "acme") == {}
    assert cio.people["42"] == {"plan": "pro"}


@pytest.mark.parametrize(
    "relationships",
    [
        {"action": "replace_relationships", "relationships": links(ACME)},
        {"action": "add_relationships", "relationships": []},
        {"action": "add_relationships", "relationships": [{"identifiers": {"object_id": "a"}}]},
        ["not", "an", "object"],
    ],
    ids=["action", "empty", "no-type", "shape"],
)
def test_a_bad_v1_cio_relationships_is_a_400_and_nothing_changes(
    cio: FakeCustomerIO, cio_client: httpx.Client, relationships: Any
) -> None:
    response = cio_client.put(
        "/api/v1/customers/42", json={"plan": "pro", "cio_relationships": relationships}
    )

    assert response.status_code == 400
    assert response.json()["meta"]["errors"]
    assert cio.people == {}
    assert cio.objects == {}


def test_v2_person_relationship_operations_add_and_remove_links(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    old = {"object_type_id": "1", "object_id": "old"}
    batch(cio_client, person("identify", attributes={"n": 1}, cio_relationships=links(old)))

    response = batch(
        cio_client,
        person("delete_relationships", cio_relationships=links(old)),
        person("identify", attributes={"n": 2}, cio_relationships=links(ACME)),
        person("add_relationships", "7", cio_relationships=links(ACME)),
    )

    assert response.status_code == 200
    assert cio.relationships_of("42") == {("1", "acme")}
    assert cio.relationships_of("7") == {("1", "acme")}
    assert cio.related_people("1", "acme") == {"42", "7"}
    assert cio.people["42"] == {"n": 2}


def test_a_bad_operation_in_a_batch_is_a_207_error_at_its_index_and_the_rest_applies(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    bad_type = {"object_type_id": "companies", "object_id": "acme"}

    response = batch(
        cio_client,
        obj("identify", attributes={"name": "Acme"}),
        person("identify", attributes={}, cio_relationships=links(bad_type)),
        person("delete_relationships", cio_relationships=[]),
        obj("delete", {"object_type_id": "1", "object_id": "gone"}),
    )

    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [(e["batch_index"], e["field"]) for e in errors] == [
        (1, "cio_relationships[0].identifiers.object_type_id"),
        (2, "cio_relationships"),
    ]
    assert cio.objects == {("1", "acme"): {"name": "Acme"}}
    assert "42" not in cio.people  # the refused identify did nothing
    assert cio.object_deletions == [("1", "gone")]


def test_an_object_side_relationship_operation_relates_people(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    people = [{"identifiers": {"id": "42"}}, {"identifiers": {"email": "ann@example.com"}}]

    added = entity(cio_client, obj("add_relationships", cio_relationships=people))
    removed = entity(cio_client, obj("delete_relationships", cio_relationships=people[:1]))

    assert (added.status_code, removed.status_code) == (200, 200)
    assert cio.relationships_of("42") == set()
    ann = cio.person(email="ann@example.com")
    assert ann is not None
    assert cio.related_people("1", "acme") == {f"cio_{ann.cio_id}"}


def test_deleting_or_merging_a_person_keeps_the_relationships_consistent(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    other = {"object_type_id": "1", "object_id": "other"}
    batch(
        cio_client,
        person("identify", "1", attributes={}, cio_relationships=links(ACME)),
        person("identify", "2", attributes={}, cio_relationships=links(other)),
        person("identify", "3", attributes={}, cio_relationships=links(other)),
    )

    cio_client.post(
        "/api/v1/merge_customers", json={"primary": {"id": "1"}, "secondary": {"id": "2"}}
    )
    cio_client.delete("/api/v1/customers/3")

    assert cio.relationships_of("1") == {("1", "acme"), ("1", "other")}
    assert cio.relationships_of("2") == set()
    assert cio.related_people("1", "other") == {"1"}


def test_reset_forgets_objects_and_relationships(cio: FakeCustomerIO) -> None:
    cio.add_object("1", "acme", {"name": "Acme"})
    assert cio.object("1", "acme") == {"name": "Acme"}

    cio.reset()

    assert cio.objects == {}
    assert cio.object_deletions == []


# -- the library's clients against the loopback server ----------------------------------------


def test_the_sync_client_s_object_calls_land_in_the_fake_in_v1_and_batch_form() -> None:
    with FakeCustomerIO() as fake, CustomerIOClient("site", "key", base_url=fake.url) as client:
        client.identify_object("1", "acme", {"name": "Acme"})
        client.identify("42", {"plan": "pro"}, relationships=[ObjectRef("1", "old")])
        client.delete_relationships("42", [ObjectRef("1", "old")])
        client.identify("42", {}, relationships=[ObjectRef("1", "acme")])
        result = client.batch(
            [
                ObjectIdentify(ObjectRef("1", "beta"), {"name": "Beta"}).v2_operation(),
                Identify("7", {"n": 1}, relationships=(ObjectRef("1", "beta"),)).v2_operation(),
                DeleteRelationships("42", (ObjectRef("1", "acme"),)).v2_operation(),
                ObjectDelete(ObjectRef("1", "old")).v2_operation(),
                ObjectIdentify(ObjectRef("x", "bad"), {}).v2_operation(),
            ]
        )

        assert set(result.errors) == {4}
        assert result.errors[4].field == "identifiers.object_type_id"
        assert fake.objects == {("1", "acme"): {"name": "Acme"}, ("1", "beta"): {"name": "Beta"}}
        assert fake.relationships_of("42") == set()
        assert fake.relationships_of("7") == {("1", "beta")}
        assert fake.people["42"] == {"plan": "pro"}


@pytest.mark.anyio
async def test_the_async_client_s_object_calls_land_in_the_fake() -> None:
    with FakeCustomerIO() as fake:
        async with AsyncCustomerIOClient("site", "key", base_url=fake.url) as client:
            await client.identify_object("1", "acme", {"name": "Acme"})
            await client.identify("42", {}, relationships=[ObjectRef("1", "acme")])
            await client.delete_object("1", "acme")

        assert fake.objects == {}
        assert fake.relationships_of("42") == set()
        assert fake.object_deletions == [("1", "acme")]
