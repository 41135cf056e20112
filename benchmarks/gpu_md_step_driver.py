#!/usr/bin/env python3
"""The process Nsight Compute profiles to split an NVE MD step into its kernels (benchmarks/gpu_md_step_ncu.sh):
``--warm`` steps, then ``--steps`` more, after one marker kernel launch that says where they start
(``kernel_fill`` of an int8 array: no MD step fills one).  ``--time`` first times
the same steps without a profiler, so the wall time per step can be set beside the kernels' sum.

    python3 -P benchmarks/gpu_md_step_driver.py --model tests/data/cuag/model.h5 --natoms 131072 \
        --precision float64 --warm 20 --steps 20 --time
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_timing import alloy_structure  # noqa: E402

import dpsycl  # noqa: E402
from dpsycl.backends.launch import Args  # noqa: E402
from dpsycl.md import MDSettings, initial_state, nve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--natoms", type=int, default=131072)
    parser.add_argument("--precision", default=None)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--time", action="store_true", help="first time --steps steps without a marker")
    parser.add_argument("--output")
    args = parser.parse_args()
    pos, cell, atype = alloy_structure(args.natoms)
    dp = dpsycl.DeepPot(args.model, device=args.device, precision=args.precision)
    backend = dp.evaluator.backend
    settings = MDSettings(dt=1.0, ensemble="nve", temperature=300.0, skin=1.0).validate()
    init, step = nve(dp, settings)
    state = init(initial_state(pos, cell.reshape(3, 3), atype, dp.get_type_map(), 300.0, seed=13))
    for _ in range(args.warm):
        state = step(state)
    backend.synchronize()
    report = {"model": args.model, "natoms": args.natoms, "precision": args.precision, "steps": args.steps}
    if args.time:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            state = step(state)
        backend.synchronize()
        report["ms_per_step"] = (time.perf_counter() - t0) / args.steps * 1e3
    backend.launch("fill", 8, Args(arr=backend.zeros(8, np.int8), value=0), dtype=np.float64)
    for _ in range(args.steps):
        state = step(state)
    backend.synchronize()
    print(json.dumps(report))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(report, fh)


if __name__ == "__main__":
    main()
