#!/usr/bin/env python3
"""GPU time of every kernel of one ``DeepPot.eval``, from Nsight Compute, beside the call's wall time.

    # on the device, after benchmarks/gpu_stage.sh:
    python3 -P benchmarks/gpu_kernel_times.py --natoms 2048 --precision float64 --output times.json

Runs ``benchmarks/gpu_ncu_driver.py`` (``--warm`` calls, then one more) under
``ncu --metrics gpu__time_duration.sum`` (no replay of other sections: one pass per kernel, clocks
left alone), keeps the launches of the last call, and prints each kernel's duration in launch order,
their sum, and the median wall time of the same call measured without the profiler in a separate
process: the difference is time the GPU spent idle, waiting on the host (launch work, copies,
synchronising reads).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def ncu_binary() -> str:
    found = shutil.which("ncu")
    if found:
        return found
    for cand in sorted(Path("/opt/nvidia").glob("nsight-compute/*/ncu")):
        return str(cand)
    raise SystemExit("ncu not found")


def kernel_durations(args) -> list[tuple[str, float]]:
    """(kernel name, µs) of every profiled launch, in launch order."""
    cmd = [ncu_binary(), "--clock-control", "none", "--target-processes", "all",
           "--metrics", "gpu__time_duration.sum", "--csv", "--print-units", "base",
           "--kernel-name-base", "function",
           sys.executable, "-P", str(HERE / "gpu_ncu_driver.py"), "--model", args.model,
           "--natoms", str(args.natoms), "--warm", str(args.warm)]
    if args.precision:
        cmd += ["--precision", args.precision]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('"')]
    if not lines:
        raise SystemExit(f"no ncu output:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    out = []
    for r in rows:
        if r.get("Metric Name") == "gpu__time_duration.sum":
            scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}[r["Metric Unit"]]
            out.append((r["Kernel Name"].split("[")[0].split("(")[0], float(r["Metric Value"].replace(",", "")) * scale))
    return out


def wall_ms(args) -> tuple[float, list]:
    """The call's median wall time (ms) without the profiler, and the resources of the group kernels it compiled
    (registers, spills, blocks per SM: dpsycl.backends.cuda.kernel_resources)."""
    import numpy as np
    import dpsycl
    from dpsycl.backends.cuda import kernel_resources
    from ab_timing import alloy_structure
    pos, cell, atype = alloy_structure(args.natoms)
    pot = dpsycl.DeepPot(args.model, device="cuda:0", precision=args.precision)
    for _ in range(3):
        pot.eval(pos[None], cell[None], atype)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        pot.eval(pos[None], cell[None], atype)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3), [r for r in kernel_resources() if r["layout"] == "group"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tests/data/cuag/model.h5")
    ap.add_argument("--natoms", type=int, default=2048)
    ap.add_argument("--precision", default=None)
    ap.add_argument("--warm", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--output", default="")
    args = ap.parse_args()
    launches = kernel_durations(args)
    per_call = len(launches) // (args.warm + 1)
    last = launches[len(launches) - per_call:] if per_call else []
    wall, resources = wall_ms(args)
    total = sum(us for _, us in last)
    print(f"{args.model} N={args.natoms} {args.precision or 'model precision'}: {len(launches)} launches in "
          f"{args.warm + 1} calls; last call:")
    if len(last) <= 40:
        for name, us in last:
            print(f"  {name:<40s} {us:10.1f} µs")
    by_name: dict = {}
    for name, us in last:
        count, held = by_name.get(name, (0, 0.0))
        by_name[name] = (count + 1, held + us)
    print("  by kernel (launches, sum):")
    for name, (count, us) in sorted(by_name.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name[:60]:<60s} {count:4d} {us:10.1f} µs")
    print(f"  {'sum of kernels':<40s} {total:10.1f} µs;  eval wall (median of {args.repeats}, no profiler) "
          f"{wall * 1e3:10.1f} µs;  GPU idle {wall * 1e3 - total:10.1f} µs")
    for r in resources:
        print(f"  {r['body']:<40s} {r['regs_per_thread']:4d} registers, {r['local_bytes_per_thread']:4d} B local, "
              f"{r['shared_bytes_per_block']:6d} B shared, {r.get('blocks_per_sm')} blocks of {r['block']} per SM")
    if args.output:
        Path(args.output).write_text(json.dumps({
            "model": args.model, "natoms": args.natoms, "precision": args.precision,
            "launches_total": len(launches), "calls": args.warm + 1,
            "last_call": [{"kernel": n, "us": us} for n, us in last],
            "by_kernel": {n: {"launches": c, "us": us} for n, (c, us) in by_name.items()},
            "kernels_us": total, "eval_wall_us": wall * 1e3, "group_kernels": resources,
            "register_cap_env": os.environ.get("DPSYCL_CUDA_GROUP_MAX_REGISTERS", ""),
            "host": os.uname().nodename}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
