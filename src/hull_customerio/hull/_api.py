"""What other subpackages (the hubs) take from the Hull client package, in one place.

Only re-exports, so the client's private modules may change behind them.
"""

from __future__ import annotations

from ._base import normalize_organization

__all__ = ["normalize_organization"]
