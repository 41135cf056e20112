#!/usr/bin/env python3
"""se_e2_a's work-group layout in one kernel against the split layout (the fitting net as its own kernel
over atoms of one species), in one process, alternating round by round: ``DeepPot.eval`` end to end.

    python3 benchmarks/split_ab.py --device cuda:0 --sizes 2048,131072 --models cuag=tests/data/cuag/model.h5 \
        --precisions float64,float32 --rounds 3 --repeats 5 --output split_ab.json

The layouts run on the same evaluator (same compiled kernels, same buffers); ``fused`` keeps the group
layout in one kernel at every size (``split_from`` past the size), ``split`` forces the three kernels and
``split:L`` runs the fitting kernel on L lanes.  Prints the medians per (model, precision, size, layout),
their ratio to the first layout, and the largest difference of the energies and forces from it (the
same sums in the same order where the fitting kernel has the group's lanes: 0 expected).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_timing import alloy_structure  # noqa: E402

import dpsycl  # noqa: E402
from dpsycl_bench.machine import machine_info  # noqa: E402

def use_layout(pot, layout: str) -> None:
    """"fused", "split", or "split:L" (the fitting kernel on L lanes)."""
    ev = pot.evaluator
    ev.layout = "group" if layout == "fused" else "split"
    ev.passes.split_from = 1 << 62
    ev.passes.fit_lanes = int(layout.split(":")[1]) if ":" in layout else None


def timed_evals(pot, pos, cell, atype, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pot.eval(pos[None], cell[None], atype)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--models", default="cuag=tests/data/cuag/model.h5", help="label=path,...")
    ap.add_argument("--precisions", default="float64")
    ap.add_argument("--sizes", default="2048,131072")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--layouts", default="fused,split", help="fused, split, split:L (fitting kernel on L lanes)")
    ap.add_argument("--output", default="")
    args = ap.parse_args()
    rows = []
    layouts = args.layouts.split(",")
    for spec in args.models.split(","):
        label, path = spec.split("=", 1)
        for precision in args.precisions.split(","):
            pot = dpsycl.DeepPot(path, device=args.device, precision=precision)
            for natoms in map(int, args.sizes.split(",")):
                pos, cell, atype = alloy_structure(natoms)
                results, times = {}, {lay: [] for lay in layouts}
                for lay in layouts:          # warm-up: compile, buffers
                    use_layout(pot, lay)
                    e, f, _ = pot.eval(pos[None], cell[None], atype)[:3]
                    results[lay] = (np.asarray(e).ravel(), np.asarray(f).ravel())
                for r in range(args.rounds):
                    for lay in (layouts if r % 2 == 0 else layouts[::-1]):
                        use_layout(pot, lay)
                        times[lay] += timed_evals(pot, pos, cell, atype, args.repeats)
                med = {lay: statistics.median(t) for lay, t in times.items()}
                first = layouts[0]
                row = dict(model=label, precision=precision, natoms=natoms, ms=med,
                           us_per_step_atom={lay: m * 1e3 / natoms for lay, m in med.items()},
                           over_first={lay: med[lay] / med[first] for lay in layouts}, rounds=times,
                           dE={lay: float(np.abs(results[lay][0] - results[first][0]).max()) for lay in layouts},
                           dF={lay: float(np.abs(results[lay][1] - results[first][1]).max()) for lay in layouts})
                rows.append(row)
                print(f"{label:12s} {precision:8s} {natoms:8d}  " + "  ".join(
                    f"{lay} {med[lay]:8.3f} ms ({row['us_per_step_atom'][lay]:.3f} µs, ×{row['over_first'][lay]:.3f}, "
                    f"dE {row['dE'][lay]:.0e} dF {row['dF'][lay]:.0e})" for lay in layouts), flush=True)
            del pot
    if args.output:
        Path(args.output).write_text(json.dumps(dict(machine=machine_info(), device=args.device, rows=rows), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
