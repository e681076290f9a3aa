#!/usr/bin/env python3
"""Plots recall@10 against bytes per vector from `qvdb-bench codecs --json`.

Usage: scripts/plot_codecs.py codecs.json docs/img/  (needs gnuplot)
Writes one PNG per dataset: codecs_<dataset>.png.
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    rows = json.load(open(sys.argv[1]))
    out_dir = sys.argv[2]
    by_dataset = {}
    for r in rows:
        by_dataset.setdefault(r["dataset"].split(" ")[0], []).append(r)
    for name, points in by_dataset.items():
        with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
            for p in points:
                f.write(f'{p["bytes_per_vector"]} {p["recall_at_10"]} "{p["spec"]}"\n')
            data = f.name
        png = os.path.join(out_dir, f"codecs_{name}.png")
        script = f"""
set terminal pngcairo size 900,600 font ',10' noenhanced
set output '{png}'
set title 'qvdb codecs on {name}: recall@10 of exact search on the codes'
set xlabel 'bytes per vector (log scale)'
set ylabel 'recall@10'
set logscale x 2
set xrange [*:3072]
set offsets 0, 0, 0.03, 0
set grid
set key off
plot '{data}' using 1:2 with points pt 7 ps 1.2, \\
     '' using 1:2:3 with labels offset 0,1 font ',8'
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        os.unlink(data)
        print(png)


if __name__ == "__main__":
    main()
