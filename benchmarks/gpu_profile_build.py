"""Where the neighbour-list build spends its time at small N (host-side profile, cuda:0)."""
import cProfile
import pstats
import sys
import time

import numpy as np

import dpsycl
from gpu_smoke import alloy

dp = dpsycl.DeepPot(sys.argv[1], device="cuda:0")
ev, b = dp._evaluator, dp.backend
x, cell, at = alloy(8)
pos = b.asarray(x, ev.dtype)
atd = b.asarray(at, np.int64)
for _ in range(3):
    nb = ev.build_neighbors(pos, atd, cell, 6.0)
b.synchronize()
phases = {}
for _ in range(20):
    t0 = time.perf_counter()
    nb = ev.build_neighbors(pos, atd, cell, 6.0)
    b.synchronize()
    phases.setdefault("build", []).append(time.perf_counter() - t0)
print("build median %.2f ms" % (np.median(phases["build"]) * 1e3))
prof = cProfile.Profile()
prof.enable()
for _ in range(20):
    ev.build_neighbors(pos, atd, cell, 6.0)
b.synchronize()
prof.disable()
pstats.Stats(prof).sort_stats("tottime").print_stats(14)
