"""Where DeepPot.eval and the neighbour-list build spend host time at small N (cuda:0).

    python3 gpu_profile.py MODEL [REPEATS_OF_8_CELLS]      (from benchmarks/, as gpu_smoke.py is)

Prints the medians of DeepPot.eval end to end (host arrays in and out, the call the benchmark
times), of the build alone and of the evaluation alone, then cProfile's top entries by own time.
"""
import cProfile
import pstats
import sys
import time

import numpy as np

import dpsycl
from gpu_smoke import alloy

dp = dpsycl.DeepPot(sys.argv[1], device="cuda:0")
ev = dp.evaluator
b = ev.backend
x, cell, at = alloy(int(sys.argv[2]) if len(sys.argv) > 2 else 8)
print(f"{len(at)} atoms, {dp.device}")
pos = b.asarray(x, ev.dtype)
atd = b.asarray(at, np.int64)
xs, cs = x[None], cell.reshape(1, 9)


def timed(fn, n=30):
    for _ in range(3):
        fn()
    b.synchronize()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        b.synchronize()
        ts.append(time.perf_counter() - t0)
    return np.median(ts) * 1e3


nb = ev.build_neighbors(pos, atd, cell)
print("eval end to end %.2f ms | build %.2f ms | compute %.2f ms" % (
    timed(lambda: dp.eval(xs, cs, at)), timed(lambda: ev.build_neighbors(pos, atd, cell)),
    timed(lambda: ev.compute(pos, atd, cell, nb))))
prof = cProfile.Profile()
prof.enable()
for _ in range(30):
    dp.eval(xs, cs, at)
prof.disable()
pstats.Stats(prof).sort_stats("tottime").print_stats(18)
