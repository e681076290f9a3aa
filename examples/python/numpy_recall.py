#!/usr/bin/env python3
"""Ingest an .npy file into qvdb and measure recall@10 against brute force.

The base vectors are read from an (n, d) float .npy file, memory-mapped and
streamed to the server one batch at a time (ids 0..n-1); the queries come
from a second .npy file, or are the first --queries rows of the base with a
little noise. The exact top 10 of each query is computed with numpy, and
compared with what the server returns for the chosen spec, nprobe and
refine factor.

  python3 examples/python/numpy_recall.py --npy base.npy [--queries q.npy]
      [--metric l2|ip|cosine] [--spec IVF64,PQ32x4fs,Refine(Flat)]
      [--nprobe 8] [--refine-factor 4] [--server HOST:PORT]

Without --npy it writes one first: siftsmall's base vectors
(../shared/datasets/siftsmall) when present, else generated clustered data,
into a temporary .npy file.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import qvdb
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "client" / "python"))
    import qvdb

REPO = Path(__file__).resolve().parents[2]


def write_demo_npy(path: Path, rows: int, dim: int) -> str:
    sift = REPO.parent / "shared" / "datasets" / "siftsmall" / "siftsmall_base.fvecs"
    if sift.exists() and rows == 0:
        raw = np.fromfile(sift, dtype=np.int32)
        d = int(raw[0])
        np.save(path, raw.reshape(-1, d + 1)[:, 1:].view(np.float32))
        return "siftsmall base vectors"
    rows = rows or 10000
    rng = np.random.default_rng(11)
    centers = rng.standard_normal((50, dim)).astype(np.float32) * 3
    data = centers[rng.integers(0, 50, rows)] + rng.standard_normal((rows, dim)).astype(np.float32)
    np.save(path, data)
    return f"generated {rows} x {dim} clustered vectors"


def exact_top_k(base: np.ndarray, queries: np.ndarray, metric: str, k: int) -> np.ndarray:
    """Brute force, in blocks of base rows to bound memory."""
    if metric == "cosine":
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_d = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(base), 65536):
        block = np.asarray(base[start : start + 65536], dtype=np.float32)
        if metric == "l2":
            d = (queries**2).sum(1)[:, None] - 2 * queries @ block.T + (block**2).sum(1)[None]
        else:  # higher is closer: negate
            d = -(queries @ block.T)
        ids = np.broadcast_to(np.arange(start, start + len(block)), d.shape)
        best_d = np.concatenate([best_d, d], axis=1)
        best_ids = np.concatenate([best_ids, ids], axis=1)
        keep = np.argsort(best_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(best_d, keep, 1)
        best_ids = np.take_along_axis(best_ids, keep, 1)
    return best_ids


def main() -> int:
    ap = argparse.ArgumentParser(description="qvdb: ingest an .npy file, measure recall@10")
    ap.add_argument("--npy", help="(n, d) base vectors; default: write a demo file")
    ap.add_argument("--queries", help="(nq, d) query vectors (.npy)")
    ap.add_argument("--num-queries", type=int, default=100)
    ap.add_argument("--rows", type=int, default=0, help="demo file: generated rows (0: siftsmall)")
    ap.add_argument("--dim", type=int, default=64, help="demo file: generated dimension")
    ap.add_argument("--metric", default="l2", choices=["l2", "ip", "cosine"])
    ap.add_argument("--spec", default="IVF64,PQ32x4fs,Refine(Flat)")
    ap.add_argument("--nprobe", type=int, default=8)
    ap.add_argument("--refine-factor", type=int, default=4)
    ap.add_argument("--server", default=None)
    ap.add_argument("--collection", default="numpy_recall")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(args.npy) if args.npy else Path(tmp) / "base.npy"
        if not args.npy:
            print(f"writing {npy}: {write_demo_npy(npy, args.rows, args.dim)}")
        base = np.load(npy, mmap_mode="r")  # streamed, never loaded whole
        if args.queries:
            queries = np.load(args.queries).astype(np.float32)
        else:
            rng = np.random.default_rng(5)
            picks = rng.choice(len(base), size=min(args.num_queries, len(base)), replace=False)
            sample = np.asarray(base[np.sort(picks)], dtype=np.float32)
            queries = sample + 0.05 * sample.std() * rng.standard_normal(sample.shape).astype(
                np.float32
            )
        n, d = base.shape
        print(f"{n} x {d} base vectors, {len(queries)} queries, metric {args.metric}")

        with qvdb.Client(args.server) as client:
            client.drop_collection(args.collection, missing_ok=True)
            coll = client.create_collection(args.collection, d, args.metric, args.spec)
            loaded = coll.ingest(base, progress=not args.no_progress)
            print(
                f"ingested {loaded.rows} rows in {loaded.seconds:.2f} s "
                f"({loaded.rows_per_second:,.0f} rows/s)"
            )
            model = coll.train()
            print(f"trained {args.spec} in {model.seconds:.2f} s")

            t0 = time.perf_counter()
            results = coll.search(
                queries, k=10, nprobe=args.nprobe, refine_factor=args.refine_factor
            )
            seconds = time.perf_counter() - t0
            found = np.stack([r.ids.astype(np.int64) for r in results])

            t0 = time.perf_counter()
            truth = exact_top_k(base, queries, args.metric, 10)
            exact_s = time.perf_counter() - t0
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
            print(
                f"recall@10 = {recall:.4f}  (nprobe {args.nprobe}, refine factor "
                f"{args.refine_factor}; {len(queries) / seconds:,.0f} queries/s in one "
                f"SearchBatch; numpy brute force {exact_s:.2f} s)"
            )
            d_info = coll.describe()
            print(
                f"{d_info.ram_bytes_per_vector:.1f} bytes per vector in RAM "
                f"(float32: {4 * d} bytes)"
            )
            coll.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
