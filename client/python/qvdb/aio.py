"""qvdb.AsyncClient and qvdb.AsyncCollection: the client on asyncio
(grpc.aio), with the same verbs, arguments, results and errors as
qvdb.Client / qvdb.Collection, each a coroutine.

    async with qvdb.AsyncClient("127.0.0.1:7734") as client:
        docs = await client.collection("docs")
        hits = await docs.search(query, k=5)

Create and use an AsyncClient inside one running event loop. Calls from
many tasks may run concurrently on one client.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Union

import grpc
import grpc.aio
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

__all__ = ["AsyncClient", "AsyncCollection"]


class AsyncClient:
    """A connection to one qvdb server on asyncio.

    Arguments are those of qvdb.Client: address, api_key, tls, timeout,
    max_attempts, initial_backoff, max_backoff, max_message_bytes,
    json_payloads. Use it as `async with`, or `await client.close()`.
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
            self._channel = grpc.aio.secure_channel(o.address, o.credentials(), o.channel_options())
        else:
            self._channel = grpc.aio.insecure_channel(o.address, o.channel_options())
        self._methods = _channel.method_handles(self._channel)
        self._closed = False

    @property
    def address(self) -> str:
        """The server's "host:port"."""
        return self._options.address

    @property
    def timeout(self) -> float:
        """Deadline of one attempt of a call, seconds."""
        return self._options.timeout

    async def close(self) -> None:
        """Closes the connection; later calls raise FailedPrecondition."""
        if not self._closed:
            self._closed = True
            await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        """`async with qvdb.AsyncClient(...) as client:` closes it on exit."""
        return self

    async def __aexit__(self, *exc: Any) -> None:
        """Closes the client."""
        await self.close()

    def __repr__(self) -> str:
        return f"qvdb.AsyncClient({self.address!r})"

    # --- collections ---

    async def create_collection(
        self,
        name: str,
        dim: int,
        metric: Union[str, Metric],
        spec: str = "",
        *,
        fields: Optional[Mapping[str, Any]] = None,
        exist_ok: bool = False,
    ) -> "AsyncCollection":
        """Creates an empty collection; see Client.create_collection."""
        request = _ops.create_collection_request(name, dim, metric, spec, fields)
        try:
            info = (await self._call("CreateCollection", request)).collection
        except errors.AlreadyExists:
            if not exist_ok:
                raise
            existing = await self.collection(name)
            if existing.dimension != int(dim) or existing.metric != _convert.parse_metric(metric):
                raise errors.AlreadyExists(
                    f'collection "{name}" exists with dimension {existing.dimension} and '
                    f"metric {existing.metric}, not {dim} and {_convert.parse_metric(metric)}"
                ) from None
            return existing
        return AsyncCollection(
            self, info.name, info.dimension, _convert.metric_from_proto(info.metric)
        )

    async def collection(self, name: str) -> "AsyncCollection":
        """The handle of an existing collection; NotFound if there is none."""
        d = await self.describe_collection(name)
        return AsyncCollection(self, d.name, d.dimension, d.metric)

    async def describe_collection(self, name: str) -> CollectionDescription:
        """One collection's configuration, state and figures."""
        r = await self._call("DescribeCollection", pb.DescribeCollectionRequest(name=name))
        return _convert.description_from_proto(r.collection)

    async def list_collections(self) -> List[CollectionDescription]:
        """Every collection, sorted by name."""
        r = await self._call("ListCollections", pb.ListCollectionsRequest())
        return [_convert.description_from_proto(c) for c in r.collections]

    async def add_field(
        self,
        collection: str,
        name: str,
        type: str,
        indexed: bool = True,
        *,
        timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT,
    ) -> AddFieldResult:
        """Adds a field filled from the stored payloads; see Client.add_field."""
        request = _ops.add_field_request(collection, name, type, indexed)
        return _ops.add_field_result(await self._call("AddField", request, timeout))

    async def drop_collection(self, name: str, *, missing_ok: bool = False) -> None:
        """Deletes a collection and its rows; NotFound unless missing_ok."""
        try:
            await self._call("DropCollection", pb.DropCollectionRequest(name=name))
        except errors.NotFound:
            if not missing_ok:
                raise

    # --- snapshots and stats ---

    async def create_snapshot(self, name: Optional[str] = None) -> Snapshot:
        """A snapshot of the whole data directory; see Client.create_snapshot."""
        r = await self._call("CreateSnapshot", pb.CreateSnapshotRequest(name=name or ""))
        return _ops.snapshot(r.snapshot)

    async def list_snapshots(self) -> List[Snapshot]:
        """The snapshots, sorted by name."""
        r = await self._call("ListSnapshots", pb.ListSnapshotsRequest())
        return [_ops.snapshot(s) for s in r.snapshots]

    async def delete_snapshot(self, name: str) -> None:
        """Deletes a snapshot; NotFound when absent."""
        await self._call("DeleteSnapshot", pb.DeleteSnapshotRequest(name=name))

    async def restore_snapshot(
        self, name: str, *, timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT
    ) -> RestoreResult:
        """Replaces ALL the server's data by a snapshot's; see
        Client.restore_snapshot."""
        r = await self._call("RestoreSnapshot", pb.RestoreSnapshotRequest(name=name), timeout)
        return _ops.restore_result(r)

    async def stats(self, collection: Optional[str] = None) -> Stats:
        """Server and collection figures; see Client.stats."""
        r = await self._call("GetStats", pb.GetStatsRequest(collection=collection or ""))
        return _convert.stats_from_proto(r)

    # --- calls ---

    async def _call(self, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        """One unary call with its deadline, retried on UNAVAILABLE."""
        if self._closed:
            raise errors.FailedPrecondition("this qvdb.AsyncClient is closed; make a new one")
        fn = self._methods[method]
        o = self._options
        attempt = 1
        while True:
            try:
                return await fn(request, timeout=timeout or o.timeout, metadata=o.metadata)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < o.max_attempts:
                    attempt += 1
                    await asyncio.sleep(o.backoff(attempt))
                    continue
                raise errors.error_from_rpc(e, method) from None


class AsyncCollection:
    """A handle on one collection for AsyncClient; the verbs of
    qvdb.Collection as coroutines."""

    def __init__(self, client: AsyncClient, name: str, dimension: int, metric: Metric) -> None:
        self.client = client
        self.name = name
        self.dimension = dimension
        self.metric = metric

    def __repr__(self) -> str:
        return (
            f"qvdb.AsyncCollection({self.name!r}, dimension={self.dimension}, "
            f"metric={self.metric.value!r})"
        )

    async def _call(self, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        return await self.client._call(method, request, timeout)

    async def describe(self) -> CollectionDescription:
        """The collection's configuration, state and figures now."""
        return await self.client.describe_collection(self.name)

    async def count(self, filter: FilterLike = None) -> int:
        """Rows stored, those that pass a filter expression, or how many of
        the ids in `filter` are stored; see Collection.count."""
        ids = _ops.ids_for_count(filter)
        if ids is None:
            request = _ops.count_request(self.name, filter)  # type: ignore[arg-type]
            return int((await self._call("Count", request)).count)
        unique = list(dict.fromkeys(ids))
        found = 0
        for request in _ops.get_requests(self.name, unique, False, False):
            found += sum(1 for r in (await self._call("Get", request)).results if r.found)
        return found

    async def upsert(
        self,
        ids: IdsLike,
        vectors: VectorsLike,
        payloads: Optional[Sequence[PayloadLike]] = None,
        *,
        batch_size: int = _ops.DEFAULT_BATCH_ROWS,
    ) -> UpsertResult:
        """Inserts or replaces rows; see Collection.upsert."""
        responses = []
        for request, _ in _ops.upsert_requests(self.name, ids, vectors, payloads, batch_size):
            responses.append(await self._call("Upsert", request))
        return _ops.upsert_result(responses)

    async def get(
        self,
        ids: Optional[IdsLike] = None,
        *,
        filter: Optional[ExprLike] = None,
        limit: Optional[int] = None,
        with_payload: bool = True,
        with_vector: bool = False,
    ) -> Union[Optional[Record], List[Optional[Record]], List[Record]]:
        """Reads rows by id, or up to `limit` rows that pass `filter`; see
        Collection.get."""
        _ops.check_ids_or_filter(ids, filter, "get")
        if filter is not None:
            request = _ops.get_filter_request(self.name, filter, limit, with_payload, with_vector)
            return _ops.filtered_records(
                await self._call("Get", request), self.client._options.json_payloads
            )
        if limit is not None:
            raise errors.InvalidArgument("limit applies to get(filter=...)")
        assert ids is not None
        single = _convert.is_single_id(ids)
        id_list = _convert.check_ids(ids)
        responses = []
        for request in _ops.get_requests(self.name, id_list, with_payload, with_vector):
            responses.append(await self._call("Get", request))
        out = _ops.records(responses, self.client._options.json_payloads)
        return out[0] if single else out

    async def delete(
        self, ids: Optional[IdsLike] = None, *, filter: Optional[ExprLike] = None
    ) -> DeleteResult:
        """Deletes rows by id, or every row that passes `filter`; see
        Collection.delete."""
        _ops.check_ids_or_filter(ids, filter, "delete")
        if filter is not None:
            r = await self._call("Delete", _ops.delete_filter_request(self.name, filter))
            return _ops.delete_result([r])
        assert ids is not None
        id_list = _convert.check_ids(ids)
        responses = []
        for request in _ops.delete_requests(self.name, id_list):
            responses.append(await self._call("Delete", request))
        return _ops.delete_result(responses)

    async def sample(self, max_rows: int = 1000) -> np.ndarray:
        """Up to max_rows stored vectors, evenly spread, as (n, d) float32."""
        r = await self._call(
            "SampleVectors", pb.SampleVectorsRequest(collection=self.name, max_rows=int(max_rows))
        )
        return _ops.sample_array(r)

    async def ingest(
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
        """Bulk load over the Ingest stream; see Collection.ingest (same
        arguments, windowing, reconnects and progress bar). `data` is read
        on the event loop's thread."""
        batch_size = _ops.check_batch_size(batch_size)
        o = self.client._options
        state = _ops.IngestState(self.name, window, o.max_attempts)
        bar = _ops.make_progress(progress, _convert.known_length(data), self.name)
        started = time.monotonic()
        stream: Optional[_AsyncIngestStream] = None
        try:
            for batch in _convert.iter_batches(data, ids, payloads, batch_size, id_start):
                if skip_existing:
                    batch = await self._drop_existing(batch, state, bar)
                    if not batch[0]:
                        continue
                request = state.request(*batch)
                if stream is None or stream.age() > stream_lifetime:
                    if stream is not None:
                        await self._finish_stream(stream, state, bar, stream_lifetime)
                    stream = await self._open_stream(state, stream_lifetime)
                while len(state.unacked) >= state.window:
                    stream = await self._read_ack(stream, state, bar, stream_lifetime)
                state.unacked.append((request, len(batch[0])))
                stream = await self._send(stream, state, request, stream_lifetime)
            if stream is not None:
                await self._finish_stream(stream, state, bar, stream_lifetime)
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

    async def _drop_existing(self, batch: Any, state: _ops.IngestState, bar: Any) -> Any:
        found: List[bool] = []
        for request in _ops.get_requests(self.name, batch[0], False, False):
            found.extend(r.found for r in (await self._call("Get", request)).results)
        kept = _ops.filter_missing(batch, found)
        skipped = len(batch[0]) - len(kept[0])
        state.skipped += skipped
        if bar is not None and skipped:
            bar.update(skipped)
        return kept

    async def _open_stream(self, state: _ops.IngestState, lifetime: float) -> "_AsyncIngestStream":
        """A new stream with every unacknowledged message sent again; a
        failure while resending is handled like a broken stream."""
        while True:
            if self.client._closed:
                raise errors.FailedPrecondition("this qvdb.AsyncClient is closed; make a new one")
            o = self.client._options
            stream = _AsyncIngestStream(
                self.client._methods["Ingest"], lifetime + o.timeout, o.metadata
            )
            try:
                for request, _ in state.unacked:
                    await stream.send(request)
                return stream
            except grpc.RpcError as e:
                await self._give_up_or_wait(stream, state, errors.error_from_rpc(e, "Ingest"))

    async def _give_up_or_wait(
        self, stream: "_AsyncIngestStream", state: _ops.IngestState, error: errors.QvdbError
    ) -> None:
        stream.cancel()
        if not state.may_reconnect(error):
            raise state.failed(error) from None
        await asyncio.sleep(self.client._options.backoff(state.failures + 1))

    async def _send(
        self,
        stream: "_AsyncIngestStream",
        state: _ops.IngestState,
        request: bytes,
        lifetime: float,
    ) -> "_AsyncIngestStream":
        try:
            await stream.send(request)
            return stream
        except grpc.RpcError as e:
            # The stream ended; its status (read with the acks) says why.
            return await self._recover(stream, state, errors.error_from_rpc(e, "Ingest"), lifetime)

    async def _read_ack(
        self,
        stream: "_AsyncIngestStream",
        state: _ops.IngestState,
        bar: Any,
        lifetime: float,
    ) -> "_AsyncIngestStream":
        try:
            ack = await stream.read()
        except grpc.RpcError as e:
            return await self._recover(stream, state, errors.error_from_rpc(e, "Ingest"), lifetime)
        if ack is None:
            return await self._recover(stream, state, _ops.stream_ended_early(state), lifetime)
        rows = state.acknowledge(ack)
        if bar is not None:
            bar.update(rows)
        return stream

    async def _recover(
        self,
        stream: "_AsyncIngestStream",
        state: _ops.IngestState,
        error: errors.QvdbError,
        lifetime: float,
    ) -> "_AsyncIngestStream":
        await self._give_up_or_wait(stream, state, error)
        return await self._open_stream(state, lifetime)

    async def _finish_stream(
        self,
        stream: "_AsyncIngestStream",
        state: _ops.IngestState,
        bar: Any,
        lifetime: float,
    ) -> None:
        await stream.close_send()
        while state.unacked:
            current = await self._read_ack(stream, state, bar, lifetime)
            if current is not stream:
                stream = current
                await stream.close_send()
        await stream.drain()

    async def search(
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
        """k nearest neighbours of a vector (one SearchResult) or of each
        row of an (nq, d) batch (a list); see Collection.search."""
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
            return plan.result((await self._call("Search", plan.single_request())).hits)
        responses = []
        for request in plan.batch_requests():
            responses.append(await self._call("SearchBatch", request))
        return plan.batch_results(responses)

    async def train(self, *, timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT) -> TrainResult:
        """Trains a model on the rows stored now; see Collection.train."""
        return _ops.train_result(
            await self._call("Train", pb.TrainRequest(collection=self.name), timeout)
        )

    async def compact(self, *, timeout: float = _ops.DEFAULT_ADMIN_TIMEOUT) -> CompactResult:
        """Reclaims the memory of deleted and replaced vectors."""
        return _ops.compact_result(
            await self._call("Compact", pb.CompactRequest(collection=self.name), timeout)
        )

    async def drop(self) -> None:
        """Deletes this collection and all its rows."""
        await self.client.drop_collection(self.name)


# A write that has not completed in this long is taken as a broken stream.
# grpcio 1.51's aio write, when the server goes away mid-stream, can wait for
# a status that never comes until the call's deadline (minutes); the stream
# is then cancelled and the ingest reconnects and resends what is
# unacknowledged (upserts by id, so a resend is harmless).
_WRITE_STALL_SECONDS = 10.0


class _AsyncIngestStream:
    """One Ingest call on grpc.aio: writes and reads on the event loop."""

    def __init__(self, method: Any, timeout: float, metadata: Any) -> None:
        self._opened = time.monotonic()
        self._closed_send = False
        self._call = method(timeout=timeout, metadata=metadata)

    def age(self) -> float:
        return time.monotonic() - self._opened

    async def send(self, request: bytes) -> None:
        try:
            await asyncio.wait_for(self._call.write(request), _WRITE_STALL_SECONDS)
        except (asyncio.TimeoutError, asyncio.InvalidStateError) as e:
            # Stalled, or the call ended with a status that is not an error
            # (grpc then says "RPC already finished"): the stream is broken.
            self._call.cancel()
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details=f"the Ingest stream broke while writing ({e or 'stalled'})",
            ) from None

    async def close_send(self) -> None:
        if not self._closed_send:
            self._closed_send = True
            try:
                await self._call.done_writing()
            except grpc.RpcError:
                pass  # the stream already ended: reading says why

    async def read(self) -> Optional[pb.IngestAck]:
        ack = await self._call.read()
        return None if ack is grpc.aio.EOF else ack

    async def drain(self) -> None:
        try:
            while await self._call.read() is not grpc.aio.EOF:
                pass
        except grpc.RpcError:
            pass  # every message was acknowledged: nothing is lost

    def cancel(self) -> None:
        self._call.cancel()
