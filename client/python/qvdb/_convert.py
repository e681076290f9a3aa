"""PRIVATE: Python values <-> qvdb.v1 messages, shared by Client and
AsyncClient.

Checks here are those the client must make to encode a request at all
(ragged vectors, ids out of range, lengths that disagree); the server checks
the rest (dimension, NaN, limits) and its message comes back unchanged.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from typing import (
    Any,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    cast,
)

import numpy as np

from google.protobuf import json_format  # type: ignore[import]

from qvdb import errors
from qvdb.filters import Filter
from qvdb.types import (
    CollectionDescription,
    CollectionState,
    Id,
    MethodStats,
    Metric,
    Payload,
    Record,
    SearchResult,
    ServerStats,
    Stats,
    _utc_from_micros,
)
from qvdb.v1 import qvdb_pb2 as pb

U64_MAX = (1 << 64) - 1
MAX_STR_ID_BYTES = 1024
# The server's default per-request limits (docs/api.md, "Limits").
MAX_BATCH_ROWS = 10000
MAX_RESULT_HITS = 1000000
# Requests are split below the server's 64 MiB message limit.
MAX_REQUEST_BYTES = 32 << 20

IdsLike = Union[Id, Iterable[Id], np.ndarray]
VectorsLike = Union[np.ndarray, Sequence[Sequence[float]]]
PayloadLike = Union[None, bytes, bytearray, memoryview, str, Mapping, list]
# A filter expression: the text form (str), or the structured form (a
# qvdb.Filter from qvdb.field, a qvdb.v1.Filter message, or that message as
# a dict in protobuf's JSON mapping).
ExprLike = Union[str, Filter, pb.Filter, Mapping[str, Any]]
FilterLike = Union[None, ExprLike, Iterable[Id], np.ndarray]

# --- metrics and states ---

_METRIC_BY_NAME = {
    "l2": Metric.L2,
    "euclidean": Metric.L2,
    "ip": Metric.INNER_PRODUCT,
    "inner_product": Metric.INNER_PRODUCT,
    "dot": Metric.INNER_PRODUCT,
    "cosine": Metric.COSINE,
    "cos": Metric.COSINE,
}
_METRIC_TO_PROTO = {
    Metric.L2: pb.METRIC_L2,
    Metric.INNER_PRODUCT: pb.METRIC_INNER_PRODUCT,
    Metric.COSINE: pb.METRIC_COSINE,
}
_METRIC_FROM_PROTO = {v: k for k, v in _METRIC_TO_PROTO.items()}
_STATE_FROM_PROTO = {
    pb.COLLECTION_STATE_UNSPECIFIED: CollectionState.UNSPECIFIED,
    pb.COLLECTION_STATE_EMPTY: CollectionState.EMPTY,
    pb.COLLECTION_STATE_UNTRAINED: CollectionState.UNTRAINED,
    pb.COLLECTION_STATE_TRAINING: CollectionState.TRAINING,
    pb.COLLECTION_STATE_TRAINED: CollectionState.TRAINED,
}


def parse_metric(metric: Union[str, Metric]) -> Metric:
    """Metric from its name ("l2", "ip"/"inner_product", "cosine") or enum."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        found = _METRIC_BY_NAME.get(metric.strip().lower())
        if found is not None:
            return found
    raise errors.InvalidArgument(
        f'unknown metric "{metric}": use "l2", "ip" or "cosine" (qvdb.Metric)'
    )


def metric_to_proto(metric: Union[str, Metric]) -> int:
    return _METRIC_TO_PROTO[parse_metric(metric)]


def metric_from_proto(metric: int) -> Metric:
    return _METRIC_FROM_PROTO.get(metric, Metric.L2)


FIELD_TYPES = ("keyword", "int64", "double", "bool", "timestamp", "keyword_list")


