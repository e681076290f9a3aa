"""qvdb.Client and qvdb.Collection: the synchronous client.

    import qvdb
    with qvdb.Client("127.0.0.1:7734") as client:
        docs = client.create_collection("docs", dim=384, metric="cosine")
        docs.upsert(["a", "b"], vectors, payloads=[{"text": "..."}, {"text": "..."}])
        hits = docs.search(query, k=5, with_payload=True)

Every call has a deadline (`timeout`, per attempt) and is retried on
UNAVAILABLE with exponential backoff and jitter (`max_attempts`); every qvdb
call is safe to retry (upserts replace, deletes of missing ids are counted).
Errors are `qvdb.QvdbError` subclasses carrying the server's message.

Thread safety: a Client and its Collections may be shared by threads (the
gRPC channel is thread-safe; they hold no other mutable state).
"""

from __future__ import annotations

import queue
import time
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Union

import grpc
import numpy as np

from qvdb import _channel, _convert, _ops, errors
from qvdb._convert import ExprLike, FilterLike, IdsLike, PayloadLike, VectorsLike
from qvdb.types import (
    AddFieldResult,
    CollectionDescription,
    CompactResult,
    DeleteResult,
    IngestResult,
    Metric,
    Record,
    RestoreResult,
    SearchResult,
    Snapshot,
    Stats,
    TrainResult,
    UpsertResult,
)
from qvdb.v1 import qvdb_pb2 as pb

__all__ = ["Client", "Collection"]

_END = object()  # closes an Ingest request stream


