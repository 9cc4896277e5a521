"""The fake Customer.io workspace's objects and relationships, and the limits objects obey.

Customer.io keeps non-person entities (companies, accounts...) as **objects**, addressed by an
object type id (a string holding a whole number: ``"1"``) and an object id, and relates people
to them. `_ObjectWorkspace` keeps both for `FakeCustomerIO`: it reads the v1 identify's
``cio_relationships``, the v2 person operations ``add_relationships`` / ``delete_relationships``
(and an identify's ``cio_relationships`` list), and the v2 object operations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._customerio_workspace import _IDENTIFIER_KINDS, _byte_size, _Person, _Problem, _Workspace

ObjectKey = tuple[str, str]

_TYPE_ID = re.compile(r"^[1-9][0-9]*$")
_RELATIONSHIP_ACTIONS = ("add_relationships", "delete_relationships")


class _ObjectWorkspace(_Workspace):
    """People plus objects and relationships; `FakeCustomerIO` sets the limits."""

    MAX_OBJECT_ATTRIBUTES: int
    MAX_OBJECT_ATTRIBUTES_BYTES: int

    def _reset_state(self) -> None:
        super()._reset_state()
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        # person cio_id -> the objects it is related to; object -> the people related to it.
        self._links: dict[str, set[ObjectKey]] = {}
        self._members: dict[ObjectKey, set[str]] = {}
        self._object_deletions: list[ObjectKey] = []

    # -- records -------------------------------------------------------------------------

    @property
    def objects(self) -> dict[ObjectKey, dict[str, Any]]:
        """Every object: ``(object_type_id, object_id)`` → attributes (a copy).

        An object created by a relationship alone (Customer.io creates it) has ``{}``.
        """
        return self._snapshot(self._objects)

    def object(self, object_type_id: str, object_id: str) -> dict[str, Any] | None:
        """The attributes of one object (a copy), or ``None`` when it does not exist."""
        with self._lock:
            found = self._objects.get((object_type_id, object_id))
            return None if found is None else self._snapshot(found)

    def relationships_of(self, customer_id: str) -> set[ObjectKey]:
        """The objects the person with this customer id is related to, as
        ``(object_type_id, object_id)`` pairs (empty when the person is unknown)."""
        with self._lock:
            person = self._find("id", customer_id)
            return set() if person is None else set(self._links.get(person.cio_id, ()))

    def related_people(self, object_type_id: str, object_id: str) -> set[str]:
        """The customer ids of the people related to one object (people known only by email
        are listed by their ``cio_`` id)."""
        with self._lock:
            members = self._members.get((object_type_id, object_id), ())
            people = (self._persons[cio_id] for cio_id in members)
            return {p.id if p.id is not None else f"cio_{p.cio_id}" for p in people}

    @property
    def object_deletions(self) -> list[ObjectKey]:
        """Every object delete operation received, in order."""
        with self._lock:
            return list(self._object_deletions)

    def add_object(
        self, object_type_id: str, object_id: str, attributes: Mapping[str, Any] | None = None
    ) -> None:
        """Seed the workspace with an object, without a request (merged into an existing one)."""
        with self._lock:
            self._objects.setdefault((object_type_id, object_id), {}).update(attributes or {})

    # -- state ---------------------------------------------------------------------------

    def _forget(self, person: _Person) -> None:
        for key in self._links.pop(person.cio_id, ()):
            self._members.get(key, set()).discard(person.cio_id)
        super()._forget(person)

    def _move_links(self, kept: _Person, merged: _Person) -> None:
        """A merge keeps the relationships of both people on the one that remains."""
        self._relate(kept, list(self._links.get(merged.cio_id, ())))

    def _relate(self, person: _Person, keys: list[ObjectKey]) -> None:
        for key in keys:
            self._objects.setdefault(key, {})  # Customer.io creates a missing object
            self._links.setdefault(person.cio_id, set()).add(key)
            self._members.setdefault(key, set()).add(person.cio_id)

    def _unrelate(self, person: _Person, keys: list[ObjectKey]) -> None:
        for key in keys:
            self._links.get(person.cio_id, set()).discard(key)
            self._members.get(key, set()).discard(person.cio_id)

    def _delete_object(self, key: ObjectKey) -> None:
        self._objects.pop(key, None)
        for cio_id in self._members.pop(key, set()):
            self._links.get(cio_id, set()).discard(key)
        self._object_deletions.append(key)

    def _identify_object(self, key: ObjectKey, attributes: Mapping[str, Any]) -> None:
        stored = self._objects.setdefault(key, {})
        for name, value in attributes.items():
            if value is None or value == "":  # Customer.io: null or "" removes an attribute
                stored.pop(name, None)
            else:
                stored[name] = value

    def _people_of(self, identifiers: list[tuple[str, str]]) -> list[_Person] | None:
        """The people of ``identifiers``, created as an identify would (``None``: an unknown
        ``cio_id``)."""
        people: list[_Person] = []
        for identifier in identifiers:
            if not self._identify(identifier, {}):
                return None
            person = self._find(*identifier)
            if person is not None:  # None only for a suppressed id, which Customer.io ignores
                people.append(person)
        return people

    # -- validation ----------------------------------------------------------------------

    @staticmethod
    def _identifier_of(value: Any, field: str) -> tuple[tuple[str, str] | None, _Problem | None]:
        """A person's identifier: exactly one of ``id``, ``email``, ``cio_id``."""
        if not isinstance(value, dict) or len(value) != 1:
            return None, _Problem(
                field, "invalid", f"{field} must hold exactly one of id, email, cio_id"
            )
        ((kind, raw),) = value.items()
        if kind not in _IDENTIFIER_KINDS:
            return None, _Problem(
                field, "invalid", f"{field} must hold exactly one of id, email, cio_id"
            )
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or raw == "":
            return None, _Problem(f"{field}.{kind}", "invalid", "identifier must not be empty")
        return (kind, str(raw)), None

    def _object_key(self, value: Any, field: str) -> tuple[ObjectKey | None, list[_Problem]]:
        if not isinstance(value, dict) or set(value) != {"object_type_id", "object_id"}:
            message = f"{field} must hold exactly object_type_id and object_id"
            return None, [_Problem(field, "invalid", message)]
        type_id, object_id = value["object_type_id"], value["object_id"]
        problems: list[_Problem] = []
        if not isinstance(type_id, str) or not _TYPE_ID.match(type_id):
            problems.append(
                _Problem(
                    f"{field}.object_type_id",
                    "invalid",
                    "object_type_id must be a string holding a positive whole number",
                )
            )
        if not isinstance(object_id, str) or not object_id:
            problems.append(
                _Problem(f"{field}.object_id", "invalid", "object_id must be a non-empty string")
            )
        else:
            problems += self._identifier_problems(object_id, f"{field}.object_id")
        return (None if problems else (type_id, object_id)), problems

    def _object_keys(self, value: Any, field: str) -> tuple[list[ObjectKey], list[_Problem]]:
        """The objects of a person's relationships: ``[{"identifiers": {...}}, ...]``."""
        if not isinstance(value, list) or not value:
            return [], [_Problem(field, "invalid", f"{field} must be a non-empty list")]
        keys: list[ObjectKey] = []
        problems: list[_Problem] = []
        for index, item in enumerate(value):
            where = f"{field}[{index}]"
            if not isinstance(item, dict):
                problems.append(_Problem(where, "invalid", "a relationship must be an object"))
                continue
            key, found = self._object_key(item.get("identifiers"), f"{where}.identifiers")
            problems += found
            if key is not None:
                keys.append(key)
        return keys, problems

    def _people_keys(self, value: Any, field: str) -> tuple[list[tuple[str, str]], list[_Problem]]:
        """The people of an object's relationships: ``[{"identifiers": {"id": ...}}, ...]``."""
        if not isinstance(value, list) or not value:
            return [], [_Problem(field, "invalid", f"{field} must be a non-empty list")]
        people: list[tuple[str, str]] = []
        problems: list[_Problem] = []
        for index, item in enumerate(value):
            where = f"{field}[{index}].identifiers"
            raw = item.get("identifiers") if isinstance(item, dict) else None
            identifier, problem = self._identifier_of(raw, where)
            if problem is not None:
                problems.append(problem)
            elif identifier is not None:
                people.append(identifier)
        return people, problems

    def _v1_relationships(self, value: Any) -> tuple[str, list[ObjectKey], list[_Problem]]:
        """A v1 identify's ``{"action": ..., "relationships": [...]}``."""
        field = "cio_relationships"
        if not isinstance(value, dict):
            return "", [], [_Problem(field, "invalid", f"{field} must be an object")]
        action = value.get("action", "add_relationships")
        problems: list[_Problem] = []
        if action not in _RELATIONSHIP_ACTIONS:
            message = "action must be 'add_relationships' or 'delete_relationships'"
            problems.append(_Problem(f"{field}.action", "invalid", message))
        keys, found = self._object_keys(value.get("relationships"), f"{field}.relationships")
        return str(action), keys, problems + found

    def _object_attribute_problems(self, attributes: Any) -> list[_Problem]:
        if attributes is None:
            return []
        if not isinstance(attributes, dict):
            return [_Problem("attributes", "invalid", "attributes must be an object")]
        problems = self._attribute_problems(
            attributes, "attributes.", limit=self.MAX_OBJECT_ATTRIBUTES
        )
        size = _byte_size(attributes)
        if size > self.MAX_OBJECT_ATTRIBUTES_BYTES:
            problems.append(
                _Problem(
                    "attributes",
                    "too_large",
                    f"object attributes are {size} bytes; the limit is "
                    f"{self.MAX_OBJECT_ATTRIBUTES_BYTES} bytes",
                )
            )
        return problems

    # -- v2 operations -------------------------------------------------------------------

    def _apply_object_operation(self, operation: dict[str, Any]) -> list[_Problem]:
        """Validate one ``"type": "object"`` operation and apply it when it is valid."""
        action = operation.get("action")
        identifiers = operation.get("identifiers")
        unmodelled = isinstance(identifiers, dict) and "cio_object_id" in identifiers
        if action == "identify_anonymous" or unmodelled:
            self._unmodelled.append(operation)
            return []
        if action not in ("identify", "delete", *_RELATIONSHIP_ACTIONS):
            return [_Problem("action", "invalid", f"unsupported object action {action!r}")]
        key, problems = self._object_key(identifiers, "identifiers")
        people: list[tuple[str, str]] = []
        if action == "identify":
            problems += self._object_attribute_problems(operation.get("attributes"))
        if action in _RELATIONSHIP_ACTIONS or (
            action == "identify" and "cio_relationships" in operation
        ):
            people, found = self._people_keys(
                operation.get("cio_relationships"), "cio_relationships"
            )
            problems += found
        if problems or key is None:
            return problems
        if action == "delete":
            self._delete_object(key)
            return []
        if action == "identify":
            self._identify_object(key, operation.get("attributes") or {})
        persons = self._people_of(people)
        if persons is None:
            return [_Problem("cio_relationships", "not_found", "no person has this cio_id")]
        for person in persons:
            if action == "delete_relationships":
                self._unrelate(person, [key])
            else:
                self._relate(person, [key])
        return []

    def _person_relationship_problems(
        self, operation: dict[str, Any], action: str
    ) -> tuple[list[ObjectKey], list[_Problem]]:
        """The objects of a person operation's ``cio_relationships``, checked."""
        if action in _RELATIONSHIP_ACTIONS or (
            action == "identify" and "cio_relationships" in operation
        ):
            return self._object_keys(operation.get("cio_relationships"), "cio_relationships")
        return [], []

    def _apply_person_relationships(
        self, identifier: tuple[str, str], action: str, keys: list[ObjectKey]
    ) -> list[_Problem]:
        """Relate (or, for ``delete_relationships``, unrelate) the person to ``keys``."""
        people = self._people_of([identifier])
        if people is None:
            return [_Problem("identifiers.cio_id", "not_found", "no person has this cio_id")]
        for person in people:
            if action == "delete_relationships":
                self._unrelate(person, keys)
            else:
                self._relate(person, keys)
        return []
