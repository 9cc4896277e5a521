"""SPEC §12: every exception of the library crosses processes — pickle keeps its type, text and
attributes (Celery, multiprocessing).

The classes are found by walking the package, so a class added later is covered without
touching this file; a constructor argument this file has no realistic value for fails the
test and asks for one.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import pickle
import pkgutil
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import hull_customerio
from hull_customerio import errors

#: A realistic value for every constructor argument an exception of the package takes.
REALISTIC: dict[str, Any] = {
    "message": "Customer.io answered 429 to PUT https://track.customer.io/api/v1/customers/u-1",
    "problems": ["site_id must be a string, got a number", "region must be one of 'us', 'eu'"],
    "reason": "bad_signature",
    "service": "customerio",
    "method": "PUT",
    "url": "https://track.customer.io/api/v1/customers/u-1",
    "attempts": 3,
    "status_code": 429,
    "body": {"meta": {"errors": ["email 'j***@example.com' is invalid"]}},
    "retry_after": 2.5,
    "errors": ["email is invalid", "too many attributes"],
    "undelivered": [
        {"type": "track", "body": {"event": "Email Opened", "event_id": "e-1"}},
        {"type": "traits", "body": {"customerio/id": "u-1"}},
    ],
    # _serialization.WrongTypeError(expected, value)
    "expected": "a string",
    "value": 42,
}


def _package_modules() -> list[str]:
    walked = pkgutil.walk_packages(hull_customerio.__path__, "hull_customerio.")
    # Running a __main__ module would start the command line.
    return ["hull_customerio"] + [m.name for m in walked if not m.name.endswith(".__main__")]


def _exception_classes() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for name in _package_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("hull_customerio")
            ):
                found.add(value)
    # Subclasses defined where no module attribute names them (inside a function, say).
    pending = list(found)
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.startswith("hull_customerio") and sub not in found:
                found.add(sub)
                pending.append(sub)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


EXCEPTION_CLASSES = _exception_classes()


def build(cls: type[BaseException]) -> BaseException:
    """``cls`` built with a realistic value for every argument, optional ones included."""
    if cls.__init__ in (Exception.__init__, BaseException.__init__):
        return cls(REALISTIC["message"])
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.kind is parameter.VAR_POSITIONAL:
            positional.append(REALISTIC["message"])
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        if name not in REALISTIC:
            pytest.fail(f"{cls.__qualname__}({name}=...): add a realistic value to REALISTIC")
        if parameter.kind is parameter.KEYWORD_ONLY:
            keywords[name] = REALISTIC[name]
        else:
            positional.append(REALISTIC[name])
    return cls(*positional, **keywords)


def test_the_walk_finds_every_class_of_the_errors_module_and_the_private_ones() -> None:
    public = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    names = {cls.__qualname__ for cls in EXCEPTION_CLASSES}
    assert public <= set(EXCEPTION_CLASSES)
    # Classes outside errors.py are found too: the engine's, the hub's and private ones.
    assert {"BatchOperationError", "UnusableCredentialsError", "WrongTypeError"} <= names


@pytest.mark.parametrize("cls", EXCEPTION_CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_exception_survives_pickle_with_its_type_text_and_attributes(
    cls: type[BaseException],
) -> None:
    original = build(cls)
    for protocol in range(pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(original, protocol=protocol))  # noqa: S301 - our own bytes

        assert type(copy) is cls
        assert str(copy) == str(original)
        assert repr(copy) == repr(original)
        assert copy.args == original.args
        assert vars(copy) == vars(original)
        public = [name for name in dir(original) if not name.startswith("_")]
        for name in public:
            if not callable(getattr(original, name)):
                assert getattr(copy, name) == getattr(original, name), name


def test_the_attributes_a_caller_reads_come_back_after_pickle() -> None:
    # The same round trip, spelled out for the classes whose constructors are keyword-only.
    refused = errors.NotificationAuthenticationError(
        "Refused: bad signature", reason="bad_signature"
    )
    status = errors.make_status_error(
        service="customerio", method="POST", url="https://track.customer.io/api/v2/batch",
        status_code=503, body="upstream down", retry_after=1.5, errors=["down"], attempts=4,
    )  # fmt: skip
    undelivered = errors.DeliveryError(
        "2 messages undelivered", service="hull", method="POST",
        url="https://firehose.hullapp.io", undelivered=[{"type": "track"}], attempts=5,
    )  # fmt: skip

    refused_copy, status_copy, undelivered_copy = pickle.loads(  # noqa: S301 - our own bytes
        pickle.dumps((refused, status, undelivered))
    )

    assert refused_copy.reason == "bad_signature"
    assert type(status_copy) is errors.ServerError
    assert (status_copy.status_code, status_copy.retry_after, status_copy.attempts) == (503, 1.5, 4)
    assert str(status_copy).endswith("(after 4 attempts)")
    assert undelivered_copy.undelivered == [{"type": "track"}]
    assert isinstance(undelivered_copy, errors.APIError)


def _refuse(reason: str) -> None:
    raise errors.NotificationAuthenticationError(f"Refused: {reason}", reason=reason)


def test_an_exception_raised_in_another_process_arrives_typed_with_its_attributes() -> None:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        failure = pool.submit(_refuse, "wrong_organization").exception(timeout=30)

    assert type(failure) is errors.NotificationAuthenticationError
    assert failure.reason == "wrong_organization"
    assert str(failure) == "Refused: wrong_organization"
