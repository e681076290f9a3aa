// LanceDB's filtered search on the data filter_bench.py exported (issue 13):
// the same rows, fields, per-query filters and exact filtered ground truth,
// so recall and QPS compare with qvdb's table in docs/benchmarks.md.
//
// @lancedb/lancedb 0.31.0 (pinned), embedded: IVF_PQ on the vectors (or
// IVF_RQ, RaBitQ), a BITMAP index on `kw` and BTREE indexes on `num` and
// `region`, LanceDB's default pre-filtering. QPS is one query at a time
// from one async caller, so it includes LanceDB's per-call Node/Arrow
// overhead (measured below as `per_call_overhead_us`: a 1-row scalar query
// with no vector work).
//
// Install (git-ignored folder), export the data, then run from the
// repository root:
//   (mkdir -p build/lancedb && cd build/lancedb &&
//    npm i -E @lancedb/lancedb@0.31.0)
//   PYTHONPATH=client/python python3 client/python/bench/filter_bench.py \
//       --server ... --export /tmp/filter_export ...
//   node bench/lancedb_filter_bench.mjs /tmp/filter_export IVF_PQ 1024 16 8:4,32:10
// Args: export dir, index (IVF_PQ | IVF_RQ), partitions, PQ sub-vectors (or
// RQ bits), and the search settings to run on the one build, each
// nprobes:refine_factor. Prints a markdown table and one JSON line each.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.resolve("build/lancedb/package.json"));
const lancedb = require("@lancedb/lancedb");

const [dir, kind = "IVF_PQ", partitions = "1024", param = "16",
       settings = "8:4"] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node bench/lancedb_filter_bench.mjs EXPORT_DIR " +
                "[IVF_PQ|IVF_RQ] [partitions] [subvectors|bits] [nprobes:refine,...]");
  process.exit(2);
}
const meta = JSON.parse(fs.readFileSync(path.join(dir, "cases.json"), "utf8"));
const { n, dim, k } = meta;
const read = (file, Type) => {
  const b = fs.readFileSync(path.join(dir, file));
  return new Type(b.buffer, b.byteOffset, b.byteLength / Type.BYTES_PER_ELEMENT);
};
const base = read("base.f32", Float32Array);
const queries = read("queries.f32", Float32Array);
const kw = read("kw.i32", Int32Array);
const num = read("num.i64", BigInt64Array);
const region = read("region.i64", BigInt64Array);

