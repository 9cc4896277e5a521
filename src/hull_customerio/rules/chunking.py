"""Attribute chunking."""

from __future__ import annotations

from itertools import islice
from typing import Any

__all__ = ["chunk_attributes"]


def chunk_attributes(attributes: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """Split ``attributes`` into consecutive chunks of at most ``size``, in key order.

    With ``size`` or fewer attributes there is one chunk holding all of them (an empty dict
    gives one empty chunk: one identify call). Chunks are sent in order, so the first one
    carries ``email``, ``created_at`` and ``hull_segments``.

    Raises:
        ValueError: ``size`` is less than 1.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if len(attributes) <= size:
        return [dict(attributes)]
    items = iter(attributes.items())
    chunks = []
    while chunk := dict(islice(items, size)):
        chunks.append(chunk)
    return chunks
