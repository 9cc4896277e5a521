"""Fakes of Customer.io and Hull for testing code that uses `hull_customerio`.

`FakeCustomerIO` is an in-memory Customer.io Track API, `FakeHull` is Hull's firehose and REST
API. Each works two ways, on the same state:

- in process: `httpx.Client(transport=fake.transport())` (or `httpx.AsyncClient`), no sockets;
- as a real HTTP server on 127.0.0.1: `with FakeCustomerIO() as fake:` then use `fake.url`.

They implement the wire protocols as Customer.io and Hull document them, check
credentials and limits, record everything they receive, and inject faults on request. See the
"Testing your integration" guide.
"""

from ..metrics import InMemoryMetrics
from . import _customerio, _hull, _hull_workspace
from ._customerio import *  # noqa: F403 -- the names its `__all__` gives, re-exported below
from ._hull import *  # noqa: F403
from ._hull_workspace import *  # noqa: F403
from ._replies import FaultKind, RecordedRequest
from ._server import FakeService, FakeTransport
from ._signing import SignedNotification

__all__ = [
    "FakeService",
    "FakeTransport",
    "FaultKind",
    "InMemoryMetrics",
    "RecordedRequest",
    "SignedNotification",
]
# The fakes' modules each list what they export; the package exports those lists as they are.
__all__ += _customerio.__all__
__all__ += _hull.__all__
__all__ += _hull_workspace.__all__
__all__.sort()
