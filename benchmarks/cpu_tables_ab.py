"""Compressed se_e2_a on opencl:cpu: the table kernels (device_kernels/se_e2_a_tables.py) against the
chunk kernels they replace, in ONE process, alternating evaluation by evaluation round.

The 2-core VMs this project measures on drift by 20–25% within the hour and between processes
(benchmarks/NOTES.md, session 14), more than the change measured here; two potentials of one
process, timed in alternating rounds, see the same drift.

    python benchmarks/cpu_tables_ab.py compressed.h5 --natoms 2048 --rounds 8 --output out.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from ab_timing import alloy_structure  # noqa: E402
from dpsycl_bench.machine import machine_info  # noqa: E402

import dpsycl  # noqa: E402
from dpsycl.descriptors.se_e2_a import device as se_e2_a_device  # noqa: E402


def potentials(model: str):
    """(table kernels, chunk kernels): the second with the channel-minor copy withheld."""
    tables = dpsycl.DeepPot(model, device="opencl:cpu")
    if tables.evaluator.passes.tab_minor is None:
        raise SystemExit("this model or device does not run the table kernels")
    build = se_e2_a_device.SeE2ADevice.__init__

    def without_tables(self, *args, **kwargs):
        build(self, *args, **kwargs)
        self.tab_minor = None
    se_e2_a_device.SeE2ADevice.__init__ = without_tables
    try:
        chunk = dpsycl.DeepPot(model, device="opencl:cpu")
    finally:
        se_e2_a_device.SeE2ADevice.__init__ = build
    return tables, chunk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--natoms", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output")
    args = ap.parse_args()
    coords, cell, atype = alloy_structure(args.natoms)
    pots = dict(zip(("tables", "chunk"), potentials(args.model)))
    out = {name: dp.eval(coords[None], cell[None], atype) for name, dp in pots.items()}
    dev = {"energy_per_atom": float(np.abs(out["tables"][0] - out["chunk"][0]).max() / args.natoms),
           "force": float(np.abs(out["tables"][1] - out["chunk"][1]).max())}
    times = {name: [] for name in pots}
    cpu = {name: [] for name in pots}      # process CPU time: the hypervisor's steal does not count
    order = list(pots)
    for r in range(args.rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            for _ in range(args.repeats):
                t, c = time.perf_counter(), time.process_time()
                pots[name].eval(coords[None], cell[None], atype)
                times[name].append((time.perf_counter() - t) * 1e3)
                cpu[name].append((time.process_time() - c) * 1e3)
    med = {name: statistics.median(v) for name, v in times.items()}
    cpu_med = {name: statistics.median(v) for name, v in cpu.items()}
    result = {"machine": machine_info(), "model": args.model, "natoms": args.natoms, "rounds": args.rounds,
              "repeats": args.repeats, "ms_median": med, "ms_min": {k: min(v) for k, v in times.items()},
              "ms_all": times, "tables_over_chunk": med["tables"] / med["chunk"],
              "cpu_ms_median": cpu_med, "cpu_tables_over_chunk": cpu_med["tables"] / cpu_med["chunk"], "deviation": dev}
    print(f"N={args.natoms}: table kernels {med['tables']:.1f} ms, chunk kernels {med['chunk']:.1f} ms "
          f"(ratio {result['tables_over_chunk']:.3f}; process CPU time {result['cpu_tables_over_chunk']:.3f}); "
          f"|dE|/atom {dev['energy_per_atom']:.1e}, |dF| {dev['force']:.1e}")
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
