#!/usr/bin/env python3
"""qvdb_py_bench: single-query and batch QPS of the Python client against a
running qvdb-server, next to the C++ client's on the same server, data,
spec and search parameters.

It loads a dataset into a fresh collection (ids 0..n-1), trains it, then for
each batch size calls search() the way `qvdb-bench sweep --server` does
(bench/sweep.cc, TimeCalls): one caller takes batches of queries in turn,
round robin over the query set, until every query was searched once and
--min-seconds passed. It prints QPS, per-call p50/p99, recall@10 and the
client's own CPU time per call (this process, gRPC's threads included) for
each batch size.

With --cpp-bench PATH (build/release/bench/qvdb-bench) it then runs
`qvdb-bench sweep --server ADDR` with the same dataset, spec, k, nprobe,
refine factor, batch sizes and one client thread, and prints the Python /
C++ QPS ratio per batch size (the issue's target: batch 100 >= 80 %).

  qvdb-server --data /tmp/pybench --listen 127.0.0.1:7734 --sync grouped \\
      --auto-train false &
  python3 client/python/bench/qvdb_py_bench.py --server 127.0.0.1:7734 \\
      --cpp-bench build/release/bench/qvdb-bench --rounds 3

Datasets: siftsmall (../shared/datasets/siftsmall) or
synthetic:<n>:<dim>:<queries>; siftsmall falls back to synthetic data of its
shape when the files are absent (and says so). Only siftsmall gives both
clients the same vectors: each program generates its own synthetic data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the qvdb package of this checkout

import qvdb  # noqa: E402

REPO = HERE.parent.parent.parent


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    """.fvecs (float32) or .ivecs (int32): per row an int32 d, then d values."""
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def load_dataset(name: str) -> Tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(description, base (n, d), queries (nq, d), ground truth top-10 (nq, 10))."""
    if name == "siftsmall":
        root = REPO.parent / "shared" / "datasets" / "siftsmall"
        if (root / "siftsmall_base.fvecs").exists():
            base = read_vecs(root / "siftsmall_base.fvecs", "float32")
            queries = read_vecs(root / "siftsmall_query.fvecs", "float32")
            gt = read_vecs(root / "siftsmall_groundtruth.ivecs", "int32")[:, :10]
            return "siftsmall (10,000 x 128, 100 queries, real SIFT)", base, queries, gt
        name = "synthetic:10000:128:100"
        print(f"siftsmall not found under {root}: using {name}", file=sys.stderr)
    parts = name.split(":")
    if parts[0] != "synthetic" or len(parts) < 4:
        raise SystemExit(f"unknown dataset {name!r}: siftsmall or synthetic:<n>:<dim>:<queries>")
    n, dim, nq = (int(p) for p in parts[1:4])
    rng = np.random.default_rng(int(parts[4]) if len(parts) > 4 else 7)
    centers = rng.standard_normal((64, dim)).astype(np.float32) * 4
    base = (centers[rng.integers(0, 64, n)] + rng.standard_normal((n, dim))).astype(np.float32)
    queries = (centers[rng.integers(0, 64, nq)] + rng.standard_normal((nq, dim))).astype(np.float32)
    d2 = (queries**2).sum(1)[:, None] - 2 * queries @ base.T + (base**2).sum(1)[None, :]
    gt = np.argsort(d2, axis=1, kind="stable")[:, :10]
    return f"{name} (SYNTHETIC)", base, queries, gt


def recall_at_10(found: List[np.ndarray], gt: np.ndarray) -> float:
    hits = sum(len(set(f[:10].tolist()) & set(g[:10].tolist())) for f, g in zip(found, gt))
    return hits / (10.0 * len(gt))