def fields_to_proto(fields: Optional[Mapping[str, Any]]) -> List[pb.FieldSpec]:
    """`{"lang": "keyword", "notes": {"type": "keyword", "indexed": False}}`
    as FieldSpec messages (the server checks names and types)."""
    out = []
    for name, spec in (fields or {}).items():
        if isinstance(spec, str):
            out.append(pb.FieldSpec(name=str(name), type=spec))
        elif isinstance(spec, Mapping) and "type" in spec:
            out.append(
                pb.FieldSpec(
                    name=str(name),
                    type=str(spec["type"]),
                    indexed=bool(spec.get("indexed", True)),
                )
            )
        else:
            raise errors.InvalidArgument(
                f"field {name!r}: give its type, one of {', '.join(FIELD_TYPES)}, "
                "or {'type': ..., 'indexed': False}"
            )
    return out


def description_from_proto(d: pb.CollectionDescription) -> CollectionDescription:
    info = d.info
    return CollectionDescription(
        name=info.name,
        dimension=info.dimension,
        metric=_METRIC_FROM_PROTO.get(info.metric, Metric.L2),
        index_spec=info.index_spec,
        state=_STATE_FROM_PROTO.get(info.state, CollectionState.UNSPECIFIED),
        created_at=_utc_from_micros(info.created_unix_micros),
        live_rows=d.live_rows,
        indexed_vectors=d.indexed_vectors,
        trained=d.trained,
        training=d.training,
        model_version=d.model_version,
        auto_train_threshold=d.auto_train_threshold,
        code_size=d.code_size,
        refine_code_size=d.refine_code_size,
        ram_refine_code_size=d.ram_refine_code_size,
        refine_on_disk=d.refine_on_disk,
        memory_bytes=d.memory_bytes,
        ram_bytes_per_vector=d.ram_bytes_per_vector,
        last_train_seconds=d.last_train_seconds,
        last_train_error=d.last_train_error,
        load_seconds=d.load_seconds,
        fields={f.name: f.type for f in info.fields},
        refine_file=d.refine_file,
        refine_file_bytes=d.refine_file_bytes,
        storage_disk_bytes=d.storage_disk_bytes,
        disk_bytes_per_vector=d.disk_bytes_per_vector,
        refine_reads_from_file=d.refine_reads_from_file,
        refine_reads_from_storage=d.refine_reads_from_storage,
        refine_bytes_read=d.refine_bytes_read,
        refine_file_rebuilding=d.refine_file_rebuilding,
        ram_refine_scored=d.ram_refine_scored,
        refine_scored=d.refine_scored,
    )


def stats_from_proto(r: pb.GetStatsResponse) -> Stats:
    s = r.server
    return Stats(
        server=ServerStats(
            version=s.version,
            uptime_seconds=s.uptime_seconds,
            simd_level=s.simd_level,
            collections=s.collections,
            live_rows=s.live_rows,
            index_memory_bytes=s.index_memory_bytes,
            process_rss_bytes=s.process_rss_bytes,
            in_flight=s.in_flight,
            methods=[
                MethodStats(
                    method=m.method,
                    calls=m.calls,
                    errors=m.errors,
                    mean_micros=m.mean_micros,
                    p50_micros=m.p50_micros,
                    p99_micros=m.p99_micros,
                    max_micros=m.max_micros,
                )
                for m in s.methods
            ],
        ),
        collections=[description_from_proto(c) for c in r.collections],
    )


# --- ids ---


def check_id(id_: Any, where: str = "id") -> Id:
    """A valid id as int or str; InvalidArgument otherwise."""
    if isinstance(id_, str):
        try:
            n = len(id_.encode("utf-8"))
        except UnicodeEncodeError:
            raise errors.InvalidArgument(f"{where} {id_!r} is not valid UTF-8 text") from None
        if n == 0 or n > MAX_STR_ID_BYTES:
            raise errors.InvalidArgument(
                f"{where} {id_!r} has {n} bytes: string ids have 1 to {MAX_STR_ID_BYTES}"
            )
        return id_
    if isinstance(id_, (bool, np.bool_)):
        raise errors.InvalidArgument(
            f"{where} {id_!r} is a bool: ids are ints (0 to 2**64-1) or str"
        )
    if isinstance(id_, numbers.Integral):
        value = int(id_)
        if 0 <= value <= U64_MAX:
            return value
        raise errors.InvalidArgument(f"{where} {value} is out of range: int ids are 0 to 2**64-1")
    raise errors.InvalidArgument(
        f"{where} {id_!r} is a {type(id_).__name__}: ids are ints " "(0 to 2**64-1) or str"
    )


