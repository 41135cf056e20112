"""The fitting net by dense products on a GPU (dpsycl/fitting_rows.py): DeepPot.eval's time for each rows-per-block
and lanes-per-row setting, and for the fitting kernels (products off), alternated in rounds in one process.

    python3 -P benchmarks/gpu_products_sweep.py --model M --natoms 131072 --precision float64 \
        --blocks 8192,16384,32768,131072 --lanes 32,64,128 --rounds 3 --repeats 5 --output sweep.json

Every setting's energy and forces are compared with the kernels' (max |ΔE|/atom, max |ΔF|).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))     # python3 -P does not put the script's folder first

import dpsycl  # noqa: E402
from gpu_smoke import alloy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tests/data/cuag/model.h5")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--natoms", type=int, default=131072)
    ap.add_argument("--precision", default="float64")
    ap.add_argument("--blocks", default="16384")
    ap.add_argument("--lanes", default="64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    dp = dpsycl.DeepPot(args.model, device=args.device, precision=args.precision)
    ev = dp.evaluator
    rows = ev.passes.fitting_rows
    n_cells = round((args.natoms / 4) ** (1 / 3))
    x, cell, atype = alloy(n_cells)
    coords, cells = x.reshape(1, -1), np.asarray(cell).reshape(1, 9)
    settings = [("kernels", None, None)] + [(f"products b{b} l{lanes}", int(b), int(lanes))
                                            for b in args.blocks.split(",") for lanes in args.lanes.split(",")]

    def apply(block, lanes):
        if rows is None:
            return
        rows.enabled = block is not None
        if block is not None:
            rows.row_block, rows.lanes = block, lanes
    results = {name: [] for name, _, _ in settings}
    outputs = {}
    for name, block, lanes in settings:          # compile every setting's kernels, keep its results
        apply(block, lanes)
        outputs[name] = dp.eval(coords, cells, atype)
    for _ in range(args.rounds):
        for name, block, lanes in settings:
            apply(block, lanes)
            dp.eval(coords, cells, atype)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                dp.eval(coords, cells, atype)
                times.append(time.perf_counter() - t0)
            results[name].append(statistics.median(times) * 1e3)
    base = outputs["kernels"]
    report = {"device": dp.evaluator.backend.describe(), "model": args.model, "natoms": len(atype),
              "precision": args.precision, "settings": {}}
    for name, _, _ in settings:
        e, f = outputs[name][0], outputs[name][1]
        row = {"ms_rounds": results[name], "ms": statistics.median(results[name]),
               "dE_per_atom": float(np.abs(e - base[0]).max() / len(atype)), "dF": float(np.abs(f - base[1]).max())}
        report["settings"][name] = row
        print(f"{name:28s} {row['ms']:8.2f} ms  rounds {' '.join(f'{t:.2f}' for t in results[name])}  "
              f"dE/atom {row['dE_per_atom']:.1e} dF {row['dF']:.1e}", flush=True)
    with open(args.output, "w") as fh:
        json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
