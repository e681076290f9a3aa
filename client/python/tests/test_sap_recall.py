"""sap_minilm end to end: the Python client creates, ingests, upserts,
trains and searches; its R@10 and its hits equal the C++ client's (the
`qvdb` CLI) on the same server, collection, spec and parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qvdb
from conftest import Dataset, ServerProcess, recall_at_10, run_cli

SPEC = "IVF16,PQ96x4fs,Refine(Flat)"
K, NPROBE, REFINE = 10, 4, 2


def cli_search(cli: Path, address: str, collection: str, queries: Path, nq: int, *extra: str):
    run = run_cli(
        cli,
        address,
        "--json",
        "search",
        collection,
        "--vector-file",
        str(queries),
        "--count",
        str(nq),
        "-k",
        str(K),
        "--nprobe",
        str(NPROBE),
        "--refine-factor",
        str(REFINE),
        "--no-payload",
        *extra,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)["results"]
    assert len(results) == nq
    return [[h["id"] for h in r["hits"]] for r in results], [
        [h["score"] for h in r["hits"]] for r in results
    ]


@pytest.fixture(scope="module")
def sap_collections(client: qvdb.Client, sap: Dataset):
    """ "sap_ingest" loaded with ingest(), "sap_upsert" with upsert(); both
    trained."""
    ingested = client.create_collection(
        "sap_ingest", sap.base.shape[1], "cosine", SPEC, fields={"category": "keyword"}
    )
    records = (
        {"id": i, "vector": v, "payload": {"text": t, "category": c}}
        for i, v, t, c in zip(sap.ids, sap.base, sap.texts, sap.categories)
    )
    done = ingested.ingest(records, batch_size=128, progress=False)
    assert done.rows == done.inserted == len(sap.ids)
    assert done.batches == (len(sap.ids) + 127) // 128
    upserted = client.create_collection("sap_upsert", sap.base.shape[1], qvdb.Metric.COSINE, SPEC)
    payloads = [{"text": t, "category": c} for t, c in zip(sap.texts, sap.categories)]
    result = upserted.upsert(sap.ids, sap.base, payloads, batch_size=300)
    assert result == qvdb.UpsertResult(inserted=len(sap.ids), updated=0)
    for coll in (ingested, upserted):
        trained = coll.train()
        assert trained.model_version == 1
        d = coll.describe()
        assert d.trained and d.state == qvdb.CollectionState.TRAINED
        assert d.live_rows == len(sap.ids) and d.index_spec == SPEC
    yield ingested, upserted
    ingested.drop()
    upserted.drop()


def test_recall_equals_the_cpp_client(
    sap_collections, sap: Dataset, server: ServerProcess, cli_binary: Path, tmp_path: Path
):
    ingested, upserted = sap_collections
    queries = sap.write_queries_fvecs(tmp_path / "queries.fvecs")
    nq = sap.queries.shape[0]
    for coll in (ingested, upserted):
        py = coll.search(sap.queries, K, nprobe=NPROBE, refine_factor=REFINE)
        assert len(py) == nq
        py_ids = [r.ids.tolist() for r in py]
        cpp_ids, cpp_scores = cli_search(cli_binary, server.address, coll.name, queries, nq)
        py_r10 = recall_at_10(py_ids, sap)
        cpp_r10 = recall_at_10(cpp_ids, sap)
        print(f"{sap.description}: {coll.name} R@10 python {py_r10:.4f}, C++ {cpp_r10:.4f}")
        assert py_r10 == cpp_r10
        assert py_ids == cpp_ids
        for r, scores in zip(py, cpp_scores):
            np.testing.assert_allclose(r.scores, scores, rtol=1e-5)
        # A compressed index, re-ranked: recall is high but not exact.
        assert py_r10 >= 0.8


def test_a_ram_tier_in_front_of_the_disk_tier(
    client: qvdb.Client, sap: Dataset, server: ServerProcess, cli_binary: Path, tmp_path: Path
):
    """Two Refine stages (issue 12): SQ8 codes in RAM re-score
    k * ram_refine_factor candidates and Flat, from disk, only k * refine_factor
    of them; Python and the CLI pass both factors and agree."""
    tiered = client.create_collection(
        "sap_tiered", sap.base.shape[1], "cosine", "IVF16,PQ96x4fs,Refine(SQ8),Refine(Flat)"
    )
    try:
        tiered.upsert(sap.ids, sap.base, batch_size=300)
        tiered.train()
        d = tiered.describe()
        assert d.ram_refine_code_size == sap.base.shape[1]  # SQ8: a byte a dim
        assert d.refine_code_size == 4 * sap.base.shape[1] and d.refine_on_disk
        before = d.refine_reads_from_file + d.refine_reads_from_storage
        nq = sap.queries.shape[0]
        py = tiered.search(sap.queries, K, nprobe=NPROBE, refine_factor=REFINE, ram_refine_factor=8)
        after = tiered.describe()
        # The disk tier read k * refine_factor records per query, no more.
        assert after.refine_reads_from_file + after.refine_reads_from_storage - before == nq * K * REFINE
        assert after.refine_scored - d.refine_scored == nq * K * REFINE
        assert after.ram_refine_scored - d.ram_refine_scored == nq * K * 8
        py_ids = [r.ids.tolist() for r in py]
        queries = sap.write_queries_fvecs(tmp_path / "queries.fvecs")
        cpp_ids, _ = cli_search(
            cli_binary, server.address, tiered.name, queries, nq, "--ram-refine-factor", "8"
        )
        assert py_ids == cpp_ids
        r10 = recall_at_10(py_ids, sap)
        print(f"{sap.description}: two-stage refine 8/{REFINE} R@10 {r10:.4f}")
        assert r10 >= 0.8
        with pytest.raises(qvdb.InvalidArgument, match="ram_refine_factor"):
            tiered.search(sap.queries[0], K, ram_refine_factor=-1)
        with pytest.raises(qvdb.InvalidArgument, match="ram_refine_factor"):
            tiered.search(sap.queries[0], K, ram_refine_factor=101)
    finally:
        tiered.drop()


def test_both_load_paths_give_the_same_index(sap_collections, sap: Dataset):
    ingested, upserted = sap_collections
    a = ingested.search(sap.queries, K, nprobe=NPROBE, refine_factor=REFINE)
    b = upserted.search(sap.queries, K, nprobe=NPROBE, refine_factor=REFINE)
    assert recall_at_10([r.ids for r in a], sap) == recall_at_10([r.ids for r in b], sap)


def test_batch_search_agrees_with_single(sap_collections, sap: Dataset):
    ingested, _ = sap_collections
    batch = ingested.search(sap.queries, K, nprobe=NPROBE, refine_factor=REFINE, with_payload=True)
    for q, expected in zip(sap.queries, batch):
        single = ingested.search(q, K, nprobe=NPROBE, refine_factor=REFINE, with_payload=True)
        assert isinstance(single, qvdb.SearchResult)
        assert single.ids.tolist() == expected.ids.tolist()
        np.testing.assert_allclose(single.scores, expected.scores, rtol=1e-6)
        assert single.payloads == expected.payloads
    # A list of lists is a batch too; a plain list is one query.
    as_lists = ingested.search(sap.queries[:3].tolist(), K, nprobe=NPROBE, refine_factor=REFINE)
    assert [r.ids.tolist() for r in as_lists] == [r.ids.tolist() for r in batch[:3]]
    one = ingested.search(sap.queries[0].tolist(), K, nprobe=NPROBE, refine_factor=REFINE)
    assert one.ids.tolist() == batch[0].ids.tolist()


def test_payloads_and_filters(
    sap_collections, sap: Dataset, server: ServerProcess, cli_binary: Path, tmp_path: Path
):
    ingested, upserted = sap_collections
    hits = ingested.search(sap.queries[0], 5, with_payload=True)
    row_of = {id_: i for i, id_ in enumerate(sap.ids)}
    for hit in hits:
        row = row_of[hit.id]
        assert hit.payload == {"text": sap.texts[row], "category": sap.categories[row]}
    # Filter to the rows of one category: only they come back.
    category = sap.categories[row_of[hits[0].id]]
    allowed = [i for i, c in zip(sap.ids, sap.categories) if c == category]
    filtered = ingested.search(sap.queries[0], K, filter=allowed, with_payload=True)
    assert len(filtered) == min(K, len(allowed))
    assert all(p["category"] == category for p in filtered.payloads)
    # The same as the C++ client's --filter.
    queries = sap.write_queries_fvecs(tmp_path / "q.fvecs")
    run = run_cli(
        cli_binary,
        server.address,
        "--json",
        "search",
        ingested.name,
        "-f",
        str(queries),
        "-k",
        str(K),
        "--no-payload",
        "--id-type",
        "str",
        "--filter-ids",
        ",".join(allowed),
    )
    assert run.returncode == 0, run.stderr
    cli_ids = [h["id"] for h in json.loads(run.stdout)["results"][0]["hits"]]
    assert filtered.ids.tolist() == cli_ids
    # An empty filter matches nothing.
    assert len(ingested.search(sap.queries[0], K, filter=[])) == 0
    # The filter expression on the declared field selects the same rows.
    assert ingested.describe().fields == {"category": "keyword"}
    by_text = ingested.search(sap.queries[0], K, filter=f'category = "{category}"')
    assert by_text.ids.tolist() == filtered.ids.tolist()
    batch = ingested.search(sap.queries[:4], K, filter=f'category != "{category}"', with_payload=True)
    for result in batch:
        assert len(result) == K
        assert all(p["category"] != category for p in result.payloads)
    # Bad filters say what to fix; a collection without fields cannot filter.
    with pytest.raises(qvdb.InvalidArgument, match="lang"):
        ingested.search(sap.queries[0], K, filter='lang = "en"')
    with pytest.raises(qvdb.InvalidArgument, match="filter"):
        ingested.search(sap.queries[0], K, filter="category = ")
    with pytest.raises(qvdb.InvalidArgument, match="declares no fields"):
        upserted.search(sap.queries[0], K, filter=f'category = "{category}"')
