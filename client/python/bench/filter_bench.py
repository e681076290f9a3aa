#!/usr/bin/env python3
"""filter_bench: filtered vector search through qvdb-server, from Python.

What it measures, on seeded clustered synthetic data (the distribution of the C++ bench's
`synthetic:1000000:128`: n/1000 gaussian clusters with a decaying spectrum,
float32):

  * bytes per vector in RAM and on disk (describe()) and the server's RSS
    after loading and training;
  * for each filter below: single-query QPS (one client thread, one Search
    call at a time), p50/p99 latency of a call, and recall@10 against exact
    filtered ground truth computed here in numpy (brute force over the rows
    that pass);
  * batch-100 QPS (SearchBatch) for the unfiltered case and for num < 1 %;
  * the strategy the server chose for each filter (SearchResponse.stats:
    exact | index, allowed rows, nprobe), read with one raw call per filter.

Every row carries three declared payload fields:
  kw      keyword, "v0".."v999" uniformly at random  (keyword selectivity)
  num     int64, a random permutation of 0..n-1      (uncorrelated ranges)
  region  int64, the row's cluster id                (correlated with the
          vectors: the hard case for IVF, where the rows that pass lie in
          a few lists, far from the query)

Filters: unfiltered; num < s*n for s = 100, 50, 10, 1, 0.1, 0.01 %;
kw = "v17" (0.1 %); kw in ("v1", ..., "v10") (1 %); region = R with R the
cluster whose centre is farthest from each query (per query); region in
(the --far-clusters farthest clusters of each query).

The 1M run (start the server first; the data dir should be empty):

  build/release/server/qvdb-server --data /tmp/qvdb-filter-bench \\
      --listen 127.0.0.1:7734 --sync grouped --auto-train false \\
      --log-level warn &
  PYTHONPATH=client/python /usr/bin/python3 \\
      client/python/bench/filter_bench.py --server 127.0.0.1:7734 \\
      --n 1000000 --dim 128 --queries 200 \\
      --spec "IVF1024,PQ32x4fs,Refine(Flat)" --nprobe 8 --refine-factor 16 \\
      --json filter_bench_1m.json

A quick check at small scale:

  ... filter_bench.py --server 127.0.0.1:7734 --n 20000 --queries 50 \\
      --spec "IVF64,PQ32x4fs,Refine(Flat)"
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's qvdb
import qvdb  # noqa: E402
from qvdb import _ops  # noqa: E402  (only to read SearchResponse.stats)

N_KEYWORDS = 1000


# --------------------------------------------------------------------------
# Data


@dataclass
class Data:
    base: np.ndarray  # (n, dim) float32
    queries: np.ndarray  # (nq, dim) float32
    centers: np.ndarray  # (clusters, dim) float32
    kw: np.ndarray  # (n,) int: keyword index, "v{kw}"
    num: np.ndarray  # (n,) int64 permutation of 0..n-1
    region: np.ndarray  # (n,) int64 cluster id
    far: np.ndarray  # (nq, far_clusters) cluster ids, farthest first


def generate(n: int, dim: int, nq: int, clusters: int, noise: float, decay: float,
             far_clusters: int, seed: int) -> Data:
    """The distribution of the C++ bench's synthetic:<n>:<dim> (tests/
    test_data.cc, Generate with decay 1): gaussian clusters with a decaying
    spectrum (dimension j scaled by 1/sqrt(1 + decay*j), closer to real
    embeddings than isotropic noise), centres 2*N(0,1)*scale, rows = centre
    + noise*N(0,1)*scale. Same distribution, not the same numbers (another
    RNG). Queries are drawn the same way, so they are not rows."""
    rng = np.random.default_rng(seed)
    scale = (1.0 / np.sqrt(1.0 + decay * np.arange(dim))).astype(np.float32)
    centers = 2.0 * rng.standard_normal((clusters, dim), dtype=np.float32) * scale
    region = rng.integers(0, clusters, n, dtype=np.int64)
    base = np.empty((n, dim), dtype=np.float32)
    step = 65536
    for s in tqdm(range(0, n, step), desc="generate", unit="chunk", leave=False):
        e = min(n, s + step)
        base[s:e] = rng.standard_normal((e - s, dim), dtype=np.float32)
        base[s:e] *= noise * scale
        base[s:e] += centers[region[s:e]]
    q_cluster = rng.integers(0, clusters, nq)
    queries = centers[q_cluster] + noise * scale * rng.standard_normal((nq, dim),
                                                                       dtype=np.float32)
    kw = rng.integers(0, N_KEYWORDS, n)
    num = rng.permutation(n).astype(np.int64)  # uncorrelated with the vectors
    # Farthest clusters from each query: their rows are the correlated
    # worst case, in IVF lists the query would never probe.
    c64 = centers.astype(np.float64)
    d2c = (c64**2).sum(1)[None, :] - 2.0 * queries.astype(np.float64) @ c64.T
    far = np.argsort(-d2c, axis=1)[:, :far_clusters]
    return Data(base, queries.astype(np.float32), centers, kw, num, region, far)


def payloads(d: Data) -> List[bytes]:
    """JSON payloads pre-encoded as bytes: a third the memory of 1M dicts,
    and the client sends bytes as they are."""
    return [
        b'{"kw":"v%d","num":%d,"region":%d}' % (k, u, r)
        for k, u, r in zip(d.kw.tolist(), d.num.tolist(), d.region.tolist())
    ]


# --------------------------------------------------------------------------
# Filters and exact ground truth


@dataclass
class Case:
    name: str  # shown in the table
    target: str  # intended selectivity, as text
    # One filter for every query, or one per query (per_query set).
    filter: Optional[str] = None
    per_query: Optional[List[str]] = None
    rows: Optional[np.ndarray] = None  # rows that pass (None: all)
    per_query_rows: Optional[List[np.ndarray]] = None
    gt: List[np.ndarray] = field(default_factory=list)  # per query, ids

    def filter_of(self, i: int) -> Optional[str]:
        return self.per_query[i] if self.per_query is not None else self.filter

    def passing(self, n: int) -> float:
        """Rows that pass (the mean over queries for per-query filters)."""
        if self.per_query_rows is not None:
            return float(np.mean([r.size for r in self.per_query_rows]))
        return float(n if self.rows is None else self.rows.size)


def make_cases(d: Data) -> List[Case]:
    n = d.base.shape[0]
    cases = [Case("unfiltered", "-")]
    for pct in (100, 50, 10, 1, 0.1, 0.01):
        bound = int(round(pct / 100.0 * n))
        cases.append(Case(f"num < {bound}", f"{pct:g}%", filter=f"num < {bound}",
                          rows=np.flatnonzero(d.num < bound)))
    cases.append(Case('kw = "v17"', "0.1%", filter='kw = "v17"', rows=np.flatnonzero(d.kw == 17)))
    ten = list(range(1, 11))
    cases.append(Case('kw in ("v1",..,"v10")', "1%",
                      filter="kw in (" + ", ".join(f'"v{i}"' for i in ten) + ")",
                      rows=np.flatnonzero(np.isin(d.kw, ten))))
    # Correlated: rows grouped by cluster, once, for the per-query filters.
    order = np.argsort(d.region, kind="stable")
    bounds = np.searchsorted(d.region[order], np.arange(d.centers.shape[0] + 1))
    members = [order[bounds[c]:bounds[c + 1]] for c in range(d.centers.shape[0])]
    far1 = d.far[:, 0].tolist()
    cases.append(Case("region = far", f"{100.0 / d.centers.shape[0]:g}%",
                      per_query=[f"region = {r}" for r in far1],
                      per_query_rows=[members[r] for r in far1]))
    m = d.far.shape[1]
    if m > 1:
        cases.append(Case(f"region in ({m} far)", f"{100.0 * m / d.centers.shape[0]:g}%",
                          per_query=["region in (" + ", ".join(map(str, f)) + ")"
                                     for f in d.far.tolist()],
                          per_query_rows=[np.sort(np.concatenate([members[c] for c in f]))
                                          for f in d.far.tolist()]))
    return cases


def exact_topk(base: np.ndarray, q: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """The k nearest of `cand` rows, re-scored in float64 so the float32
    shortcut's rounding cannot reorder near ties."""
    diff = base[cand].astype(np.float64) - q.astype(np.float64)
    dist = np.einsum("ij,ij->i", diff, diff)
    return cand[np.argsort(dist, kind="stable")[:k]]


