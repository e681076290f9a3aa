"""PRIVATE: hand-encoded protobuf for the requests that carry vectors.

Building `Row`/`Vector` messages float by float costs far more than the
search itself for a batch of queries (about 0.5 ms for 100 x 128 floats with
the C++ protobuf runtime, against 20 us here): the packed float field is the
numpy array's little-endian bytes, so these requests are assembled from
`ndarray.tobytes()` and a few tags. Everything else goes through the
generated classes. tests/test_wire.py checks that each encoding parses back
into the message protobuf itself would build.

Field numbers (proto/qvdb/v1/qvdb.proto):
  Id:                 u64 = 1 (varint), str = 2
  Row:                id = 1, vector = 2 (packed float), payload = 3
  UpsertRequest:      collection = 1, rows = 2
  IngestRequest:      collection = 1, rows = 2
  SearchRequest:      collection = 1, vector = 2 (packed float), params = 3
  SearchBatchRequest: collection = 1, queries = 2 (Vector{values = 1}),
                      params = 3
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Union

import numpy as np

_LE_F32 = np.dtype("<f4")


def varint(n: int) -> bytes:
    """Base-128 varint of a non-negative int below 2**64."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: one-byte tag (field < 16), length, bytes."""
    return bytes((tag,)) + varint(len(payload)) + payload


def encode_id(id_: Union[int, str, bytes]) -> bytes:
    """The Id message body for a validated id (int, or UTF-8 bytes/str)."""
    if isinstance(id_, int):
        return b"\x08" + varint(id_)
    raw = id_.encode("utf-8") if isinstance(id_, str) else id_
    return _field(0x12, raw)


def encode_rows(
    ids: Sequence[Union[int, str]],
    vectors: np.ndarray,
    payloads: Optional[Sequence[bytes]],
) -> List[bytes]:
    """One encoded `rows` field (tag 2 of Upsert/IngestRequest) per row.

    ids: validated ids; vectors: (n, d) float32; payloads: bytes per row
    (b"" for none) or None.
    """
    if vectors.dtype != _LE_F32 or not vectors.flags.c_contiguous:
        vectors = np.ascontiguousarray(vectors, dtype=_LE_F32)
    d = vectors.shape[1]
    packed_head = b"\x12" + varint(4 * d) if d else b""
    raw = vectors.tobytes()
    stride = 4 * d
    out = []
    for i, id_ in enumerate(ids):
        body = _field(0x0A, encode_id(id_))
        if d:
            body += packed_head + raw[i * stride : (i + 1) * stride]
        if payloads is not None:
            p = payloads[i]
            if p:
                body += _field(0x1A, p)
        out.append(_field(0x12, body))
    return out


def rows_request(collection: str, encoded_rows: Sequence[bytes]) -> bytes:
    """An UpsertRequest or IngestRequest (same field numbers)."""
    name = collection.encode("utf-8")
    head = _field(0x0A, name) if name else b""
    return head + b"".join(encoded_rows)


def search_request(collection: str, query: np.ndarray, params: bytes) -> bytes:
    """A SearchRequest: query is 1-D float32; params a serialized
    SearchParams."""
    q = np.ascontiguousarray(query, dtype=_LE_F32)
    out = _field(0x0A, collection.encode("utf-8"))
    if q.size:
        out += _field(0x12, q.tobytes())
    if params:
        out += _field(0x1A, params)
    return out


def search_batch_request(collection: str, queries: np.ndarray, params: bytes) -> bytes:
    """A SearchBatchRequest: queries is (nq, d) float32."""
    q = np.ascontiguousarray(queries, dtype=_LE_F32)
    d = q.shape[1]
    if d:
        inner_head = b"\x0a" + varint(4 * d)
        head = b"\x12" + varint(len(inner_head) + 4 * d) + inner_head
    else:
        head = b"\x12\x00"
    raw = q.tobytes()
    stride = 4 * d
    parts = [_field(0x0A, collection.encode("utf-8"))]
    parts.extend(head + raw[i * stride : (i + 1) * stride] for i in range(q.shape[0]))
    if params:
        parts.append(_field(0x1A, params))
    return b"".join(parts)
