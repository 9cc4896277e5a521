"""The fakes find users and people through indexes: the cost of a lookup does not grow with the
number of users stored, and the answers are the ones a scan in creation order would give.

Cost is measured by counting string comparisons (a `str` subclass that counts its `==`), never
by timing: a scan of N users compares N times, an index a constant number of times.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fakes_support import HULL_HEADERS, firehose, message

from hull_customerio.testing import FakeCustomerIO, FakeHull

MANY = 1_500
# A dict lookup compares the key found under the same hash once; allow a little slack for an
# implementation that checks a candidate or two, far below the MANY a scan would cost.
FLAT = 5


class CountingStr(str):
    """A string that counts how often it is compared for equality."""

    __slots__ = ()
    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountingStr.comparisons += 1
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        CountingStr.comparisons += 1
        return str.__ne__(self, other)

    __hash__ = str.__hash__


def comparisons_to_find(find: object) -> int:
    CountingStr.comparisons = 0
    assert callable(find)
    assert find() is not None
    return CountingStr.comparisons


@pytest.fixture
def hull_http() -> Iterator[tuple[FakeHull, httpx.Client]]:
    hull = FakeHull()
    with httpx.Client(
        transport=hull.transport(), base_url="https://fake.invalid", headers=HULL_HEADERS
    ) as client:
        yield hull, client


def send(client: httpx.Client, *messages: dict[str, object]) -> None:
    response = client.post("/", json=firehose(*messages))
    assert response.status_code == 200, response.text


# -- FakeHull ---------------------------------------------------------------------------------


def test_hull_lookup_cost_does_not_grow_with_the_number_of_users(
    hull_http: tuple[FakeHull, httpx.Client],
) -> None:
    hull, client = hull_http
    for start in range(0, MANY, 100):
        send(
            client,
            *(
                message(
                    "traits",
                    {"external_id": f"u{n}", "email": f"u{n}@x.io", "anonymous_id": f"a{n}"},
                    {"n": n},
                )
                for n in range(start, start + 100)
            ),
        )
    assert len(hull.users) == MANY
    last = MANY - 1
    for kind, value in (
        ("external_id", f"u{last}"),
        ("email", f"u{last}@x.io"),
        ("anonymous_id", f"a{last}"),
    ):
        cost = comparisons_to_find(lambda k=kind, v=value: hull.user(**{k: CountingStr(v)}))
        assert cost <= FLAT, f"finding a user by {kind} among {MANY} compared {cost} times"
    assert hull.traits_for(email=CountingStr(f"u{last}@x.io")) == {"n": last}


def test_hull_a_user_who_gains_a_claim_later_still_wins_over_later_users(
    hull_http: tuple[FakeHull, httpx.Client],
) -> None:
    hull, client = hull_http
    send(client, message("traits", {"external_id": "first"}, {"who": "first"}))
    send(client, message("traits", {"external_id": "second", "email": "shared@x.io"}, {}))
    # The first-created user gains the email after the second user already holds it.
    send(client, message("traits", {"external_id": "first", "email": "shared@x.io"}, {}))
    send(client, message("traits", {"email": "shared@x.io"}, {"by_email": True}))
    assert hull.traits_for(external_id="first") == {"who": "first", "by_email": True}
    assert hull.traits_for(external_id="second") == {}


def test_hull_a_conflicting_holder_of_a_claim_is_passed_over_for_the_next_one(
    hull_http: tuple[FakeHull, httpx.Client],
) -> None:
    hull, client = hull_http
    send(client, message("traits", {"external_id": "one", "email": "shared@x.io"}, {}))
    send(client, message("traits", {"id": "b"}, {"created": "second"}))
    send(client, message("traits", {"id": "b", "email": "shared@x.io"}, {}))
    # external_id "two" conflicts with the first holder of the email, so the second holder
    # (no external_id yet) is the match, and it takes the external_id.
    send(client, message("traits", {"external_id": "two", "email": "shared@x.io"}, {"t": 2}))
    assert [user.claims for user in hull.users] == [
        {"external_id": "one", "email": "shared@x.io"},
        {"id": "b", "email": "shared@x.io", "external_id": "two"},
    ]
    assert hull.traits_for(external_id="two") == {"created": "second", "t": 2}


def test_hull_every_anonymous_id_of_a_user_finds_it(
    hull_http: tuple[FakeHull, httpx.Client],
) -> None:
    hull, client = hull_http
    send(client, message("traits", {"external_id": "u1", "anonymous_id": "a1"}, {}))
    send(client, message("traits", {"external_id": "u1", "anonymous_id": "a2"}, {"x": 1}))
    assert hull.traits_for(anonymous_id="a1") == hull.traits_for(anonymous_id="a2") == {"x": 1}
    assert hull.user(anonymous_id="a3") is None


def test_hull_reset_empties_the_indexes(hull_http: tuple[FakeHull, httpx.Client]) -> None:
    hull, client = hull_http
    send(client, message("traits", {"external_id": "u1"}, {"x": 1}))
    hull.reset()
    assert hull.user(external_id="u1") is None
    send(client, message("traits", {"external_id": "u1"}, {"y": 2}))
    assert hull.traits_for(external_id="u1") == {"y": 2}


# -- FakeCustomerIO ---------------------------------------------------------------------------


def test_customerio_lookup_cost_does_not_grow_with_the_number_of_people() -> None:
    cio = FakeCustomerIO()
    for n in range(MANY):
        cio.add_person(str(n), {"email": f"p{n}@x.io"})
    last = MANY - 1
    assert comparisons_to_find(lambda: cio.person(email=CountingStr(f"p{last}@x.io"))) <= FLAT
    assert comparisons_to_find(lambda: cio.person(id=CountingStr(str(last)))) <= FLAT


def test_customerio_email_lookup_follows_attribute_changes() -> None:
    cio = FakeCustomerIO()
    cio.add_person("1", {"email": "old@x.io"})
    cio.add_person("1", {"email": "new@x.io"})
    assert cio.person(email="old@x.io") is None
    found = cio.person(email="new@x.io")
    assert found is not None
    assert found.id == "1"


def test_customerio_the_earliest_created_person_with_an_email_is_found() -> None:
    cio = FakeCustomerIO()
    cio.add_person("1", {"email": "a@x.io"})
    cio.add_person("2", {"email": "shared@x.io"})
    cio.add_person("1", {"email": "shared@x.io"})  # person 1 was created first
    found = cio.person(email="shared@x.io")
    assert found is not None
    assert found.id == "1"


def test_customerio_an_email_that_is_not_a_string_never_matches() -> None:
    cio = FakeCustomerIO()
    cio.add_person("1", {"email": 42})
    assert cio.person(email="42") is None


def test_customerio_deleted_and_merged_people_leave_the_email_index() -> None:
    cio = FakeCustomerIO()
    cio.add_person("1", {"email": "one@x.io"})
    cio.add_person("2", {"email": "two@x.io"})
    cio.add_person("3", {"email": "three@x.io"})
    with httpx.Client(
        transport=cio.transport(), base_url="https://fake.invalid", auth=("site", "key")
    ) as client:
        assert client.delete("/api/v1/customers/3").status_code == 200
        merge = {"primary": {"id": "1"}, "secondary": {"email": "two@x.io"}}
        assert client.post("/api/v1/merge_customers", json=merge).status_code == 200
    assert cio.person(email="three@x.io") is None
    assert cio.person(email="two@x.io") is None  # merged away; the primary keeps its email
    found = cio.person(email="one@x.io")
    assert found is not None
    assert found.attributes == {"email": "one@x.io"}


def test_customerio_a_primary_without_email_takes_the_merged_persons_email() -> None:
    cio = FakeCustomerIO()
    cio.add_person("1", {"plan": "pro"})
    cio.add_person("2", {"email": "two@x.io"})
    with httpx.Client(
        transport=cio.transport(), base_url="https://fake.invalid", auth=("site", "key")
    ) as client:
        merge = {"primary": {"id": "1"}, "secondary": {"id": "2"}}
        assert client.post("/api/v1/merge_customers", json=merge).status_code == 200
    found = cio.person(email="two@x.io")
    assert found is not None
    assert found.id == "1"
