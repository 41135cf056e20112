#!/usr/bin/env python3
"""Host time of one SYCL kernel launch: dpsycl's launch from its kernel files against numba-dpex's
``call_kernel``, the same trivial kernel (ten 1-D arrays and two scalars, 64 work-items) on opencl:cpu.

    python benchmarks/sycl_launch_overhead.py [--launches 2000]

Each launch waits for its kernel, as both paths do; the kernel's own work is negligible, so the time is
the launch's: argument packing, submission, the wait.  Prints one JSON object (microseconds per launch).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)


def ten_arrays(item, n, a0, a1, a2, a3, a4, a5, a6, a7, x, y, s):
    i = item.get_id(0)
    if i < n:
        y[i] = x[i] * s + a0[0] + a1[0] + a2[0] + a3[0] + a4[0] + a5[0] + a6[0] + a7[0]


def per_launch(fn, launches: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(launches):
        fn()
    return 1e6 * (time.perf_counter() - t0) / launches


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--launches", type=int, default=2000)
    args = p.parse_args(argv)
    os.environ["DPSYCL_KERNEL_CACHE"] = tempfile.mkdtemp(prefix="dpsycl-launch-")
    from dpsycl.backends.sycl import SyclBackend
    from dpsycl.backends import sycl_kernel_files
    import dpnp
    import numba_dpex
    from compress_bench import cpu_model
    backend = SyclBackend("opencl:cpu")
    arrays = [dpnp.zeros(4, sycl_queue=backend.queue) for _ in range(8)]
    x, y = dpnp.ones(64, sycl_queue=backend.queue), dpnp.zeros(64, sycl_queue=backend.queue)
    values = (64, *arrays, x, y, 2.0)
    ten_arrays.dpsycl_identity = ("sycl_launch_overhead", ())
    from_files = sycl_kernel_files.CachedKernel(ten_arrays, variant=("benchmark",))
    dispatcher = numba_dpex.kernel(ten_arrays)
    rounds = {"kernel files": [], "numba-dpex call_kernel": []}
    for _ in range(3):             # alternate, so that both see the same machine
        rounds["kernel files"].append(per_launch(lambda: from_files.launch(backend.queue, 64, values), args.launches))
        rounds["numba-dpex call_kernel"].append(per_launch(
            lambda: numba_dpex.call_kernel(dispatcher, numba_dpex.Range(64), *values), args.launches))
    print(json.dumps({"cpu": cpu_model(), "launches": args.launches,
                      "us_per_launch_min": {k: round(min(v), 1) for k, v in rounds.items()},
                      "us_per_launch_rounds": {k: [round(t, 1) for t in v] for k, v in rounds.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
