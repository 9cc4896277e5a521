"""The hub's caches (SPEC §8.3): bounded, least recently used closed once unused."""

from __future__ import annotations

import pytest

from hull_customerio.hub._cache import LeaseCache, TtlCache


def test_the_least_recently_used_value_is_closed_when_the_cache_is_full() -> None:
    cache: LeaseCache[str, str] = LeaseCache(2)
    for key in ("a", "b"):
        lease, closed = cache.acquire(key, lambda key=key: key.upper())
        assert closed == []
        assert cache.release(lease) == []
    cache.release(cache.acquire("a", lambda: "A2")[0])  # "a" is now the most recent
    lease, closed = cache.acquire("c", lambda: "C")
    assert closed == ["B"]
    assert cache.values() == ["A", "C"]


def test_a_value_in_use_is_closed_only_when_its_last_user_releases_it() -> None:
    cache: LeaseCache[str, str] = LeaseCache(1)
    first, _ = cache.acquire("a", lambda: "A")
    again, _ = cache.acquire("a", lambda: "unused")
    assert again is first
    _, closed = cache.acquire("b", lambda: "B")
    assert closed == []  # "a" is retired but still used twice
    assert cache.release(first) == []
    assert cache.release(again) == ["A"]
    assert "a" not in cache


def test_a_build_that_fails_changes_nothing() -> None:
    cache: LeaseCache[str, str] = LeaseCache(1)

    def fail() -> str:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        cache.acquire("a", fail)
    assert len(cache) == 0


def test_values_expire_after_the_ttl() -> None:
    cache: TtlCache[str, int] = TtlCache(60, 10)
    cache.put("a", 1, now=100.0)
    assert cache.get("a", now=159.9) == 1
    assert cache.get("a", now=160.0) is None


def test_a_zero_ttl_keeps_nothing_and_the_size_is_bounded() -> None:
    assert TtlCache[str, int](0, 10).get("a", 0) is None
    cache: TtlCache[str, int] = TtlCache(60, 2)
    for number, key in enumerate("abc"):
        cache.put(key, number, now=0)
    assert [cache.get(k, 1) for k in "abc"] == [None, 1, 2]
