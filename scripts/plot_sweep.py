#!/usr/bin/env python3
"""Plots a `qvdb-bench sweep --json` file with gnuplot, Pareto fronts marked.

Usage: scripts/plot_sweep.py sweep.json OUT_DIR [--name NAME]

Writes, for NAME (default: the dataset's first word):
  sweep_NAME_qps_tT_bB.png  recall@10 against QPS (log x), one per
                            (threads, batch) pair in the sweep
  sweep_NAME_bytes.png      recall@10 against RAM bytes per vector (log x)
One series per system and index; the Pareto front (points no other point
beats on both axes) is the dashed black line through circled points.
gnuplot (gnuplot-nox) is already a dependency, so no new package is needed.
"""
import argparse
import json
import os
import re
import subprocess
import tempfile


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000080", "#808000"]


def pareto(points, better_x):
    """Points (x, y) not dominated: y higher and x better (see better_x)."""
    front = []
    for p in points:
        dominated = any(
            q is not p and q[1] >= p[1] and better_x(q[0], p[0]) and
            (q[1] > p[1] or q[0] != p[0]) for q in points)
        if not dominated:
            front.append(p)
    return sorted(set(front))


def series_name(p):
    """One curve per index and refine factor; nprobe or ef moves along it."""
    name = p["label"]
    if p["system"].startswith("qvdb"):
        name = f'{p["system"]} {name}'
    if p.get("refine_factor") is not None:
        name += f' refine x{p["refine_factor"]}'
    return name


def knob_text(p):
    if p.get("nprobe") is not None:
        return f'np{p["nprobe"]}'
    if p.get("ef") is not None:
        return f'ef{p["ef"]}'
    return ""


def plot(png, title, xlabel, series, front, log_base, label_points=False):
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for name, pts in series:
            for x, y, text in pts:
                f.write(f'{x} {y} "{text}"\n')
            f.write("\n\n")
        for x, y in front:
            f.write(f"{x} {y}\n")
        data = f.name
    plots = []
    for i, (name, _) in enumerate(series):
        title_text = name.replace("'", "")
        plots.append(f"'{data}' index {i} using 1:2 with linespoints "
                     f"lc rgb '{COLORS[i % len(COLORS)]}' pt {5 + (i % 6)} "
                     f"ps 1.0 title '{title_text}'")
        if label_points:
            plots.append(f"'{data}' index {i} using 1:2:3 with labels "
                         "offset 0,0.7 font ',7' notitle")
    plots.append(f"'{data}' index {len(series)} using 1:2 with linespoints "
                 "dt 2 lc rgb 'black' pt 6 ps 2.2 title 'Pareto front'")
    script = f"""
set terminal pngcairo size 1000,900 font ',10' noenhanced
set output '{png}'
set title '{title}'
set xlabel '{xlabel}'
set ylabel 'recall@10'
set logscale x {log_base}
set offsets graph 0.05, graph 0.05, 0.02, 0.02
set yrange [*:1.02]
set grid
set key below left vertical maxcols 2 font ',8'
plot {", ".join(plots)}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.unlink(data)
    print(png)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("out_dir")
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    doc = json.load(open(args.json))
    ds = doc["dataset"]
    name = args.name or re.sub(r"\W", "_", ds["name"].split(" (")[0])
    synthetic = " [SYNTHETIC data]" if ds.get("generated") else ""
    where = (f'{ds["name"].split(" (")[0]}{synthetic}: {ds["n"]} x {ds["dim"]}, '
             f'{ds["queries"]} queries, k {doc["k"]}, '
             f'{doc["machine"]["cores"]} cores')
    points = doc["points"]
    os.makedirs(args.out_dir, exist_ok=True)

    combos = sorted({(p["threads"], p["batch"]) for p in points})
    for threads, batch in combos:
        chosen = [p for p in points
                  if p["threads"] == threads and p["batch"] == batch]
        series = {}
        for p in chosen:
            series.setdefault(series_name(p), []).append(
                (p["qps"], p["recall_at_10"], knob_text(p)))
        front = pareto([(p["qps"], p["recall_at_10"]) for p in chosen],
                       lambda a, b: a >= b)
        calls = "one query per call" if batch == 1 else f"{batch} per call"
        plot(os.path.join(args.out_dir,
                          f"sweep_{name}_qps_t{threads}_b{batch}.png"),
             f"{where}; {threads} thread(s), {calls}",
             "queries per second (log scale)",
             sorted(series.items()), front, 10, label_points=True)

    # Bytes do not depend on threads or batch: one combination suffices.
    threads, batch = combos[0]
    chosen = [p for p in points
              if p["threads"] == threads and p["batch"] == batch]
    series = {}
    for p in chosen:
        series.setdefault(series_name(p), []).append(
            (p["ram_bytes_per_vector"], p["recall_at_10"], knob_text(p)))
    front = pareto([(p["ram_bytes_per_vector"], p["recall_at_10"])
                    for p in chosen], lambda a, b: a <= b)
    plot(os.path.join(args.out_dir, f"sweep_{name}_bytes.png"),
         f"{where}; every knob setting",
         "bytes per vector in RAM (log scale)", sorted(series.items()),
         front, 2)


if __name__ == "__main__":
    main()
