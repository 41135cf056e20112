#!/usr/bin/env python3
"""Time to the first result in a new process: dpsycl with no compiled kernels, dpsycl reading them
from its kernel files, and DeePMD-kit TF, alternating in one run.

    python benchmarks/startup.py [--natoms 2048] [--rounds 2] [--model tests/data/cuag/frozen_model.pb]
                                 [--output benchmarks/results/session26/startup.json] [--plot startup.png]

Each contender is a fresh Python process that imports its package, loads the model and evaluates
energy, forces and virial of one random 50/50 Cu–Ag fcc supercell (benchmarks/ab_timing.py's
structure); timed from the parent (the process's whole life) and inside the child (imports and model
loading, then the first evaluation, then a second one: what a warm process pays).

* ``dpsycl cold``: ``DPSYCL_KERNEL_CACHE`` an empty folder (a new machine, or a new dpsycl version);
* ``dpsycl warm``: the folder the cold run filled (every later process);
* ``DeePMD-kit TF``: ``deepmd.infer.DeepPot`` on the frozen graph (its default threads).

The dpsycl processes evaluate on opencl:cpu from the .h5 extracted next to the .pb when present.
The first evaluations of the three must agree (|ΔE|/atom ≤ 1e-10 eV). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compress_bench import cpu_model  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[4])
from ab_timing import alloy_structure
kind, model, natoms = sys.argv[1], sys.argv[2], int(sys.argv[3])
pos, cell, atype = alloy_structure(natoms)
if kind == "tf":
    from deepmd.infer import DeepPot
    dp = DeepPot(model)
else:
    import dpsycl
    dp = dpsycl.DeepPot(model, device="opencl:cpu")
t1 = time.perf_counter()
e = dp.eval(pos.reshape(1, -1), cell.reshape(1, 9), atype)[0]
t2 = time.perf_counter()
dp.eval(pos.reshape(1, -1), cell.reshape(1, 9), atype)
t3 = time.perf_counter()
out = dict(load_s=t1 - t0, first_eval_s=t2 - t1, second_eval_s=t3 - t2, energy=float(e.ravel()[0]))
if kind != "tf":
    from dpsycl.backends import sycl_kernel_files
    out["kernels"] = sycl_kernel_files.statistics()
print(json.dumps(out))
"""


def run_child(kind: str, model: str, natoms: int, cache: str) -> dict:
    env = {**os.environ, "DPSYCL_KERNEL_CACHE": cache, "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, model, str(natoms), HERE], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(ROOT, "tests", "data", "cuag", "frozen_model.pb"))
    p.add_argument("--natoms", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--output")
    p.add_argument("--plot")
    args = p.parse_args(argv)
    h5 = os.path.join(os.path.dirname(args.model), "model.h5")
    dpsycl_model = h5 if os.path.exists(h5) else args.model
    runs: dict = {"dpsycl cold": [], "dpsycl warm": [], "DeePMD-kit TF": []}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="dpsycl-startup-") as cache:
            runs["dpsycl cold"].append(run_child("dpsycl", dpsycl_model, args.natoms, cache))
            runs["DeePMD-kit TF"].append(run_child("tf", args.model, args.natoms, cache))
            runs["dpsycl warm"].append(run_child("dpsycl", dpsycl_model, args.natoms, cache))
    energies = [r["energy"] for rows in runs.values() for r in rows]
    spread = (max(energies) - min(energies)) / args.natoms
    assert spread <= 1e-10, f"the contenders disagree: |ΔE|/atom = {spread:.2e} eV"

    def median(name, field):
        return round(statistics.median(r[field] for r in runs[name]), 2)
    table = {name: {field: median(name, field) for field in ("process_s", "load_s", "first_eval_s", "second_eval_s")}
             for name in runs}
    tf_first = table["DeePMD-kit TF"]["load_s"] + table["DeePMD-kit TF"]["first_eval_s"]
    report = dict(
        cpu=cpu_model(), natoms=args.natoms, rounds=args.rounds, model=os.path.relpath(args.model, ROOT),
        seconds_median=table,
        time_to_first_result_s={name: round(row["load_s"] + row["first_eval_s"], 2) for name, row in table.items()},
        ratio_to_tf_time_to_first_result={name: round((row["load_s"] + row["first_eval_s"]) / tf_first, 2)
                                          for name, row in table.items()},
        kernels={name: [r.get("kernels") for r in runs[name]] for name in ("dpsycl cold", "dpsycl warm")},
        energy_spread_per_atom=spread, loadavg_before_after=[round(x, 1) for x in load_before + os.getloadavg()],
        runs=runs, time=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    if args.plot:
        plot(table, report["cpu"], args.natoms, args.plot)
    return 0


def plot(table: dict, cpu: str, natoms: int, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(table)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    left = [0.0] * len(names)
    for field, label in (("load_s", "imports + model"), ("first_eval_s", "first evaluation"),
                         ("second_eval_s", "second evaluation")):
        widths = [table[n][field] for n in names]
        ax.barh(names, widths, left=left, label=label)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_xlabel("seconds in a new process")
    ax.set_title(f"{natoms} atoms, opencl:cpu / TF CPU; {cpu.split(',')[0]}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
