#!/usr/bin/env python3
"""Plots recall@10 against bytes per vector from `qvdb-bench codecs --json`.

Usage: scripts/plot_codecs.py codecs.json docs/img/ [--lancedb lancedb.jsonl]
(needs gnuplot). Writes one PNG per dataset: codecs_<dataset>.png.

--lancedb adds LanceDB's points as a second, labelled series: a JSON list
or JSON lines of {dataset, spec, bytes_per_vector, recall_at_10}, as
bench/lancedb_baseline.mjs prints them (one partition, exact scan).
"""
import argparse
import json
import os
import subprocess
import tempfile


def load_rows(path: str) -> list:
    """Reads a JSON list, or one JSON object per line."""
    text = open(path).read().strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_dataset(rows: list) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r["dataset"].split(" ")[0], []).append(r)
    return out


def write_points(points: list) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for p in points:
            f.write(f'{p["bytes_per_vector"]} {p["recall_at_10"]} "{p["spec"]}"\n')
        return f.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("codecs_json", help="qvdb-bench codecs --json output")
    parser.add_argument("out_dir", help="where the PNGs go")
    parser.add_argument("--lancedb", help="LanceDB points (JSON or JSON lines)")
    args = parser.parse_args()
    qvdb = by_dataset(load_rows(args.codecs_json))
    lance = by_dataset(load_rows(args.lancedb)) if args.lancedb else {}
    for name, points in qvdb.items():
        data = write_points(points)
        plots = [
            f"'{data}' using 1:2 with points pt 7 ps 1.2 lc rgb '#1f77b4' "
            "title 'qvdb codecs'",
            f"'{data}' using 1:2:3 with labels offset 0,1 font ',8' notitle",
        ]
        extra = []
        title = f"qvdb codecs on {name}: recall@10 of exact search on the codes"
        if lance.get(name):
            extra.append(write_points(lance[name]))
            plots += [
                f"'{extra[0]}' using 1:2 with points pt 5 ps 1.3 "
                "lc rgb '#d62728' title 'LanceDB 0.31.0 (1 partition, "
                "exact scan)'",
                f"'{extra[0]}' using 1:2:3 with labels offset 0,-1 "
                "font ',8' tc rgb '#d62728' notitle",
            ]
            title += ", with LanceDB"
        png = os.path.join(args.out_dir, f"codecs_{name}.png")
        script = f"""
set terminal pngcairo size 900,600 font ',10' noenhanced
set output '{png}'
set title '{title}'
set xlabel 'bytes per vector (log scale)'
set ylabel 'recall@10'
set logscale x 2
set xrange [*:3072]
set offsets 0, 0, 0.03, 0
set grid
set key bottom right
plot {", ".join(plots)}
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        for f in [data] + extra:
            os.unlink(f)
        print(png)


if __name__ == "__main__":
    main()
