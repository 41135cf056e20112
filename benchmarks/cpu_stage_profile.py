#!/usr/bin/env python3
"""Per-kernel time of one ``DeepPot.eval`` against the FLOP model's per-stage counts.

    PYTHONPATH=. python benchmarks/cpu_stage_profile.py --device opencl:cpu --natoms 2048 \
        --repeats 5 [--peer] [--output results/stage-profile.json]

Every ``backend.launch`` / ``launch_groups`` of the evaluator is wrapped: the queue is drained
before the launch and after it, so each launch's wall time is its own (the host's argument packing
and dispatch included; on opencl:cpu that is tens of µs, see the "launches" column). The rest of
the evaluation (input checks, uploads, the neighbour counters read back, result copies) is
reported as "host". "cpu ms" is the process's CPU time (all threads) over the same launch: on a
machine shared with other jobs it moves less than the wall time, so compare kernels by it. The FLOP model (benchmarks/dpsycl_bench/models.py, numbers in
benchmarks/NOTES.md) is split over the kernels that do the work:

    descriptor_chunk              pass-1 real pairs + padded blocks (padding_embeddings' G(R_pad),
                                  ntypes² evaluations, is counted there too)
    fitting_atom                  per-atom descriptor + fitting net (+ partial sums); by dense products
                                  (dpsycl/fitting_rows.py) its launches and products summed in one row
    pair_gradient_chunk           pass-2 real pairs
    gather_forces_and_virials     gather

GFLOP/s and % of ``--peak`` (FP64, default the 83.1 GFLOP/s nominal 2-core figure of NOTES.md)
follow.  With ``--peer`` DeePMD-kit TF (tests/data/cuag/frozen_model.pb) evaluates the same
structure in the same process, timed round-robin with dpsycl's un-instrumented eval; its FLOP
count is the model's "deepmd" total.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from ab_timing import alloy_structure  # noqa: E402
from dpsycl_bench import models  # noqa: E402

#: which FLOP-model parts each kernel does (chunk layout)
STAGE_FLOPS = {
    "descriptor_chunk": ("pass1_real_pairs", "pass1_padded_blocks"),
    "fitting_atom": ("per_atom_descriptor_fitting", "partial_sums"),
    "fitting_group_atom": ("per_atom_descriptor_fitting", "partial_sums"),   # the same work, lanes per atom (CPUs)
    "fitting_group_atoms": ("per_atom_descriptor_fitting", "partial_sums"),  # and four atoms per work-group
    "pair_gradient_chunk": ("pass2_real_pairs",),
    "gather_forces_and_virials": ("gather",),
}
#: the launches and products of the fitting net by dense products (dpsycl/fitting_rows.py), summed into one row
PRODUCT_STAGES = ("matmul", "fitting_rows_", "descriptor_rows", "t_gradient_rows")


class LaunchTimer:
    """Wraps a backend's launches: per body name, a list of wall times (s) of each evaluation."""

    def __init__(self, backend):
        self.backend = backend
        self.times: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.on = False
        for name in ("launch", "launch_groups"):
            setattr(backend, name, self._wrap(getattr(backend, name)))
        if getattr(backend, "dense_products", False):     # the fitting net's products, by their k × n
            matmul = self._wrap(lambda _name, *args: backend.__class__.matmul(backend, *args))
            backend.matmul = lambda *args: matmul(f"matmul {args[7]}x{args[8]}", *args)

    def _wrap(self, fn):
        def timed(body_name, *args, **kw):
            if not self.on:
                return fn(body_name, *args, **kw)
            self.backend.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn(body_name, *args, **kw)
            self.backend.synchronize()
            dt = time.perf_counter() - t0
            self.times[body_name] = self.times.get(body_name, 0.0) + dt
            self.cpu[body_name] = self.cpu.get(body_name, 0.0) + time.process_time() - c0
            self.counts[body_name] = self.counts.get(body_name, 0) + 1
            return result
        return timed

    def reset(self):
        self.times, self.cpu, self.counts = {}, {}, {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.path.join(HERE, "..", "tests", "data", "cuag", "model.h5"))
    ap.add_argument("--peer-model", default=os.path.join(HERE, "..", "tests", "data", "cuag", "frozen_model.pb"))
    ap.add_argument("--device", default="opencl:cpu")
    ap.add_argument("--precision", default="float64")
    ap.add_argument("--natoms", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peak", type=float, default=83.1, help="FP64 peak, GFLOP/s")
    ap.add_argument("--peer", action="store_true", help="also time DeePMD-kit TF on the same structure")
    ap.add_argument("--output")
    args = ap.parse_args(argv)

    import dpsycl
    dp = dpsycl.DeepPot(args.model, device=args.device, precision=args.precision)
    ev = dp.evaluator
    x, cell, atype = alloy_structure(args.natoms)
    coords, cells = x.reshape(1, -1), cell.reshape(1, 9)
    t0 = time.perf_counter()
    dp.eval(coords, cells, atype)
    first = time.perf_counter() - t0

    nb = ev.build_neighbors(ev.backend.asarray(x, ev.dtype), ev.backend.asarray(atype, np.int64), cell)
    stats = models.neighbour_stats(dp.model, nb, ev.backend, args.natoms)
    traits = models.kernel_traits(ev, args.natoms)
    flops = models.flop_model(dp.model, stats["n_real"], stats["padded_blocks"], args.natoms, traits)
    parts = flops["parts"]["dpsycl"]

    peer = None
    if args.peer:
        from dpsycl_bench.peers import DeepmdPeer
        peer = DeepmdPeer("deepmd-tf", args.peer_model)
        peer.settle()
        for _ in range(3):         # TF specialises on the first calls of a new shape
            peer.eval(x, cell, atype)

    timer = LaunchTimer(ev.backend)
    plain, peer_times, totals, per_stage = [], [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        e_dp = dp.eval(coords, cells, atype)[0]
        plain.append(time.perf_counter() - t0)
        if peer is not None:
            t0 = time.perf_counter()
            e_tf = peer.eval(x, cell, atype)[0]
            peer_times.append(time.perf_counter() - t0)
        timer.reset()
        timer.on = True
        t0 = time.perf_counter()
        dp.eval(coords, cells, atype)
        totals.append(time.perf_counter() - t0)
        timer.on = False
        per_stage.append((dict(timer.times), dict(timer.counts), dict(timer.cpu)))

    names = sorted(per_stage[0][0], key=lambda k: -per_stage[0][0][k])
    med = {k: statistics.median(s[0].get(k, 0.0) for s in per_stage) for k in names}
    med_cpu = {k: statistics.median(s[2].get(k, 0.0) for s in per_stage) for k in names}
    total = statistics.median(totals)
    load1 = os.getloadavg()[0]
    rows = []
    print(f"{dp.describe_device()}  N={args.natoms}  {args.precision}  nchunk={traits['nchunk']}  "
          f"layout={traits['layout']}  repeats={args.repeats}  load1={load1:.2f}  first eval {first:.1f} s")
    print(f"real pairs/atom {stats['mean_real']:.1f}; FLOP model dpsycl {flops['dpsycl'] / args.natoms / 1e6:.3f} "
          f"MFLOP/atom, deepmd {flops['deepmd'] / args.natoms / 1e6:.3f}")
    print(f"{'stage':28s} {'ms':>9s} {'%eval':>6s} {'launches':>8s} {'MFLOP':>9s} {'GFLOP/s':>8s} {'%peak':>6s} {'cpu ms':>9s}")
    for k in names:
        f = sum(parts[p] for p in STAGE_FLOPS.get(k, ()))
        gf = f / med[k] / 1e9 if f else 0.0
        rows.append({"stage": k, "ms": med[k] * 1e3, "launches": per_stage[0][1][k], "mflop": f / 1e6,
                     "gflops": gf, "pct_peak": 100 * gf / args.peak, "cpu_ms": med_cpu[k] * 1e3})
        print(f"{k:28s} {med[k] * 1e3:9.2f} {100 * med[k] / total:6.1f} {per_stage[0][1][k]:8d} {f / 1e6:9.1f} "
              f"{gf:8.2f} {100 * gf / args.peak:6.2f} {med_cpu[k] * 1e3:9.2f}")
    products = [k for k in names if k.startswith(PRODUCT_STAGES)]
    if products:     # the fitting net by dense products: its FLOPs over all its launches and products together
        f = sum(parts[p] for p in STAGE_FLOPS["fitting_atom"])
        t, c = sum(med[k] for k in products), sum(med_cpu[k] for k in products)
        gf = f / t / 1e9
        rows.append({"stage": "fitting by products (all its stages)", "ms": t * 1e3, "launches": len(products),
                     "mflop": f / 1e6, "gflops": gf, "pct_peak": 100 * gf / args.peak, "cpu_ms": c * 1e3})
        print(f"{'= fitting by products':28s} {t * 1e3:9.2f} {100 * t / total:6.1f} {'':8s} {f / 1e6:9.1f} "
              f"{gf:8.2f} {100 * gf / args.peak:6.2f} {c * 1e3:9.2f}")
    host = total - sum(med.values())
    print(f"{'host (rest of eval)':28s} {host * 1e3:9.2f} {100 * host / total:6.1f}")
    gf_all = flops["dpsycl"] / statistics.median(plain) / 1e9
    print(f"eval, instrumented {total * 1e3:.1f} ms; plain {statistics.median(plain) * 1e3:.1f} ms "
          f"(min {min(plain) * 1e3:.1f}) = {gf_all:.2f} GFLOP/s own = {100 * gf_all / args.peak:.2f}% of peak")
    out = {"device": dp.describe_device(), "natoms": args.natoms, "precision": args.precision, "traits": traits,
           "load1": load1, "peak_gflops": args.peak, "neighbours": stats, "flops": {"dpsycl": flops["dpsycl"],
           "deepmd": flops["deepmd"], "parts": parts}, "stages": rows, "host_ms": host * 1e3,
           "instrumented_ms": total * 1e3, "plain_ms": [t * 1e3 for t in plain],
           # the OpenCL CPU runtime's knobs this run was started with (vectoriser width, work-group size, ...)
           "cl_config": {k: v for k, v in os.environ.items() if k.startswith("CL_CONFIG_")}}
    if peer is not None:
        tf = statistics.median(peer_times)
        gf_tf = flops["deepmd"] / tf / 1e9
        print(f"DeePMD-kit TF: {tf * 1e3:.1f} ms (min {min(peer_times) * 1e3:.1f}) = {gf_tf:.2f} GFLOP/s own = "
              f"{100 * gf_tf / args.peak:.2f}% of peak; dpsycl/TF speed ratio {tf / statistics.median(plain):.2f}×; "
              f"|dE|/atom {abs(e_dp.ravel()[0] - e_tf) / args.natoms:.1e}")
        out["peer_ms"] = [t * 1e3 for t in peer_times]
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
