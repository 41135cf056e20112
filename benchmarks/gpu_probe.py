"""Where the time of one evaluation goes on a GPU: DeepPot.eval end to end, and the neighbour build
and the compute timed apart (each synchronised), for one tree (the staged package on PYTHONPATH).

    python3 benchmarks/gpu_probe.py MODEL.h5 cuda:0 2048 131072
"""
import os
import sys
import time

import numpy as np

import dpsycl

model, device, sizes = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:]]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ab_timing import alloy_structure  # noqa: E402


dp = dpsycl.DeepPot(model, device=device)
ev, b = dp.evaluator, dp.evaluator.backend
for n in sizes:
    x, cell, atype = alloy_structure(n)
    args = (x.reshape(1, -1), cell.reshape(1, 9), atype)
    dp.eval(*args)
    ends = []
    for _ in range(7):
        t = time.perf_counter()
        dp.eval(*args)
        ends.append(time.perf_counter() - t)
    pos = b.asarray(x.ravel(), ev.dtype)
    at = b.asarray(atype, np.int64)
    builds, computes = [], []
    out = None
    for _ in range(7):
        b.synchronize()
        t0 = time.perf_counter()
        nb = ev.build_neighbors(pos, at, cell, warn=False)
        b.synchronize()
        t1 = time.perf_counter()
        out = ev.compute(pos, at, cell, nb, out)
        b.synchronize()
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        computes.append(t2 - t1)
    med = lambda v: sorted(v)[len(v) // 2] * 1e3  # noqa: E731
    print(f"N={n:8d}  eval {med(ends):8.3f} ms   build {med(builds):8.3f} ms   compute {med(computes):8.3f} ms", flush=True)
