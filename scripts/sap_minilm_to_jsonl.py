#!/usr/bin/env python3
"""Writes ../shared/datasets/sap_minilm as JSON lines for `qvdb ingest`.

One line per base vector: {"id": <chunk id>, "vector": [384 floats],
"payload": {"title", "category", "path", "content"}}. The base rows are the
records of records.jsonl not listed in sap_minilm_split_query_rows.txt, in
order (the dataset's README), so line i holds base row i.

  scripts/sap_minilm_to_jsonl.py [DATASET_DIR] > sap_minilm.jsonl
"""
import json
import struct
import sys


def read_fvecs(path):
    rows = []
    with open(path, "rb") as f:
        while True:
            head = f.read(4)
            if not head:
                return rows
            (d,) = struct.unpack("<i", head)
            rows.append(list(struct.unpack(f"<{d}f", f.read(4 * d))))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/sap_minilm"
    base = read_fvecs(f"{root}/sap_minilm_base.fvecs")
    with open(f"{root}/sap_minilm_split_query_rows.txt") as f:
        query_rows = {int(line) for line in f if line.strip()}
    with open(f"{root}/records.jsonl") as f:
        records = [json.loads(line) for line in f if line.strip()]
    base_records = [r for i, r in enumerate(records) if i not in query_rows]
    if len(base_records) != len(base):
        sys.exit(f"{len(base_records)} base records but {len(base)} base vectors")
    out = sys.stdout
    for record, vector in zip(base_records, base):
        payload = {k: record.get(k) for k in ("title", "category", "path", "content")}
        out.write(json.dumps({"id": record["id"], "vector": vector, "payload": payload}))
        out.write("\n")


if __name__ == "__main__":
    main()
