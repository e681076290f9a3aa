#!/usr/bin/env python3
"""Quick start: a small RAG corpus into qvdb from Python, then searched with
and without a filter.

The corpus is ../shared/datasets/sap_minilm: 778 chunks of SAP Fiori
documentation (records.jsonl: id, content, title, category, ...) with their
all-MiniLM-L6-v2 embeddings (384-d, cosine). 78 chunks are held out as
queries (sap_minilm_split_query_rows.txt); the other 700, in order, are the
base vectors (sap_minilm_base.fvecs). Each base chunk is stored with its
text and category as payload.

  scripts/run.sh &                                    # a server on 127.0.0.1:7734
  python3 examples/python/quickstart.py [--server HOST:PORT] [--dataset DIR]

(with the package installed, or PYTHONPATH=client/python).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:
    import qvdb
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "client" / "python"))
    import qvdb

REPO = Path(__file__).resolve().parents[2]


def read_fvecs(path: Path) -> np.ndarray:
    """texmex .fvecs: per vector an int32 dimension d, then d float32."""
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32)


def load(dataset: Path):
    """(ids, texts, categories, base vectors, query vectors, query texts)."""
    with open(dataset / "records.jsonl") as f:
        records = [json.loads(line) for line in f if line.strip()]
    query_rows = {int(x) for x in (dataset / "sap_minilm_split_query_rows.txt").read_text().split()}
    base = [r for i, r in enumerate(records) if i not in query_rows]
    held_out = [r for i, r in enumerate(records) if i in query_rows]
    vectors = read_fvecs(dataset / "sap_minilm_base.fvecs")
    queries = read_fvecs(dataset / "sap_minilm_query.fvecs")
    assert len(base) == len(vectors) and len(held_out) == len(queries)
    return base, vectors, held_out, queries


def show(title: str, result: qvdb.SearchResult) -> None:
    print(f"\n{title}")
    for rank, hit in enumerate(result, 1):
        text = " ".join(hit.payload["text"].split())[:70]
        print(f"{rank}. {hit.score:.4f}  [{hit.payload['category']}]  {hit.id}\n   {text}...")


def main() -> int:
    ap = argparse.ArgumentParser(description="qvdb Python quick start (sap_minilm)")
    ap.add_argument(
        "--server", default=None, help="host:port (default $QVDB_SERVER or 127.0.0.1:7734)"
    )
    ap.add_argument("--dataset", default=str(REPO.parent / "shared" / "datasets" / "sap_minilm"))
    ap.add_argument("--collection", default="sap_minilm")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    dataset = Path(args.dataset)
    if not (dataset / "records.jsonl").exists():
        print(f"quickstart: {dataset}/records.jsonl not found (--dataset DIR)", file=sys.stderr)
        return 3
    base, vectors, held_out, queries = load(dataset)

    with qvdb.Client(args.server) as client:
        docs = client.create_collection(
            args.collection,
            dim=384,
            metric="cosine",
            spec="IVF16,PQ96x4fs,Refine(Flat)",
            # The payload's "category" member is a field filters can use.
            fields={"category": "keyword"},
            exist_ok=True,
        )
        # Bulk load over the Ingest stream (progress bar with rate and ETA);
        # the payload is a dict, stored as JSON.
        rows = [
            {
                "id": r["id"],
                "vector": v,
                "payload": {"text": r["content"], "category": r["category"]},
            }
            for r, v in zip(base, vectors)
        ]
        loaded = docs.ingest(rows, progress=not args.no_progress)
        print(f"stored {loaded.rows} chunks ({loaded.inserted} new) in {loaded.seconds:.2f} s")
        # 700 rows is below the automatic training threshold: train now.
        model = docs.train()
        print(
            f"trained model {model.model_version} in {model.seconds:.2f} s; "
            f"{docs.describe().ram_bytes_per_vector:.0f} bytes per vector in RAM"
        )

        question = held_out[0]
        print(f"\nquery: {question['title']!r} ({question['category']})")
        hits = docs.search(queries[0], k=5, with_payload=True)
        show("top 5:", hits)

        # Only chunks of one category: a filter on the declared field
        # (docs/filter.md). A list of ids works as a filter too.
        category = "Sapui5"
        allowed = [r["id"] for r in base if r["category"] == category]
        show(
            f"top 5 in category {category!r} ({len(allowed)} chunks):",
            docs.search(queries[0], k=5, filter=f'category = "{category}"', with_payload=True),
        )

        # All 78 queries in one call: one result per row, ids as numpy arrays.
        results = docs.search(queries, k=10)
        print(f"\n{len(results)} queries in one SearchBatch; first ids: {results[0].ids[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
