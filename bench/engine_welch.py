#!/usr/bin/env python3
"""Welch t-tests between the two engines of experiments/torch-reference.yaml, point by point.

Reads `sweep plan --json` on standard input (the same overrides as the run), pairs each point of
the `torch` group with the `mtl_engine` point of the same config (data_root and seed aside),
takes every task metric from the runs' metrics.json in the workspace, and prints per point and
task: the values by seed, mean and sample std per engine, the difference torch - mtl-engine,
Welch's t, its degrees of freedom and the two-sided p-value (unpaired: the engines draw different
random numbers at the same seed). For a multi-task point it also prints Δm against the
`mtl_engine` group's single-task full fine-tuning (mean over its seeds, as `sweep report`).

    sweep plan experiments/torch-reference.yaml --json | bench/engine_welch.py --workspace .sweep

Not part of the product; needs scipy for the p-value (numbers without it).
"""
import argparse
import json
import math
import os
import statistics
import sys

LOWER = {"normals"}


def welch(a, b):
    ma, mb, va, vb = statistics.mean(a), statistics.mean(b), statistics.variance(a), statistics.variance(b)
    se2 = va / len(a) + vb / len(b)
    if se2 == 0:
        return float("nan"), float("nan"), float("nan")
    t = (ma - mb) / math.sqrt(se2)
    df = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    try:
        from scipy.stats import t as student
        p = 2 * student.sf(abs(t), df)
    except ImportError:
        p = float("nan")
    return t, df, p


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default=".sweep")
    args = parser.parse_args()
    plan = json.load(sys.stdin)
    points = {}
    for run in plan["runs"]:
        path = os.path.join(args.workspace, "runs", run["id"], "metrics.json")
        if run["group"] not in ("torch", "mtl_engine") or not os.path.isfile(path):
            continue
        config = {k: v for k, v in run["config"].items() if k not in ("data_root", "seed")}
        with open(path) as handle:
            tasks = {t: v["value"] for t, v in json.load(handle)["tasks"].items()}
        key = json.dumps(config, sort_keys=True)
        points.setdefault(key, {}).setdefault(run["group"], []).append((run["seed"], run["id"], tasks))
    # The single-task full fine-tuning reference of each task, mtl-engine's (Δm).
    reference = {}
    for key, engines in points.items():
        config = json.loads(key)
        if config.get("kind") == "single_task" and "method" not in config:
            runs = engines.get("mtl_engine", [])
            if runs:
                reference[config["task"]] = statistics.mean(r[2][config["task"]] for r in runs)

    def delta_m(tasks):
        if any(t not in reference for t in tasks):
            return None
        return 100 * statistics.mean((-1 if t in LOWER else 1) * (tasks[t] - reference[t]) / reference[t] for t in tasks)

    for key, engines in points.items():
        if len(engines) < 2:
            continue
        config = json.loads(key)
        label = ", ".join(f"{k} {v}" for k, v in config.items() if k not in ("backbone", "backbone_weights", "dataset"))
        print(f"## {label}")
        columns = sorted(engines["torch"][0][2])
        if len(columns) > 1:
            columns.append("delta_m")
        for column in columns:
            values = {}
            for engine in ("mtl_engine", "torch"):
                runs = sorted(engines[engine])
                values[engine] = [delta_m(r[2]) if column == "delta_m" else r[2][column] for r in runs]
                if None in values[engine]:
                    break
                seeds = ", ".join(f"s{r[0]} {v:.2f} ({r[1]})" for r, v in zip(runs, values[engine]))
                spread = f" ± {statistics.stdev(values[engine]):.2f}" if len(runs) > 1 else ""
                print(f"  {column:12} {engine:10} {statistics.mean(values[engine]):7.2f}{spread}   {seeds}")
            else:
                a, b = values["torch"], values["mtl_engine"]
                if len(a) > 1 and len(b) > 1:
                    t, df, p = welch(a, b)
                    print(f"  {column:12} torch - mtl-engine {statistics.mean(a) - statistics.mean(b):+.2f}"
                          f"   Welch t {t:.2f}, {df:.1f} df, p {p:.3f}")


if __name__ == "__main__":
    main()