def time_calls(
    coll: qvdb.Collection,
    queries: np.ndarray,
    batch: int,
    k: int,
    nprobe: int,
    refine_factor: int,
    min_seconds: float,
) -> Dict[str, float]:
    """Like bench/sweep.cc TimeCalls with one caller."""
    nq = queries.shape[0]
    chunks = (nq + batch - 1) // batch
    # Pre-cut the batches: slicing is the caller's business in both benches.
    pieces = [queries[c * batch : (c + 1) * batch] for c in range(chunks)]
    single = [queries[i] for i in range(nq)]
    lat: List[float] = []
    searched = 0
    c = 0
    start = time.perf_counter()
    cpu_start = time.process_time()  # this process, gRPC's threads included
    deadline = start + min_seconds
    while True:
        if c >= chunks and time.perf_counter() >= deadline:
            break
        t0 = time.perf_counter()
        if batch == 1:
            coll.search(single[c % chunks], k, nprobe=nprobe, refine_factor=refine_factor)
            m = 1
        else:
            q = pieces[c % chunks]
            coll.search(q, k, nprobe=nprobe, refine_factor=refine_factor)
            m = q.shape[0]
        lat.append((time.perf_counter() - t0) * 1e6)
        searched += m
        c += 1
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, max(0, int(np.ceil(p * len(lat))) - 1))]

    return {
        "qps": searched / seconds,
        "latency_p50_us": pct(0.50),
        "latency_p99_us": pct(0.99),
        "calls": len(lat),
        "client_cpu_us_per_call": cpu / len(lat) * 1e6,
    }