// qvdb's text form to LanceDB's SQL: 'strings' and IN.
const toSql = (f) => f && f.replaceAll('"', "'").replace(/ in \(/g, " IN (");

const progress = (what, done, total) =>
  process.stderr.write(`\r${what} ${done.toLocaleString()} / ${total.toLocaleString()}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "qvdb-lancedb-filter-"));
const db = await lancedb.connect(tmp);
const t0 = process.hrtime.bigint();
let table;
const batch = 20000;
for (let s = 0; s < n; s += batch) {
  const rows = [];
  for (let i = s; i < Math.min(n, s + batch); i++) {
    rows.push({ id: i, vector: Array.from(base.subarray(i * dim, (i + 1) * dim)),
                kw: `v${kw[i]}`, num: Number(num[i]), region: Number(region[i]) });
  }
  if (table) await table.add(rows);
  else table = await db.createTable("t", rows);
  progress("load", Math.min(n, s + batch), n);
}
process.stderr.write("\n");
const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
const t1 = process.hrtime.bigint();
const config = kind === "IVF_RQ"
  ? lancedb.Index.ivfRq({ numPartitions: Number(partitions), numBits: Number(param),
                          distanceType: "l2" })
  : lancedb.Index.ivfPq({ numPartitions: Number(partitions), numSubVectors: Number(param),
                          distanceType: "l2" });
await table.createIndex("vector", { config });
await table.createIndex("kw", { config: lancedb.Index.bitmap() });
await table.createIndex("num", { config: lancedb.Index.btree() });
await table.createIndex("region", { config: lancedb.Index.btree() });
const indexS = Number(process.hrtime.bigint() - t1) / 1e9;
const du = (p) => fs.readdirSync(p, { withFileTypes: true, recursive: true })
  .filter((e) => e.isFile())
  .reduce((a, e) => a + fs.statSync(path.join(e.parentPath ?? e.path, e.name)).size, 0);
const diskBytes = du(tmp);

const nq = meta.queries;
let nprobes = 0, refine = 0;
const query = (q, where) => {
  let b = table.search(Array.from(queries.subarray(q * dim, (q + 1) * dim)))
    .distanceType("l2").nprobes(Number(nprobes)).limit(k).select(["id"]);
  if (kind === "IVF_PQ" && Number(refine) > 1) b = b.refineFactor(Number(refine));
  if (where) b = b.where(where);
  return b.toArray();
};
// Per-call overhead: a scalar lookup of one row by its BTREE index.
const overhead = [];
for (let i = 0; i < 200; i++) {
  const t = process.hrtime.bigint();
  await table.query().where(`num = ${i}`).select(["id"]).limit(1).toArray();
  overhead.push(Number(process.hrtime.bigint() - t) / 1e3);
}
overhead.sort((a, b) => a - b);

for (const setting of settings.split(",")) {
  [nprobes, refine] = setting.split(":").map(Number);
  const results = [];
  for (const c of meta.cases) {
    const filters = c.filters.map(toSql);
    for (let i = 0; i < Math.min(10, nq); i++) await query(i, filters[i]);  // warm-up
    const lat = [];
    let hits = 0, want = 0;
    const tc = process.hrtime.bigint();
    for (let q = 0; q < nq; q++) {
      const t = process.hrtime.bigint();
      const rows = await query(q, filters[q]);
      lat.push(Number(process.hrtime.bigint() - t) / 1e3);
      const truth = new Set(c.gt[q]);
      want += truth.size;
      for (const r of rows) hits += truth.has(Number(r.id)) ? 1 : 0;
    }
    const s = Number(process.hrtime.bigint() - tc) / 1e9;
    lat.sort((a, b) => a - b);
    results.push({ filter: c.name, target: c.target, rows_passing: c.rows_passing,
                   recall: want ? hits / want : 1, qps: nq / s,
                   p50_us: lat[Math.floor(nq / 2)], p99_us: lat[Math.floor(nq * 0.99)] });
    progress("filters", results.length, meta.cases.length);
  }
  process.stderr.write("\n");

  console.log(`LanceDB 0.31.0 ${kind} partitions ${partitions} ` +
              `${kind === "IVF_PQ" ? "sub-vectors" : "bits"} ${param}, nprobes ${nprobes}` +
              `${kind === "IVF_PQ" ? `, refine factor ${refine}` : ""}; ${n.toLocaleString()} x ${dim}; ` +
              `load ${loadS.toFixed(1)} s, indexes ${indexS.toFixed(1)} s, ` +
              `disk ${(diskBytes / n).toFixed(1)} B/vector; per-call overhead p50 ` +
              `${overhead[100].toFixed(0)} us`);
  console.log("");
  console.log("| filter | selectivity | R@10 | QPS b1 | p50 us | p99 us |");
  console.log("|---|---|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(`| \`${r.filter}\` | ${r.target} | ${r.recall.toFixed(3)} | ` +
                `${r.qps.toFixed(0)} | ${r.p50_us.toFixed(0)} | ${r.p99_us.toFixed(0)} |`);
  }
  console.log(JSON.stringify({ engine: "lancedb@0.31.0", kind, partitions: Number(partitions),
                               param: Number(param), nprobes: Number(nprobes),
                               refine: Number(refine), n, dim, load_s: loadS, index_s: indexS,
                               disk_bytes_per_vector: diskBytes / n,
                               per_call_overhead_p50_us: overhead[100], results }));
}
fs.rmSync(tmp, { recursive: true, force: true });
