#!/usr/bin/env python3
"""Device-to-host and host-to-device copy times through numba-cuda, pageable against pinned host memory,
at the sizes of one evaluation's results (3·N and 13·N float64 values at N = 131,072), and two NumPy
reductions the host does on them.  Medians of 20, each between two synchronisations.

    python3 -P benchmarks/gpu_copy_probe.py OUT.json
"""
import json
import sys
import time

import numpy as np
from numba import cuda


def median_ms(fn, reps: int = 20) -> float:
    times = []
    for _ in range(reps):
        cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def main() -> int:
    res = {}
    for n in (131072 * 3, 131072 * 13):
        d = cuda.to_device(np.random.rand(n))
        reuse = np.empty(n)
        pinned = cuda.pinned_array(n)
        res[n] = {
            "fresh_pageable": median_ms(lambda: d.copy_to_host(np.empty(n))),
            "reused_pageable": median_ms(lambda: d.copy_to_host(reuse)),
            "pinned": median_ms(lambda: d.copy_to_host(pinned)),
            "pinned_then_copy_fresh": median_ms(lambda: (d.copy_to_host(pinned), pinned.copy())),
            "h2d_pageable": median_ms(lambda: d.copy_to_device(reuse)),
            "h2d_pinned": median_ms(lambda: d.copy_to_device(pinned)),
            "np_sum_9cols": median_ms(lambda: reuse[: (n // 13) * 9].reshape(-1, 9).sum(axis=0)),
            "np_isfinite_sum": median_ms(lambda: np.isfinite(np.sum(reuse))),
        }
        print(f"{n * 8 / 2**20:.1f} MiB", {k: round(v, 3) for k, v in res[n].items()}, flush=True)
    with open(sys.argv[1], "w") as fh:
        json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
