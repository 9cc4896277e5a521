"""JSON at the edges: the one cattrs converter for our models, and canonical JSON.

Models know nothing about JSON. This module turns wire dictionaries into them, strictly: a
string where a list belongs is an error, not a list of characters. Problems come back as
readable sentences that name the field (``$.events[1].event: expected a string, got a number``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_sequence,
    list_structure_factory,
)
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception as _cattrs_format_exception

from .errors import _rebuild_exception

__all__ = [
    "JsonObject",
    "canonical_json",
    "compact_json",
    "converter",
    "describe",
    "is_encodable",
    "short_repr",
    "structure",
    "summarize",
    "unsendable",
]

T = TypeVar("T")
JsonObject = dict[str, Any]


# One encoder each, built once: ``json.dumps`` with options builds a new encoder per call, which
# cost more than encoding a small value. The output is exactly ``json.dumps``'s with the same
# options (an encoder holds options only, so sharing it between threads is safe).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_COMPACT_STRICT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def one_shot(encoder: json.JSONEncoder) -> Callable[[object], str]:
    """``encoder.encode``, calling the C encoder directly when there is one (CPython).

    ``JSONEncoder.encode`` builds a C encoder for every call, after a closure and a dict of
    its own; the direct call is the same encoder with the same options, so the same text, at
    a fraction of the overhead (planning hashes every user, every request body is encoded).
    It skips the check for values that contain themselves (the check's dict cannot be
    shared): such a value overflows the recursion limit instead, and is then encoded again by
    ``encoder.encode`` so that it raises what it always raised.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python encoder
        return encoder.encode
    quote = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else (
        json.encoder.encode_basestring
    )  # fmt: skip
    c_encoder = make(
        None,  # no circular check; see above
        encoder.default,
        quote,
        None,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )
    join = "".join

    def encode(value: object) -> str:
        try:
            return join(c_encoder(value, 0))
        except RecursionError:
            return encoder.encode(value)  # circular (ValueError) or truly deep (RecursionError)

    return encode


_canonical = one_shot(_CANONICAL)
_compact = one_shot(_COMPACT)
_compact_strict = one_shot(_COMPACT_STRICT)


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same text on every platform and Python."""
    return _canonical(value)


def compact_json(value: object, *, strict: bool = False) -> str:
    """No whitespace, key order kept: how sizes are measured against Customer.io's limits.

    ``strict`` refuses NaN and infinity (``ValueError``), which are not JSON.
    """
    return (_compact_strict if strict else _compact)(value)


def describe(value: object) -> str:
    """A JSON-flavoured name for the type of ``value``, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string" if value.strip() else "an empty string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


#: Characters of a value quoted in an error message; longer values are cut.
SHORT_REPR_LIMIT = 60
#: Nesting levels a value sent to Customer.io or Hull may have. Real data is a few levels deep;
#: thousands of levels would overflow the stack of whoever reads it.
MAX_NESTING = 100


