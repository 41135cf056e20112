"""Sweep of slot chunks per atom (work-items per atom) on one device: time of compute() per size.

Prediction (benchmarks/NOTES.md): at N=2048 one work-item per atom fills 16 of 132 H100 SMs;
8-32 chunks per atom should fill the chip and cut the evaluation time several-fold; at N≥131k
one chunk already fills it and more chunks only add partial-T traffic.
"""
import sys

import numpy as np

import dpsycl
from gpu_smoke import alloy, timed


model, device = sys.argv[1], sys.argv[2]
dp = dpsycl.DeepPot(model, device=device)
ev = dp.evaluator
b = ev.backend
print(dp.describe_device(), "parallel_width", b.parallel_width, flush=True)
for n_cells in map(int, sys.argv[3:]):
    x, cell, at = alloy(n_cells)
    pos = b.asarray(x, ev.dtype)
    atd = b.asarray(at, np.int64)
    nb = ev.build_neighbors(pos, atd, cell)
    b.synchronize()
    t_build = timed(lambda: (ev.build_neighbors(pos, atd, cell), b.synchronize()), 3)
    row = [f"N={len(x):8d} build {t_build * 1e3:8.2f} ms"]
    for S in (1, 2, 4, 8, 16, 32):
        if len(x) * S > 4_200_000:
            continue
        ev.chunks = S
        out = {}
        t = timed(lambda: (ev.compute(pos, atd, cell, nb, out), b.synchronize()))
        row.append(f"S={S}:{t * 1e3:.2f}ms")
    ev.chunks = None
    row.append(f"auto S={ev.chunks_for(len(x))}")
    print("  ".join(row), flush=True)
