#!/usr/bin/env python3
"""How far float32 and mixed precision land from float64: |ΔE|/atom, max |ΔF| and |ΔW|/atom of one
``DeepPot.eval`` on the benchmark structure (benchmarks/ab_timing.py: alloy_structure), each precision in the
same process and on the same device.

    python3 -P benchmarks/precision_errors.py --device opencl:cpu --sizes 2048 --layouts chunk,group \
        [--model tests/data/cuag/model.h5] [--output errors.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_timing import alloy_structure  # noqa: E402

import dpsycl  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tests/data/cuag/model.h5")
    ap.add_argument("--device", default="opencl:cpu")
    ap.add_argument("--sizes", default="2048")
    ap.add_argument("--layouts", default="", help="comma-separated kernel layouts (default: the device's own)")
    ap.add_argument("--output", default="")
    args = ap.parse_args()
    rows = []
    for natoms in (int(n) for n in args.sizes.split(",")):
        pos, cell, atype = alloy_structure(natoms)
        for layout in args.layouts.split(",") if args.layouts else [None]:
            results = {}
            for precision in ("float64", "float32", "mixed"):
                pot = dpsycl.DeepPot(args.model, device=args.device, precision=precision)
                if layout:
                    pot.evaluator.layout = layout
                e, f, w = pot.eval(pos[None], cell[None], atype)[:3]
                results[precision] = (float(np.ravel(e)[0]), np.asarray(f).reshape(-1, 3), np.ravel(w))
            e64, f64, w64 = results["float64"]
            for precision in ("float32", "mixed"):
                e, f, w = results[precision]
                rows.append({"natoms": natoms, "layout": layout or "default", "precision": precision,
                             "dE_per_atom": abs(e - e64) / natoms, "dF_max": float(np.abs(f - f64).max()),
                             "dW_per_atom": float(np.abs(w - w64).max()) / natoms})
                print(f"{natoms:>8} {layout or 'default':>8} {precision:>8}  |ΔE|/atom {rows[-1]['dE_per_atom']:.2e}  "
                      f"max |ΔF| {rows[-1]['dF_max']:.2e} eV/Å  |ΔW|/atom {rows[-1]['dW_per_atom']:.2e}")
    if args.output:
        Path(args.output).write_text(json.dumps({"device": args.device, "model": args.model, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