def short_repr(value: object, limit: int = SHORT_REPR_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for error messages.

    Hostile input may be megabytes long, or an integer too large to print: neither is echoed.
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return "a huge number"
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
        return repr(value)[:-1] + "...'"
    if not isinstance(value, (str, int, float, bool)) and value is not None:
        return describe(value)
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_encodable(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (a lone surrogate such as ``"\\ud800"`` cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unsendable(value: object) -> str | None:
    """Why JSON cannot carry ``value`` to Customer.io or Hull, or ``None`` when it can.

    Refused: text that is not valid Unicode (lone surrogates), numbers that are not finite or
    too long to print, nesting deeper than `MAX_NESTING`, and anything that is not a JSON
    value. The answer is a short phrase, never the value itself.
    """
    # An explicit stack: a value nested 10,000 deep must not overflow ours either.
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_encodable(item):
                return "it holds text that is not valid Unicode"
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if item.bit_length() > _MAX_INT_BITS:
                return "it holds a number too long to send"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "it holds a number that is not finite (NaN or infinity)"
        elif isinstance(item, (list, tuple, dict)):
            if depth >= MAX_NESTING:
                return f"it is nested deeper than {MAX_NESTING} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return "it holds an object key that is not a string"
                    stack.append((key, depth + 1))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            return f"it holds {describe(item)}, which is not a JSON value"
    return None


# Python prints at most 4300 digits of an int (about 14,284 bits); far more than any id or count.
_MAX_INT_BITS = 14_000


class WrongTypeError(TypeError):
    """A wire value of the wrong JSON type; the message is shown to people as is."""

    def __init__(self, expected: str, value: object) -> None:
        super().__init__(f"expected {expected}, got {describe(value)}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The constructor's arguments are not its args: rebuild from the message instead.
        return (_rebuild_exception, (type(self), self.args), self.__dict__)


def _format(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, WrongTypeError):
        return str(exc)
    return _cattrs_format_exception(exc, type_)


def _strict_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise WrongTypeError("a string", value)
    return value


def _strict_bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise WrongTypeError("true or false", value)
    return value


def _json_object(value: object, _: object) -> JsonObject:
    # Hull sends `null` for empty properties/context now and then: same as absent.
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WrongTypeError("an object", value)
    return value


def _timestamp_like(value: object, _: object) -> str | int | float | None:
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return value
    raise WrongTypeError("a timestamp (string or number)", value)


TimestampLike = str | int | float | None


def _strict_sequence(type_: Any, conv: cattrs.Converter) -> Callable[[object, Any], Any]:
    origin = getattr(type_, "__origin__", type_)
    base = (
        homogenous_tuple_structure_factory(type_, conv)
        if origin is tuple
        else list_structure_factory(type_, conv)
    )

    def structure_sequence(value: object, target: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise WrongTypeError("a list", value)
        return base(value, target)

    return structure_sequence


def _object_first(type_: Any, conv: cattrs.Converter) -> Callable[[object, Any], Any]:
    # Without this check a string where an object belongs reads "invalid value for type,
    # expected Segment" or, worse, blames a field inside it.
    base = make_dict_structure_fn(type_, conv)

    def structure_object(value: object, target: Any) -> Any:
        if not isinstance(value, Mapping):
            raise WrongTypeError("an object", value)
        return base(value, target)

    return structure_object


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook_func(lambda t: t == JsonObject, _json_object)
    conv.register_structure_hook_func(lambda t: t == TimestampLike, _timestamp_like)
    conv.register_structure_hook_factory(is_sequence, _strict_sequence)
    conv.register_structure_hook_factory(attrs.has, _object_first)
    return conv


converter = _make_converter()


def structure(value: object, type_: type[T]) -> tuple[T | None, list[str]]:
    """Structure ``value`` as ``type_``: the value and no problems, or ``None`` and the problems.

    Each problem reads ``$.path.to.field: what is wrong``.
    """
    try:
        return converter.structure(value, type_), []
    except Exception as exc:  # every structuring failure becomes a message
        problems = cattrs.transform_error(exc, path="$", format_exception=_format)
        return None, [_reorder(problem) for problem in problems]


#: Problems spelled out in one error message; the rest are counted.
PROBLEMS_SHOWN = 5


def summarize(problems: list[str]) -> str:
    """The first few problems joined by ``; `` and a count of the others: a short message.

    A message with a million bad items must not make a message of megabytes.
    """
    shown = "; ".join(problems[:PROBLEMS_SHOWN])
    hidden = len(problems) - PROBLEMS_SHOWN
    return f"{shown}; and {hidden} more problem(s)" if hidden > 0 else shown


def _reorder(problem: str) -> str:
    # cattrs writes "what @ where"; people read "where: what" more easily.
    what, sep, where = problem.rpartition(" @ ")
    return f"{where}: {what}" if sep else problem
