"""PRIVATE: what Client and AsyncClient share: options, channel arguments,
method handles, retry backoff."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import grpc

from qvdb import _convert, errors
from qvdb.v1 import qvdb_pb2 as pb

DEFAULT_ADDRESS = "127.0.0.1:7734"

TlsLike = Union[None, bool, str, bytes, "os.PathLike[str]"]

# Method -> (request type or None for pre-encoded bytes, response type).
# None: the request is built by qvdb._wire and sent as bytes as they are.
_UNARY: Dict[str, Tuple[Any, Any]] = {
    "CreateCollection": (pb.CreateCollectionRequest, pb.CreateCollectionResponse),
    "ListCollections": (pb.ListCollectionsRequest, pb.ListCollectionsResponse),
    "DescribeCollection": (pb.DescribeCollectionRequest, pb.DescribeCollectionResponse),
    "DropCollection": (pb.DropCollectionRequest, pb.DropCollectionResponse),
    "Upsert": (None, pb.UpsertResponse),
    "Delete": (pb.DeleteRequest, pb.DeleteResponse),
    "Get": (pb.GetRequest, pb.GetResponse),
    "Count": (pb.CountRequest, pb.CountResponse),
    "SampleVectors": (pb.SampleVectorsRequest, pb.SampleVectorsResponse),
    "Search": (None, pb.SearchResponse),
    "SearchBatch": (None, pb.SearchBatchResponse),
    "Train": (pb.TrainRequest, pb.TrainResponse),
    "Compact": (pb.CompactRequest, pb.CompactResponse),
    "CreateSnapshot": (pb.CreateSnapshotRequest, pb.CreateSnapshotResponse),
    "ListSnapshots": (pb.ListSnapshotsRequest, pb.ListSnapshotsResponse),
    "DeleteSnapshot": (pb.DeleteSnapshotRequest, pb.DeleteSnapshotResponse),
    "RestoreSnapshot": (pb.RestoreSnapshotRequest, pb.RestoreSnapshotResponse),
    "GetStats": (pb.GetStatsRequest, pb.GetStatsResponse),
    "AddField": (pb.AddFieldRequest, pb.AddFieldResponse),
}


@dataclass(frozen=True)
class Options:
    """A client's settings, resolved and checked once."""

    address: str
    metadata: Tuple[Tuple[str, str], ...]
    tls: bool
    root_certificates: Optional[bytes]
    timeout: float
    max_attempts: int
    initial_backoff: float
    max_backoff: float
    max_message_bytes: int
    json_payloads: bool

    def channel_options(self) -> List[Tuple[str, Any]]:
        # gRPC reconnects a channel that lost its server on its own backoff,
        # and fails calls at once meanwhile; by default that backoff grows
        # to 2 minutes. Capped at 0.5 s, below the default retries' total
        # backoff (0.75 to 1.5 s), a restarted server is reached by the
        # retries of the next call.
        reconnect_max_ms = 500
        reconnect_min_ms = max(1, min(reconnect_max_ms, int(self.initial_backoff * 1000)))
        return [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            # The client retries UNAVAILABLE itself, with its own backoff.
            ("grpc.enable_retries", 0),
            ("grpc.initial_reconnect_backoff_ms", reconnect_min_ms),
            ("grpc.min_reconnect_backoff_ms", reconnect_min_ms),
            ("grpc.max_reconnect_backoff_ms", reconnect_max_ms),
        ]

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.root_certificates)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt` (2, 3, ...): the initial
        backoff doubled per attempt, capped, with jitter in [b/2, b]."""
        b = min(self.max_backoff, self.initial_backoff * (2 ** max(0, attempt - 2)))
        return b * (0.5 + 0.5 * random.random())


def resolve_options(
    address: Optional[str],
    api_key: Optional[str],
    tls: TlsLike,
    timeout: float,
    max_attempts: int,
    initial_backoff: float,
    max_backoff: float,
    max_message_bytes: int,
    json_payloads: bool,
) -> Options:
    address = address or os.environ.get("QVDB_SERVER") or DEFAULT_ADDRESS
    if api_key is None:
        api_key = os.environ.get("QVDB_API_KEY") or None
    if tls is None and os.environ.get("QVDB_TLS_CA"):
        tls = os.environ["QVDB_TLS_CA"]
    use_tls, roots = _convert.read_ca(tls)
    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise errors.InvalidArgument(f"max_attempts must be an int >= 1, got {max_attempts!r}")
    metadata: Tuple[Tuple[str, str], ...] = ()
    if api_key:
        metadata = (("authorization", f"Bearer {api_key}"),)
    return Options(
        address=address,
        metadata=metadata,
        tls=use_tls,
        root_certificates=roots,
        timeout=_convert.check_finite_knob("timeout", timeout),
        max_attempts=max_attempts,
        initial_backoff=_convert.check_finite_knob("initial_backoff", initial_backoff),
        max_backoff=_convert.check_finite_knob("max_backoff", max_backoff),
        max_message_bytes=int(max_message_bytes),
        json_payloads=bool(json_payloads),
    )


def _identity(b: bytes) -> bytes:
    return b


def method_handles(channel: Any) -> Dict[str, Callable[..., Any]]:
    """Multi-callables for every method on a grpc.Channel or grpc.aio.Channel.

    Methods whose requests qvdb._wire encodes take bytes as they are.
    """
    handles: Dict[str, Callable[..., Any]] = {}
    for name, (request, response) in _UNARY.items():
        handles[name] = channel.unary_unary(
            f"/qvdb.v1.Qvdb/{name}",
            request_serializer=request.SerializeToString if request else _identity,
            response_deserializer=response.FromString,
        )
    handles["Ingest"] = channel.stream_stream(
        "/qvdb.v1.Qvdb/Ingest",
        request_serializer=_identity,
        response_deserializer=pb.IngestAck.FromString,
    )
    return handles
