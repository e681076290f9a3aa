"""Rows against a real server: ids of both kinds, payload round trips,
get, delete, count, ingest's input forms, snapshots, stats."""

from __future__ import annotations

import numpy as np
import pytest

import qvdb
from conftest import ServerProcess


def vectors(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_str_and_int_ids_are_different_rows(client: qvdb.Client, name: str):
    coll = client.create_collection(name, 8, "l2")
    x = vectors(4)
    assert coll.upsert([5, "5", 2**64 - 1, "ü-ß-✓"], x) == qvdb.UpsertResult(4, 0)
    got = coll.get([5, "5", 2**64 - 1, "ü-ß-✓", 6, "6"], with_vector=True)
    assert [r.id if r else None for r in got] == [5, "5", 2**64 - 1, "ü-ß-✓", None, None]
    for r, v in zip(got, x):
        np.testing.assert_array_equal(r.vector, v)
    # Search returns each with its own kind: ints as uint64, mixed as object.
    hit = coll.search(x[0], 1)
    assert hit.ids.dtype == np.uint64 and hit.ids.tolist() == [5]
    mixed = coll.search(x[1], 4)
    assert mixed.ids.dtype == object and mixed.ids[0] == "5"
    assert {h.id for h in mixed} == {5, "5", 2**64 - 1, "ü-ß-✓"}
    # In a batch too, each result with its own kinds.
    both = coll.search(np.stack([x[0], x[1]]), 4)
    assert [set(r.ids.tolist()) for r in both] == [{5, "5", 2**64 - 1, "ü-ß-✓"}] * 2
    assert both[0].ids.dtype == object and both[0].ids[0] == 5
    one = coll.search(np.stack([x[2]]), 1)
    assert one[0].ids.dtype == np.uint64 and one[0].ids.tolist() == [2**64 - 1]
    # Id 0 is an int id like any other (a string id reads as u64 0 on the wire).
    coll.upsert(0, x[0] + 100)
    zero = coll.search(x[0] + 100, 1)
    assert zero.ids.dtype == np.uint64 and zero.ids.tolist()[0] == 0
    coll.delete(0)
    # numpy id arrays work too.
    assert coll.upsert(np.array([7, 8], dtype=np.int64), x[:2]).inserted == 2
    assert coll.count() == 6
    # Replacing counts as updated.
    assert coll.upsert(np.array([7, 8], dtype=np.uint64), x[2:4]) == qvdb.UpsertResult(0, 2)


def test_payload_round_trips(client: qvdb.Client, server: ServerProcess, name: str):
    coll = client.create_collection(name, 4, "ip")
    payloads = [
        {"text": "héllo ✓", "n": 3, "tags": ["a", "b"], "nested": {"x": 1.5}},
        b"\x00\x01 raw bytes \xff",
        "plain text",
        None,
        [1, 2, 3],
        {"np": np.int64(4), "arr": np.arange(2)},
    ]
    ids = ["a", "b", "c", "d", "e", "f"]
    coll.upsert(ids, vectors(6, 4), payloads)
    got = coll.get(ids)
    assert got[0].payload == payloads[0]
    assert got[1].payload == payloads[1]
    assert got[2].payload == b"plain text"
    assert got[3].payload is None
    assert got[4].payload == [1, 2, 3]
    assert got[5].payload == {"np": 4, "arr": [0, 1]}
    assert got[0].vector is None  # not asked
    # Single id: a Record (or None).
    assert coll.get("a").payload == payloads[0]
    assert coll.get("zz") is None
    # Without payloads, and with raw bytes.
    assert coll.get(["a"], with_payload=False)[0].payload is None
    with qvdb.Client(server.address, json_payloads=False) as raw:
        r = raw.collection(name).get("a")
        assert isinstance(r.payload, bytes) and r.payload.startswith(b"{")
    # Search returns the same payloads.
    res = coll.search(vectors(1, 4)[0], 6, with_payload=True, with_vector=True)
    by_id = dict(zip(ids, payloads))
    for hit in res:
        expected = by_id[hit.id]
        if isinstance(expected, str):
            expected = expected.encode()
        if isinstance(expected, dict) and "np" in expected:
            expected = {"np": 4, "arr": [0, 1]}
        assert hit.payload == expected
        assert hit.vector.shape == (4,)
    assert res.vectors.shape == (6, 4)


def test_get_delete_count(client: qvdb.Client, name: str):
    coll = client.create_collection(name, 8, "l2")
    coll.upsert(list(range(100)), vectors(100))
    assert coll.count() == 100 and len(coll) == 100
    assert coll.count(filter=[1, 2, 3, 1000, "x", 2]) == 3
    assert coll.delete([1, 2, 3, 1000]) == qvdb.DeleteResult(deleted=3, not_found=1)
    assert coll.count() == 97
    assert coll.get([1, 4])[0] is None and coll.get([1, 4])[1].id == 4
    # Deleted rows are not found by search.
    hits = coll.search(vectors(100)[1], 5)
    assert 1 not in hits.ids.tolist()
    # More than one request's worth of ids (10000) is split.
    big = list(range(100, 10150))
    coll.upsert(big, vectors(len(big)), batch_size=5000)
    assert coll.count() == 97 + len(big)
    assert coll.count(filter=big) == len(big)
    assert coll.delete(big).deleted == len(big)
    # Filter expressions need declared fields (test_filter_rows.py).
    with pytest.raises(qvdb.InvalidArgument, match="declares no fields"):
        coll.count(filter="x > 1")


def test_ingest_input_forms(client: qvdb.Client, name: str):
    coll = client.create_collection(name, 8, "l2")
    x = vectors(1000)
    # An array, ids from id_start.
    r = coll.ingest(x[:300], id_start=1000, batch_size=64, window=2, progress=False)
    assert (r.rows, r.inserted, r.batches) == (300, 300, 5)
    assert coll.get(1299).id == 1299
    # An array with ids and payloads.
    ids = [f"s{i}" for i in range(300)]
    r = coll.ingest(x[300:600], ids=ids, payloads=[{"i": i} for i in range(300)], progress=False)
    assert r.inserted == 300 and coll.get("s7").payload == {"i": 7}
    # A generator of tuples, no length known.
    r = coll.ingest(((i, x[i], b"p") for i in range(600, 700)), batch_size=33, progress=False)
    assert r.rows == 100 and r.batches == 4 and coll.get(650).payload == b"p"
    # A list of lists (vectors), progress bar on.
    r = coll.ingest(x[700:710].tolist(), id_start=5000, progress=True)
    assert r.rows == 10
    # A new stream per batch (stream_lifetime 0): each is drained and closed.
    r = coll.ingest(x[710:1000], id_start=6000, batch_size=50, stream_lifetime=0, progress=False)
    assert (r.rows, r.batches, r.reconnects) == (290, 6, 0)
    # skip_existing leaves out what is stored.
    r = coll.ingest(x[:400], id_start=1000, skip_existing=True, batch_size=100, progress=False)
    assert (r.rows, r.skipped) == (100, 300)
    assert coll.count() == 300 + 300 + 100 + 10 + 290 + 100


def test_ingest_stops_at_a_bad_batch_with_what_is_stored(client: qvdb.Client, name: str):
    coll = client.create_collection(name, 8, "l2")
    x = vectors(500)
    x[450, 3] = np.nan
    with pytest.raises(qvdb.InvalidArgument) as e:
        coll.ingest(x, batch_size=100, window=1, progress=False)
    assert "non-finite" in e.value.message
    assert "400 rows acknowledged before the error are stored" in e.value.message
    assert coll.count() == 400
    # Ragged rows are found before anything is sent.
    with pytest.raises(qvdb.InvalidArgument, match="different lengths"):
        coll.ingest([[1.0] * 8, [1.0] * 7], progress=False)


def test_snapshots_and_stats(client: qvdb.Client, name: str):
    coll = client.create_collection(name, 8, "l2")
    coll.upsert([1, 2], vectors(2))
    snap = client.create_snapshot(f"{name}-snap")
    assert snap.name == f"{name}-snap" and snap.path
    assert snap in client.list_snapshots()
    with pytest.raises(qvdb.AlreadyExists):
        client.create_snapshot(f"{name}-snap")
    auto = client.create_snapshot()
    assert auto.name.startswith("snap-")
    client.delete_snapshot(snap.name)
    client.delete_snapshot(auto.name)
    assert snap not in client.list_snapshots()
    with pytest.raises(qvdb.NotFound):
        client.delete_snapshot(snap.name)
    stats = client.stats()
    assert stats.server.version and stats.server.simd_level in ("scalar", "avx2", "avx512")
    assert any(m.method == "Upsert" and m.calls >= 1 for m in stats.server.methods)
    one = client.stats(name)
    assert [c.name for c in one.collections] == [name]
    assert one.collections[0].live_rows == 2


def test_collections(client: qvdb.Client, name: str):
    coll = client.create_collection(name, 16, "cosine", "IVF4,SQ8")
    assert coll.dimension == 16 and coll.metric == "cosine"
    assert name in [c.name for c in client.list_collections()]
    again = client.create_collection(name, 16, "cos", exist_ok=True)
    assert again.name == name
    with pytest.raises(qvdb.AlreadyExists):
        client.create_collection(name, 16, "cosine")
    with pytest.raises(qvdb.AlreadyExists, match="dimension 16"):
        client.create_collection(name, 32, "cosine", exist_ok=True)
    d = client.collection(name).describe()
    assert d.index_spec == "IVF4,SQ8" and d.state == qvdb.CollectionState.EMPTY
    assert d.dim == 16 and d.created_at.year >= 2024
    coll.upsert(list(range(200)), vectors(200, 16))
    assert coll.sample(50).shape == (50, 16)
    assert coll.train().model_version == 1
    coll.delete(list(range(100)))
    c = coll.compact()
    assert c.memory_bytes_after <= c.memory_bytes_before
    coll.drop()
    with pytest.raises(qvdb.NotFound):
        client.collection(name)
    client.drop_collection(name, missing_ok=True)