def ground_truth(d: Data, cases: List[Case], k: int, q_chunk: int) -> None:
    """Exact filtered top-k for every case and query. One float32 distance
    block (q_chunk x n, ||x||^2 - 2 x.q + ||q||^2) per chunk of queries is
    shared by every case; each case takes a shortlist of 4k from it, then
    exact_topk re-scores the shortlist."""
    base, qs = d.base, d.queries
    nq = qs.shape[0]
    x2 = np.einsum("ij,ij->i", base, base)
    short = 4 * k
    for c in cases:
        c.gt = [np.empty(0, np.int64)] * nq
    with tqdm(total=nq, desc="ground truth", unit="query", leave=False) as bar:
        for s in range(0, nq, q_chunk):
            e = min(nq, s + q_chunk)
            q = qs[s:e]
            dist = q @ base.T  # (b, n): one float32 matmul for the whole chunk
            dist *= -2.0
            dist += x2[None, :]  # + ||q||^2 would not change a query's order
            for c in cases:
                for j in range(e - s):
                    i = s + j
                    rows = c.per_query_rows[i] if c.per_query_rows is not None else c.rows
                    row_d = dist[j] if rows is None else dist[j, rows]
                    m = min(short, row_d.size)
                    if m == 0:
                        continue
                    top = np.argpartition(row_d, m - 1)[:m] if m < row_d.size else np.arange(
                        row_d.size)
                    cand = top if rows is None else rows[top]
                    c.gt[i] = exact_topk(base, qs[i], cand, k)
            bar.update(e - s)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """|found ∩ truth| / min(k, rows that pass): 1 when all of them came back."""
    if truth.size == 0:
        return 1.0
    return len(set(found[:k].astype(np.int64).tolist()) & set(truth.tolist())) / truth.size


