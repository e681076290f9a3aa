"""qvdb.AsyncClient: the same verbs as qvdb.Client on grpc.aio, the same
results and errors."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import qvdb
from conftest import Dataset, ServerProcess, recall_at_10


def run(coro):
    return asyncio.run(coro)


def test_async_verbs(server: ServerProcess, client: qvdb.Client, sap: Dataset, name: str):
    async def main() -> None:
        async with qvdb.AsyncClient(server.address) as aclient:
            coll = await aclient.create_collection(name, sap.base.shape[1], "cosine", "IVF8,SQ8")
            assert isinstance(coll, qvdb.AsyncCollection)
            payloads = [{"category": c} for c in sap.categories]
            done = await coll.ingest(
                sap.base, ids=sap.ids, payloads=payloads, batch_size=200, progress=False
            )
            assert done.rows == len(sap.ids)
            # An upsert replaces the payload too.
            assert (await coll.upsert(sap.ids[:2], sap.base[:2], payloads[:2])).updated == 2
            assert await coll.count() == len(sap.ids)
            assert (await coll.train()).model_version == 1
            batch = await coll.search(sap.queries, 10, nprobe=8)
            single = await asyncio.gather(*(coll.search(q, 10, nprobe=8) for q in sap.queries[:5]))
            for a, b in zip(batch, single):
                assert a.ids.tolist() == b.ids.tolist()
            # The same answers as the synchronous client.
            sync = client.collection(name).search(sap.queries, 10, nprobe=8)
            assert [r.ids.tolist() for r in sync] == [r.ids.tolist() for r in batch]
            assert recall_at_10([r.ids for r in batch], sap) > 0.5
            got = await coll.get([sap.ids[0], "missing"], with_vector=True)
            assert got[0].payload == {"category": sap.categories[0]} and got[1] is None
            assert got[0].vector.shape == (sap.base.shape[1],)
            assert (await coll.delete([sap.ids[0], "missing"])) == qvdb.DeleteResult(1, 1)
            assert await coll.count(filter=sap.ids[:3]) == 2
            assert (await coll.sample(10)).shape == (10, sap.base.shape[1])
            assert (await coll.compact()).memory_bytes_after > 0
            assert name in [c.name for c in await aclient.list_collections()]
            assert (await coll.describe()).live_rows == len(sap.ids) - 1
            snap = await aclient.create_snapshot(f"{name}-a")
            assert snap in await aclient.list_snapshots()
            await aclient.delete_snapshot(snap.name)
            stats = await aclient.stats(name)
            assert stats.collections[0].name == name

            with pytest.raises(qvdb.InvalidArgument, match="dimensions"):
                await coll.upsert([1], np.ones(3))
            with pytest.raises(qvdb.InvalidArgument, match="non-finite"):
                await coll.search(np.full(sap.base.shape[1], np.nan))
            with pytest.raises(qvdb.AlreadyExists):
                await aclient.create_collection(name, 4, "l2")
            with pytest.raises(qvdb.InvalidArgument, match="declares no fields"):
                await coll.search(sap.queries[0], filter='category = "x"')
            await coll.drop()
            with pytest.raises(qvdb.NotFound):
                await aclient.collection(name)
            with pytest.raises(qvdb.NotFound):
                await coll.search(sap.queries[0])
        with pytest.raises(qvdb.FailedPrecondition, match="closed"):
            await aclient.list_collections()

    run(main())


def test_async_ingest_error_and_unreachable(server: ServerProcess, name: str):
    async def main() -> None:
        async with qvdb.AsyncClient(server.address) as aclient:
            coll = await aclient.create_collection(name, 4, "l2")
            x = np.ones((300, 4), np.float32)
            x[250, 0] = np.inf
            with pytest.raises(qvdb.InvalidArgument) as e:
                await coll.ingest(x, batch_size=50, window=1, progress=False)
            assert "250 rows acknowledged" in e.value.message
            assert await coll.count() == 250
        async with qvdb.AsyncClient("127.0.0.1:1", max_attempts=2, initial_backoff=0.01) as dead:
            with pytest.raises(qvdb.Unavailable):
                await dead.list_collections()

    run(main())
