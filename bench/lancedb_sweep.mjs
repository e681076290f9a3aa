// The LanceDB subject of `qvdb-bench sweep` (bench/lancedb_subject.h):
// builds one IVF_RQ or IVF_PQ index with @lancedb/lancedb (pinned to 0.31.0
// in build/lancedb) on the sweep's data and searches it at every nprobes
// the sweep asks for. qvdb-bench runs it; run by hand only to debug:
//   node bench/lancedb_sweep.mjs REQUEST.json
// The request (written by qvdb-bench): package_dir, base and queries
// (.fvecs), kind (IVF_RQ | IVF_PQ), param (RQ bits | PQ sub-vectors),
// partitions, distance (l2 | cosine | dot), nprobes [..], callers [..], k,
// min_seconds, out (where the result JSON goes).
//
// Per nprobes: one untimed pass, one query per call, whose ids the sweep
// scores against its own ground truth; then per caller count, `callers`
// async calls in flight until every query ran once and min_seconds passed,
// as the sweep times every other system at batch 1. LanceDB's Node API
// takes one query vector per search, so every figure includes the per-call
// Node/Arrow overhead, measured on its own as a 1-row scan with no vector
// work (`overhead_us`).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const req = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const require = createRequire(path.join(path.resolve(req.package_dir), "package.json"));
const lancedb = require("@lancedb/lancedb");
const version = JSON.parse(fs.readFileSync(path.join(
  path.resolve(req.package_dir), "node_modules", "@lancedb", "lancedb", "package.json"), "utf8")).version;

// .fvecs: per row an int32 dimension, then that many float32 values.
function readFvecs(file) {
  const buf = fs.readFileSync(file);
  const d = buf.readInt32LE(0);
  const rows = buf.length / (4 * (d + 1));
  const out = [];
  for (let i = 0; i < rows; i++) {
    const start = buf.byteOffset + i * 4 * (d + 1) + 4;
    out.push(Array.from(new Float32Array(buf.buffer.slice(start, start + 4 * d))));
  }
  return out;
}

const now = () => process.hrtime.bigint();
const secondsSince = (t) => Number(now() - t) / 1e9;
const usSince = (t) => Number(now() - t) / 1e3;
// Nearest-rank percentile of sorted values (as sweep.cc).
const pct = (s, q) => s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] : 0;
const du = (p) => fs.readdirSync(p, { withFileTypes: true, recursive: true })
  .filter((e) => e.isFile())
  .reduce((a, e) => a + fs.statSync(path.join(e.parentPath ?? e.path, e.name)).size, 0);

const base = readFvecs(req.base);
const queries = readFvecs(req.queries);
const n = base.length, nq = queries.length, k = req.k;
const dbDir = path.join(path.dirname(req.out), "lancedb");
const db = await lancedb.connect(dbDir);

let t = now();
const table = await db.createTable("t", base.map((vector, id) => ({ id, vector })));
const loadS = secondsSince(t);
const config = req.kind === "IVF_RQ"
  ? lancedb.Index.ivfRq({ numPartitions: req.partitions, numBits: req.param,
                          distanceType: req.distance })
  : lancedb.Index.ivfPq({ numPartitions: req.partitions, numSubVectors: req.param,
                          distanceType: req.distance });
t = now();
await table.createIndex("vector", { config });
const indexS = secondsSince(t);
const datasetBytes = du(dbDir);
const indexBytes = du(path.join(dbDir, "t.lance", "_indices"));

const search = (q, nprobes) => table.search(queries[q]).distanceType(req.distance)
  .nprobes(nprobes).limit(k).select(["id", "_distance"]).toArray();

// Per-call overhead: a 1-row scan, no vector work.
const overhead = [];
for (let i = 0; i < 200; i++) {
  t = now();
  await table.query().select(["id"]).limit(1).toArray();
  overhead.push(usSince(t));
}
overhead.sort((a, b) => a - b);

const points = [];
for (const nprobes of req.nprobes) {
  const ids = new Array(nq * k).fill(-1);
  for (let q = 0; q < nq; q++) {
    const rows = await search(q, nprobes);
    rows.forEach((r, j) => { ids[q * k + j] = Number(r.id); });
  }
  for (const callers of req.callers) {
    let next = 0;
    const lat = [];
    const start = now();
    const deadline = start + BigInt(Math.round(req.min_seconds * 1e9));
    const worker = async () => {
      for (;;) {
        const c = next++;
        if (c >= nq && now() >= deadline) return;
        const t0 = now();
        await search(c % nq, nprobes);
        lat.push(usSince(t0));
      }
    };
    await Promise.all(Array.from({ length: callers }, worker));
    const seconds = secondsSince(start);
    lat.sort((a, b) => a - b);
    points.push({ nprobes, callers, qps: lat.length / seconds, calls: lat.length,
                  p50_us: pct(lat, 0.5), p95_us: pct(lat, 0.95), p99_us: pct(lat, 0.99),
                  ids });
  }
}

fs.writeFileSync(req.out, JSON.stringify({
  version, n, dim: base[0].length, queries: nq, k, kind: req.kind, param: req.param,
  partitions: req.partitions, distance: req.distance, load_s: loadS, index_s: indexS,
  dataset_bytes: datasetBytes, index_bytes: indexBytes,
  overhead_us: { p50: pct(overhead, 0.5), p95: pct(overhead, 0.95) }, points,
}));
