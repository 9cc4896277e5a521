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
from ._customerio import CustomerIOEvent, CustomerIOMerge, CustomerIOPerson, FakeCustomerIO
from ._hull import FakeHull
from ._hull_workspace import (
    HullAccount,
    HullMessage,
    HullRejection,
    HullStatus,
    HullTrack,
    HullUser,
    claims_key,
)
from ._replies import FaultKind, RecordedRequest
from ._server import FakeService, FakeTransport
from ._signing import SignedNotification

__all__ = [
    "CustomerIOEvent",
    "CustomerIOMerge",
    "CustomerIOPerson",
    "FakeCustomerIO",
    "FakeHull",
    "FakeService",
    "FakeTransport",
    "FaultKind",
    "HullAccount",
    "HullMessage",
    "HullRejection",
    "HullStatus",
    "HullTrack",
    "HullUser",
    "InMemoryMetrics",
    "RecordedRequest",
    "SignedNotification",
    "claims_key",
]
