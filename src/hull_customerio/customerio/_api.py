"""What the engine takes from the Customer.io package beyond its public names, in one place.

Only re-exports: batch mode measures and encodes each operation the way the clients' batch
requests will, so both read the same limit and the same encoder.
"""

from __future__ import annotations

from ._base import MAX_BATCH_OPERATION_BYTES, dumps
from ._batch import EncodedOperation

__all__ = ["MAX_BATCH_OPERATION_BYTES", "EncodedOperation", "dumps"]
