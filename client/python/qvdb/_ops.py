"""PRIVATE: the requests of each verb and the results of their responses,
shared by Client and AsyncClient so that both behave alike. No I/O here."""

from __future__ import annotations

from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast

import numpy as np

from qvdb import _convert, _wire, errors
from qvdb._convert import ExprLike, FilterLike, IdsLike, PayloadLike, VectorsLike
from qvdb.types import (
    AddFieldResult,
    CompactResult,
    DeleteResult,
    Id,
    Metric,
    Record,
    RestoreResult,
    SearchResult,
    Snapshot,
    TrainResult,
    UpsertResult,
)
from qvdb.v1 import qvdb_pb2 as pb

# Default rows per Upsert request and per Ingest message.
DEFAULT_BATCH_ROWS = 1000
# Train, Compact and RestoreSnapshot can run long (the CLI allows 1 h).
DEFAULT_ADMIN_TIMEOUT = 3600.0


def create_collection_request(
    name: str,
    dim: int,
    metric: Union[str, Metric],
    spec: str,
    fields: Optional[Mapping[str, Any]],
) -> pb.CreateCollectionRequest:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim <= 0:
        raise errors.InvalidArgument(f"dim must be a positive int, got {dim!r}")
    return pb.CreateCollectionRequest(
        name=name,
        dimension=int(dim),
        metric=_convert.metric_to_proto(metric),
        index_spec=spec or "",
        fields=_convert.fields_to_proto(fields),
    )


def check_batch_size(batch_size: int) -> int:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or not 1 <= batch_size <= _convert.MAX_BATCH_ROWS
    ):
        raise errors.InvalidArgument(
            f"batch_size must be 1 to {_convert.MAX_BATCH_ROWS}, got {batch_size!r}"
        )
    return int(batch_size)


def upsert_requests(
    collection: str,
    ids: IdsLike,
    vectors: VectorsLike,
    payloads: Optional[Sequence[PayloadLike]],
    batch_size: int,
) -> Iterator[Tuple[bytes, int]]:
    """Encoded UpsertRequests of at most batch_size rows and ~32 MiB each,
    with their row counts."""
    batch_size = check_batch_size(batch_size)
    single = _convert.is_single_id(ids)
    id_list = _convert.check_ids(ids)
    matrix = _convert.as_matrix(vectors)
    if single and matrix.shape[0] != 1:
        raise errors.InvalidArgument(
            f"one id for {matrix.shape[0]} vectors: give one id per vector"
        )
    if len(id_list) != matrix.shape[0]:
        raise errors.InvalidArgument(
            f"{len(id_list)} ids for {matrix.shape[0]} vectors: give one id per vector"
        )
    if not id_list:
        raise errors.InvalidArgument("nothing to upsert: no ids and no vectors")
    encoded_payloads = _convert.encode_payloads(payloads, len(id_list))
    rows = _wire.encode_rows(id_list, matrix, encoded_payloads)
    yield from pack_rows(collection, rows, batch_size)


def pack_rows(
    collection: str, rows: Sequence[bytes], batch_size: int
) -> Iterator[Tuple[bytes, int]]:
    """Groups encoded rows into requests under batch_size and the byte cap."""
    start = 0
    while start < len(rows):
        end = start
        size = 0
        while end < len(rows) and end - start < batch_size:
            if end > start and size + len(rows[end]) > _convert.MAX_REQUEST_BYTES:
                break
            size += len(rows[end])
            end += 1
        yield _wire.rows_request(collection, rows[start:end]), end - start
        start = end


def upsert_result(responses: Sequence[pb.UpsertResponse]) -> UpsertResult:
    return UpsertResult(
        inserted=sum(r.inserted for r in responses),
        updated=sum(r.updated for r in responses),
    )


def id_chunks(ids: List[Id]) -> Iterator[List[pb.Id]]:
    for start in range(0, len(ids), _convert.MAX_BATCH_ROWS):
        yield [_convert.id_to_proto(v) for v in ids[start : start + _convert.MAX_BATCH_ROWS]]


def get_requests(
    collection: str, ids: List[Id], with_payload: bool, with_vector: bool
) -> Iterator[pb.GetRequest]:
    for chunk in id_chunks(ids):
        yield pb.GetRequest(
            collection=collection,
            ids=chunk,
            with_payload=with_payload,
            with_vector=with_vector,
        )


def records(responses: Sequence[pb.GetResponse], json_payloads: bool) -> List[Optional[Record]]:
    return [
        _convert.record_from_get(r, json_payloads)
        for response in responses
        for r in response.results
    ]


