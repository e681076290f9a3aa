"""qvdb: the Python client of the qvdb vector database (gRPC).

    import qvdb
    client = qvdb.Client("127.0.0.1:7734")
    docs = client.create_collection("docs", dim=384, metric="cosine")
    docs.upsert(["a", "b"], vectors, payloads=[{"text": "..."}, {"text": "..."}])
    print(docs.search(query, k=5, with_payload=True).payloads)

`qvdb.Client` is synchronous, `qvdb.AsyncClient` the same verbs on asyncio.
Errors are `qvdb.QvdbError` subclasses (`qvdb.NotFound`, ...) carrying the
server's message. Reference: docs/python.md.
"""

from qvdb import _generate

# A source checkout (the PYTHONPATH way) generates its gRPC stubs on first
# import, and again when proto/ changed; an installed package has them.
_generate.ensure_stubs()

from qvdb.errors import (  # noqa: E402
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    QvdbError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from qvdb.types import (  # noqa: E402
    AddFieldResult,
    CollectionDescription,
    CollectionState,
    CompactResult,
    DeleteResult,
    Hit,
    Id,
    IngestResult,
    MethodStats,
    Metric,
    Payload,
    Record,
    RestoreResult,
    SearchResult,
    ServerStats,
    Snapshot,
    Stats,
    TrainResult,
    UpsertResult,
)
from qvdb.filters import Field, Filter, all_of, any_of, field, not_  # noqa: E402
from qvdb.client import Client, Collection  # noqa: E402
from qvdb.aio import AsyncClient, AsyncCollection  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Collection",
    "AsyncClient",
    "AsyncCollection",
    # structured filters
    "Field",
    "Filter",
    "all_of",
    "any_of",
    "field",
    "not_",
    # results
    "AddFieldResult",
    "CollectionDescription",
    "CollectionState",
    "CompactResult",
    "DeleteResult",
    "Hit",
    "Id",
    "IngestResult",
    "MethodStats",
    "Metric",
    "Payload",
    "Record",
    "RestoreResult",
    "SearchResult",
    "ServerStats",
    "Snapshot",
    "Stats",
    "TrainResult",
    "UpsertResult",
    # errors
    "QvdbError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "FailedPrecondition",
    "ResourceExhausted",
    "Unavailable",
    "Unauthenticated",
    "PermissionDenied",
    "DeadlineExceeded",
    "Cancelled",
    "Unimplemented",
    "Aborted",
    "OutOfRange",
    "Internal",
    "DataLoss",
    "Unknown",
]
