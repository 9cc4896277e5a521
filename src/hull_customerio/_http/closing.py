"""``with`` / ``async with`` for a client whose exit is nothing but closing it."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["AsyncClosesOnExit", "ClosesOnExit"]

_Sync = TypeVar("_Sync", bound="ClosesOnExit")
_Async = TypeVar("_Async", bound="AsyncClosesOnExit")


class ClosesOnExit:
    """Makes a class with a ``close()`` method a context manager: the block's end closes it,
    whether the block raised or not (the exception is never swallowed)."""

    __slots__ = ()

    def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError  # pragma: no cover - each client closes its own resources

    def __enter__(self: _Sync) -> _Sync:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClosesOnExit:
    """The ``async with`` form of `ClosesOnExit`, over an awaitable ``aclose()``."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError  # pragma: no cover - each client closes its own resources

    async def __aenter__(self: _Async) -> _Async:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
