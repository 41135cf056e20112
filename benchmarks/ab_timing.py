#!/usr/bin/env python3
"""Same-run A/B timing of two dpsycl source trees: ``DeepPot.eval`` end to end, alternating.

    python benchmarks/ab_timing.py --tree before=/tmp/old --tree after=. --device opencl:cpu \
        --sizes 2048,8192 --rounds 3 --repeats 5 --model tests/data/cuag/model.h5

Each tree is staged as an importable ``dpsycl`` package (device_kernels/ and extract/ placed where
the wheel puts them), so trees that predate a packaging change run too.  Every (round, tree) is a
fresh process: it compiles its kernels, warms up once per size, then times ``repeats``
evaluations per size; the trees alternate within each round so that drifts of the machine (clock,
other load) fall on both.  The structure is the same for every tree: a random 50/50 Cu–Ag fcc
supercell (a = 3.85 Å, 0.05 Å noise), built here with NumPy from the seed alone.  Besides wall time
it records the process CPU time of each evaluation (all threads), which other jobs on a shared
machine move less than the wall time.  Prints one
table and writes the raw numbers as JSON (``--output``).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

def alloy_structure(natoms: int, seed: int = 1):
    """Random 50/50 Cu–Ag fcc supercell of ``natoms`` atoms (a = 3.85 Å, 0.05 Å noise), NumPy only."""
    import numpy as np
    k = natoms // 4
    nx = round(k ** (1 / 3))
    while k % nx:
        nx -= 1
    rest = k // nx
    ny = round(rest ** 0.5)
    while rest % ny:
        ny -= 1
    nc = (nx, ny, rest // ny)
    base = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    g = np.stack(np.meshgrid(*[np.arange(n) for n in nc], indexing="ij"), -1).reshape(-1, 1, 3)
    rng = np.random.default_rng([seed, natoms])
    pos = (g + base[None]).reshape(-1, 3) * 3.85 + rng.normal(0.0, 0.05, (natoms, 3))
    cell = np.diag(np.asarray(nc, dtype=float) * 3.85)
    atype = np.zeros(natoms, dtype=np.int64)
    atype[rng.permutation(natoms)[: natoms // 2]] = 1
    return np.mod(pos, np.diag(cell)), cell, atype


# run in a fresh process of each tree: the structure's source travels with it (the tree under test
# may not have this module)
WORKER = inspect.getsource(alloy_structure) + r"""
import json, sys, time
import numpy as np
import dpsycl
model, device, sizes, repeats = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")], int(sys.argv[4])
layout, forces_to, precision = sys.argv[5], sys.argv[6], sys.argv[7] or None
t0 = time.perf_counter()
dp = dpsycl.DeepPot(model, device=device, precision=precision)
if layout:
    dp.evaluator.layout = layout
