"""Accounts reach the same outcomes in v1 and batch mode (SPEC §11, issue 24), over the
loopback fakes: real sockets, real JSON, the fakes' own object limits.

One scenario table of accounts runs in both modes (sync and async): a new object, an updated
one, an object Customer.io refuses (over its 300-attribute limit: our own check is raised out
of the way so Customer.io is the one to refuse), an object our rules refuse (over 100 KB), a
deletion, one outside the segments, one without an object id, and a malformed message. Then
users of those accounts are synced: linked, re-linked and unlinked. Outcomes, what
Customer.io holds and what Hull receives must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import Harness

import hull_customerio as hc
from hull_customerio.customerio import ObjectRef
from hull_customerio.testing import FakeCustomerIO, FakeHull

CUSTOMERS = {"id": "aseg", "name": "Customers"}


def _account(number: int, *, segments: Any = (CUSTOMERS,), **attributes: Any) -> dict[str, Any]:
    account = {"id": f"acc-{number}", "domain": f"d{number}.example", **attributes}
    account = {k: v for k, v in account.items() if v is not None}
    return {"account": account, "account_segments": list(segments)}


ACCOUNTS = [
    _account(1, name="One", plan="pro"),
    # synced before, changed since
    _account(2, plan="team", **{"customerio/object_id": "d2.example", "customerio/hash": "old"}),
    # Customer.io refuses it: too many attributes (the fake enforces its 300)
    _account(3, **{f"x{i}": i for i in range(301)}),
    # our rules refuse it: over 100 KB of attributes
    _account(4, blob="z" * 100_001),
    # left the segments while synced: deleted (deletion is on)
    _account(5, segments=(), **{"customerio/object_id": "d5.example"}),
    # outside the segments, never synced
    _account(6, segments=()),
    # no domain: no object id
    _account(7, domain=None),
    # malformed: no account id
    {"account": {"domain": "d8.example"}, "account_segments": [CUSTOMERS]},
]

SETTINGS = hc.Settings(
    synchronized_segments=["seg"],
    synchronized_account_segments=["aseg"],
    synchronized_account_attributes=["plan", "blob", *(f"x{i}" for i in range(301))],
    account_id_mapping="domain",
    object_type_id="3",
    enable_account_deletion=True,
    max_attribute_value_length=200_000,
)


def _user(number: int, domain: str | None, stored: str | None = None) -> dict[str, Any]:
    user = {"id": f"u{number}", "external_id": f"user-{number}", "email": f"u{number}@x.io"}
    if stored is not None:
        user.update({"customerio/object_id": stored, "customerio/created_at": 1700000000})
    account = {"id": f"acc-{number}", "domain": domain} if domain else {}
    return {
        "user": user,
        "segments": [{"id": "seg", "name": "S"}],
        "account": account,
        "account_segments": [CUSTOMERS] if domain else [],
    }


USERS = [
    _user(1, "d1.example"),  # linked
    _user(2, "d2-new.example", stored="d2.example"),  # re-linked: the old one removed first
    _user(3, None, stored="d3.example"),  # no account any more: unlinked
]


def _written(hull: FakeHull, account_id: str) -> Any:
    """The ``customerio/object_id`` Hull holds for the account; ``"-"``: never written."""
    found = hull.account(id=account_id)
    return "-" if found is None else found.traits.get("customerio/object_id")


def _run(flavour: str, mode: str) -> tuple[Any, ...]:
    with (
        FakeCustomerIO(site_id="site-123", api_key="key-456") as customerio,
        FakeHull(id="5c8a1f2e3b4d5e6f7a8b9c0d", secret="s3cret-for-tests",
                 organization="acme42.hullapp.io") as hull,
    ):  # fmt: skip
        for ref in (("3", "d2.example"), ("3", "d5.example"), ("3", "d3.example")):
            customerio.add_object(*ref, {"name": "synced before"})
        # Users 2 and 3 were related to their (old) account's object on an earlier run.
        with hc.CustomerIOClient(customerio.site_id, customerio.api_key,
                                 base_url=customerio.url) as seed:  # fmt: skip
            for number in (2, 3):
                old = ObjectRef("3", f"d{number}.example")
                seed.identify(f"user-{number}", {"email": f"u{number}@x.io"}, relationships=[old])
        harness = Harness(flavour, mode, customerio, hull)
        accounts = harness._run(SETTINGS, lambda c: c.sync_account_updates(ACCOUNTS))
        users = harness.sync(USERS, SETTINGS)
        account_rows = [
            (o.account_id, o.object_id, o.status, o.reason, o.action, o.error is not None)
            for o in accounts.account_outcomes
        ]
        user_rows = [(o.user_id, o.status, o.reason, tuple(o.calls)) for o in users.outcomes]
        written = {f"acc-{n}": _written(hull, f"acc-{n}") for n in range(1, 9)}
        links = {f"user-{n}": sorted(customerio.relationships_of(f"user-{n}")) for n in (1, 2, 3)}
        return (
            account_rows,
            user_rows,
            customerio.objects,
            customerio.object_deletions,
            links,
            written,
        )


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_v1_and_batch_modes_give_the_same_account_outcomes(flavour: str) -> None:
    v1 = _run(flavour, "v1")
    batch = _run(flavour, "batch")
    assert batch == v1


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_the_account_scenario_table(mode: str) -> None:
    accounts, users, objects, deletions, links, written = _run("sync", mode)
    by_account = {row[0]: row[1:] for row in accounts}

    assert by_account["acc-1"][:3] == ("d1.example", "success", "new")
    assert by_account["acc-2"][:3] == ("d2.example", "success", "changed")
    assert by_account["acc-3"][1] == "error"
    assert by_account["acc-3"][-1] is True
    assert by_account["acc-4"][1:3] == ("error", "invalid_attributes")
    assert by_account["acc-5"][:3] == ("d5.example", "success", "left_segments")
    assert by_account["acc-6"][1:3] == ("skipped", "not_in_segments")
    assert by_account["acc-7"][1:3] == ("skipped", "no_object_id")
    assert by_account[None][1:3] == ("error", "malformed_message")

    assert objects[("3", "d1.example")] == {
        "name": "One", "domain": "d1.example", "hull_segments": ["Customers"], "plan": "pro",
    }  # fmt: skip
    assert ("3", "d3.example") in objects
    assert "x0" not in objects[("3", "d3.example")]
    assert ("3", "d4.example") not in objects
    assert deletions == [("3", "d5.example")]
    # Hull hears of the accounts Customer.io took, on the accounts themselves.
    assert written["acc-1"] == "d1.example"
    assert written["acc-5"] is None  # deleted: the stored id is cleared
    assert written["acc-3"] == "-"
    assert written["acc-4"] == "-"

    by_user = {row[0]: row[1:] for row in users}
    assert by_user["u1"][:2] == ("success", "new")
    assert by_user["u2"] == ("success", "changed",
                             ("delete_relationships", "identify", "hull_traits"))  # fmt: skip
    assert by_user["u3"][2][0] == "delete_relationships"
    assert links == {
        "user-1": [("3", "d1.example")],
        "user-2": [("3", "d2-new.example")],
        "user-3": [],
    }
