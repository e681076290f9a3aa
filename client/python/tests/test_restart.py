"""Restarts: the client reconnects by itself, unary calls retry UNAVAILABLE
with backoff, an ingest resends what was not acknowledged, and a restore
replaces the data while the client stays connected."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

import qvdb
from conftest import ServerProcess


def rows(n: int, d: int = 16, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_client_reconnects_after_restart(own_server: ServerProcess):
    own_server.start()
    with qvdb.Client(own_server.address, max_attempts=30, max_backoff=0.5) as client:
        coll = client.create_collection("c", 16, "l2")
        coll.upsert(list(range(100)), rows(100))
        own_server.restart()
        # The same client, no reconnect call: the data survived.
        assert coll.count() == 100
        # Down while a call is retrying: it succeeds once the server is back.
        own_server.stop()
        restarter = threading.Timer(1.0, own_server.start)
        restarter.start()
        started = time.monotonic()
        try:
            assert client.collection("c").count() == 100
        finally:
            restarter.join()
        assert time.monotonic() - started >= 0.9
        np.testing.assert_array_equal(coll.get(7, with_vector=True).vector, rows(100)[7])


def test_down_for_longer_than_the_retries(own_server: ServerProcess):
    own_server.start()
    # Retries back off 0.15, 0.3, 0.6, 0.6 s (halved at worst by jitter):
    # longer than gRPC's reconnect backoff (0.5 s at most).
    with qvdb.Client(
        own_server.address, max_attempts=5, initial_backoff=0.15, max_backoff=0.6
    ) as client:
        client.list_collections()
        own_server.stop()
        with pytest.raises(qvdb.Unavailable):
            client.list_collections()
        own_server.start(own_server.port)
        assert client.list_collections() == []


def test_ingest_resends_unacknowledged_batches_across_a_restart(own_server: ServerProcess):
    own_server.start()
    x = rows(3000)
    with qvdb.Client(own_server.address, max_attempts=20, max_backoff=0.5) as client:
        coll = client.create_collection("c", 16, "l2")

        def source():
            for i in range(len(x)):
                if i == 1500:  # in the middle of the load, between batches
                    own_server.restart()
                yield i, x[i], {"i": i}

        result = coll.ingest(source(), batch_size=100, window=4, progress=False)
        assert result.reconnects >= 1
        assert result.rows == 3000  # each batch acknowledged once
        # Rows stored before the break but not acknowledged come back as updated.
        assert result.inserted + result.updated == result.rows
        assert coll.count() == 3000
        assert coll.get(2999).payload == {"i": 2999}


def test_async_client_reconnects_and_ingests_across_a_restart(own_server: ServerProcess):
    own_server.start()
    x = rows(2000)

    async def main() -> None:
        async with qvdb.AsyncClient(own_server.address, max_attempts=20, max_backoff=0.5) as client:
            coll = await client.create_collection("c", 16, "l2")

            def source():
                for i in range(len(x)):
                    if i == 1000:
                        own_server.restart()  # blocks the loop: a hard stop for the stream
                    yield i, x[i]

            result = await coll.ingest(source(), batch_size=100, progress=False)
            assert result.reconnects >= 1
            assert await coll.count() == 2000
            own_server.restart()
            assert (await client.collection("c")).dimension == 16

    asyncio.run(main())


def test_restore_snapshot_while_connected(own_server: ServerProcess):
    own_server.start()
    with qvdb.Client(own_server.address) as client:
        a = client.create_collection("a", 16, "l2")
        a.upsert(list(range(10)), rows(10))
        snap = client.create_snapshot("before")
        a.drop()
        client.create_collection("b", 16, "l2")
        restored = client.restore_snapshot(snap.name)
        assert restored.collections == 1 and restored.replaced_data_dir
        assert [c.name for c in client.list_collections()] == ["a"]
        assert client.collection("a").count() == 10
        with pytest.raises(qvdb.NotFound):
            client.restore_snapshot("no-such-snapshot")