def is_single_id(ids: Any) -> bool:
    return isinstance(ids, (str, numbers.Integral)) and not isinstance(ids, (bool, np.bool_))


def check_ids(ids: IdsLike, what: str = "ids") -> List[Id]:
    """A list of valid ids from one id, a sequence, or a numpy array."""
    if is_single_id(ids):
        return [check_id(ids)]
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise errors.InvalidArgument(f"{what} must be one-dimensional, got shape {ids.shape}")
        if ids.dtype.kind == "u":
            return [int(v) for v in ids.tolist()]
        if ids.dtype.kind == "i":
            if ids.size and int(ids.min()) < 0:
                raise errors.InvalidArgument(
                    f"{what} holds {int(ids.min())}: int ids are 0 to 2**64-1"
                )
            return [int(v) for v in ids.tolist()]
        ids = ids.tolist()
    if isinstance(ids, (bytes, bytearray, Mapping)):
        raise errors.InvalidArgument(
            f"{what} must be an int, a str, or a sequence of them; got {type(ids).__name__}"
        )
    try:
        items = list(ids)  # type: ignore[arg-type]  # any iterable; checked below
    except TypeError:
        raise errors.InvalidArgument(
            f"{what} must be an int, a str, or a sequence of them; got {type(ids).__name__}"
        ) from None
    return [check_id(v, f"{what}[{i}]") for i, v in enumerate(items)]


def id_to_proto(id_: Id) -> pb.Id:
    return pb.Id(u64=id_) if isinstance(id_, int) else pb.Id(str=id_)


def id_from_proto(id_: pb.Id) -> Id:
    return id_.str if id_.WhichOneof("kind") == "str" else id_.u64


def ids_array(ids: List[Id]) -> np.ndarray:
    """uint64 when every id is an int, else object."""
    if all(isinstance(v, int) for v in ids):
        return np.array(ids, dtype=np.uint64)
    out = np.empty(len(ids), dtype=object)
    out[:] = ids
    return out


# --- vectors ---


