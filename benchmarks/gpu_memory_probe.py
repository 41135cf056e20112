#!/usr/bin/env python3
"""Which call of an MD run moves the CUDA device's memory in use: a probe for issue 14 target 5.

    PYTHONPATH=<staged tree>:<site> python3 -P benchmarks/gpu_memory_probe.py --natoms 1048576 \
        --periods 5 --output OUT/memory_probe.json

md_scaling.py reads the device's memory in use once per 10-step period; at 1 M atoms those readings
grew by ≈ 0.9 GB steps while numba's table of live arrays stayed flat (benchmarks/NOTES.md, session 12).
This probe runs the same NVE schedule with every public method of the evaluator's backend wrapped:
the queue is drained before and after the call and cuMemGetInfo read both times, *without* flushing
numba's pending frees.  Every call that
moves the memory in use by ≥ ``--threshold`` MB is recorded with its step, method, kernel body and the
change of numba's live arrays, so a growth the arrays do not explain is pinned to one call.  Slow (a
drain around every launch): a probe, not a timing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dpsycl_bench.machine import cuda_allocated_bytes, cuda_used_bytes  # noqa: E402
from dpsycl_bench.md_scaling import SEED, TEMPERATURE  # noqa: E402
from dpsycl_bench.structures import lattice_alloy  # noqa: E402

import dpsycl  # noqa: E402
from dpsycl.model_io import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WRAPPED = ("launch", "launch_groups", "empty", "zeros", "asarray", "to_host", "copy_from_host", "copy",
           "from_user_array")


def memory_state() -> dict:
    """In use (total − free) and numba's live arrays, in bytes; numba's pending frees not flushed."""
    return {"used": cuda_used_bytes(flush=False), "arrays": cuda_allocated_bytes()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "dpsycl/data/cuag.h5"))
    ap.add_argument("--natoms", type=int, default=1048576)
    ap.add_argument("--periods", type=int, default=5, help="10-step periods after init and one warm-up period")
    ap.add_argument("--threshold", type=float, default=4.0, help="MB: smaller moves are not recorded")
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    from dpsycl.md import MDSettings, initial_state, schedule

    model = load_model(args.model)
    dp = dpsycl.DeepPot(model, device="cuda:0")
    backend = dp.evaluator.backend
    settings = MDSettings(dt=1.0, ensemble="nve", temperature=TEMPERATURE, seed=SEED)
    x, cell, atype = lattice_alloy(args.natoms, seed=SEED, type_map=model.type_map)
    init, step = schedule(dp, settings)
    events: list[dict] = []
    where = {"step": -1, "phase": "init"}
    threshold = args.threshold * 1e6

    def wrap(name):
        original = getattr(backend, name)

        def probed(*a, **k):
            backend.synchronize()
            before = memory_state()
            out = original(*a, **k)
            backend.synchronize()
            after = memory_state()
            moved = after["used"] - before["used"]
            if abs(moved) >= threshold:
                body = a[0] if name.startswith("launch") and a and isinstance(a[0], str) else None
                events.append({**where, "method": name, "body": body, "used_change": moved,
                               "arrays_change": after["arrays"] - before["arrays"], "used_after": after["used"],
                               "arrays_after": after["arrays"]})
                print(f"[{where['phase']} step {where['step']}] {name} {body or ''}: in use {moved / 1e6:+,.0f} MB "
                      f"(arrays {(after['arrays'] - before['arrays']) / 1e6:+,.0f}) -> {after['used'] / 1e6:,.0f} MB",
                      flush=True)
            return out
        setattr(backend, name, probed)

    for name in WRAPPED:
        if hasattr(backend, name):
            wrap(name)
    start = memory_state()
    t0 = time.perf_counter()
    state = init(initial_state(x, cell, atype, dp.get_type_map(), settings.temperature, settings.seed))
    readings = [{"phase": "init", "step": state.step, **memory_state()}]
    for period in range(args.periods + 1):
        where["phase"] = "warm-up" if period == 0 else "period"
        for _ in range(settings.every):
            where["step"] = state.step
            state = step(state)
        backend.synchronize()
        readings.append({"phase": where["phase"], "step": state.step, **memory_state()})
        r = readings[-1]
        print(f"after step {state.step}: in use {r['used'] / 1e6:,.0f} MB, arrays {r['arrays'] / 1e6:,.0f} MB",
              flush=True)
    Path(args.output).write_text(json.dumps({
        "natoms": args.natoms, "model": args.model, "device": dp.describe_device(), "start": start,
        "readings": readings, "events": events, "threshold_mb": args.threshold,
        "seconds": time.perf_counter() - t0, "rebuilds": state.n_rebuilds}, indent=1))


if __name__ == "__main__":
    main()
