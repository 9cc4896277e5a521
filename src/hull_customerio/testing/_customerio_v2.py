"""The v2 half of `FakeCustomerIO`: ``/api/v2/batch`` and ``/api/v2/entity``.

Each v2 operation is checked against Customer.io's limits and applied when valid: people
(identify, delete, suppress, events, relationships) here, objects in `_ObjectWorkspace`. A
batch answers ``207`` with the ``batch_index`` of every invalid operation; the entity endpoint
answers ``400`` with ``{"errors": [...]}``.
"""

from __future__ import annotations

from typing import Any

from ._customerio_workspace import _EVENT_TYPES, _byte_size, _Problem
from ._objects import _RELATIONSHIP_ACTIONS, _ObjectWorkspace
from ._replies import _Reply, json_reply

# v2 actions the fake accepts without modelling them (they are answered 200 and ignored).
_UNMODELLED_ACTIONS = frozenset({"add_device", "delete_device", "merge"})
_V2_ACTIONS = frozenset(
    {"identify", "delete", "suppress", "unsuppress", *_RELATIONSHIP_ACTIONS, *_EVENT_TYPES}
)


def _v1_errors(problems: list[_Problem]) -> _Reply:
    return json_reply(400, {"meta": {"errors": [problem.message for problem in problems]}})


def _v1_error(status: int, message: str) -> _Reply:
    return json_reply(status, {"meta": {"error": message}})


class _V2Api(_ObjectWorkspace):
    """The v2 endpoints and what v1 and v2 share (suppression)."""

    MAX_BATCH_BYTES: int
    MAX_BATCH_OPERATION_BYTES: int

    def _suppress(self, identifier: tuple[str, str], action: str) -> None:
        person = self._find(*identifier)
        kind, key = identifier
        if person is not None and person.id is not None:
            key = person.id
        elif kind == "cio_id":
            key = f"cio_{key}"
        if action == "suppress":
            if person is not None:
                self._forget(person)
            self._suppressed.add(key)
        else:
            self._suppressed.discard(key)

    def _batch(self, raw: bytes, ok: bool, body: Any) -> _Reply:
        if len(raw) >= self.MAX_BATCH_BYTES:
            return _v1_error(
                413,
                f"Request body is {len(raw)} bytes; a batch must be smaller than "
                f"{self.MAX_BATCH_BYTES} bytes",
            )
        if not ok or not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return _v1_error(400, 'The request body must be a JSON object {"batch": [...]}')
        errors: list[dict[str, Any]] = []
        for index, operation in enumerate(body["batch"]):
            errors += [
                {
                    "batch_index": index,
                    "reason": problem.reason,
                    "field": problem.field,
                    "message": problem.message,
                }
                for problem in self._apply_operation(operation)
            ]
        if errors:
            return json_reply(207, {"errors": errors})
        return json_reply(200, {})

    def _entity(self, ok: bool, body: Any) -> _Reply:
        if not ok:
            return _v1_error(400, "The request body must be a JSON object")
        problems = self._apply_operation(body)
        if problems:
            errors = [
                {"reason": p.reason, "field": p.field, "message": p.message} for p in problems
            ]
            return json_reply(400, {"errors": errors})
        return json_reply(200, {})

    def _apply_operation(self, operation: Any) -> list[_Problem]:
        """Validate one v2 operation and apply it when it is valid; return its problems."""
        if not isinstance(operation, dict):
            return [_Problem("", "invalid", "an operation must be a JSON object")]
        size = _byte_size(operation)
        if size > self.MAX_BATCH_OPERATION_BYTES:
            return [
                _Problem(
                    "",
                    "too_large",
                    f"operation is {size} bytes; the limit is "
                    f"{self.MAX_BATCH_OPERATION_BYTES} bytes",
                )
            ]
        kind = operation.get("type")
        if kind == "object":
            return self._apply_object_operation(operation)
        if kind == "delivery":
            self._unmodelled.append(operation)
            return []
        if kind != "person":
            return [_Problem("type", "invalid", "type must be 'person', 'object' or 'delivery'")]
        return self._apply_person_operation(operation)

    def _apply_person_operation(self, operation: dict[str, Any]) -> list[_Problem]:
        action = operation.get("action")
        if action in _UNMODELLED_ACTIONS:
            self._unmodelled.append(operation)
            return []
        if action not in _V2_ACTIONS:
            return [_Problem("action", "invalid", f"unsupported action {action!r}")]

        anonymous_id = operation.get("anonymous_id")
        identifier: tuple[str, str] | None = None
        problems: list[_Problem] = []
        if "identifiers" not in operation and action in _EVENT_TYPES:
            if not isinstance(anonymous_id, str) or not anonymous_id:
                problems.append(
                    _Problem(
                        "identifiers",
                        "required",
                        "identifiers (or anonymous_id for an anonymous event) is required",
                    )
                )
        else:
            identifier, problem = self._identifier_of(operation.get("identifiers"), "identifiers")
            if problem is not None:
                problems.append(problem)
            elif identifier is not None:
                problems += self._identifier_problems(identifier[1], f"identifiers.{identifier[0]}")
        keys, found = self._person_relationship_problems(operation, action)
        problems += found
        attributes = operation.get("attributes")
        if action == "identify":
            if attributes is not None and not isinstance(attributes, dict):
                problems.append(_Problem("attributes", "invalid", "attributes must be an object"))
            elif attributes:
                problems += self._attribute_problems(attributes, "attributes.")
        elif action in _EVENT_TYPES:
            problems += self._event_problems(operation, "attributes", check_type=False)
        if problems:
            return problems

        if action == "identify" and identifier is not None:
            if not self._identify(identifier, dict(attributes or {})):
                return [_Problem("identifiers.cio_id", "not_found", "no person has this cio_id")]
            if keys:
                self._apply_person_relationships(identifier, "add_relationships", keys)
        elif action in _RELATIONSHIP_ACTIONS and identifier is not None:
            return self._apply_person_relationships(identifier, action, keys)
        elif action == "delete" and identifier is not None:
            self._delete(identifier)
        elif action in ("suppress", "unsuppress") and identifier is not None:
            self._suppress(identifier, action)
        elif action in _EVENT_TYPES:
            customer_id: str | None = None
            if identifier is not None:
                person = self._find(*identifier)
                customer_id = (
                    identifier[1]
                    if identifier[0] == "id"
                    else (person.id if person is not None else None)
                )
            self._record_event(
                self._event_from(
                    operation,
                    "attributes",
                    type=action,
                    customer_id=customer_id,
                    anonymous_id=anonymous_id if identifier is None else None,
                    api="v2",
                    identifiers=dict([identifier]) if identifier is not None else {},
                )
            )
        return []