class Client:
    """A connection to one qvdb server.

    Args:
      address: "host:port". None: $QVDB_SERVER, else "127.0.0.1:7734".
      api_key: sent with every call as `authorization: Bearer <key>` (servers
        started with --api-keys). None: $QVDB_API_KEY, else no key.
      tls: None/False: plaintext; True: TLS trusting the system's CAs; a
        path (str or PathLike) to a PEM CA file, or the PEM bytes. None also
        reads $QVDB_TLS_CA. The server certificate must name `address`.
      timeout: deadline of one attempt of a call, in seconds (default 60).
        train(), compact() and restore_snapshot() default to one hour.
      max_attempts: attempts of a call that ends UNAVAILABLE (1: no retry).
      initial_backoff, max_backoff: seconds before the second attempt,
        doubled after each and capped; each wait is drawn from [b/2, b].
      max_message_bytes: largest message sent or received (the server's
        default limit is 64 MiB).
      json_payloads: decode payloads that hold a JSON object or array (True,
        the default: dicts come back as dicts); False: payloads are bytes.

    Connects lazily: an unreachable server shows up as `qvdb.Unavailable` on
    the first call, after the retries. Raises InvalidArgument for a bad
    option and NotFound when the TLS CA file cannot be read.

    Use it as a context manager, or call close().
    """

    def __init__(
        self,
        address: Optional[str] = None,
        api_key: Optional[str] = None,
        tls: _channel.TlsLike = None,
        timeout: float = 60.0,
        *,
        max_attempts: int = 5,
        initial_backoff: float = 0.1,
        max_backoff: float = 2.0,
        max_message_bytes: int = 64 << 20,
        json_payloads: bool = True,
    ) -> None:
        self._options = _channel.resolve_options(
            address,
            api_key,
            tls,
            timeout,
            max_attempts,
            initial_backoff,
            max_backoff,
            max_message_bytes,
            json_payloads,
        )
        o = self._options
        if o.tls:
            self._channel = grpc.secure_channel(o.address, o.credentials(), o.channel_options())
        else:
            self._channel = grpc.insecure_channel(o.address, o.channel_options())
        self._methods = _channel.method_handles(self._channel)
        self._closed = False

    # --- lifetime ---

    @property
    def address(self) -> str:
        """The server's "host:port"."""
        return self._options.address

    @property
    def timeout(self) -> float:
        """Deadline of one attempt of a call, seconds."""
        return self._options.timeout

    def close(self) -> None:
        """Closes the connection; later calls raise FailedPrecondition."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> "Client":
        """`with qvdb.Client(...) as client:` closes it on exit."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Closes the client."""
        self.close()

    def __repr__(self) -> str:
        return f"qvdb.Client({self.address!r})"

    # --- collections ---

    def create_collection(
        self,
        name: str,
        dim: int,
        metric: Union[str, Metric],
        spec: str = "",
        *,
        fields: Optional[Mapping[str, Any]] = None,
        exist_ok: bool = False,
    ) -> "Collection":
        """Creates an empty collection and returns its handle.

        Args:
          name: 1 to 256 bytes, unique on the server.
          dim: vector dimension, 1 to 65536.
          metric: "l2", "ip" (inner product) or "cosine" (or qvdb.Metric).
          spec: the index spec (docs/spec.md), e.g.
            "IVF16,PQ96x4fs,Refine(Flat)"; "" means "Flat" (exact search).
          fields: typed payload fields that filters can use (docs/filter.md):
            name -> type ("keyword", "int64", "double", "bool", "timestamp",
            "keyword_list"), or name -> {"type": ..., "indexed": False}.
            Payloads are then JSON objects holding these members.
          exist_ok: when the collection exists with the same dimension and
            metric, return it instead of raising AlreadyExists.

        Raises:
          AlreadyExists: the name is taken (and not exist_ok, or the existing
            collection differs in dimension or metric).
          InvalidArgument: bad name, dimension, metric or spec (the message
            names the bad token).
        """
        request = _ops.create_collection_request(name, dim, metric, spec, fields)
        try:
            info = self._call("CreateCollection", request).collection
        except errors.AlreadyExists:
            if not exist_ok:
                raise
            existing = self.collection(name)
            if existing.dimension != int(dim) or existing.metric != _convert.parse_metric(metric):
                raise errors.AlreadyExists(
                    f'collection "{name}" exists with dimension {existing.dimension} and '
                    f"metric {existing.metric}, not {dim} and {_convert.parse_metric(metric)}"
                ) from None
            return existing
        return Collection(self, info.name, info.dimension, _convert.metric_from_proto(info.metric))

    def collection(self, name: str) -> "Collection":
        """The handle of an existing collection.

        Raises NotFound when there is no collection of that name.
        """
        d = self.describe_collection(name)
        return Collection(self, d.name, d.dimension, d.metric)

    def describe_collection(self, name: str) -> CollectionDescription:
        """One collection's configuration, state and figures (a dataclass).

        Raises NotFound for an unknown collection.
        """
        r = self._call("DescribeCollection", pb.DescribeCollectionRequest(name=name))
        return _convert.description_from_proto(r.collection)

    def list_collections(self) -> List[CollectionDescription]:
        """Every collection, sorted by name, with its figures."""
        r = self._call("ListCollections", pb.ListCollectionsRequest())
        return [_convert.description_from_proto(c) for c in r.collections]

    def add_field(
        self,
        collection: str,
        name: str,
        type: str,
        indexed: bool = True,
        *,
        timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT,
    ) -> AddFieldResult:
        """Adds a typed payload field to an existing collection and fills it
        from the stored rows' JSON payloads (docs/filter.md); returns when
        every row is indexed. Writes to the collection wait meanwhile.

        Args:
          collection: the collection's name.
          name: the field's name (1 to 64 of [A-Za-z0-9_], not starting with
            a digit).
          type: "keyword", "int64", "double", "bool", "timestamp" or
            "keyword_list".
          indexed: keep the field's value -> rows bitmaps (keyword-like types).
          timeout: seconds (the backfill reads every stored payload).

        A row without the member has no value; a row whose member has the
        wrong type has none either and is counted in rows_wrong_type.

        Raises:
          AlreadyExists: the collection already has a field of that name.
          InvalidArgument: bad name or type, or too many fields.
          FailedPrecondition: a stored payload is not a JSON object.
          NotFound: no such collection.
        """
        request = _ops.add_field_request(collection, name, type, indexed)
        return _ops.add_field_result(self._call("AddField", request, timeout))

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> None:
        """Deletes a collection and all its rows.

        Raises NotFound when absent, unless missing_ok.
        """
        try:
            self._call("DropCollection", pb.DropCollectionRequest(name=name))
        except errors.NotFound:
            if not missing_ok:
                raise

    # --- snapshots and stats ---

    def create_snapshot(self, name: Optional[str] = None) -> Snapshot:
        """A consistent snapshot of the whole data directory (every
        collection), taken while writes continue.

        Args:
          name: 1 to 128 of [A-Za-z0-9._-]; None: the server names it
            "snap-<UTC time>".

        Raises AlreadyExists for a taken name, InvalidArgument for a bad one.
        """
        r = self._call("CreateSnapshot", pb.CreateSnapshotRequest(name=name or ""))
        return _ops.snapshot(r.snapshot)

    def list_snapshots(self) -> List[Snapshot]:
        """The snapshots, sorted by name."""
        r = self._call("ListSnapshots", pb.ListSnapshotsRequest())
        return [_ops.snapshot(s) for s in r.snapshots]

    def delete_snapshot(self, name: str) -> None:
        """Deletes a snapshot. Raises NotFound when absent."""
        self._call("DeleteSnapshot", pb.DeleteSnapshotRequest(name=name))

    def restore_snapshot(
        self, name: str, *, timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT
    ) -> RestoreResult:
        """Replaces ALL the server's data by a snapshot's, live.

        Calls in flight finish first; calls arriving meanwhile are retried.
        The replaced data is kept on the server (see the result).

        Raises NotFound for an unknown snapshot.
        """
        r = self._call("RestoreSnapshot", pb.RestoreSnapshotRequest(name=name), timeout)
        return _ops.restore_result(r)

    def stats(self, collection: Optional[str] = None) -> Stats:
        """Server-wide figures (version, uptime, SIMD level, RSS, per-method
        latency) and each collection's description; with `collection`, only
        that one. Raises NotFound for an unknown collection."""
        r = self._call("GetStats", pb.GetStatsRequest(collection=collection or ""))
        return _convert.stats_from_proto(r)

    # --- calls ---

    def _call(self, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        """One unary call with its deadline, retried on UNAVAILABLE."""
        if self._closed:
            raise errors.FailedPrecondition("this qvdb.Client is closed; make a new one")
        fn = self._methods[method]
        o = self._options
        attempt = 1
        while True:
            try:
                return fn(request, timeout=timeout or o.timeout, metadata=o.metadata)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < o.max_attempts:
                    attempt += 1
                    time.sleep(o.backoff(attempt))
                    continue
                raise errors.error_from_rpc(e, method) from None
            except ValueError as e:  # gRPC: "Cannot invoke RPC on closed channel!"
                if self._closed:
                    raise errors.FailedPrecondition(
                        "this qvdb.Client is closed; make a new one"
                    ) from None
                raise errors.InvalidArgument(str(e)) from None


class Collection:
    """A handle on one collection: rows, search and maintenance.

    Get one from Client.create_collection() or Client.collection(). It holds
    the collection's name, dimension and metric, and no other state.
    """

    def __init__(self, client: Client, name: str, dimension: int, metric: Metric) -> None:
        self.client = client
        self.name = name
        self.dimension = dimension
        self.metric = metric

    def __repr__(self) -> str:
        return (
            f"qvdb.Collection({self.name!r}, dimension={self.dimension}, "
            f"metric={self.metric.value!r})"
        )

    def _call(self, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        return self.client._call(method, request, timeout)

    # --- information ---

    def describe(self) -> CollectionDescription:
        """The collection's configuration, state and figures now (rows,
        memory, model version, ...). Raises NotFound once dropped."""
        return self.client.describe_collection(self.name)

    def count(self, filter: FilterLike = None) -> int:
        """Rows stored, or those that pass a filter.

        Args:
          filter: None: every row. A filter expression over the declared
            fields (docs/filter.md): the text form, e.g.
            'lang = "en" and year >= 2020', or the structured form,
            e.g. (qvdb.field("lang") == "en") & (qvdb.field("year") >= 2020)
            (a qvdb.v1.Filter message, or its dict form, too). A list of
            ids: how many of them are stored.

        Raises InvalidArgument for a bad filter (the message names the token
        or node and the field), NotFound for an unknown collection.
        """
        ids = _ops.ids_for_count(filter)
        if ids is None:
            request = _ops.count_request(self.name, filter)  # type: ignore[arg-type]
            return int(self._call("Count", request).count)
        unique = list(dict.fromkeys(ids))
        responses = [
            self._call("Get", r) for r in _ops.get_requests(self.name, unique, False, False)
        ]
        return sum(1 for resp in responses for r in resp.results if r.found)

    def __len__(self) -> int:
        """`len(coll)`: count() without a filter (one DescribeCollection)."""
        return self.count()

    # --- rows ---

    def upsert(
        self,
        ids: IdsLike,
        vectors: VectorsLike,
        payloads: Optional[Sequence[PayloadLike]] = None,
        *,
        batch_size: int = _ops.DEFAULT_BATCH_ROWS,
    ) -> UpsertResult:
        """Inserts or replaces rows (vector and payload); durable on return.

        Args:
          ids: one id, or a sequence / numpy array of them: ints (0 to
            2**64-1) or str (1 to 1024 bytes). 5 and "5" are different rows.
          vectors: an (n, d) array or a list of n lists (one vector (d,) with
            one id); float32 on the wire.
          payloads: None, or one per row: a dict or list (stored as JSON),
            bytes (stored as they are), str (UTF-8) or None (no payload).
            At most 1 MiB each.
          batch_size: rows per request (1 to 10000). Each request is all or
            nothing; for millions of rows use ingest().

        Raises:
          InvalidArgument: wrong dimension, NaN or infinity, an id twice,
            ids and vectors of different lengths, a payload too large
            (nothing of that request was written).
          NotFound: unknown collection.
        """
        responses = [
            self._call("Upsert", request)
            for request, _ in _ops.upsert_requests(self.name, ids, vectors, payloads, batch_size)
        ]
        return _ops.upsert_result(responses)

    def get(
        self,
        ids: Optional[IdsLike] = None,
        *,
        filter: Optional[ExprLike] = None,
        limit: Optional[int] = None,
        with_payload: bool = True,
        with_vector: bool = False,
    ) -> Union[Optional[Record], List[Optional[Record]], List[Record]]:
        """Reads rows by id, or the rows that pass a filter.

        Args:
          ids: one id, or a sequence of ids (repeats allowed).
          filter: instead of ids, a filter expression (text or structured,
            as in count()): the rows that pass it, in storage (about
            insertion) order.
          limit: with filter, at most this many rows (1 to 10000; None: the
            server's default, 100). count(filter) says how many pass.
          with_payload: return the payloads (default True).
          with_vector: return the stored vectors (normalised ones for cosine).

        Returns, by ids, a Record per id, in order, None for an id not
        stored; for a single id, that Record or None. By filter, a list of
        the Records that pass. Raises InvalidArgument for both ids and
        filter, or neither, or a bad filter; NotFound for an unknown
        collection.
        """
        _ops.check_ids_or_filter(ids, filter, "get")
        if filter is not None:
            request = _ops.get_filter_request(self.name, filter, limit, with_payload, with_vector)
            return _ops.filtered_records(
                self._call("Get", request), self.client._options.json_payloads
            )
        if limit is not None:
            raise errors.InvalidArgument("limit applies to get(filter=...)")
        assert ids is not None
        single = _convert.is_single_id(ids)
        id_list = _convert.check_ids(ids)
        responses = [
            self._call("Get", r)
            for r in _ops.get_requests(self.name, id_list, with_payload, with_vector)
        ]
        out = _ops.records(responses, self.client._options.json_payloads)
        return out[0] if single else out

    def delete(
        self, ids: Optional[IdsLike] = None, *, filter: Optional[ExprLike] = None
    ) -> DeleteResult:
        """Deletes rows by id (each id at most once per call; ids not stored
        are counted in `not_found`, not an error), or every row that passes
        `filter` (text or structured, as in count()).

        A delete by filter runs in batches of 1000 rows on the server, each
        all or nothing; an error stops it, the batches before it stay
        deleted. Raises InvalidArgument for both ids and filter, or neither
        (an empty delete never means every row: drop the collection), or a
        bad filter.
        """
        _ops.check_ids_or_filter(ids, filter, "delete")
        if filter is not None:
            r = self._call("Delete", _ops.delete_filter_request(self.name, filter))
            return _ops.delete_result([r])
        assert ids is not None
        id_list = _convert.check_ids(ids)
        responses = [self._call("Delete", r) for r in _ops.delete_requests(self.name, id_list)]
        return _ops.delete_result(responses)

    def sample(self, max_rows: int = 1000) -> np.ndarray:
        """Up to max_rows stored vectors, evenly spread over the collection,
        as an (n, d) float32 array (normalised ones for cosine)."""
        r = self._call(
            "SampleVectors", pb.SampleVectorsRequest(collection=self.name, max_rows=int(max_rows))
        )
        return _ops.sample_array(r)

    # --- bulk load ---

    def ingest(
        self,
        data: Union[VectorsLike, Iterable[Any]],
        ids: Optional[IdsLike] = None,
        payloads: Optional[Sequence[PayloadLike]] = None,
        *,
        batch_size: int = _ops.DEFAULT_BATCH_ROWS,
        window: int = 4,
        progress: bool = True,
        skip_existing: bool = False,
        id_start: int = 0,
        stream_lifetime: float = 60.0,
    ) -> IngestResult:
        """Bulk load over the streaming Ingest call; returns once every row
        is acknowledged (durable).

        Args:
          data: vectors, as an (n, d) array (np.load(..., mmap_mode="r")
            works: it is read one batch at a time) or an iterable of vectors;
            or an iterable of records: dicts {"id", "vector"[, "payload"]}
            or tuples (id, vector[, payload]).
          ids: for vectors, one id per row; None: id_start, id_start+1, ...
          payloads: for vectors, one payload per row (see upsert()).
          batch_size: rows per stream message (1 to 10000).
          window: messages sent ahead of their acknowledgements (1 to 64).
          progress: show a tqdm progress bar of acknowledged rows, with rate
            and ETA (on stderr).
          skip_existing: leave out rows whose id is stored (a Get per batch),
            so a load that stopped can be run again.
          id_start: first id when `ids` is None.
          stream_lifetime: seconds after which a stream is closed and a new
            one opened, so each carries a deadline (lifetime + timeout).

        When the stream breaks with UNAVAILABLE, a new one is opened and the
        unacknowledged messages are sent again (upserts are idempotent), up
        to max_attempts times without progress. Any other error stops the
        load: acknowledged rows stay stored, the failing message wrote
        nothing, and the raised error's message says how many rows are
        stored.
        """
        batch_size = _ops.check_batch_size(batch_size)
        o = self.client._options
        state = _ops.IngestState(self.name, window, o.max_attempts)
        bar = _ops.make_progress(progress, _convert.known_length(data), self.name)
        started = time.monotonic()
        stream: Optional[_IngestStream] = None
        try:
            for batch in _convert.iter_batches(data, ids, payloads, batch_size, id_start):
                if skip_existing:
                    batch = self._drop_existing(batch, state, bar)
                    if not batch[0]:
                        continue
                request = state.request(*batch)
                if stream is None or stream.age() > stream_lifetime:
                    if stream is not None:
                        self._finish_stream(stream, state, bar, stream_lifetime)
                    stream = self._open_stream(state, stream_lifetime)
                while len(state.unacked) >= state.window:
                    stream = self._read_ack(stream, state, bar, stream_lifetime)
                state.unacked.append((request, len(batch[0])))
                stream.send(request)
            if stream is not None:
                self._finish_stream(stream, state, bar, stream_lifetime)
                stream = None
        finally:
            if stream is not None:
                stream.cancel()
            if bar is not None:
                bar.close()
        return IngestResult(
            rows=state.rows,
            inserted=state.inserted,
            updated=state.updated,
            skipped=state.skipped,
            batches=state.batches,
            reconnects=state.reconnects,
            seconds=time.monotonic() - started,
        )

    def _drop_existing(self, batch: Any, state: _ops.IngestState, bar: Any) -> Any:
        found = [
            r.found
            for request in _ops.get_requests(self.name, batch[0], False, False)
            for r in self._call("Get", request).results
        ]
        kept = _ops.filter_missing(batch, found)
        skipped = len(batch[0]) - len(kept[0])
        state.skipped += skipped
        if bar is not None and skipped:
            bar.update(skipped)
        return kept

    def _open_stream(self, state: _ops.IngestState, lifetime: float) -> "_IngestStream":
        """A new stream, with every unacknowledged message sent again."""
        o = self.client._options
        if self.client._closed:
            raise errors.FailedPrecondition("this qvdb.Client is closed; make a new one")
        stream = _IngestStream(self.client._methods["Ingest"], lifetime + o.timeout, o.metadata)
        for request, _ in state.unacked:
            stream.send(request)
        return stream

    def _read_ack(
        self, stream: "_IngestStream", state: _ops.IngestState, bar: Any, lifetime: float
    ) -> "_IngestStream":
        """Reads one acknowledgement; on UNAVAILABLE reconnects. Returns the
        stream to go on with."""
        try:
            ack = stream.next_ack()
        except grpc.RpcError as e:
            return self._recover(stream, state, errors.error_from_rpc(e, "Ingest"), lifetime)
        if ack is None:
            return self._recover(stream, state, _ops.stream_ended_early(state), lifetime)
        rows = state.acknowledge(ack)
        if bar is not None:
            bar.update(rows)
        return stream

    def _recover(
        self,
        stream: "_IngestStream",
        state: _ops.IngestState,
        error: errors.QvdbError,
        lifetime: float,
    ) -> "_IngestStream":
        stream.cancel()
        if not state.may_reconnect(error):
            raise state.failed(error) from None
        time.sleep(self.client._options.backoff(state.failures + 1))
        return self._open_stream(state, lifetime)

    def _finish_stream(
        self,
        stream: "_IngestStream",
        state: _ops.IngestState,
        bar: Any,
        lifetime: float,
    ) -> None:
        """Closes the sending side and reads every remaining acknowledgement."""
        stream.close_send()
        while state.unacked:
            current = self._read_ack(stream, state, bar, lifetime)
            if current is not stream:  # reconnected: the new one gets closed too
                stream = current
                stream.close_send()
        stream.drain()

    # --- search ---

    def search(
        self,
        query: VectorsLike,
        k: int = 10,
        *,
        nprobe: Optional[int] = None,
        refine_factor: Optional[int] = None,
        filter: FilterLike = None,
        with_payload: bool = False,
        with_vector: bool = False,
        ram_refine_factor: Optional[int] = None,
    ) -> Union[SearchResult, List[SearchResult]]:
        """The k nearest neighbours of a query, or of each row of a batch.

        Args:
          query: a vector (d,) -> one SearchResult; an (nq, d) array or list
            of lists -> a list of nq SearchResults, searched in one
            SearchBatch call (split above 10000 queries).
          k: hits per query, 1 to 10000.
          nprobe: IVF lists scanned (None: the server's default, 8).
          refine_factor: with a Refine spec, k * refine_factor candidates
            are re-scored by the last Refine stage (None: the server's
            default, 4).
          ram_refine_factor: with two Refine stages, k * ram_refine_factor
            scan candidates are re-scored by the RAM tier, which passes
            k * refine_factor on (None: the server's default, 16).
          filter: only rows that pass may be returned: a str in the filter
            grammar over the collection's declared fields (docs/filter.md),
            e.g. 'lang = "en" and year >= 2020'; or a list (or array) of
            ids, where an empty list matches nothing.
          with_payload: return each hit's payload.
          with_vector: return each hit's stored vector.

        Each SearchResult has `ids` and `scores` numpy arrays (best first),
        and `payloads`/`vectors` when asked; iterate it for Hits.

        Raises InvalidArgument (wrong dimension, NaN, k out of range),
        NotFound (unknown collection), InvalidArgument (a filter that does
        not parse, or names an undeclared field).
        """
        plan = _ops.SearchPlan(
            self.name,
            query,
            k,
            nprobe,
            refine_factor,
            filter,
            with_payload,
            with_vector,
            self.client._options.json_payloads,
            ram_refine_factor,
        )
        if not plan.batch:
            return plan.result(self._call("Search", plan.single_request()).hits)
        return plan.batch_results([self._call("SearchBatch", r) for r in plan.batch_requests()])

    # --- maintenance ---

    def train(self, *, timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT) -> TrainResult:
        """Trains a model on the rows stored now and switches searches to it;
        returns when done (writes continue meanwhile).

        Raises FailedPrecondition when the collection holds too few rows for
        its spec (the message says how many it needs).
        """
        return _ops.train_result(
            self._call("Train", pb.TrainRequest(collection=self.name), timeout)
        )

    def compact(self, *, timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT) -> CompactResult:
        """Reclaims the memory of deleted and replaced vectors."""
        return _ops.compact_result(
            self._call("Compact", pb.CompactRequest(collection=self.name), timeout)
        )

    def drop(self) -> None:
        """Deletes this collection and all its rows (Client.drop_collection)."""
        self.client.drop_collection(self.name)


class _IngestStream:
    """One Ingest call: requests go through a queue that gRPC's sending
    thread reads; acknowledgements are read by the caller's thread."""

    def __init__(self, method: Callable[..., Any], timeout: float, metadata: Any) -> None:
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._opened = time.monotonic()
        self._closed_send = False
        self._call = method(iter(self._queue.get, _END), timeout=timeout, metadata=metadata)

    def age(self) -> float:
        return time.monotonic() - self._opened

    def send(self, request: bytes) -> None:
        self._queue.put(request)

    def close_send(self) -> None:
        if not self._closed_send:
            self._closed_send = True
            self._queue.put(_END)

    def next_ack(self) -> Optional[pb.IngestAck]:
        """The next acknowledgement; None when the stream ended."""
        try:
            return next(self._call)
        except StopIteration:
            return None

    def drain(self) -> None:
        """Waits for the call's end after the last acknowledgement."""
        # Every message is acknowledged (durable): an error status now, e.g.
        # a server shutting down, takes nothing back.
        try:
            for _ in self._call:
                pass
        except grpc.RpcError:
            pass

    def cancel(self) -> None:
        self._call.cancel()
        self.close_send()  # frees gRPC's thread blocked on the queue