def export(d: Data, cases: List[Case], args: argparse.Namespace) -> None:
    """The data, each case's per-query filter (qvdb's text form) and exact
    ground truth, as raw little-endian arrays and one JSON file, so another
    engine answers the same questions (bench/lancedb_filter_bench.mjs)."""
    out = Path(args.export)
    out.mkdir(parents=True, exist_ok=True)
    d.base.astype("<f4").tofile(out / "base.f32")
    d.queries.astype("<f4").tofile(out / "queries.f32")
    d.kw.astype("<i4").tofile(out / "kw.i32")
    d.num.astype("<i8").tofile(out / "num.i64")
    d.region.astype("<i8").tofile(out / "region.i64")
    nq = d.queries.shape[0]
    meta = {
        "n": int(d.base.shape[0]), "dim": int(d.base.shape[1]), "queries": nq, "k": args.k,
        "cases": [{"name": c.name, "target": c.target, "rows_passing": c.passing(args.n),
                   "filters": [c.filter_of(i) for i in range(nq)],
                   "gt": [g.tolist() for g in c.gt]} for c in cases],
    }
    (out / "cases.json").write_text(json.dumps(meta) + "\n")
    print(f"exported the data and {len(cases)} filters to {out}", flush=True)


# --------------------------------------------------------------------------
# Searching


def search_stats(coll: qvdb.Collection, q: np.ndarray, args: argparse.Namespace,
                 flt: Optional[str]) -> Dict[str, Any]:
    """How the server ran one search (SearchResponse.stats). The public
    search() drops the stats, so this sends the client's own request bytes
    through the raw method; any failure just leaves the column empty."""
    try:
        plan = _ops.SearchPlan(coll.name, q, args.k, args.nprobe, args.refine_factor, flt,
                               False, False, True, args.ram_refine_factor)
        st = coll._call("Search", plan.single_request()).stats
        return {"strategy": st.strategy, "allowed_rows": int(st.allowed_rows),
                "nprobe": int(st.nprobe)}
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return {"strategy": f"? ({type(e).__name__})"}


def run_single(coll: qvdb.Collection, d: Data, c: Case, args: argparse.Namespace) -> Dict[str, Any]:
    """One client thread, one Search call at a time over every query
    (--rounds times); QPS over the timed loop, per-call latency, recall."""
    qs = d.queries
    nq = qs.shape[0]
    kw = dict(k=args.k, nprobe=args.nprobe, refine_factor=args.refine_factor,
              ram_refine_factor=args.ram_refine_factor)
    for i in range(min(args.warmup, nq)):  # connections, caches, page cache
        coll.search(qs[i], filter=c.filter_of(i), **kw)
    lat: List[float] = []
    recalls: List[float] = []
    t_all = 0.0
    for rnd in range(args.rounds):
        t0 = time.perf_counter()
        for i in range(nq):
            t = time.perf_counter()
            r = coll.search(qs[i], filter=c.filter_of(i), **kw)
            lat.append(time.perf_counter() - t)
            if rnd == 0:
                recalls.append(recall(r.ids, c.gt[i], args.k))
        t_all += time.perf_counter() - t0
    lat_us = np.array(lat) * 1e6
    return {
        "recall": float(np.mean(recalls)),
        "qps": nq * args.rounds / t_all,
        "p50_us": float(np.percentile(lat_us, 50)),
        "p99_us": float(np.percentile(lat_us, 99)),
    }


