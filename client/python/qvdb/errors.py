"""Typed exceptions: the server's gRPC status, mapped once, with its message.

Every error a qvdb call raises is a `QvdbError` subclass; grpc's own
`RpcError` never reaches callers. The subclass names follow the gRPC status
codes (docs/api.md, "Status codes"); `code` holds the code's name and
`message` the server's message unchanged (it says what to fix).

Errors the client finds itself before sending anything (a ragged list of
vectors, a negative id) are `InvalidArgument` too, so one `except` covers
both. `InvalidArgument` is also a `ValueError`, and `Unimplemented` a
`NotImplementedError`, for code that already catches those.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

import grpc

__all__ = [
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
    "error_from_rpc",
]


class QvdbError(Exception):
    """Base of every error raised by the qvdb client.

    Attributes:
      code: the gRPC status code's name, e.g. "NOT_FOUND".
      message: the server's message (or the client's, for errors found
        before sending), which says what was wrong and what to do.
    """

    code: str = "UNKNOWN"

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidArgument(QvdbError, ValueError):
    """Bad input (wrong dimension, NaN, bad spec, ...): nothing was written."""

    code = "INVALID_ARGUMENT"


class NotFound(QvdbError):
    """Unknown collection or snapshot."""

    code = "NOT_FOUND"


class AlreadyExists(QvdbError):
    """A collection or snapshot of that name exists."""

    code = "ALREADY_EXISTS"


class FailedPrecondition(QvdbError):
    """Valid request, but the collection's state does not allow it."""

    code = "FAILED_PRECONDITION"


class ResourceExhausted(QvdbError):
    """A message over the server's size limit: split it."""

    code = "RESOURCE_EXHAUSTED"


class Unavailable(QvdbError):
    """Server unreachable, shutting down or restoring, after the retries."""

    code = "UNAVAILABLE"


class Unauthenticated(QvdbError):
    """The server wants an API key (`api_key=`), or did not know this one."""

    code = "UNAUTHENTICATED"


class PermissionDenied(QvdbError):
    """A read-only API key called a method that changes data."""

    code = "PERMISSION_DENIED"


class DeadlineExceeded(QvdbError):
    """The call's deadline (`timeout`) passed."""

    code = "DEADLINE_EXCEEDED"


class Cancelled(QvdbError):
    """The call was cancelled."""

    code = "CANCELLED"


class Unimplemented(QvdbError, NotImplementedError):
    """The server (or this client) does not offer that yet."""

    code = "UNIMPLEMENTED"


class Aborted(QvdbError):
    code = "ABORTED"


class OutOfRange(QvdbError):
    code = "OUT_OF_RANGE"


class Internal(QvdbError):
    """A server bug or an unexpected failure; the message says which."""

    code = "INTERNAL"


class DataLoss(QvdbError):
    """The server found damaged data."""

    code = "DATA_LOSS"


class Unknown(QvdbError):
    code = "UNKNOWN"


_BY_CODE: Dict[grpc.StatusCode, Type[QvdbError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.UNKNOWN: Unknown,
}


def error_from_rpc(error: grpc.RpcError, method: str = "") -> QvdbError:
    """The QvdbError for a failed gRPC call (sync or asyncio).

    The server's message is kept unchanged; when gRPC itself failed (no
    connection, deadline) its details say so.
    """
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else None
    cls = _BY_CODE.get(code, Unknown) if code is not None else Unknown
    message = details or (code.name if code is not None else str(error))
    if cls is Unavailable and method:
        message = f"{message} (qvdb.v1.Qvdb/{method})"
    return cls(message, code=code.name if code is not None else None)
