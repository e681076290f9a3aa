#!/usr/bin/env python3
"""Plots filtered search per filter: qvdb (filter_bench.py --json) against
LanceDB (bench/lancedb_filter_bench.mjs, its JSON lines), with gnuplot.

Usage: scripts/plot_filter.py QVDB.json LANCEDB.jsonl OUT_DIR

Writes OUT_DIR/filter_recall.png (R@10 per filter) and
OUT_DIR/filter_qps.png (single-query QPS per filter, log scale). One series
for qvdb, one per LanceDB search setting.
"""
import json
import os
import subprocess
import sys
import tempfile


def series(qvdb, lancedb):
    """(title, [(filter, recall, qps)]) in qvdb's filter order."""
    out = [(f"qvdb {qvdb['config']['spec']}",
            [(r["filter"], r["recall"], r["qps"]) for r in qvdb["single"]])]
    for run in lancedb:
        title = (f"LanceDB {run['kind']} nprobes {run['nprobes']}"
                 + (f" refine {run['refine']}" if run["kind"] == "IVF_PQ" else ""))
        out.append((title, [(r["filter"], r["recall"], r["qps"]) for r in run["results"]]))
    return out


def plot(data, column, ylabel, logscale, path, tmp):
    names = [f for f, _, _ in data[0][1]]
    files = []
    for i, (_, rows) in enumerate(data):
        by_name = {f: (rc, q) for f, rc, q in rows}
        p = os.path.join(tmp, f"s{i}.dat")
        with open(p, "w") as f:
            for x, name in enumerate(names):
                if name in by_name:
                    f.write(f"{x} {by_name[name][column]}\n")
        files.append(p)
    xtics = ", ".join(f'"{n.replace(chr(34), "")}" {x}' for x, n in enumerate(names))
    plots = ", ".join(f"'{p}' using 1:2 with linespoints lw 2 pt 7 title '{t}'"
                      for p, (t, _) in zip(files, data))
    script = f"""
set terminal pngcairo noenhanced size 1100,560 font ',10'
set output '{path}'
set ylabel '{ylabel}'
set xtics ({xtics}) rotate by 30 right
set grid ytics
set key outside bottom center horizontal
{'set logscale y' if logscale else 'set yrange [0:1.05]'}
plot {plots}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    qvdb = json.load(open(sys.argv[1]))
    lancedb = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
    data = series(qvdb, lancedb)
    os.makedirs(sys.argv[3], exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        plot(data, 0, "recall@10 (exact filtered truth)", False,
             os.path.join(sys.argv[3], "filter_recall.png"), tmp)
        plot(data, 1, "queries/s, one at a time", True,
             os.path.join(sys.argv[3], "filter_qps.png"), tmp)
    print(f"wrote {sys.argv[3]}/filter_recall.png and filter_qps.png")


if __name__ == "__main__":
    main()