def run_batch(coll: qvdb.Collection, d: Data, c: Case, args: argparse.Namespace,
              batch: int) -> Dict[str, Any]:
    """SearchBatch calls of `batch` queries (same filter for all) over the
    query set; QPS counts queries, not calls."""
    assert c.per_query is None
    qs = d.queries
    nq = qs.shape[0]
    kw = dict(k=args.k, nprobe=args.nprobe, refine_factor=args.refine_factor,
              ram_refine_factor=args.ram_refine_factor, filter=c.filter)
    coll.search(qs[:batch], **kw)  # warm-up
    recalls: List[float] = []
    lat: List[float] = []
    t_all = 0.0
    for rnd in range(args.rounds):
        t0 = time.perf_counter()
        for s in range(0, nq, batch):
            t = time.perf_counter()
            res = coll.search(qs[s:s + batch], **kw)
            lat.append(time.perf_counter() - t)
            if rnd == 0:
                recalls.extend(recall(r.ids, c.gt[s + j], args.k) for j, r in enumerate(res))
        t_all += time.perf_counter() - t0
    return {
        "batch": batch,
        "recall": float(np.mean(recalls)),
        "qps": nq * args.rounds / t_all,
        "p50_call_us": float(np.percentile(np.array(lat) * 1e6, 50)),
    }


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="host:port of a running qvdb-server")
    ap.add_argument("--n", type=int, default=1_000_000, help="rows")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--clusters", type=int, default=0,
                    help="gaussian clusters = regions (0: max(32, n/1000), as synthetic:n:d)")
    ap.add_argument("--noise", type=float, default=0.6, help="spread of a cluster")
    ap.add_argument("--decay", type=float, default=1.0, help="spectrum decay")
    ap.add_argument("--far-clusters", type=int, default=0,
                    help="clusters in the 'region in (far ...)' filter (0: 3%% of them, "
                    "at least 2; 1: leave it out)")
    ap.add_argument("--spec", default="IVF1024,PQ32x4fs,Refine(Flat)")
    ap.add_argument("--nprobe", type=int, default=8)
    ap.add_argument("--refine-factor", type=int, default=16)
    ap.add_argument("--ram-refine-factor", type=int, default=None,
                    help="with two Refine stages: candidates the RAM tier re-scores, per k")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch-size", type=int, default=2000, help="rows per ingest message")
    ap.add_argument("--rounds", type=int, default=1, help="timed passes over the queries")
    ap.add_argument("--warmup", type=int, default=10, help="untimed queries per filter")
    ap.add_argument("--gt-chunk", type=int, default=16, help="queries per ground-truth block")
    ap.add_argument("--collection", default="filter_bench",
                    help="collection name (dropped first if it exists)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the collection when it already holds these --n rows and "
                    "--spec (same --seed): only the searches run again")
    ap.add_argument("--export", default=None, metavar="DIR",
                    help="also write the data, filters and ground truth here, for "
                    "bench/lancedb_filter_bench.mjs (the same data through LanceDB)")
    args = ap.parse_args()
    if args.clusters <= 0:
        args.clusters = max(32, args.n // 1000)
    if args.far_clusters <= 0:
        args.far_clusters = max(2, args.clusters * 3 // 100)

    out: Dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "json"}}
    timings: Dict[str, float] = {}
    out["timings_s"] = timings

    # 1. data
    t = time.perf_counter()
    print(f"generating {args.n:,} x {args.dim} in {args.clusters} clusters, "
          f"{args.queries} queries (seed {args.seed}) ...", flush=True)
    d = generate(args.n, args.dim, args.queries, args.clusters, args.noise, args.decay,
                 args.far_clusters, args.seed)
    pay = payloads(d)
    timings["generate"] = time.perf_counter() - t
    print(f"  {timings['generate']:.1f} s", flush=True)

    # 2. load and train
    client = qvdb.Client(args.server, timeout=600.0)
    existing = {c.name: c for c in client.list_collections()}.get(args.collection)
    if (args.reuse and existing is not None and existing.live_rows == args.n
            and existing.index_spec == args.spec):
        # The same seed generated the same rows: only the searches run again.
        coll = client.collection(args.collection)
        print(f"reusing collection {args.collection!r} ({args.n:,} rows)", flush=True)
    else:
        client.drop_collection(args.collection, missing_ok=True)
        coll = client.create_collection(
            args.collection, args.dim, "l2", args.spec,
            fields={"kw": "keyword", "num": "int64", "region": "int64"})
        t = time.perf_counter()
        coll.ingest(d.base, ids=np.arange(args.n, dtype=np.uint64), payloads=pay,
                    batch_size=args.batch_size, progress=True)
        timings["load"] = time.perf_counter() - t
        print(f"loaded {args.n:,} rows in {timings['load']:.1f} s "
              f"({args.n / timings['load']:,.0f} rows/s)", flush=True)
        t = time.perf_counter()
        print("training ...", flush=True)
        tr = coll.train()
        timings["train"] = time.perf_counter() - t
        print(f"  trained in {timings['train']:.1f} s (server: {tr.seconds:.1f} s)", flush=True)
    del pay
    desc = coll.describe()
    rss = client.stats().server.process_rss_bytes
    out["collection"] = {
        "live_rows": desc.live_rows,
        "index_spec": desc.index_spec,
        "ram_bytes_per_vector": desc.ram_bytes_per_vector,
        "disk_bytes_per_vector": desc.disk_bytes_per_vector,
        "memory_bytes": desc.memory_bytes,
        "refine_file_bytes": desc.refine_file_bytes,
        "storage_disk_bytes": desc.storage_disk_bytes,
        "server_rss_bytes": rss,
    }
    print(f"{desc.index_spec}: {desc.live_rows:,} rows, RAM {desc.ram_bytes_per_vector:.1f} B/vector, "
          f"disk {desc.disk_bytes_per_vector:.1f} B/vector, server RSS {rss / 2**20:,.0f} MiB",
          flush=True)

    # 3. exact filtered ground truth
    t = time.perf_counter()
    cases = make_cases(d)
    ground_truth(d, cases, args.k, args.gt_chunk)
    timings["ground_truth"] = time.perf_counter() - t
    print(f"ground truth for {len(cases)} filters in {timings['ground_truth']:.1f} s", flush=True)
    if args.export:
        export(d, cases, args)

    # 4. searches
    t = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    for c in tqdm(cases, desc="search", unit="filter", leave=False):
        res = {"filter": c.name, "expr": c.filter if c.per_query is None else c.per_query[0]
               + (" (per query)"), "target": c.target, "rows_passing": c.passing(args.n)}
        res["selectivity"] = res["rows_passing"] / args.n
        res.update(search_stats(coll, d.queries[0], args, c.filter_of(0)))
        res.update(run_single(coll, d, c, args))
        rows.append(res)
    batches = []
    for c in cases:
        if c.name == "unfiltered" or c.target == "1%" and c.name.startswith("num"):
            batches.append({"filter": c.name, **run_batch(coll, d, c, args, 100)})
    timings["search"] = time.perf_counter() - t
    out["single"] = rows
    out["batch"] = batches
    rss_after = client.stats().server.process_rss_bytes
    out["collection"]["server_rss_bytes_after_search"] = rss_after

    # 5. report
    print()
    print(f"{args.n:,} x {args.dim}, {desc.index_spec}, nprobe {args.nprobe}, "
          f"refine factor {args.refine_factor}, k {args.k}, {args.queries} queries; "
          f"RAM {desc.ram_bytes_per_vector:.1f} B/vec, disk {desc.disk_bytes_per_vector:.1f} B/vec, "
          f"RSS {rss_after / 2**20:,.0f} MiB")
    print()
    print("| filter | selectivity | rows passing | strategy | R@10 | QPS b1 | p50 us | p99 us |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    for r in rows:
        strat = r.get("strategy", "")
        if strat == "index":
            strat += f" (nprobe {r.get('nprobe')})"
        sel = r["target"] if r["target"] == "-" else f"{r['target']} ({100 * r['selectivity']:.3g}%)"
        print(f"| `{r['filter']}` | {sel} | {r['rows_passing']:,.0f} | {strat} | {r['recall']:.3f} "
              f"| {r['qps']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} |")
    print()
    print("| filter | batch | R@10 | QPS | p50 per call us |")
    print("|---|---:|---:|---:|---:|")
    for b in batches:
        print(f"| `{b['filter']}` | {b['batch']} | {b['recall']:.3f} | {b['qps']:,.0f} "
              f"| {b['p50_call_us']:,.0f} |")
    print()
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
