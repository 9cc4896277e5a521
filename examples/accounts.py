"""Hull accounts as Customer.io objects, and people related to them, in one run.

1. A Hull ``account:update`` notification (``data/notification-account-update.json``) is
   synced: one account becomes an object, one that left the synchronized account segments is
   deleted, one without a domain (the object id here) is skipped.
2. A user of the first account is synced: the person is created with a relationship to the
   account's object.
3. The account's domain changes in Hull: the user is related to the new object and the old
   relationship is removed first.

Both services are the library's loopback fakes (``hull_customerio.testing``), so nothing
leaves this machine. Run it::

    python examples/accounts.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

DATA = Path(__file__).resolve().parent / "data"

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes (the sample's is).
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")


def main() -> None:
    payload = json.loads((DATA / "notification-account-update.json").read_text())
    notification = hc.parse_notification(payload)
    settings = notification.settings
    configuration = payload["configuration"]

    with (
        FakeCustomerIO(settings.site_id or "site", settings.api_key or "key") as customerio,
        FakeHull(
            configuration["id"], configuration["secret"], configuration["organization"]
        ) as hull,
    ):
        # Gone Ltd was synced on an earlier run; it has since left the account segments.
        customerio.add_object("1", "gone.example", {"name": "Gone Ltd"})
        cio_client = hc.CustomerIOClient(customerio.site_id, customerio.api_key,
                                         base_url=customerio.url)  # fmt: skip
        hull_client = hc.HullClient(hull.id, hull.secret, hull.organization,
                                    api_url=hull.url, firehose_url=hull.url)  # fmt: skip
        with cio_client, hull_client:
            connector = hc.Connector(settings, customerio=cio_client, hull=hull_client)

            print("== Accounts -> Customer.io objects ==")
            report = connector.sync_account_updates(notification.account_messages)
            for outcome in report.account_outcomes:
                print(f"  {outcome.account_id}: {outcome.status} ({outcome.reason}) "
                      f"object {outcome.object_id}")  # fmt: skip

            print("\n== A user of Example Inc. -> a person related to its object ==")
            user = user_message(domain="example.com")
            print_user(connector.sync_user_updates([user]), customerio)

            print("\n== Example Inc. moves to example.org: the user is related anew ==")
            stored = hull.traits_for(external_id="cust-001")
            moved = user_message(domain="example.org", stored=stored)
            print_user(connector.sync_user_updates([moved]), customerio)

        print("\n== What Customer.io (fake) holds ==")
        for (type_id, object_id), attributes in customerio.objects.items():
            print(f"  object {type_id}/{object_id}: {compact(attributes)}")
        print(f"  deleted objects: {customerio.object_deletions}")
        print("\n== What Hull (fake) received on accounts ==")
        for account in hull.accounts:
            written = {k: v for k, v in account.traits.items() if k.startswith("customerio/")}
            print(f"  account {account.claims}: {compact(written)}")


def user_message(*, domain: str, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``user:update`` message of a paying user whose account is a customer."""
    user = {"id": "5c8a1f2e3b4d5e6f7a8b9c01", "external_id": "cust-001",
            "email": "ada@example.com", **(stored or {})}  # fmt: skip
    return {
        "user": user,
        "segments": [{"id": "seg_paying", "name": "Paying customers"}],
        "account": {"id": "acc-1", "domain": domain, "name": "Example Inc."},
        "account_segments": [{"id": "aseg_customers", "name": "Customers"}],
    }


def print_user(report: hc.SyncReport, customerio: FakeCustomerIO) -> None:
    outcome = report.outcomes[0]
    print(f"  {outcome.customer_id}: {outcome.status} ({outcome.reason}), calls {outcome.calls}")
    related = sorted(customerio.relationships_of(outcome.customer_id or ""))
    print(f"  related to: {related}")


def compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), default=str)


if __name__ == "__main__":
    main()