out = {"dpsycl": dpsycl.__file__, "device": dp.device, "describe": dp.describe_device(), "sizes": {}}
for n in sizes:
    x, cell, atype = alloy_structure(n)
    args = (x.reshape(1, -1), cell.reshape(1, 9), atype)
    e0 = dp.eval(*args)[0]                       # compiles (first size) and warms the workspace
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        e, f = dp.eval(*args)[:2]
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    np.save(forces_to.format(n=n), f.reshape(-1, 3))
    out["sizes"][n] = {"times": times, "energy": float(e[0, 0]), "median": sorted(times)[len(times) // 2],
                       "cpu_times": cpu, "cpu_median": sorted(cpu)[len(cpu) // 2]}
out["layout"] = getattr(dp.evaluator, "layout", None)
if device.startswith("cuda"):          # registers and blocks per SM of the work-group kernels, where the tree says
    try:
        from dpsycl.backends.cuda import kernel_resources
        out["resources"] = [r for r in kernel_resources() if r["layout"] == "group"]
    except Exception as exc:
        out["resources"] = f"unavailable ({type(exc).__name__}: {exc})"
out["wall"] = time.perf_counter() - t0
print("AB-RESULT " + json.dumps(out), flush=True)
"""

def stage(tree: str, where: str) -> str:
    """An importable copy of the package of ``tree`` (a repository checkout) under ``where``."""
    dst = os.path.join(where, "dpsycl")
    shutil.copytree(os.path.join(tree, "dpsycl"), dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder in ("device_kernels", "extract"):
        if os.path.isdir(os.path.join(tree, folder)):
            shutil.rmtree(os.path.join(dst, folder), ignore_errors=True)
            shutil.copytree(os.path.join(tree, folder), os.path.join(dst, folder),
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return where


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", action="append", required=True, metavar="LABEL=PATH")
    p.add_argument("--device", default="opencl:cpu")
    p.add_argument("--sizes", default="2048")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--model", required=True)
    p.add_argument("--layout", default="", help="kernel layout for every tree (default: the device's own)")
    p.add_argument("--precision", default="", help="float64, float32 (default: the model's)")
    p.add_argument("--output")
    args = p.parse_args(argv)
    import numpy as np                  # here, as in the worker: alloy_structure travels without the module
    trees = dict(t.split("=", 1) for t in args.tree)
    work = tempfile.mkdtemp(prefix="ab_")
    staged = {label: stage(os.path.abspath(path), os.path.join(work, label)) for label, path in trees.items()}
    runs = []
    for rnd in range(args.rounds):
        order = list(staged) if rnd % 2 == 0 else list(reversed(staged))
        for label in order:
            env = dict(os.environ, PYTHONPATH=staged[label], PYTHONWARNINGS="ignore")
            forces_to = os.path.join(work, f"forces-{label}-{{n}}.npy")     # the last round's forces of each tree
            proc = subprocess.run([sys.executable, "-c", WORKER, os.path.abspath(args.model), args.device, args.sizes,
                                   str(args.repeats), args.layout, forces_to, args.precision], env=env, cwd=work, capture_output=True,
                                  text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("AB-RESULT ")]
            if proc.returncode or not line:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            result = json.loads(line[0][len("AB-RESULT "):])
            assert result["dpsycl"].startswith(staged[label]), result["dpsycl"]
            result.update(label=label, round=rnd)
            runs.append(result)
            print(f"round {rnd} {label:>8}: " + ", ".join(f"N={n} {r['median'] * 1e3:.2f} ms "
                                                         f"(cpu {r['cpu_median'] * 1e3:.2f} ms)"
                                                         for n, r in result["sizes"].items()), flush=True)
    sizes = list(runs[0]["sizes"])
    print(f"\n{args.device} ({runs[0]['describe']}), median over {args.rounds} rounds of the per-process "
          f"medians of {args.repeats} evaluations")
    print(f"layout: {', '.join(sorted({str(r.get('layout')) for r in runs}))}; |ΔE|/atom over every run, |ΔF| "
          f"(eV/Å) of each tree's last forces against the first tree's")
    header = (f"{'N':>9} " + " ".join(f"{label + ' ms':>12}" for label in staged)
              + "   ratio (last/first)   |ΔE|/atom   |ΔF|")
    print(header)
    deviations = {}
    for n in sizes:
        med = {label: statistics.median(r["sizes"][n]["median"] for r in runs if r["label"] == label)
               for label in staged}
        cpu = {label: statistics.median(r["sizes"][n]["cpu_median"] for r in runs if r["label"] == label)
               for label in staged}
        energies = [r["sizes"][n]["energy"] for r in runs]
        labels = list(staged)
        forces = [np.load(os.path.join(work, f"forces-{label}-{n}.npy")) for label in labels]
        df = max(float(np.abs(f - forces[0]).max()) for f in forces)
        de = (max(energies) - min(energies)) / int(n)
        deviations[n] = {"energy_per_atom": de, "force": df}
        print(f"{n:>9} " + " ".join(f"{med[label] * 1e3:12.3f}" for label in labels)
              + f"   {med[labels[-1]] / med[labels[0]]:8.4f}            {de:.1e}     {df:.1e}")
        print(f"{'cpu':>9} " + " ".join(f"{cpu[label] * 1e3:12.3f}" for label in labels)
              + f"   {cpu[labels[-1]] / cpu[labels[0]]:8.4f}   (process CPU time, all threads: less moved by other load)")
    for label in staged:
        first = next(r for r in runs if r["label"] == label)
        if "resources" in first:
            print(f"{label}: {first['resources']}")
    if args.output:
        with open(args.output, "w") as fh:
            json.dump({"device": args.device, "trees": trees, "runs": runs, "deviations": deviations}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
