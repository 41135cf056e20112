"""Kernel layouts on one device: per-atom chunks vs one work-group per atom (time of compute()).

Prediction (benchmarks/NOTES.md): the chunked layout is bound by per-thread local-memory traffic
(each work-item carries 4·64 embedding values through dynamically indexed scratch); the work-group
layout keeps one channel per lane in registers and reads layer inputs from shared memory, so it
should be >5x faster at every size on an H100.
"""
import sys

import numpy as np

import dpsycl
from gpu_smoke import alloy, timed


def main():
    model, device = sys.argv[1], sys.argv[2]
    dp = dpsycl.DeepPot(model, device=device)
    ev = dp.evaluator
    b = ev.backend
    print(dp.describe_device(), flush=True)
    for n_cells in map(int, sys.argv[3:]):
        x, cell, at = alloy(n_cells)
        pos = b.asarray(x, ev.dtype)
        atd = b.asarray(at, np.int64)
        nb = ev.build_neighbors(pos, atd, cell)
        t_build = timed(lambda: (ev.build_neighbors(pos, atd, cell), b.synchronize()), 3)
        row = [f"N={len(x):8d} build {t_build * 1e3:8.2f} ms"]
        energies = {}
        for layout in ("chunk", "group"):
            if layout == "chunk" and len(x) > 200_000:
                continue
            ev.layout = layout
            out = {}
            t = timed(lambda: (ev.compute(pos, atd, cell, nb, out), b.synchronize()))
            energies[layout] = float(b.to_host(out["atom_energy"]).sum())
            row.append(f"{layout}: {t * 1e3:9.2f} ms ({t / len(x) * 1e6:6.2f} us/atom)")
        if len(energies) == 2:
            row.append(f"|dE|/N={abs(energies['chunk'] - energies['group']) / len(x):.1e}")
        print("  ".join(row), flush=True)


if __name__ == "__main__":
    main()
