"""Register cap of the cooperative (work-group) kernel against speed: one process per cap, same call.

    python3 -P benchmarks/gpu_register_cap.py MODEL --caps 0,64,96,80,0 [--cells 8,32] [--output out.json]

For each cap (0: numba's choice) a fresh process sets DPSYCL_CUDA_GROUP_MAX_REGISTERS, evaluates the
fcc Cu–Ag alloy of benchmarks/gpu_smoke.py at each size (two warm-ups, median of 7 `DeepPot.eval`
calls end to end) and reports the group kernel's registers, spilled local memory and resident blocks
per SM (dpsycl.backends.cuda.kernel_resources) and the energy, which must not depend on the cap
beyond rounding.  Listing a cap twice (first and last) shows the drift between processes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, "benchmarks")
from gpu_smoke import alloy
import dpsycl
from dpsycl.backends.cuda import kernel_resources
dp = dpsycl.DeepPot(sys.argv[1], device="cuda:0")
out = {"cap": int(sys.argv[2]), "sizes": []}
for cells in map(int, sys.argv[3].split(",")):
    x, cell, at = alloy(cells)
    run = lambda: dp.eval(x[None], cell.reshape(1, 9), at)
    run(); run()
    times = []
    for _ in range(7):
        t = time.perf_counter(); e = run(); times.append(time.perf_counter() - t)
    out["sizes"].append({"natoms": len(at), "ms": 1e3 * float(np.median(times)), "energy": float(e[0][0, 0])})
out["group_kernel"] = [r for r in kernel_resources() if r["layout"] == "group"]
print(json.dumps(out))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--caps", default="0,64,96,80,0")
    p.add_argument("--cells", default="8,32")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--output")
    args = p.parse_args(argv)
    rows = []
    for cap in args.caps.split(","):
        env = dict(os.environ, DPSYCL_CUDA_GROUP_MAX_REGISTERS=cap)
        try:
            proc = subprocess.run([sys.executable, "-P", "-c", CHILD, args.model, cap, args.cells], env=env,
                                  capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            rows.append({"cap": int(cap), "error": f"timed out after {args.timeout} s"})
            print(json.dumps(rows[-1]), flush=True)
            continue
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            rows.append({"cap": int(cap), "error": (proc.stderr or proc.stdout)[-600:]})
        print(json.dumps(rows[-1]), flush=True)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
