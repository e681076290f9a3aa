"""count, get and delete by filter against a real server, with the text
and the structured form (docs/filter.md, "Count, Get and Delete by
filter"), through Client and AsyncClient, compared with the qvdb CLI."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

import qvdb
from qvdb import field
from conftest import ServerProcess, run_cli

N = 60


def vectors(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def load(client: qvdb.Client, name: str) -> qvdb.Collection:
    """Rows 0..59: lang "en" when id % 3 == 0 else "de"; year 2000 + id;
    tags ["faq"] on even ids; row 59 without a payload."""
    coll = client.create_collection(
        name, 8, "l2", fields={"lang": "keyword", "year": "int64", "tags": "keyword_list"}
    )
    payloads = [
        {
            "lang": "en" if i % 3 == 0 else "de",
            "year": 2000 + i,
            "tags": ["faq"] if i % 2 == 0 else [],
        }
        for i in range(N - 1)
    ] + [None]
    coll.upsert(list(range(N)), vectors(N), payloads=payloads)
    return coll


def test_count_get_delete_with_both_forms(client: qvdb.Client, name: str):
    coll = load(client, name)
    assert coll.count() == N and len(coll) == N
    en_text = 'lang = "en" and year >= 2030'
    en_struct = (field("lang") == "en") & (field("year") >= 2030)
    expected = {i for i in range(30, N - 1) if i % 3 == 0}
    assert coll.count(filter=en_text) == len(expected)
    assert coll.count(filter=en_struct) == len(expected)
    assert coll.count(filter=en_struct.to_proto()) == len(expected)
    assert coll.count(filter={"exists": {"field": "lang"}}) == N - 1
    assert coll.count(filter=~field("lang").exists()) == 1
    assert coll.count(filter=field("tags").is_in(["faq"]) & (field("year") < 2010)) == 5

    # get by filter: the rows that pass, with payloads (and vectors).
    for f in (en_text, en_struct):
        rows = coll.get(filter=f, limit=100)
        assert {r.id for r in rows} == expected
        assert all(r.payload["lang"] == "en" and r.payload["year"] >= 2030 for r in rows)
    rows = coll.get(filter=en_struct, limit=2, with_payload=False, with_vector=True)
    assert len(rows) == 2 and rows[0].payload is None and rows[0].vector.shape == (8,)
    assert len(coll.get(filter="year >= 2000")) == 59 and len(coll.get(filter="year >= 0")) == 59
    assert len(coll.get(filter=field("year") >= 0, limit=200)) == 59

    # delete by filter, then count.
    r = coll.delete(filter=field("lang") == "de")
    assert r == qvdb.DeleteResult(deleted=39, not_found=0)
    assert coll.count() == N - 39
    assert coll.count(filter='lang = "de"') == 0
    assert coll.delete(filter='lang = "fr"').deleted == 0
    assert coll.delete(filter=en_text).deleted == len(expected)
    assert coll.count() == N - 39 - len(expected)
    # Search sees the same rows.
    hits = coll.search(vectors(1)[0], 100, filter=field("lang") == "en")
    assert sorted(hits.ids.tolist()) == sorted(i for i in range(30) if i % 3 == 0)


def test_bad_filters_change_nothing(client: qvdb.Client, name: str):
    coll = load(client, name)
    with pytest.raises(qvdb.InvalidArgument, match='unknown field "langg"'):
        coll.delete(filter=field("langg") == "en")
    with pytest.raises(qvdb.InvalidArgument, match='field "year" is int64, got string'):
        coll.delete(filter=field("year") == "2020")
    with pytest.raises(qvdb.InvalidArgument, match="nesting deeper than 32"):
        f = field("year") == 1
        for _ in range(33):
            f = ~f
        coll.count(filter=f)
    with pytest.raises(qvdb.InvalidArgument, match="more than 1024 values"):
        coll.delete(filter=field("year").is_in(range(1025)))
    with pytest.raises(qvdb.InvalidArgument, match="unknown field"):
        coll.delete(filter="langg = 1")
    # ids or filter: one of them.
    with pytest.raises(qvdb.InvalidArgument, match="ids or filter"):
        coll.delete()
    with pytest.raises(qvdb.InvalidArgument, match="not both"):
        coll.get([1], filter='lang = "en"')
    with pytest.raises(qvdb.InvalidArgument, match="limit"):
        coll.get(filter='lang = "en"', limit=20000)
    assert coll.count() == N


def test_async_and_cli_agree(server: ServerProcess, client: qvdb.Client, cli_binary, name: str):
    load(client, name)

    async def main() -> None:
        async with qvdb.AsyncClient(server.address) as aclient:
            coll = await aclient.collection(name)
            assert await coll.count(filter=field("lang") == "en") == 20
            rows = await coll.get(filter='lang = "en" and year < 2010', limit=10)
            assert sorted(r.id for r in rows) == [0, 3, 6, 9]
            assert (await coll.delete(filter=(field("year") >= 2050))).deleted == 9
            assert await coll.count() == N - 9

    asyncio.run(main())
    out = run_cli(cli_binary, server.address, "--json", "count", name, "--filter", 'lang = "en"')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["count"] == client.collection(name).count(
        filter=field("lang") == "en"
    )
    out = run_cli(cli_binary, server.address, "delete", name, "--filter", "year < 2010")
    assert out.returncode == 0 and out.stdout.strip() == "deleted 10", out.stdout
    assert client.collection(name).count() == N - 19
