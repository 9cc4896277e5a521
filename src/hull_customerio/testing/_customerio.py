"""`FakeCustomerIO`: an in-memory Customer.io Track API for tests."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import unquote

import httpx

from ._customerio_v2 import _v1_error, _v1_errors, _V2Api
from ._customerio_workspace import (
    CustomerIOEvent,
    CustomerIOMerge,
    CustomerIOPerson,
    _Problem,
)
from ._replies import RecordedRequest, _Reply, json_reply, parse_json

__all__ = ["CustomerIOEvent", "CustomerIOMerge", "CustomerIOPerson", "FakeCustomerIO"]


_REGION_HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}


class FakeCustomerIO(_V2Api):
    """An in-memory Customer.io Track API, in process or over a real loopback HTTP server.

    It checks HTTP Basic auth and Customer.io's documented limits on every request,
    keeps people, events, page views, deletions, suppressions and merges, de-duplicates events by
    their `id` like Customer.io does, implements the v2 batch endpoint with `207` answers for
    invalid operations, and injects faults on request (see `fail_next`, `latency`,
    `rate_limit`).

    It also keeps **objects** and **relationships** (`objects`, `object`, `relationships_of`,
    `related_people`, `object_deletions`): v2 object `identify` / `delete` (a `null` or `""`
    attribute removes it; deleting an object drops its relationships), person
    `add_relationships` / `delete_relationships` and an identify's `cio_relationships`, in
    `/api/v2/batch` and `/api/v2/entity`, and the v1 identify's `cio_relationships` (`add` or
    `delete`). A relationship to a missing object creates it, empty, as Customer.io does. An
    object over the limits (more than `MAX_OBJECT_ATTRIBUTES` attributes, attributes over
    `MAX_OBJECT_ATTRIBUTES_BYTES` as JSON, or an operation over `MAX_BATCH_OPERATION_BYTES`)
    is refused: `400` from the entity endpoint, a `207` error in a batch.

    Example:
        ```python
        with FakeCustomerIO() as fake:           # starts the loopback server
            client = CustomerIOClient("site", "key", base_url=fake.url)
            ...
        assert fake.people["42"]["email"] == "ada@example.com"
        ```

    Endpoints: `GET /auth`, `GET /api/v1/accounts/region`, `PUT`/`DELETE
    /api/v1/customers/{id}`, `POST /api/v1/customers/{id}/events`, `POST
    /api/v1/customers/{id}/suppress` and `/unsuppress`, `POST /api/v1/events` (anonymous),
    `POST /api/v1/merge_customers`, `POST /api/v2/batch` and `POST /api/v2/entity`. Path ids
    are percent-decoded from the raw path (`a%2Fb%2Bc%40x.io` is `a/b+c@x.io`); a path id
    `cio_<x>` addresses the person whose `cio_id` is `<x>`.

    The limits are class attributes (bytes are UTF-8; values that are not strings are measured
    as compact JSON); a subclass or an instance may change them.

    Attributes:
        site_id: The expected HTTP Basic user name.
        api_key: The expected HTTP Basic password.
        region: `"us"` or `"eu"`: what `GET /api/v1/accounts/region` answers.
    """

    MAX_ID_BYTES = 150
    MAX_ATTRIBUTE_NAME_BYTES = 150
    MAX_ATTRIBUTE_VALUE_BYTES = 1000
    MAX_ATTRIBUTES_PER_CALL = 300
    MAX_EVENT_NAME_BYTES = 100
    MAX_EVENT_DATA_BYTES = 100_000
    MAX_BATCH_BYTES = 500_000
    MAX_BATCH_OPERATION_BYTES = 32_000
    MAX_OBJECT_ATTRIBUTES = 300
    MAX_OBJECT_ATTRIBUTES_BYTES = 100_000

    def __init__(
        self, site_id: str = "site", api_key: str = "key", *, region: Literal["us", "eu"] = "us"
    ) -> None:
        """Create an empty fake workspace.

        Args:
            site_id: The Site ID clients must send as the HTTP Basic user name.
            api_key: The Track API key clients must send as the HTTP Basic password.
            region: The region `GET /api/v1/accounts/region` reports. Its `url` is the
                loopback server's URL while the server runs, else the region's real host.
        """
        super().__init__()
        self.site_id = site_id
        self.api_key = api_key
        self.region = region
        self._reset_state()

    def __repr__(self) -> str:
        return f"FakeCustomerIO(site_id={self.site_id!r}, api_key='***', region={self.region!r})"

    # -- records -------------------------------------------------------------------------

    @property
    def people(self) -> dict[str, dict[str, Any]]:
        """The people with a customer id: id → attributes (a copy).

        People created by a v2 operation addressed by `email` alone have no id; find them
        with `person(email=...)` or `persons`.
        """
        with self._lock:
            return self._snapshot(
                {p.id: p.attributes for p in self._persons.values() if p.id is not None}
            )

    @property
    def persons(self) -> list[CustomerIOPerson]:
        """Every person, with and without a customer id, in creation order (a copy)."""
        with self._lock:
            return [
                CustomerIOPerson(p.cio_id, p.id, self._snapshot(p.attributes))
                for p in self._persons.values()
            ]

    def person(
        self, *, id: str | None = None, email: str | None = None, cio_id: str | None = None
    ) -> CustomerIOPerson | None:
        """Find a person by exactly one identifier, as a v2 operation would.

        Args:
            id: The customer id.
            email: The `email` attribute.
            cio_id: The Customer.io-assigned id (without the `cio_` prefix).

        Returns:
            A copy of the person, or `None` when nobody matches.

        Raises:
            ValueError: Not exactly one identifier was given.
        """
        given = [(k, v) for k, v in (("id", id), ("email", email), ("cio_id", cio_id)) if v]
        if len(given) != 1:
            msg = "pass exactly one of id=, email=, cio_id="
            raise ValueError(msg)
        with self._lock:
            found = self._find(*given[0])
            if found is None:
                return None
            return CustomerIOPerson(found.cio_id, found.id, self._snapshot(found.attributes))

    def add_person(self, customer_id: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Seed the workspace with a person, without a request (e.g. before a deletion test).

        Args:
            customer_id: The customer id.
            attributes: Its attributes; merged into an existing person's.
        """
        with self._lock:
            self._identify(("id", customer_id), dict(attributes or {}))

    @property
    def events(self) -> list[CustomerIOEvent]:
        """Every accepted event, page view and anonymous event, in arrival order (a copy).

        An event whose `id` had already been received is not here (see `duplicate_events`).
        """
        return self._snapshot(self._events)

    @property
    def page_views(self) -> list[CustomerIOEvent]:
        """The accepted events of type `"page"` (a copy)."""
        return [event for event in self.events if event.type == "page"]

    @property
    def anonymous_events(self) -> list[CustomerIOEvent]:
        """The accepted anonymous events (a copy)."""
        return [event for event in self.events if event.anonymous_id is not None]

    def events_for(self, customer_id: str) -> list[CustomerIOEvent]:
        """The accepted events and page views of one customer id, in arrival order."""
        return [event for event in self.events if event.customer_id == customer_id]

    @property
    def duplicate_events(self) -> list[CustomerIOEvent]:
        """Events ignored because an event with the same `id` was received before (a copy)."""
        return self._snapshot(self._duplicates)

    @property
    def deletions(self) -> list[str]:
        """The ids of every delete request, in order (a person addressed by `email` or
        `cio_id` without a customer id is listed by that identifier's value)."""
        with self._lock:
            return list(self._deletions)

    @property
    def suppressed(self) -> set[str]:
        """Suppressed customer ids. Suppressing deletes the person and ignores later identifies,
        as Customer.io does, until unsuppressed."""
        with self._lock:
            return set(self._suppressed)

    @property
    def merges(self) -> list[CustomerIOMerge]:
        """Every `merge_customers` call, in order (a copy)."""
        return self._snapshot(self._merges)

    @property
    def unmodelled_operations(self) -> list[dict[str, Any]]:
        """Valid v2 operations the fake accepts but does not model (deliveries, devices,
        merges, anonymous objects, objects addressed by `cio_object_id`), as received."""
        return self._snapshot(self._unmodelled)

    # -- HTTP ----------------------------------------------------------------------------

    def _error_reply(self, status: int, message: str) -> _Reply:
        return _v1_error(status, message)

    def _authorized(self, headers: httpx.Headers) -> bool:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{self.site_id}:{self.api_key}".encode()
        return hmac.compare_digest(decoded, expected)

    def _handle(self, request: RecordedRequest) -> _Reply:
        if not self._authorized(request.headers):
            return _v1_error(401, "Unauthorized request")
        path = request.path
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        segments = path.split("/")[1:]
        method = request.method
        ok, body = parse_json(request.body)
        route: tuple[str, ...] = tuple(segments)

        if route == ("auth",):
            return self._only(method, "GET") or json_reply(200, {"meta": {"message": "Success"}})
        if route == ("api", "v1", "accounts", "region"):
            return self._only(method, "GET") or self._region()
        if route == ("api", "v1", "events"):
            return self._only(method, "POST") or self._anonymous_event_v1(ok, body)
        if route == ("api", "v1", "merge_customers"):
            return self._only(method, "POST") or self._merge(ok, body)
        if route == ("api", "v2", "batch"):
            return self._only(method, "POST") or self._batch(request.body, ok, body)
        if route == ("api", "v2", "entity"):
            return self._only(method, "POST") or self._entity(ok, body)
        if len(route) in (4, 5) and route[:3] == ("api", "v1", "customers"):
            customer_id = unquote(route[3])
            if not customer_id:
                return _v1_error(400, "A customer id is required in the path")
            if len(route) == 4:
                if method == "PUT":
                    return self._identify_v1(customer_id, ok, body)
                if method == "DELETE":
                    return self._delete_v1(customer_id)
                return _v1_error(405, "Method not allowed")
            action = route[4]
            if action == "events":
                return self._only(method, "POST") or self._customer_event_v1(customer_id, ok, body)
            if action in ("suppress", "unsuppress"):
                if method != "POST":
                    return _v1_error(405, "Method not allowed")
                self._suppress(self._path_identifier(customer_id), action)
                return json_reply(200, {})
        return _v1_error(404, "Not found")

    @staticmethod
    def _only(method: str, allowed: str) -> _Reply | None:
        return None if method == allowed else _v1_error(405, "Method not allowed")

    def _region(self) -> _Reply:
        url = self._base_url or _REGION_HOSTS.get(self.region, _REGION_HOSTS["us"])
        return json_reply(200, {"url": url, "region": self.region, "environment_id": 1})

    # -- v1 ------------------------------------------------------------------------------

    def _identify_v1(self, customer_id: str, ok: bool, body: Any) -> _Reply:
        if not ok or not isinstance(body, dict):
            return _v1_error(400, "The request body must be a JSON object of attributes")
        attributes = dict(body)
        only_update = attributes.pop("_update", False) is True
        relates = "cio_relationships" in attributes
        action, keys, problems = self._v1_relationships(attributes.pop("cio_relationships", {}))
        problems = problems if relates else []
        problems += self._identifier_problems(customer_id, "id")
        problems += self._attribute_problems(attributes, "")
        if problems:
            return _v1_errors(problems)
        identifier = self._path_identifier(customer_id)
        if only_update and self._find(*identifier) is None:
            return json_reply(200, {})
        if not self._identify(identifier, attributes):
            return _v1_error(404, "Customer not found")
        if relates:
            self._apply_person_relationships(identifier, action, keys)
        return json_reply(200, {})

    def _delete_v1(self, customer_id: str) -> _Reply:
        self._delete(self._path_identifier(customer_id))
        return json_reply(200, {})

    def _customer_event_v1(self, customer_id: str, ok: bool, body: Any) -> _Reply:
        if not ok or not isinstance(body, dict):
            return _v1_error(400, "The request body must be a JSON object")
        problems = self._identifier_problems(customer_id, "id")
        problems += self._event_problems(body, "data", check_type=True)
        if problems:
            return _v1_errors(problems)
        kind, value = self._path_identifier(customer_id)
        person = self._find(kind, value)
        resolved = value if kind == "id" else (person.id if person else None)
        return self._accept_v1_event(body, resolved, None, {kind: value})

    def _anonymous_event_v1(self, ok: bool, body: Any) -> _Reply:
        if not ok or not isinstance(body, dict):
            return _v1_error(400, "The request body must be a JSON object")
        problems = self._event_problems(body, "data", check_type=True)
        anonymous_id = body.get("anonymous_id")
        if not isinstance(anonymous_id, str) or not anonymous_id:
            problems.append(
                _Problem("anonymous_id", "required", "anonymous_id is required (a string)")
            )
        if problems:
            return _v1_errors(problems)
        return self._accept_v1_event(body, None, anonymous_id, {})

    def _accept_v1_event(
        self,
        body: dict[str, Any],
        customer_id: str | None,
        anonymous_id: str | None,
        identifiers: dict[str, str],
    ) -> _Reply:
        """Record a valid v1 event (a person's or an anonymous one) and answer ``200``."""
        event = self._event_from(
            body,
            "data",
            type=body.get("type") or "event",
            customer_id=customer_id,
            anonymous_id=anonymous_id,
            api="v1",
            identifiers=identifiers,
        )
        self._record_event(event)
        return json_reply(200, {})

    def _merge(self, ok: bool, body: Any) -> _Reply:
        if not ok or not isinstance(body, dict):
            return _v1_error(400, "The request body must be a JSON object")
        primary, problem_p = self._identifier_of(body.get("primary"), "primary")
        secondary, problem_s = self._identifier_of(body.get("secondary"), "secondary")
        problems = [p for p in (problem_p, problem_s) if p is not None]
        if problems or primary is None or secondary is None:
            return _v1_errors(problems)
        kept, merged = self._find(*primary), self._find(*secondary)
        applied = kept is not None and merged is not None and kept is not merged
        if applied and kept is not None and merged is not None:
            self._move_links(kept, merged)
            self._forget(merged)
            self._set_attributes(kept, {**merged.attributes, **kept.attributes})
        self._merges.append(CustomerIOMerge(dict([primary]), dict([secondary]), applied=applied))
        return json_reply(200, {})
