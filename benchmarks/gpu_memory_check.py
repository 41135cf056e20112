"""The device-memory check on a real GPU (issue 13, point 3): what the backend reports, the estimate
per atom, the largest N it predicts, a refusal above it and an evaluation near it.

    python benchmarks/gpu_memory_check.py --device cuda:0 [--fraction 0.9] [--output memory.json]

Prints JSON.  The evaluation at ``fraction`` × the predicted largest N (fcc Cu–Ag, the bundled
model) must succeed and the request at 1.1 × must end in one DeviceMemoryError line, raised before
anything is allocated (the device's free memory is read again after it, and compared).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from ab_timing import alloy_structure  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "dpsycl", "data", "cuag.h5"))
    p.add_argument("--fraction", type=float, default=0.9)
    p.add_argument("--output")
    args = p.parse_args()
    import dpsycl
    from dpsycl.backends import DeviceMemoryError
    dp = dpsycl.DeepPot(args.model, device=args.device)
    ev = dp.evaluator
    memory = ev.device_memory()
    coords, cell, atype = alloy_structure(2048)
    per_atom = (ev.memory_estimate(2_000_000, cell * (2_000_000 / 2048) ** (1 / 3)).total
                - ev.memory_estimate(1_000_000, cell * (1_000_000 / 2048) ** (1 / 3)).total) / 1_000_000
    report = {"device": dp.describe_device(), "free": memory.free, "total": memory.total,
              "max_allocation": memory.max_allocation, "bytes_per_atom": per_atom}
    too_many = None
    try:
        n = 4 * 10 ** 9 // 1000 * 1000
        ev.check_memory(n, cell * (n / 2048) ** (1 / 3))
    except DeviceMemoryError as exc:
        too_many = str(exc)
    report["refusal_4e9"] = too_many
    largest = int(too_many.split("at most ")[1].split(" atoms")[0].replace(",", "")) if too_many else None
    report["largest_predicted"] = largest
    # 1.1 × the largest: refused, and nothing was allocated by the refusal
    before = ev.device_memory().free
    try:
        n = int(1.1 * largest)
        ev.check_memory(n, cell * (n / 2048) ** (1 / 3))
        report["refusal_1.1x"] = None
    except DeviceMemoryError as exc:
        report["refusal_1.1x"] = str(exc)
    report["free_change_by_refusal"] = ev.device_memory().free - before
    # fraction × the largest: an fcc crystal of about that many atoms is evaluated
    reps = max(1, int(round((args.fraction * largest / 2048) ** (1 / 3))))
    big = np.concatenate([coords + cell @ np.array([i, j, k]) for i in range(reps) for j in range(reps)
                          for k in range(reps)])
    big_types = np.tile(atype, reps ** 3)
    t0 = time.perf_counter()
    e, f, v = dp.eval(big.reshape(1, -1), (cell * reps).reshape(1, 9), big_types)
    report["evaluated_atoms"] = len(big)
    report["evaluated_fraction_of_largest"] = len(big) / largest
    report["evaluate_s"] = time.perf_counter() - t0
    report["energy_per_atom"] = float(e[0, 0]) / len(big)
    report["forces_finite"] = bool(np.isfinite(f).all())
    report["workspace_bytes"] = ev.workspace_bytes()
    report["free_after"] = ev.device_memory().free
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
