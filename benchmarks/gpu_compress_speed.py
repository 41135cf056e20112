"""Compressed against uncompressed on one device, same run: the GPU row of the compression benchmark.

    python3 -P benchmarks/gpu_compress_speed.py UNCOMPRESSED.h5 COMPRESSED.h5 [--device cuda:0]
        [--cells 8,20,32] [--rounds 3] [--repeats 5] [--output out.json]

COMPRESSED.h5 is `dpsycl compress` (or `dpsycl extract` of a `dp compress` graph) of UNCOMPRESSED.h5.
For each size (4·n³ atoms of benchmarks/gpu_smoke.py's fcc Cu–Ag alloy), both models are timed
round-robin (`DeepPot.eval` end to end, host arrays in and out, after a warm-up): per round the
median of --repeats evaluations, reported as the median over rounds, in ms and µs/step/atom; and
the deviation of the compressed from the uncompressed model (the tabulation error: |ΔE|/atom,
max |ΔF|).  NumPy only (runs on the bare GPU image).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from gpu_smoke import alloy  # noqa: E402

import dpsycl  # noqa: E402


def median_ms(dp, x, cell, at, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        dp.eval(x[None], cell.reshape(1, 9), at)
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("uncompressed")
    p.add_argument("compressed")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--cells", default="8,20,32")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--output")
    args = p.parse_args(argv)
    pots = {"uncompressed": dpsycl.DeepPot(args.uncompressed, device=args.device),
            "compressed": dpsycl.DeepPot(args.compressed, device=args.device)}
    rows = []
    for cells in (int(c) for c in args.cells.split(",")):
        x, cell, at = alloy(cells)
        out = {name: dp.eval(x[None], cell.reshape(1, 9), at) for name, dp in pots.items()}   # warm-up
        times: dict = {name: [] for name in pots}
        for _ in range(args.rounds):
            for name, dp in pots.items():
                times[name].append(median_ms(dp, x, cell, at, args.repeats))
        n = len(at)
        row = {"natoms": n}
        for name in pots:
            ms = statistics.median(times[name])
            row[f"{name}_ms"] = ms
            row[f"{name}_us_per_atom"] = 1e3 * ms / n
            row[f"{name}_rounds_ms"] = times[name]
        row["speedup"] = row["uncompressed_ms"] / row["compressed_ms"]
        row["abs_dE_per_atom"] = float(abs(out["compressed"][0] - out["uncompressed"][0]).max() / n)
        row["max_abs_dF"] = float(np.abs(out["compressed"][1] - out["uncompressed"][1]).max())
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if not k.endswith("rounds_ms")}), flush=True)
    result = {"device": pots["compressed"].describe_device(), "models": [args.uncompressed, args.compressed],
              "rows": rows}
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
