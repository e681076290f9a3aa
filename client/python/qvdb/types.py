"""The typed results of qvdb calls: frozen dataclasses and numpy arrays.

Ids are Python `int` (unsigned 64-bit) or `str`; 5 and "5" are different rows.
Payloads come back as they went in: a dict (or list) written as JSON comes
back decoded, bytes come back as bytes (see `Client(json_payloads=...)`);
an empty payload is None.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Union

import numpy as np

__all__ = [
    "Id",
    "Payload",
    "Metric",
    "CollectionState",
    "CollectionDescription",
    "UpsertResult",
    "DeleteResult",
    "IngestResult",
    "Record",
    "Hit",
    "SearchResult",
    "TrainResult",
    "AddFieldResult",
    "CompactResult",
    "Snapshot",
    "RestoreResult",
    "MethodStats",
    "ServerStats",
    "Stats",
]

Id = Union[int, str]
"""A row id: an unsigned 64-bit int or a string of 1 to 1024 bytes."""

Payload = Any
"""A decoded payload: dict or list (JSON), bytes, or None (no payload)."""


class Metric(str, enum.Enum):
    """How vectors are compared; fixed at creation. Equal to its text form,
    so `Metric.COSINE == "cosine"`.

    - L2: squared Euclidean distance; lower scores are closer.
    - INNER_PRODUCT ("ip"): inner product; higher is closer.
    - COSINE: cosine similarity (vectors normalised on the way in); higher
      is closer.
    """

    L2 = "l2"
    INNER_PRODUCT = "ip"
    COSINE = "cosine"

    def __str__(self) -> str:
        return self.value


class CollectionState(str, enum.Enum):
    """Lifecycle of a collection's model (docs/storage.md, "States")."""

    UNSPECIFIED = "unspecified"
    EMPTY = "empty"  # created, no vector yet
    UNTRAINED = "untrained"  # rows, no model: searches are exact
    TRAINING = "training"  # a model is being built; the previous one serves
    TRAINED = "trained"  # a model is in force

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CollectionDescription:
    """A collection's configuration, state and figures now.

    Attributes:
      name, dimension, metric, index_spec: fixed at creation (index_spec in
        canonical form).
      state: see CollectionState.
      created_at: creation time (UTC).
      live_rows: rows stored (durable).
      indexed_vectors: vectors searchable in memory (larger than live_rows
        after replacements, until compact()).
      trained / training: a model is in force / being built.
      model_version: the model in force; 0 when none.
      auto_train_threshold: rows at which the server trains by itself.
      code_size / refine_code_size: bytes per vector in RAM / of the
        re-ranking codes (0 without Refine).
      ram_refine_code_size: bytes per vector of the RAM re-ranking tier
        (the first of two Refine stages; 0 without one), held in RAM.
      refine_on_disk: Refine(Flat) re-reads float32 vectors from disk.
      memory_bytes, ram_bytes_per_vector: RAM of the index.
      last_train_seconds, last_train_error: the last training ("" if it
        succeeded).
      load_seconds: time to load it at server start (0 if created since).
      fields: the declared payload fields, name -> type.
      refine_file: Refine(Flat) re-ranks from the refine file (page cache)
        rather than RocksDB.
      refine_file_bytes, storage_disk_bytes, disk_bytes_per_vector: bytes on
        disk: the refine file, RocksDB's estimate, and both per live row.
      refine_reads_from_file, refine_reads_from_storage, refine_bytes_read:
        re-ranking records read from the disk tier since the server loaded
        the collection.
      refine_file_rebuilding: the refine file is being rebuilt in the
        background (after a crash); re-ranking reads RocksDB until then.
      ram_refine_scored, refine_scored: candidates the RAM tier and the last
        Refine stage re-scored since load, over every search.
    """

    name: str
    dimension: int
    metric: Metric
    index_spec: str
    state: CollectionState
    created_at: datetime
    live_rows: int
    indexed_vectors: int
    trained: bool
    training: bool
    model_version: int
    auto_train_threshold: int
    code_size: int
    refine_code_size: int
    refine_on_disk: bool
    memory_bytes: int
    ram_bytes_per_vector: float
    last_train_seconds: float
    last_train_error: str
    load_seconds: float
    fields: Dict[str, str] = field(default_factory=dict)
    refine_file: bool = False
    refine_file_bytes: int = 0
    storage_disk_bytes: int = 0
    disk_bytes_per_vector: float = 0.0
    refine_reads_from_file: int = 0
    refine_reads_from_storage: int = 0
    refine_bytes_read: int = 0
    ram_refine_code_size: int = 0
    refine_file_rebuilding: bool = False
    ram_refine_scored: int = 0
    refine_scored: int = 0

    @property
    def dim(self) -> int:
        """Alias of `dimension`."""
        return self.dimension


