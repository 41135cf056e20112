#!/usr/bin/env python3
"""Pick, from a register-cap sweep of gpu_kernel_times.py (one JSON per cap, every work-group kernel capped by
DPSYCL_CUDA_GROUP_MAX_REGISTERS; cap 0 = the table in dpsycl/backends/cuda.py), each named kernel's fastest cap,
and write a tree whose GROUP_MAX_REGISTERS holds them (benchmarks/gpu_session37.sh).

    python3 benchmarks/choose_caps.py SWEEP_DIR --precision float32 --kernels group_descriptor,group_pair_gradient \
        --tree .ab/m --into .ab/c [--min-gain 0.02]

A cap is taken only where it beats cap 0 by --min-gain (a single launch's time spreads ≈ 1%); prints the choice
and exits 1 when nothing beats the table (no tree written).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path


def kernel_us(run: dict, kernel: str) -> float | None:
    for name, held in run["by_kernel"].items():
        if name.endswith("kernel_" + kernel):
            return float(held["us"])
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep")
    ap.add_argument("--precision", default="float32")
    ap.add_argument("--kernels", default="group_descriptor,group_pair_gradient")
    ap.add_argument("--tree", required=True)
    ap.add_argument("--into", required=True)
    ap.add_argument("--min-gain", type=float, default=0.02)
    args = ap.parse_args()
    runs = {int(re.search(r"cap(\d+)", p.name).group(1)): json.loads(p.read_text())
            for p in Path(args.sweep).glob("kt-cap*.json")}
    if 0 not in runs:
        raise SystemExit("no cap-0 run (the table) to compare against")
    chosen = {}
    for kernel in args.kernels.split(","):
        times = {cap: kernel_us(run, kernel) for cap, run in runs.items()}
        times = {cap: us for cap, us in times.items() if us is not None}
        print(kernel, " ".join(f"{cap}:{us:.1f}" for cap, us in sorted(times.items())))
        best = min(times, key=times.get)
        if best != 0 and times[best] < (1 - args.min_gain) * times[0]:
            chosen[kernel] = best
    print("chosen:", chosen or "none")
    if not chosen:
        return 1
    shutil.rmtree(args.into, ignore_errors=True)
    shutil.copytree(args.tree, args.into)
    path = Path(args.into) / "dpsycl/backends/cuda.py"
    text = path.read_text()
    update = ", ".join(f'("{k}", "{args.precision}"): {cap}' for k, cap in chosen.items())
    anchor = "\n\n\ndef register_cap("
    if anchor not in text:
        raise SystemExit("register_cap not found in " + str(path))
    path.write_text(text.replace(anchor, f"\nGROUP_MAX_REGISTERS.update({{{update}}})" + anchor, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