def as_matrix(vectors: VectorsLike, what: str = "vectors") -> np.ndarray:
    """(n, d) C-contiguous float32 from an array or a list of lists."""
    if isinstance(vectors, np.ndarray):
        arr = vectors
    else:
        try:
            arr = np.asarray(vectors, dtype=np.float32)
        except (ValueError, TypeError) as e:
            raise errors.InvalidArgument(
                f"{what} must be an (n, d) array or a list of equally long "
                f"lists of numbers: {e}"
            ) from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise errors.InvalidArgument(
            f"{what} must be two-dimensional (n, d), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "fiub":
        raise errors.InvalidArgument(f"{what} must hold numbers, not {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_query(query: VectorsLike) -> Tuple[np.ndarray, bool]:
    """(queries (nq, d) float32, is_batch): 1-D is one query, 2-D a batch."""
    if isinstance(query, np.ndarray):
        arr = query
    else:
        try:
            arr = np.asarray(query, dtype=np.float32)
        except (ValueError, TypeError) as e:
            raise errors.InvalidArgument(
                f"query must be a vector (d,) or a batch (nq, d) of numbers: {e}"
            ) from None
    if arr.ndim not in (1, 2):
        raise errors.InvalidArgument(
            f"query must be a vector (d,) or a batch (nq, d), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "fiub":
        raise errors.InvalidArgument(f"query must hold numbers, not {arr.dtype}")
    batch = arr.ndim == 2
    return np.ascontiguousarray(arr.reshape(-1, arr.shape[-1]), np.float32), batch


# --- payloads ---


def encode_payload(payload: PayloadLike, where: str = "payload") -> bytes:
    """bytes as they are; dict/list as compact JSON; str as UTF-8; None as
    no payload."""
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (Mapping, list, tuple)):
        try:
            return json.dumps(
                payload, ensure_ascii=False, separators=(",", ":"), default=_json_default
            ).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise errors.InvalidArgument(f"{where} cannot be written as JSON: {e}") from None
    raise errors.InvalidArgument(
        f"{where} is a {type(payload).__name__}: payloads are dicts (stored as "
        "JSON), bytes, str or None"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_payloads(payloads: Optional[Sequence[PayloadLike]], n: int) -> Optional[List[bytes]]:
    if payloads is None:
        return None
    if isinstance(payloads, (bytes, str, Mapping)):
        if n != 1:
            raise errors.InvalidArgument(
                f"one payload given for {n} rows: pass a list of {n} payloads"
            )
        payloads = [payloads]
    payloads = list(payloads)
    if len(payloads) != n:
        raise errors.InvalidArgument(
            f"{len(payloads)} payloads for {n} rows: give one per row (None " "for none)"
        )
    return [encode_payload(p, f"payloads[{i}]") for i, p in enumerate(payloads)]


def decode_payload(raw: bytes, json_payloads: bool) -> Payload:
    """None for empty; a JSON object or array decoded when json_payloads;
    bytes otherwise."""
    if not raw:
        return None
    if json_payloads and raw[:1] in (b"{", b"["):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw


# --- search ---


def search_params(
    k: int,
    nprobe: Optional[int],
    refine_factor: Optional[int],
    filter: FilterLike,
    with_payload: bool,
    with_vector: bool,
    ram_refine_factor: Optional[int] = None,
) -> pb.SearchParams:
    """SearchParams; None knobs mean the server's default (proto zero)."""
    for name, value in (
        ("k", k),
        ("nprobe", nprobe),
        ("refine_factor", refine_factor),
        ("ram_refine_factor", ram_refine_factor),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0
        ):
            raise errors.InvalidArgument(f"{name} must be a non-negative int, got {value!r}")
    params = pb.SearchParams(
        k=int(k),
        nprobe=int(nprobe or 0),
        refine_factor=int(refine_factor or 0),
        ram_refine_factor=int(ram_refine_factor or 0),
        with_payload=bool(with_payload),
        with_vector=bool(with_vector),
    )
    apply_filter(params, filter)
    return params


def apply_filter(params: pb.SearchParams, filter: FilterLike) -> None:
    """Sets SearchParams.filter from the `filter=` argument.

    - None: no filter.
    - ids (list, tuple, set, range, numpy array): only these rows may be
      returned; an empty list matches nothing.
    - str: the text form of the filter grammar over the collection's
      declared fields (docs/filter.md), e.g. `category = "Sapui5" and
      year >= 2020`.
    - a structured filter (qvdb.field("lang") == "en", a qvdb.v1.Filter, or
      its dict form): the same, built by a program.
    """
    if filter is None:
        return
    if is_expression(filter):
        text, structured = split_expression(filter)
        params.filter_expr = text
        if structured is not None:
            params.structured_filter.CopyFrom(structured)
        return
    ids = check_ids(cast(IdsLike, filter), "filter")
    params.filter.SetInParent()
    params.filter.ids.extend(id_to_proto(v) for v in ids)


def is_expression(filter: Any) -> bool:
    """A filter expression (text or structured), not an id list."""
    return isinstance(filter, (str, Filter, pb.Filter, Mapping))


def split_expression(filter: ExprLike) -> Tuple[str, Optional[pb.Filter]]:
    """(filter_expr, structured_filter or None) of a filter expression."""
    if isinstance(filter, str):
        if not filter.strip():
            raise errors.InvalidArgument(
                "the filter is empty; pass None for no filter (docs/filter.md)"
            )
        return filter, None
    if isinstance(filter, Filter):
        return "", filter.to_proto()
    if isinstance(filter, pb.Filter):
        return "", filter
    if isinstance(filter, Mapping):
        try:
            return "", json_format.ParseDict(filter, pb.Filter())
        except json_format.ParseError as e:
            raise errors.InvalidArgument(
                f"the filter dict is not a qvdb.v1.Filter message: {e}"
            ) from None
    raise errors.InvalidArgument(
        f"filter is a {type(filter).__name__}: pass the text form (str) or a "
        "structured filter (qvdb.field(...) == ...)"
    )


_ID_SCORE = np.dtype([("id", "<u8"), ("score", "<f4")])


def results_from_hits(
    hit_lists: Sequence[Sequence[pb.Hit]],
    with_payload: bool,
    with_vector: bool,
    json_payloads: bool,
    dim: int,
) -> List[SearchResult]:
    """One SearchResult per list of hits (per query).

    The hot path of a batch search: one pass over every hit of every query
    reads u64 and score into one structured array; each result's ids and
    scores are slices of its two columns. A string id reads as u64 0, so
    only a result where a 0 shows up has its ids read again with their kind.
    """
    lengths = [len(hits) for hits in hit_lists]
    pairs = np.array([(h.id.u64, h.score) for hits in hit_lists for h in hits], dtype=_ID_SCORE)
    all_ids = pairs["id"].copy()
    all_scores = pairs["score"].copy()
    has_zero = not all_ids.all()
    out = []
    start = 0
    for hits, n in zip(hit_lists, lengths):
        ids = all_ids[start : start + n]
        if has_zero and not ids.all():
            ids = ids_array([id_from_proto(h.id) for h in hits])
        payloads = (
            [decode_payload(h.payload, json_payloads) for h in hits] if with_payload else None
        )
        vectors = None
        if with_vector:
            vectors = (
                np.array([list(h.vector) for h in hits], dtype=np.float32)
                if n
                else np.empty((0, dim), dtype=np.float32)
            )
        out.append(
            SearchResult(
                ids=ids, scores=all_scores[start : start + n], payloads=payloads, vectors=vectors
            )
        )
        start += n
    return out


def record_from_get(r: pb.GetResult, json_payloads: bool) -> Optional[Record]:
    if not r.found:
        return None
    return Record(
        id=id_from_proto(r.id),
        payload=decode_payload(r.payload, json_payloads),
        vector=np.array(r.vector, dtype=np.float32) if len(r.vector) else None,
    )


def batch_queries(nq: int, k: int) -> int:
    """Queries per SearchBatch request under the server's limits."""
    return max(1, min(MAX_BATCH_ROWS, MAX_RESULT_HITS // max(1, k or 10)))


# --- misc ---


def read_ca(tls: Union[None, bool, str, bytes, "os.PathLike[str]"]) -> Tuple[bool, Optional[bytes]]:
    """(use TLS, root certificates PEM or None for the system's)."""
    if tls is None or tls is False:
        return False, None
    if tls is True:
        return True, None
    if isinstance(tls, bytes):
        return True, tls
    path = os.fspath(tls)
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise errors.NotFound(f"cannot read the TLS CA file {path}: {e.strerror}") from None
    if b"-----BEGIN" not in pem:
        raise errors.InvalidArgument(f"{path} holds no PEM certificate")
    return True, pem


def check_finite_knob(name: str, value: float) -> float:
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
        raise errors.InvalidArgument(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


# --- bulk input (ingest) ---

Batch = Tuple[List[Id], np.ndarray, Optional[List[bytes]]]


def known_length(data: Any) -> Optional[int]:
    """Rows in `data` when it can tell without being consumed."""
    if isinstance(data, np.ndarray):
        return int(data.shape[0]) if data.ndim == 2 else 1
    if isinstance(data, (list, tuple, range)):
        return len(data)
    return None


def _is_record(item: Any) -> bool:
    """A dict {"id", "vector"[, "payload"]} or a tuple (id, vector[, payload])."""
    if isinstance(item, Mapping):
        return True
    return (
        isinstance(item, tuple)
        and len(item) in (2, 3)
        and is_single_id(item[0])
        and not isinstance(item[1], numbers.Number)
    )


def _record_parts(item: Any, index: int) -> Tuple[Any, Any, Any]:
    if isinstance(item, Mapping):
        if "id" not in item or "vector" not in item:
            raise errors.InvalidArgument(
                f'record {index} needs an "id" and a "vector" (and may have a '
                f'"payload"); it has {sorted(item)}'
            )
        return item["id"], item["vector"], item.get("payload")
    if len(item) == 2:
        return item[0], item[1], None
    return item[0], item[1], item[2]


def iter_batches(
    data: Any,
    ids: Optional[IdsLike],
    payloads: Optional[Sequence[PayloadLike]],
    batch_size: int,
    id_start: int,
) -> Iterable[Batch]:
    """Batches of (ids, vectors (b, d) float32, payloads as bytes or None).

    `data` is either vectors, an (n, d) array (a memory map works: it is
    read one batch at a time) or an iterable of vectors, with ids from `ids`
    or id_start, id_start + 1, ...; or an iterable of records, dicts
    {"id", "vector", "payload"} or tuples (id, vector[, payload]).
    """
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise errors.InvalidArgument(f"ingest takes an (n, d) array, got shape {data.shape}")
        n = data.shape[0]
        id_list = _ids_for(ids, n, id_start)
        pay = list(payloads) if payloads is not None else None
        if pay is not None and len(pay) != n:
            raise errors.InvalidArgument(f"{len(pay)} payloads for {n} rows")
        for start in range(0, n, batch_size):
            end = min(n, start + batch_size)
            yield (
                id_list[start:end],
                as_matrix(data[start:end]),
                [encode_payload(p, f"payloads[{start + i}]") for i, p in enumerate(pay[start:end])]
                if pay is not None
                else None,
            )
        return

    it = iter(data)
    first = next(it, None)
    if first is None:
        return
    records = _is_record(first)
    if records and (ids is not None or payloads is not None):
        raise errors.InvalidArgument(
            "records carry their own ids and payloads: do not pass ids= or payloads="
        )
    id_iter = iter(check_ids(ids, "ids")) if ids is not None else None
    pay_iter = iter(payloads) if payloads is not None else None

    def rows() -> Iterator[Any]:
        yield first
        yield from it

    b_ids: List[Id] = []
    b_vecs: List[Any] = []
    b_pay: List[bytes] = []
    has_payload = records or pay_iter is not None
    for index, item in enumerate(rows()):
        if records:
            if not _is_record(item):
                raise errors.InvalidArgument(
                    f"row {index} is not a record like row 0 (a dict or an "
                    "(id, vector[, payload]) tuple)"
                )
            id_, vec, payload = _record_parts(item, index)
            b_ids.append(check_id(id_, f"record {index} id"))
        else:
            vec, payload = item, None
            if id_iter is not None:
                try:
                    b_ids.append(next(id_iter))
                except StopIteration:
                    raise errors.InvalidArgument(
                        f"more vectors than ids: row {index} has no id"
                    ) from None
            else:
                b_ids.append(check_id(id_start + index, "id"))
            if pay_iter is not None:
                try:
                    payload = next(pay_iter)
                except StopIteration:
                    raise errors.InvalidArgument(
                        f"more vectors than payloads: row {index} has none"
                    ) from None
        b_vecs.append(vec)
        if has_payload:
            b_pay.append(encode_payload(payload, f"row {index} payload"))
        if len(b_ids) == batch_size:
            yield b_ids, _stack(b_vecs, index), b_pay if has_payload else None
            b_ids, b_vecs, b_pay = [], [], []
    if b_ids:
        yield b_ids, _stack(b_vecs, None), b_pay if has_payload else None


def _stack(vectors: List[Any], last_index: Optional[int]) -> np.ndarray:
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (ValueError, TypeError):
        lengths = sorted({len(v) for v in vectors})
        raise errors.InvalidArgument(
            f"vectors of different lengths in one batch ({lengths}): every "
            "vector must have the collection's dimension"
        ) from None
    if arr.ndim != 2:
        raise errors.InvalidArgument(
            f"each row must be a vector of numbers; got a batch of shape {arr.shape}"
        )
    return np.ascontiguousarray(arr)


def _ids_for(ids: Optional[IdsLike], n: int, id_start: int) -> List[Id]:
    if ids is None:
        if id_start < 0 or id_start + n - 1 > U64_MAX:
            raise errors.InvalidArgument(f"id_start {id_start} is out of range")
        return list(range(id_start, id_start + n))
    out = check_ids(ids, "ids")
    if len(out) != n:
        raise errors.InvalidArgument(f"{len(out)} ids for {n} vectors: give one id per vector")
    return out