def run_cpp(
    binary: str,
    server: str,
    dataset: str,
    spec: str,
    k: int,
    nprobe: int,
    refine_factor: int,
    batches: List[int],
    min_seconds: float,
) -> Dict[int, Dict[str, float]]:
    """The C++ client's figures from `qvdb-bench sweep --server`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sweep.json"
        cmd = [
            binary,
            "sweep",
            "--dataset",
            dataset,
            "--server",
            server,
            "--specs",
            spec,
            "--nprobe",
            str(nprobe),
            "--refine",
            str(refine_factor),
            "--k",
            str(k),
            "--client-threads",
            "1",
            "--batch",
            ",".join(str(b) for b in batches),
            "--baselines",
            "none",
            "--min-seconds",
            str(min_seconds),
            "--no-progress",
            "--json",
            str(out),
        ]
        print("$ " + " ".join(cmd), file=sys.stderr)
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OPENBLAS_NUM_THREADS="1")
        subprocess.run(cmd, check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        report = json.loads(out.read_text())
    figures = {}
    for p in report["points"]:
        if p["system"] == "qvdb-server" and p["threads"] == 1:
            figures[int(p["batch"])] = p
    return figures


def median(values: List[float]) -> float:
    return float(np.median(values))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="127.0.0.1:7734", help="host:port of a qvdb-server")
    ap.add_argument("--dataset", default="siftsmall")
    ap.add_argument("--spec", default="IVF64,PQ32x4fs,Refine(Flat)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nprobe", type=int, default=8)
    ap.add_argument("--refine-factor", type=int, default=4)
    ap.add_argument("--batch", default="1,100", help="batch sizes, comma-separated")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="timing window per point")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of (Python, then C++) measurements, interleaved so that load "
        "changes hit both; medians are reported",
    )
    ap.add_argument("--collection", default="py_bench")
    ap.add_argument("--cpp-bench", help="qvdb-bench binary: also measure the C++ client")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    batches = [int(b) for b in args.batch.split(",")]

    desc, base, queries, gt = load_dataset(args.dataset)
    print(
        f"dataset: {desc}; spec {args.spec}; k {args.k}, nprobe {args.nprobe}, "
        f"refine factor {args.refine_factor}; server {args.server}"
    )
    rounds: List[Dict[str, Dict[int, Dict[str, float]]]] = []
    with qvdb.Client(args.server) as client:
        client.drop_collection(args.collection, missing_ok=True)
        coll = client.create_collection(args.collection, base.shape[1], "l2", args.spec)
        try:
            t0 = time.perf_counter()
            coll.ingest(base, progress=False)
            add_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            coll.train()
            train_s = time.perf_counter() - t0
            print(
                f"ingest {base.shape[0]} rows: {add_s:.2f} s "
                f"({base.shape[0] / add_s:,.0f} rows/s); train {train_s:.2f} s"
            )
            knobs = dict(nprobe=args.nprobe, refine_factor=args.refine_factor)
            batch_ids = [r.ids.astype(np.int64) for r in coll.search(queries, args.k, **knobs)]
            single_ids = [coll.search(q, args.k, **knobs).ids.astype(np.int64) for q in queries]
            recall = {1: recall_at_10(single_ids, gt), 0: recall_at_10(batch_ids, gt)}
            for r in range(args.rounds):
                python = {
                    b: dict(
                        time_calls(
                            coll,
                            queries,
                            b,
                            args.k,
                            args.nprobe,
                            args.refine_factor,
                            args.min_seconds,
                        ),
                        recall_at_10=recall[1 if b == 1 else 0],
                    )
                    for b in batches
                }
                cpp = (
                    run_cpp(
                        args.cpp_bench,
                        args.server,
                        args.dataset,
                        args.spec,
                        args.k,
                        args.nprobe,
                        args.refine_factor,
                        batches,
                        args.min_seconds,
                    )
                    if args.cpp_bench
                    else {}
                )
                rounds.append({"python": python, "c++": cpp})
                line = ", ".join(
                    f"batch {b}: python {python[b]['qps']:,.0f}"
                    + (
                        f" c++ {cpp[b]['qps']:,.0f} ({python[b]['qps'] / cpp[b]['qps']:.0%})"
                        if b in cpp
                        else ""
                    )
                    for b in batches
                )
                print(f"round {r + 1}: QPS {line}")
        finally:
            client.drop_collection(args.collection, missing_ok=True)

    print(
        f"\nmedians over {len(rounds)} round(s), {args.min_seconds:g} s per point, "
        "one client thread:"
    )
    print(
        f"{'client':<8} {'batch':>5} {'R@10':>6} {'QPS':>10} {'p50 us':>9} {'p99 us':>9} "
        f"{'CPU us':>9}"
    )
    summary: Dict[str, Dict[int, Dict[str, float]]] = {"python": {}, "c++": {}}
    for b in batches:
        for name in ("python", "c++"):
            points = [rd[name][b] for rd in rounds if b in rd[name]]
            if not points:
                continue
            keys = ["qps", "latency_p50_us", "latency_p99_us", "recall_at_10"]
            keys += ["client_cpu_us_per_call"] if name == "python" else []
            f = {key: median([p[key] for p in points]) for key in keys}
            summary[name][b] = f
            cpu = f"{f['client_cpu_us_per_call']:>9,.0f}" if name == "python" else f"{'':>9}"
            print(
                f"{name:<8} {b:>5} {f['recall_at_10']:>6.3f} {f['qps']:>10,.0f} "
                f"{f['latency_p50_us']:>9,.0f} {f['latency_p99_us']:>9,.0f} {cpu}"
            )
        ratios = [rd["python"][b]["qps"] / rd["c++"][b]["qps"] for rd in rounds if b in rd["c++"]]
        if ratios:
            print(
                f"         python / c++ QPS at batch {b}: median {median(ratios):.0%} "
                f"[{min(ratios):.0%}-{max(ratios):.0%}]"
            )
            summary.setdefault("ratio", {})[b] = {
                "median": median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            }
    if 100 in summary.get("ratio", {}):
        ratio = summary["ratio"][100]["median"]
        verdict = "met" if ratio >= 0.8 else "NOT met"
        print(f"target (batch 100 >= 80 % of the C++ client's QPS): {verdict} ({ratio:.0%})")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "dataset": desc,
                    "spec": args.spec,
                    "k": args.k,
                    "nprobe": args.nprobe,
                    "refine_factor": args.refine_factor,
                    "min_seconds": args.min_seconds,
                    "rounds": rounds,
                    "summary": summary,
                },
                indent=2,
                default=float,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
