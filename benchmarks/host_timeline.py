#!/usr/bin/env python3
"""Where the host's time goes in one ``DeepPot.eval``, by kind of work, without a profiler's overhead.

    python3 -P benchmarks/host_timeline.py --device cuda:0 --sizes 2048,131072 --output timeline.json

cProfile roughly doubles the cost of the many small calls an evaluation makes, so its shares are
only a ranking.  Here each kind of host work is timed by ``time.perf_counter`` around the calls
that do it (about a microsecond per call), on the evaluator's own objects:

* ``launch``: the backend's ``launch`` and ``launch_groups`` (argument packing, the kernel cache,
  the driver call), GPU work not included: launches are asynchronous;
* ``wait``: draining the queue before each device-to-host copy (the backend's ``synchronize``
  called first), i.e. the host idle while the GPU finishes what was launched;
* ``copy_d2h`` / ``copy_h2d``: the copies themselves (``to_host`` after the wait; ``copy_from_host``);
* ``input_checks``: DeepPot's checks of types, positions and cell, and the finite-result check;
* ``other``: the rest of ``eval`` (Python glue, NumPy on results, grid geometry).

Reported beside them, inside ``launch``: ``launch_driver``, the CUDA backend's ``Launcher.launch``
(argument block reuse and ``cuLaunchKernel``); the rest of ``launch`` is dpsycl's packing and kernel
cache.

The sum of ``wait`` is the time the host had nothing to do; the rest is the host's own work, during
which the GPU idles unless kernels are queued.  Medians over ``--repeats`` evaluations after
``--warm`` ones.  Writes JSON (``--output``) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_timing import alloy_structure  # noqa: E402

import dpsycl  # noqa: E402
import dpsycl.deep_pot as deep_pot_module  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("launch", "wait", "copy_d2h", "copy_h2d", "input_checks", "other")


class Clock:
    """Seconds spent per kind of work in the current evaluation, and the calls counted."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)

    def timed(self, kind: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[kind] += time.perf_counter() - t0
                self.calls[kind] += 1
        return wrapper

    def reset(self):
        self.seconds.clear()
        self.calls.clear()


def instrument(dp, clock: Clock) -> None:
    """Time the evaluator's backend calls and DeepPot's checks by kind (instance attributes and this
    process's module globals only: nothing persists)."""
    b = dp.evaluator.backend
    sync = b.synchronize
    copy = b.to_host
    timed_sync = clock.timed("wait", sync)
    timed_copy = clock.timed("copy_d2h", copy)

    def to_host(a):
        timed_sync()
        return timed_copy(a)

    b.to_host = to_host
    b.launch = clock.timed("launch", b.launch)
    b.launch_groups = clock.timed("launch", b.launch_groups)
    b.copy_from_host = clock.timed("copy_h2d", b.copy_from_host)
    launcher = getattr(b, "launcher", None)
    if launcher is not None:
        launcher.launch = clock.timed("launch_driver", launcher.launch)
    dp._check_types = clock.timed("input_checks", dp._check_types)
    for name in ("check_cell", "check_positions", "check_finite_result"):
        setattr(deep_pot_module, name, clock.timed("input_checks", getattr(deep_pot_module, name)))


def timeline(model: str, device: str, precision: str | None, natoms: int, warm: int, repeats: int) -> dict:
    dp = dpsycl.DeepPot(model, device=device, precision=precision)
    x, cell, atype = alloy_structure(natoms)
    coords, cells = x[None], cell.reshape(1, 9)
    for _ in range(warm):
        dp.eval(coords, cells, atype)
    clock = Clock()
    instrument(dp, clock)
    for _ in range(warm):
        dp.eval(coords, cells, atype)
    rows = []
    launcher = getattr(dp.evaluator.backend, "launcher", None)
    for _ in range(repeats):
        clock.reset()
        dispatched = getattr(launcher, "dispatched_launches", 0)
        t0 = time.perf_counter()
        dp.eval(coords, cells, atype)
        total = time.perf_counter() - t0
        row = {kind: clock.seconds[kind] * 1e3 for kind in KINDS[:-1]}
        row["other"] = total * 1e3 - sum(row.values())
        row["eval"] = total * 1e3
        row["launch_driver"] = clock.seconds["launch_driver"] * 1e3
        row["calls"] = dict(clock.calls)
        # launches that went through numba-cuda's dispatcher rather than the reused argument block
        row["calls"]["dispatched"] = getattr(launcher, "dispatched_launches", 0) - dispatched
        rows.append(row)
    median = {k: float(np.median([r[k] for r in rows])) for k in (*KINDS, "eval", "launch_driver")}
    return {"natoms": natoms, "precision": dp.evaluator.precision, "device_name": dp.describe_device(),
            "median_ms": median, "calls": rows[-1]["calls"], "evaluations": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--sizes", default="2048,131072")
    ap.add_argument("--precision", default=None)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--model", default=str(ROOT / "dpsycl" / "data" / "cuag.h5"))
    ap.add_argument("--output", default="")
    args = ap.parse_args()
    results = {"device": args.device, "dpsycl": dpsycl.__version__, "rows": []}
    print(f"{'N':>9} {'eval':>8} " + " ".join(f"{k:>12}" for k in KINDS) + "   (ms, medians)")
    for n in (int(s) for s in args.sizes.split(",")):
        row = timeline(args.model, args.device, args.precision, n, args.warm, args.repeats)
        results["rows"].append(row)
        m = row["median_ms"]
        print(f"{n:>9,} {m['eval']:>8.3f} " + " ".join(f"{m[k]:>12.3f}" for k in KINDS)
              + f"   (launch_driver {m['launch_driver']:.3f})   calls {row['calls']}", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
