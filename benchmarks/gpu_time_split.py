#!/usr/bin/env python3
"""Where one ``DeepPot.eval`` spends its time on a device, split by phase and by network.

    python3 -P benchmarks/gpu_time_split.py --device cuda:0 --sizes 2048,131072 \
        --compressed .ab/cuag_compressed.h5 --output split.json

For the bundled cuag model, per size, medians (with the queue drained after each call) of:
``eval`` end to end (host arrays in and out), ``build_neighbors`` alone, ``compute`` alone; and
``compute`` again for two variants that differ from cuag in one network only, so that the
difference is that network's share of the kernel time, measured rather than guessed:

* ``small_fitting``: cuag with its fitting nets replaced by 512→8→8→8→1 nets (same descriptor,
  same embedding; the fitting work drops from 0.47 MFLOP/atom to ≈ 0.02);
* ``compressed`` (``--compressed``): the embedding net read from tables (dpsycl compress).

Then a cProfile of ``eval`` at the largest size: the host's own share (input checks, copies,
launches).  Writes JSON (``--output``) and prints a table.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_timing import alloy_structure  # noqa: E402

import dpsycl  # noqa: E402
from dpsycl.model import Layer  # noqa: E402
from dpsycl.model_io import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def small_fitting(model, width: int = 8, seed: int = 0):
    """The model with every fitting net replaced by input→width→width→width→1 (same activation and
    resnet_dt rule, random weights of DeePMD-kit's scale): only the fitting work changes."""
    fit = model.fitting
    rng = np.random.default_rng(seed)
    n_in = fit.nets[0][0].matrix.shape[0]
    widths = [n_in, width, width, width, 1]
    nets = []
    for _ in fit.nets:
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            idt = rng.normal(0.1, 0.01, b) if fit.resnet_dt and b > 1 else None
            layers.append(Layer(rng.normal(0.0, 1 / np.sqrt(a + b), (a, b)), rng.normal(0.0, 1.0, b), idt))
        nets.append(layers)
    return replace(model, fitting=replace(fit, neuron=[width] * 3, nets=nets))


def median_ms(fn, backend, repeats: int) -> float:
    fn()
    backend.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        backend.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def split(model, device: str, natoms: int, repeats: int) -> dict:
    dp = dpsycl.DeepPot(model, device=device)
    ev, b = dp.evaluator, dp.evaluator.backend
    x, cell, atype = alloy_structure(natoms)
    pos = b.asarray(x, ev.dtype)
    atd = b.asarray(atype, np.int64)
    nb = ev.build_neighbors(pos, atd, cell)
    row = {"layout": ev.layout,
           "eval_ms": median_ms(lambda: dp.eval(x[None], cell.reshape(1, 9), atype), b, repeats),
           "build_ms": median_ms(lambda: ev.build_neighbors(pos, atd, cell), b, repeats),
           "compute_ms": median_ms(lambda: ev.compute(pos, atd, cell, nb), b, repeats)}
    return dp, row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--sizes", default="2048,131072")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", default=str(ROOT / "dpsycl" / "data" / "cuag.h5"))
    ap.add_argument("--compressed", default="")
    ap.add_argument("--output", default="")
    ap.add_argument("--profile-top", type=int, default=15, help="entries of the profile, by own and by cumulative time")
    ap.add_argument("--profile-calls", type=int, default=3, help="evaluations profiled at the last size")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = load_model(args.model)
    variants = {"cuag": base, "small_fitting": small_fitting(base)}
    if args.compressed and Path(args.compressed).exists():
        variants["compressed"] = load_model(args.compressed)
    results = {"device": args.device, "sizes": sizes, "rows": []}
    dp = None
    for n in sizes:
        for name, model in variants.items():
            dp, row = split(model, args.device, n, args.repeats)
            row.update(variant=name, natoms=n, device_name=dp.describe_device())
            results["rows"].append(row)
            print(f"{name:>14} N={n:>9,}: eval {row['eval_ms']:9.2f} ms | build {row['build_ms']:8.2f} | "
                  f"compute {row['compute_ms']:9.2f} ({row['layout']})", flush=True)
    n = sizes[-1]
    dp = dpsycl.DeepPot(base, device=args.device)
    x, cell, atype = alloy_structure(n)
    dp.eval(x[None], cell.reshape(1, 9), atype)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(args.profile_calls):
        dp.eval(x[None], cell.reshape(1, 9), atype)
    prof.disable()
    text = io.StringIO()
    for order in ("tottime", "cumulative"):
        pstats.Stats(prof, stream=text).sort_stats(order).print_stats(args.profile_top)
    results["profile_eval_largest"] = text.getvalue()
    print(text.getvalue())
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
