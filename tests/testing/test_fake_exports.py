"""`hull_customerio.testing` exports a sorted, documented public surface."""

from __future__ import annotations

import inspect

from hull_customerio import testing


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert hasattr(testing, name), name


def test_every_public_class_method_and_property_has_a_docstring() -> None:
    missing = []
    for name in testing.__all__:
        obj = getattr(testing, name)
        if not inspect.isclass(obj):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        for member_name, member in vars(obj).items():
            if member_name.startswith("_"):
                continue
            if (inspect.isfunction(member) or isinstance(member, property)) and not (
                member.__doc__ or ""
            ).strip():
                missing.append(f"{name}.{member_name}")
    assert missing == []
