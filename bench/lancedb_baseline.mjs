// LanceDB baseline (issue 15): builds IVF_RQ (RaBitQ) or IVF_PQ with
// @lancedb/lancedb 0.31.0 on a qvdb test dataset and reports recall@10 of an
// exact scan of the codes (one partition, nprobes 1, no refine), build time
// and single-query QPS. QPS includes LanceDB's per-call Node/Arrow overhead
// (one async call per query), so it is not comparable to qvdb's kernel QPS.
//
// Install (git-ignored folder), then run from the repository root:
//   (mkdir -p build/lancedb && cd build/lancedb &&
//    npm i -E @lancedb/lancedb@0.31.0)
//   node bench/lancedb_baseline.mjs siftsmall IVF_RQ 1
//   node bench/lancedb_baseline.mjs sap_minilm IVF_PQ 48
// Args: dataset (siftsmall | sap_minilm), index (IVF_RQ | IVF_PQ), and the
// RQ bits per dimension or the PQ sub-vector count. Prints one JSON line;
// its dataset, spec, bytes_per_vector and recall_at_10 are what
// scripts/plot_codecs.py --lancedb reads (bytes_per_vector: the code bytes
// computed as LanceDbCodeBytes in bench/lancedb_subject.h does;
// index_bytes_per_vector: the index files measured, with row ids).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.resolve("build/lancedb/package.json"));
const lancedb = require("@lancedb/lancedb");

// .fvecs / .ivecs: per row an int32 dimension, then that many values.
function readVecs(file, Type) {
  const buf = fs.readFileSync(file);
  const d = buf.readInt32LE(0);
  const rows = buf.length / (4 * (d + 1));
  const out = [];
  for (let i = 0; i < rows; i++) {
    const start = i * 4 * (d + 1) + 4;
    out.push(new Type(buf.buffer.slice(buf.byteOffset + start,
                                       buf.byteOffset + start + 4 * d)));
  }
  return out;
}

const [name = "siftsmall", kind = "IVF_RQ", param = "1"] = process.argv.slice(2);
const dir = path.join("..", "shared", "datasets", name);
const cosine = name === "sap_minilm";
const base = readVecs(path.join(dir, `${name}_base.fvecs`), Float32Array);
const queries = readVecs(path.join(dir, `${name}_query.fvecs`), Float32Array);
const truth = readVecs(path.join(dir, cosine ? `${name}_groundtruth_cos.ivecs`
                                             : `${name}_groundtruth.ivecs`),
                       Int32Array);
const d = base[0].length;
const distanceType = cosine ? "cosine" : "l2";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "qvdb-lancedb-"));
const db = await lancedb.connect(tmp);
const table = await db.createTable(
    "t", base.map((v, id) => ({ id, vector: Array.from(v) })));
const config = kind === "IVF_RQ"
  ? lancedb.Index.ivfRq({ numPartitions: 1, numBits: Number(param),
                          distanceType })
  : lancedb.Index.ivfPq({ numPartitions: 1, numSubVectors: Number(param),
                          distanceType });
const t0 = process.hrtime.bigint();
await table.createIndex("vector", { config });
const buildS = Number(process.hrtime.bigint() - t0) / 1e9;

let hits = 0;
const t1 = process.hrtime.bigint();
for (let q = 0; q < queries.length; q++) {
  const rows = await table.search(Array.from(queries[q])).distanceType(distanceType)
      .nprobes(1).limit(10).toArray();
  const want = new Set(Array.from(truth[q].slice(0, 10)));
  for (const r of rows) hits += want.has(r.id) ? 1 : 0;
}
const searchS = Number(process.hrtime.bigint() - t1) / 1e9;
const du = (p) => fs.readdirSync(p, { withFileTypes: true, recursive: true })
  .filter((e) => e.isFile())
  .reduce((a, e) => a + fs.statSync(path.join(e.parentPath ?? e.path, e.name)).size, 0);
const indexBytes = du(path.join(tmp, "t.lance", "_indices"));
const p = Number(param);
// IVF_RQ: sign bits + (b - 1) extended bits per dimension, float32 add,
// scale and error factors, and at b > 1 the extended code's add and scale.
const codeBytes = kind === "IVF_RQ"
  ? Math.ceil(d / 8) + Math.ceil((p - 1) * d / 8) + (p === 1 ? 12 : 20) : p;
const bytes = kind === "IVF_RQ" ? `${param} bit(s)/dim + factors`
                                : `${param} bytes (PQ${param}x8)`;
console.log(JSON.stringify({
  dataset: name, index: kind, param: p, dim: d,
  spec: `LanceDB ${kind} ${p}`, bytes_per_vector: codeBytes,
  index_bytes_per_vector: indexBytes / base.length,
  recall_at_10: hits / (10 * queries.length), codes: bytes,
  build_s: buildS, qps_single_query_with_node_overhead: queries.length / searchS,
}));
fs.rmSync(tmp, { recursive: true, force: true });