def delete_requests(collection: str, ids: List[Id]) -> Iterator[pb.DeleteRequest]:
    for chunk in id_chunks(ids):
        yield pb.DeleteRequest(collection=collection, ids=chunk)


def delete_result(responses: Sequence[pb.DeleteResponse]) -> DeleteResult:
    return DeleteResult(
        deleted=sum(r.deleted for r in responses),
        not_found=sum(r.not_found for r in responses),
    )


def ids_for_count(filter: FilterLike) -> Optional[List[Id]]:
    """None: a Count call (every row, or a filter expression); else the ids
    whose presence is counted."""
    if filter is None or _convert.is_expression(filter):
        return None
    return _convert.check_ids(cast(IdsLike, filter), "filter")


def count_request(collection: str, filter: Optional[ExprLike]) -> pb.CountRequest:
    request = pb.CountRequest(collection=collection)
    if filter is not None:
        text, structured = _convert.split_expression(filter)
        request.filter_expr = text
        if structured is not None:
            request.structured_filter.CopyFrom(structured)
    return request


def check_ids_or_filter(ids: Optional[IdsLike], filter: Optional[ExprLike], verb: str) -> None:
    """get() and delete() take ids or filter=, exactly one of them."""
    if ids is not None and filter is not None:
        raise errors.InvalidArgument(f"{verb}() takes ids or filter=, not both")
    if ids is None and filter is None:
        raise errors.InvalidArgument(
            f"{verb}() needs ids or filter= (an empty {verb} never means every row)"
        )


def get_filter_request(
    collection: str,
    filter: ExprLike,
    limit: Optional[int],
    with_payload: bool,
    with_vector: bool,
) -> pb.GetRequest:
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1
    ):
        raise errors.InvalidArgument(f"limit must be a positive int, got {limit!r}")
    text, structured = _convert.split_expression(filter)
    request = pb.GetRequest(
        collection=collection,
        filter_expr=text,
        limit=int(limit or 0),
        with_payload=with_payload,
        with_vector=with_vector,
    )
    if structured is not None:
        request.structured_filter.CopyFrom(structured)
    return request


def filtered_records(response: pb.GetResponse, json_payloads: bool) -> List[Record]:
    out = [_convert.record_from_get(r, json_payloads) for r in response.results]
    return [r for r in out if r is not None]


def delete_filter_request(collection: str, filter: ExprLike) -> pb.DeleteRequest:
    text, structured = _convert.split_expression(filter)
    request = pb.DeleteRequest(collection=collection, filter_expr=text)
    if structured is not None:
        request.structured_filter.CopyFrom(structured)
    return request


class SearchPlan:
    """The requests of one search() call and how to read their answers."""

    def __init__(
        self,
        collection: str,
        query: VectorsLike,
        k: int,
        nprobe: Optional[int],
        refine_factor: Optional[int],
        filter: FilterLike,
        with_payload: bool,
        with_vector: bool,
        json_payloads: bool,
        ram_refine_factor: Optional[int] = None,
    ) -> None:
        self.queries, self.batch = _convert.as_query(query)
        if self.queries.shape[0] == 0:
            raise errors.InvalidArgument("no queries: the batch has no rows")
        params = _convert.search_params(
            k, nprobe, refine_factor, filter, with_payload, with_vector, ram_refine_factor
        )
        self._params = params.SerializeToString()
        self._collection = collection
        self._k = int(k)
        self._with_payload = bool(with_payload)
        self._with_vector = bool(with_vector)
        self._json = json_payloads
        self._dim = int(self.queries.shape[1])

    def single_request(self) -> bytes:
        return _wire.search_request(self._collection, self.queries[0], self._params)

    def batch_requests(self) -> Iterator[bytes]:
        step = _convert.batch_queries(self.queries.shape[0], self._k)
        for start in range(0, self.queries.shape[0], step):
            yield _wire.search_batch_request(
                self._collection, self.queries[start : start + step], self._params
            )

    def result(self, hits: Sequence[pb.Hit]) -> SearchResult:
        return _convert.results_from_hits(
            [hits], self._with_payload, self._with_vector, self._json, self._dim
        )[0]

    def batch_results(self, responses: Sequence[pb.SearchBatchResponse]) -> List[SearchResult]:
        hit_lists = [r.hits for response in responses for r in response.results]
        if len(hit_lists) != self.queries.shape[0]:
            raise errors.Internal(
                f"the server answered {len(hit_lists)} result lists for "
                f"{self.queries.shape[0]} queries"
            )
        return _convert.results_from_hits(
            hit_lists, self._with_payload, self._with_vector, self._json, self._dim
        )