@dataclass(frozen=True)
class UpsertResult:
    """Rows that were new (`inserted`) and that replaced an id (`updated`)."""

    inserted: int
    updated: int


@dataclass(frozen=True)
class DeleteResult:
    """Rows deleted, and ids that were not stored (not an error)."""

    deleted: int
    not_found: int


@dataclass(frozen=True)
class IngestResult:
    """What an ingest() stored, every row acknowledged (durable).

    Attributes:
      rows: rows sent and acknowledged.
      inserted, updated: of those, new ones and replacements.
      skipped: rows left out because their id was stored (skip_existing).
      batches: Ingest messages acknowledged.
      reconnects: streams reopened after UNAVAILABLE (batches not yet
        acknowledged were sent again; upserts are idempotent).
      seconds: wall time of the load.
    """

    rows: int
    inserted: int
    updated: int
    skipped: int
    batches: int
    reconnects: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Record:
    """A stored row read by get(): its id, payload and (if asked) vector."""

    id: Id
    payload: Payload = None
    vector: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Hit:
    """One search hit. `score`: squared L2 distance (lower is closer) or
    inner product / cosine similarity (higher is closer)."""

    id: Id
    score: float
    payload: Payload = None
    vector: Optional[np.ndarray] = None


@dataclass(frozen=True)
class SearchResult:
    """The hits of one query, best first.

    Attributes:
      ids: shape (n,); dtype uint64 when every id is an int, else object
        (ints and strs).
      scores: shape (n,), float32; see Hit.score.
      payloads: one per hit when searched with_payload=True, else None.
      vectors: shape (n, dim) float32 when searched with_vector=True, else
        None.

    Iterating yields `Hit`s; `len()` is the number of hits (at most k; fewer
    when the collection or the filter has fewer rows).
    """

    ids: np.ndarray
    scores: np.ndarray
    payloads: Optional[List[Payload]] = None
    vectors: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __getitem__(self, i: int) -> Hit:
        id_ = self.ids[i]
        return Hit(
            id=id_ if isinstance(id_, str) else int(id_),
            score=float(self.scores[i]),
            payload=self.payloads[i] if self.payloads is not None else None,
            vector=self.vectors[i] if self.vectors is not None else None,
        )

    def __iter__(self) -> Iterator[Hit]:
        for i in range(len(self)):
            yield self[i]

    @property
    def hits(self) -> List[Hit]:
        """The hits as a list of Hit."""
        return list(self)


@dataclass(frozen=True)
class AddFieldResult:
    """What add_field did: the collection's fields now (name -> type, in
    declaration order), the stored rows with a payload, those that hold the
    new field, and those whose member had the wrong type for it (they hold
    no value)."""

    fields: Dict[str, str]
    rows_scanned: int
    rows_with_value: int
    rows_wrong_type: int
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """The model now in force and how long training took."""

    model_version: int
    seconds: float


@dataclass(frozen=True)
class CompactResult:
    """Index memory before and after compaction, bytes."""

    memory_bytes_before: int
    memory_bytes_after: int


@dataclass(frozen=True)
class Snapshot:
    """A snapshot of the whole data directory; `path` is on the server's
    host."""

    name: str
    path: str


@dataclass(frozen=True)
class RestoreResult:
    """After restore_snapshot(): the data directory served, where the
    replaced data went (delete it once the restore is confirmed), and how
    many collections there are now."""

    data_dir: str
    replaced_data_dir: str
    collections: int


@dataclass(frozen=True)
class MethodStats:
    """Server-side latency of one RPC method since the server started.
    Figures are microseconds, upper bounds of log-scale buckets (within
    19 %)."""

    method: str
    calls: int
    errors: int
    mean_micros: float
    p50_micros: float
    p99_micros: float
    max_micros: float


@dataclass(frozen=True)
class ServerStats:
    """Server-wide figures: version, uptime, SIMD level of the kernels,
    collections, rows and index memory summed, process RSS (0 if unknown),
    calls in flight, per-method latency."""

    version: str
    uptime_seconds: float
    simd_level: str
    collections: int
    live_rows: int
    index_memory_bytes: int
    process_rss_bytes: int
    in_flight: int
    methods: List[MethodStats] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    """GetStats: the server's figures and each collection's description."""

    server: ServerStats
    collections: List[CollectionDescription] = field(default_factory=list)


def _utc_from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1e6, tz=timezone.utc)
