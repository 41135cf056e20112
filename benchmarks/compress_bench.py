#!/usr/bin/env python3
"""Compressed vs uncompressed on opencl:cpu, and DeePMD-kit TF's compressed graph, in one run.

    python benchmarks/compress_bench.py COMPRESSED.pb [--natoms 2048] [--repeats 5]

COMPRESSED.pb is `dp --tf compress` of the bundled cuag graph (tests/data/cuag/frozen_model.pb;
default options).  Timed: one energy + forces + virial evaluation of a random 50/50 Cu–Ag fcc
supercell (a = 3.85 Å, 0.05 Å noise; benchmarks/ab_timing.py's structure), after one warm-up
evaluation each (kernel compilation, TF graph set-up); median and minimum of --repeats, the
three timed round-robin so that they share the machine's load (recorded: load average).  Rows:

* dpsycl uncompressed (the nets), opencl:cpu
* dpsycl compressed, opencl:cpu: the tables read from COMPRESSED.pb (the very model TF runs)
* DeePMD-kit TF, COMPRESSED.pb, CPU (its default threads)

and |ΔE|/atom, max |ΔF| of dpsycl compressed against TF compressed (must agree to 1e-10), and of
the compressed against the uncompressed model (the tabulation error).  Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from ab_timing import alloy_structure  # noqa: E402


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            info = [line.split(":", 1) for line in fh if ":" in line]
        field = {k.strip(): v.strip() for k, v in reversed(info)}      # the first CPU's values
        count = sum(1 for k, _ in info if k.strip() == "processor")
        return (f"{field.get('model name', '?')}, family {field.get('cpu family', '?')} model {field.get('model', '?')}, "
                f"{count} logical CPUs, {field.get('cpu MHz', '?')} MHz")
    except OSError:
        return platform.processor()


def interleaved(fns: dict, repeats: int):
    """Median and minimum seconds of each function, timed round-robin so that every contender sees
    the same load (the CPU is shared), after one warm-up call each (compilation, graph set-up)."""
    outs = {name: fn() for name, fn in fns.items()}
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}, outs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("compressed_pb")
    p.add_argument("--uncompressed", default=os.path.join(HERE, "..", "tests", "data", "cuag", "frozen_model.pb"))
    p.add_argument("--natoms", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import dpsycl
    from deepmd.infer import DeepPot as TFDeepPot

    pos, cell, atype = alloy_structure(args.natoms)
    coords, cells = pos.reshape(1, -1), cell.reshape(1, 9)
    plain = dpsycl.load_model(args.uncompressed)
    tabulated = dpsycl.load_model(args.compressed_pb)
    assert tabulated.descriptor.compressed and not plain.descriptor.compressed
    fns, layouts = {}, {}
    for name, model in (("dpsycl uncompressed opencl:cpu", plain), ("dpsycl compressed opencl:cpu", tabulated)):
        dp = dpsycl.DeepPot(model, device="opencl:cpu")
        fns[name] = (lambda d: lambda: d.eval(coords, cells, atype))(dp)
        layouts[name] = dp.evaluator.layout
    tf = TFDeepPot(args.compressed_pb)
    fns["DeePMD-kit TF compressed CPU"] = lambda: tf.eval(coords, cells, atype)
    load_before = os.getloadavg()
    seconds, outs = interleaved(fns, args.repeats)
    rows = {name: dict(ms=1e3 * seconds[name][0], ms_min=1e3 * seconds[name][1], energy=float(outs[name][0].ravel()[0]),
                       force=outs[name][1]) for name in fns}

    def dev(a, b):
        ra, rb = rows[a], rows[b]
        return dict(energy_per_atom=abs(ra["energy"] - rb["energy"]) / args.natoms,
                    force=float(np.abs(ra["force"].reshape(-1) - rb["force"].reshape(-1)).max()))
    report = dict(
        cpu=cpu_model(), natoms=args.natoms, repeats=args.repeats, model="cuag (se_e2_a 16-32-64, sel 90+90)",
        compressed_graph=os.path.basename(args.compressed_pb),
        ms_median={k: round(v["ms"], 1) for k, v in rows.items()},
        ms_min={k: round(v["ms_min"], 1) for k, v in rows.items()},
        layout=layouts, loadavg_before_after=[round(x, 1) for x in load_before + os.getloadavg()],
        tf_threads=os.environ.get("OMP_NUM_THREADS", "default"),
        dpsycl_compressed_vs_tf_compressed=dev("dpsycl compressed opencl:cpu", "DeePMD-kit TF compressed CPU"),
        compressed_vs_uncompressed=dev("dpsycl compressed opencl:cpu", "dpsycl uncompressed opencl:cpu"),
        time=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