def sample_array(r: pb.SampleVectorsResponse) -> np.ndarray:
    return np.array(r.vectors, dtype=np.float32).reshape(r.rows, r.dimension)


def add_field_request(collection: str, name: str, type: str, indexed: bool) -> pb.AddFieldRequest:
    (spec,) = _convert.fields_to_proto({name: {"type": type, "indexed": indexed}})
    return pb.AddFieldRequest(collection=collection, field=spec)


def add_field_result(r: pb.AddFieldResponse) -> AddFieldResult:
    return AddFieldResult(
        fields={f.name: f.type for f in r.info.fields},
        rows_scanned=r.rows_scanned,
        rows_with_value=r.rows_with_value,
        rows_wrong_type=r.rows_wrong_type,
        seconds=r.seconds,
    )


def train_result(r: pb.TrainResponse) -> TrainResult:
    return TrainResult(model_version=r.model_version, seconds=r.seconds)


def compact_result(r: pb.CompactResponse) -> CompactResult:
    return CompactResult(
        memory_bytes_before=r.memory_bytes_before,
        memory_bytes_after=r.memory_bytes_after,
    )


def snapshot(s: pb.SnapshotInfo) -> Snapshot:
    return Snapshot(name=s.name, path=s.path)


def restore_result(r: pb.RestoreSnapshotResponse) -> RestoreResult:
    return RestoreResult(
        data_dir=r.data_dir,
        replaced_data_dir=r.replaced_data_dir,
        collections=r.collections,
    )


class IngestState:
    """Book-keeping of one ingest(): the batches sent and not yet
    acknowledged (kept to be sent again on a new stream), and the totals."""

    def __init__(self, collection: str, window: int, max_attempts: int) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 64:
            raise errors.InvalidArgument(f"window must be 1 to 64, got {window!r}")
        self.collection = collection
        self.window = window
        self.max_attempts = max_attempts
        self.unacked: List[Tuple[bytes, int]] = []
        self.rows = 0
        self.inserted = 0
        self.updated = 0
        self.skipped = 0
        self.batches = 0
        self.reconnects = 0
        self.failures = 0  # reconnects since the last acknowledgement

    def request(self, ids: List[Id], vectors: np.ndarray, payloads: Optional[List[bytes]]) -> bytes:
        return _wire.rows_request(self.collection, _wire.encode_rows(ids, vectors, payloads))

    def acknowledge(self, ack: pb.IngestAck) -> int:
        """Pops the oldest unacknowledged batch; returns its rows."""
        if not self.unacked:
            raise errors.Internal(
                f"the server acknowledged message {ack.sequence} that was not sent"
            )
        _, rows = self.unacked.pop(0)
        self.rows += ack.rows
        self.inserted += ack.inserted
        self.updated += ack.updated
        self.batches += 1
        self.failures = 0
        return rows

    def may_reconnect(self, error: errors.QvdbError) -> bool:
        if not isinstance(error, errors.Unavailable):
            return False
        if self.failures + 1 >= self.max_attempts:
            return False
        self.failures += 1
        self.reconnects += 1
        return True

    def failed(self, error: errors.QvdbError) -> errors.QvdbError:
        """The error, its message saying what is stored."""
        return type(error)(
            f"{error.message} (ingest stopped: {self.rows} rows acknowledged "
            f"before the error are stored; {sum(r for _, r in self.unacked)} "
            "sent rows were not acknowledged and may be sent again)",
            code=error.code,
        )


def stream_ended_early(state: IngestState) -> errors.QvdbError:
    return errors.Unavailable(
        f"the Ingest stream ended with {len(state.unacked)} batches unacknowledged"
    )


def filter_missing(
    batch: Tuple[List[Id], np.ndarray, Optional[List[bytes]]],
    found: Sequence[bool],
) -> Tuple[List[Id], np.ndarray, Optional[List[bytes]]]:
    ids, vectors, payloads = batch
    keep = [i for i, f in enumerate(found) if not f]
    return (
        [ids[i] for i in keep],
        vectors[keep] if len(keep) != len(ids) else vectors,
        [payloads[i] for i in keep] if payloads is not None else None,
    )


def make_progress(enabled: bool, total: Optional[int], collection: str) -> Any:
    """A tqdm bar (rate and ETA) counting acknowledged rows, or None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency; still, never fail a load
        return None
    return tqdm(
        total=total,
        unit=" rows",
        unit_scale=True,
        desc=f"ingest {collection}",
        dynamic_ncols=True,
        smoothing=0.1,
    )
