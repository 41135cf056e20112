#!/usr/bin/env python3
"""The process Nsight Compute profiles (benchmarks/gpu_ncu.sh): ``--warm`` calls of ``DeepPot.eval``,
then one more, the one to profile (the script skips the warm calls' launches by kernel name and count).

    python3 -P benchmarks/gpu_ncu_driver.py --model tests/data/cuag/model.h5 --natoms 32768 \
        --precision float64 --warm 2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_timing import alloy_structure  # noqa: E402

import dpsycl  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--natoms", type=int, default=32768)
    parser.add_argument("--precision", default=None)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--warm", type=int, default=2)
    args = parser.parse_args()
    pos, cell, atype = alloy_structure(args.natoms)
    pot = dpsycl.DeepPot(args.model, device=args.device, precision=args.precision)
    for _ in range(args.warm + 1):
        energy = pot.eval(pos[None], cell[None], atype)[0]
    print(f"{args.model} {args.natoms} atoms {args.precision or 'model precision'}: E = {float(energy.ravel()[0]):.10f}")


if __name__ == "__main__":
    main()
