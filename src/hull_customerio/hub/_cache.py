"""Bounded caches for the hub: tenants' clients (LRU, closed when no longer used) and settings.

Both are plain bookkeeping without I/O or locks; the sync hub guards them with a lock, the async
hub uses them between awaits (atomic within one event loop). Time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import attrs

__all__ = ["Lease", "LeaseCache", "TtlCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@attrs.define(eq=False)
class Lease(Generic[K, V]):
    """One cached value and how many requests are using it right now."""

    key: K
    value: V
    users: int = 0
    retired: bool = False


class LeaseCache(Generic[K, V]):
    """A least-recently-used cache whose values are closed only once nobody uses them.

    `acquire` hands out a `Lease` (building the value when missing) and
    `release` gives it back. When the cache holds more than ``max_size`` values the least
    recently used one is retired: it leaves the cache at once, and is returned for closing as
    soon as its last user released it, so no request ever sees its client closed under it.

    Args:
        max_size: values kept at most (at least 1).
    """

    def __init__(self, max_size: int) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be a whole number of at least 1, got {max_size!r}")
        self.max_size = max_size
        self._entries: OrderedDict[K, Lease[K, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def acquire(self, key: K, build: Callable[[], V]) -> tuple[Lease[K, V], list[V]]:
        """The lease for ``key`` (built if missing) and the values to close now.

        ``build`` may raise; then nothing changes.
        """
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            entry.users += 1
            return entry, []
        entry = Lease(key, build(), users=1)
        self._entries[key] = entry
        to_close: list[V] = []
        while len(self._entries) > self.max_size:
            _, oldest = self._entries.popitem(last=False)
            oldest.retired = True
            if oldest.users == 0:
                to_close.append(oldest.value)
        return entry, to_close

    def release(self, lease: Lease[K, V]) -> list[V]:
        """Give ``lease`` back; the value to close when it was retired and is now unused."""
        lease.users -= 1
        if lease.retired and lease.users == 0:
            return [lease.value]
        return []

    def values(self) -> list[V]:
        """Every cached value, least recently used first."""
        return [entry.value for entry in self._entries.values()]

    def clear(self) -> list[V]:
        """Empty the cache; return every value to close (in use or not: the hub is closing)."""
        values = self.values()
        for entry in self._entries.values():
            entry.retired = True
        self._entries.clear()
        return values


class TtlCache(Generic[K, V]):
    """Values kept for ``ttl`` seconds, at most ``max_size`` of them (oldest dropped first).

    Args:
        ttl: seconds a value stays fresh (``0`` keeps nothing).
        max_size: values kept at most (at least 1).
    """

    def __init__(self, ttl: float, max_size: int) -> None:
        if not ttl >= 0:
            raise ValueError(f"ttl must be a number of seconds >= 0, got {ttl!r}")
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size!r}")
        self.ttl = float(ttl)
        self.max_size = max_size
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, now: float) -> V | None:
        """The value for ``key`` if it is still fresh at ``now``, else ``None``."""
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if now >= expires:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, now: float) -> None:
        """Keep ``value`` for ``key`` until ``now + ttl``."""
        if self.ttl == 0:
            return
        self._entries.pop(key, None)
        self._entries[key] = (now + self.ttl, value)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget ``key``."""
        self._entries.pop(key, None)
