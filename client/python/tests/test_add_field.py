"""add_field against a real server: the backfill from stored payloads,
filters on the new field, the refusals (docs/filter.md, "Adding a field")."""

from __future__ import annotations

import numpy as np
import pytest

import qvdb


def vectors(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_add_field_backfills_and_filters(client: qvdb.Client, name: str):
    coll = client.create_collection(name, 8, "l2", fields={"n": "int64"})
    x = vectors(6)
    payloads = [
        {"n": 0, "lang": "en"},
        {"n": 1, "lang": "de"},
        {"n": 2, "lang": 3},  # wrong type: no value, counted
        {"n": 3},  # no member: no value
        None,  # no payload: not scanned
        {"n": 5, "lang": "en"},
    ]
    coll.upsert([0, 1, 2, 3, 4, 5], x, payloads=payloads)

    r = client.add_field(name, "lang", "keyword")
    assert r.fields == {"n": "int64", "lang": "keyword"}
    assert (r.rows_scanned, r.rows_with_value, r.rows_wrong_type) == (5, 3, 1)

    hits = coll.search(x[0], 10, filter='lang = "en"')
    assert sorted(hits.ids.tolist()) == [0, 5]
    hits = coll.search(x[0], 10, filter="not exists(lang) and n < 4")
    assert sorted(hits.ids.tolist()) == [2, 3]
    # From now on the field is checked on upserts like any declared field.
    with pytest.raises(qvdb.InvalidArgument, match="lang"):
        coll.upsert([6], x[:1], payloads=[{"lang": 7}])
    coll.upsert([6], x[:1], payloads=[{"lang": "en"}])
    hits = coll.search(x[0], 10, filter='lang = "en"')
    assert sorted(hits.ids.tolist()) == [0, 5, 6]


def test_add_field_refusals(client: qvdb.Client, name: str):
    client.create_collection(name, 8, "l2", fields={"lang": "keyword"})
    with pytest.raises(qvdb.AlreadyExists, match="lang"):
        client.add_field(name, "lang", "int64")
    with pytest.raises(qvdb.InvalidArgument, match="field name"):
        client.add_field(name, "9x", "keyword")
    with pytest.raises(qvdb.InvalidArgument, match="unknown field type"):
        client.add_field(name, "x", "text")
    with pytest.raises(qvdb.NotFound):
        client.add_field(name + "_missing", "x", "keyword")
    # Opaque payloads cannot gain fields; nothing changes.
    opaque = client.create_collection(name + "_opaque", 8, "l2")
    opaque.upsert([1], vectors(1), payloads=[b"\x00not json"])
    with pytest.raises(qvdb.FailedPrecondition, match="JSON object"):
        client.add_field(name + "_opaque", "x", "keyword")
    assert client.describe_collection(name + "_opaque").live_rows == 1
    r = client.add_field(name, "tags", "keyword_list", indexed=False)
    assert r.fields == {"lang": "keyword", "tags": "keyword_list"}
