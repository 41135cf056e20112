#!/usr/bin/env python3
"""The host's own cost of one evaluation, with a backend that runs nothing: no GPU needed.

    .venv/bin/python benchmarks/host_glue.py --sizes 2048,131072 [--profile 30]

``DeepPot.eval`` runs its input checks, the evaluator's geometry, workspace and argument packing
and the result arithmetic as always, against ``NullBackend``: host arrays, launches that return at
once, device-to-host "copies" that are NumPy copies.  What is timed is therefore the Python and
NumPy work that a GPU evaluation adds to its launches and copies (benchmarks/host_timeline.py
splits a real GPU evaluation the same way; its ``other`` and ``input_checks`` are this number plus
what the real backend adds).  Medians over ``--repeats`` evaluations; ``--profile N`` prints
cProfile's N most expensive entries (own time) of the last size.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_timing import alloy_structure  # noqa: E402

import dpsycl  # noqa: E402
from dpsycl.backends.protocol import DeviceMemory  # noqa: E402
from dpsycl.evaluator import DeviceEvaluator  # noqa: E402
from dpsycl.model_io import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class NullBackend:
    """A wide device that runs nothing: arrays are host arrays, launches return at once."""
    kind = "null"
    name = "null:0"
    fp64 = True
    is_gpu = True
    supports_groups = True
    simulated = False
    parallel_width = 512 * 132

    def describe(self) -> str:
        return "null:0 (launches nothing)"

    def asarray(self, a, dtype=None):
        return np.ascontiguousarray(a, dtype=dtype).ravel().copy()

    def empty(self, n, dtype):
        return np.zeros(int(n), dtype=dtype)

    def zeros(self, n, dtype):
        return np.zeros(int(n), dtype=dtype)

    def to_host(self, a):
        return np.array(a)

    def copy_from_host(self, dst, host):
        dst[...] = host

    def copy(self, a):
        return np.array(a)

    def nbytes(self, a) -> int:
        return int(a.nbytes)

    def is_device_array(self, a) -> bool:
        return False

    def synchronize(self):
        pass

    def memory(self) -> DeviceMemory:
        return DeviceMemory(free=1 << 40, total=1 << 40, max_allocation=1 << 40)

    def launch(self, *args, **kwargs):
        pass

    def launch_groups(self, *args, **kwargs):
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2048,131072")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--model", default=str(ROOT / "dpsycl" / "data" / "cuag.h5"))
    ap.add_argument("--precision", default=None, help="float64, float32 or mixed (default: the model's)")
    ap.add_argument("--profile", type=int, default=0, help="cProfile entries to print (own time), last size")
    args = ap.parse_args()
    model = load_model(args.model)
    dp = dpsycl.DeepPot(model, device="numpy")
    dp.evaluator = DeviceEvaluator(model, NullBackend(), args.precision)
    for n in (int(s) for s in args.sizes.split(",")):
        x, cell, atype = alloy_structure(n)
        coords, cells = x[None], cell.reshape(1, 9)
        dp.eval(coords, cells, atype)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            dp.eval(coords, cells, atype)
            times.append(time.perf_counter() - t0)
        print(f"N={n:>9,}: host glue {np.median(times) * 1e3:8.3f} ms per eval (median of {args.repeats})", flush=True)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.repeats):
            dp.eval(coords, cells, atype)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
