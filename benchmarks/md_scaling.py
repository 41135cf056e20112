#!/usr/bin/env python3
"""MD throughput (ns/day, dt 1 fs) at several sizes and one very large ``DeepPot.eval``, issue 14's
targets 5 and 7; then the README table and the plot from the JSON files.

    python benchmarks/md_scaling.py run --device cuda:0 --models dpsycl/data/cuag.h5,.ab/cuag_compressed.h5 \\
        --sizes 2048,32000,1048576 --large-atoms 10000000 --budget 240 --output OUT/md_scaling.json
    python benchmarks/md_scaling.py run --device opencl:cpu --sizes 2048 --large-atoms 0 \\
        --output benchmarks/results/md_scaling-cpu.json          # the CPU point: ~60 s, on a quiet machine
    python benchmarks/md_scaling.py report OUT/md_scaling.json [more.json ...] \\
        --readme benchmarks/README.md --plot benchmarks/results/md-throughput.png

``run``: for each model in turn, a short run of COMPILE_ATOMS atoms that compiles its kernels (kind
"compile"), one time-boxed NVE point per size (dpsycl_bench/md_scaling.py),
then, after the first model's points, the large evaluation (dpsycl_bench/large_system.py) with the
first model.  The JSON is rewritten after every point (status "running", then "complete"), so a
run cut short keeps what it measured.  ``--budget`` (seconds, whole run): a point whose predicted
duration (the previous point's ms/step scaled by N, over its warm-up and one sampling period, or
the large evaluation's by its estimate) does not fit in what is left is skipped and recorded as
such.  ``report``: see dpsycl_bench/md_report.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
try:
    import dpsycl  # noqa: F401
except ImportError:               # a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(HERE))

from dpsycl_bench import md_report  # noqa: E402
from dpsycl_bench.large_system import LARGE_ATOMS, large_eval  # noqa: E402
from dpsycl_bench.machine import loadavg, machine_info, versions  # noqa: E402
from dpsycl_bench.md_scaling import COMPILE_ATOMS, CPU_SIZES, GPU_SIZES, WARMUP_STEPS, md_point  # noqa: E402
from dpsycl_bench.results_files import write_run  # noqa: E402
from dpsycl_bench.timing import log  # noqa: E402

SCHEMA = "dpsycl-md-scaling/1"
#: the time box of one GPU point at N atoms (s): small systems many periods, 1 M one or two
DEFAULT_SECONDS = {2048: 10.0, 32000: 10.0, 1048576: 15.0}
#: ... and of a CPU point (2,048 atoms: ~0.3 s a step on 2 cores, so ~10 periods)
CPU_SECONDS = 30.0
#: a large evaluation costs about this many times its estimate of one eval (allocation, a second eval)
LARGE_FACTOR = 2.5


def time_box(natoms: int, given: float | None, cuda: bool) -> float:
    if given is not None:
        return given
    return DEFAULT_SECONDS.get(natoms, 10.0) if cuda else CPU_SECONDS


def predicted_seconds(previous: dict | None, natoms: int, seconds: float, every: int = 10) -> float:
    """What a point of ``natoms`` atoms will take, from the last point measured (linear in N): init
    (one evaluation), the warm-up and at least one whole period, or the time box if longer."""
    if not previous or previous.get("status") != "ok":
        return 0.0
    per_step = previous["ms_per_step"] / 1e3 * natoms / previous["natoms"]
    return per_step * (1 + WARMUP_STEPS) + max(seconds, per_step * every)


def run_command(args) -> int:
    import dpsycl
    t0 = time.perf_counter()
    paths = [p for p in args.models.split(",") if p] or [dpsycl.bundled_model()]
    cuda = args.device.startswith("cuda")
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(GPU_SIZES if cuda else CPU_SIZES)
    result = {"schema": SCHEMA, "status": "running", "started": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
              "device": args.device, "machine": machine_info(), "versions": versions(), "budget_s": args.budget,
              "results": []}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)

    def left() -> float:
        return float("inf") if args.budget is None else args.budget - (time.perf_counter() - t0)

    def record(point: dict) -> None:
        point["loadavg"] = loadavg()
        result["results"].append(point)
        result["wall_s"] = time.perf_counter() - t0
        write_run(result, args.output)

    for index, path in enumerate(paths):
        if not os.path.exists(path):
            log(f"model {path}: not found, skipped", t0)
            record({"kind": "md", "model": path, "status": "skipped", "reason": "model file not found"})
            continue
        model = dpsycl.load_model(path)
        # compile the model's kernels on a small system first, so that no timed point's warm-up or
        # peak memory (the compiler's, on a CPU device) holds compilation
        previous = md_point(model, args.device, args.compile_atoms, 0.0, precision=args.precision, t0=t0)
        previous.update(kind="compile", model=path)
        record(previous)
        previous = previous if previous["status"] == "ok" else None
        for natoms in sizes:
            seconds = time_box(natoms, args.seconds, cuda)
            need = predicted_seconds(previous, natoms, seconds)
            if need > left():
                log(f"MD N={natoms:,} ({os.path.basename(path)}): skipped, needs ~{need:.0f} s, "
                    f"{left():.0f} s left", t0)
                record({"kind": "md", "model": path, "natoms": natoms, "status": "skipped",
                        "reason": f"budget: predicted {need:.0f} s, {left():.0f} s left"})
                continue
            point = md_point(model, args.device, natoms, seconds, precision=args.precision,
                             warmup_steps=WARMUP_STEPS, t0=t0)
            point.update(kind="md", model=path)
            record(point)
            previous = point if point["status"] == "ok" else previous
        if index == 0 and args.large_atoms:
            need = 0.0
            if previous is not None:
                need = LARGE_FACTOR * previous["us_per_step_atom"] * 1e-6 * args.large_atoms
            if need > left():
                log(f"large system: skipped, needs ~{need:.0f} s, {left():.0f} s left", t0)
                record({"kind": "large", "model": path, "natoms": args.large_atoms, "status": "skipped",
                        "reason": f"budget: predicted {need:.0f} s, {left():.0f} s left"})
            else:
                point = large_eval(model, args.device, args.large_atoms, max(left(), 0.0),
                                   precision=args.precision, t0=t0)
                point.update(kind="large", model=path)
                record(point)
    result["status"] = "complete"
    result["wall_s"] = time.perf_counter() - t0
    written = write_run(result, args.output)
    print(md_report.console_table(written), flush=True)
    log(f"done: {args.output}", t0)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="measure and write one JSON file")
    r.add_argument("--device", default="cuda:0")
    r.add_argument("--models", default="", help="comma-separated model files (default: the bundled cuag.h5); "
                                                "a missing one is recorded as skipped")
    r.add_argument("--precision", default=None, help="float64 or float32 (default: the model's)")
    r.add_argument("--sizes", default="", help=f"comma-separated N (default GPU {GPU_SIZES}, else {CPU_SIZES})")
    r.add_argument("--seconds", type=float, default=None, help="time box of every MD point (default: GPU "
                                                                f"{DEFAULT_SECONDS}, else 10; CPU {CPU_SECONDS})")
    r.add_argument("--compile-atoms", type=int, default=COMPILE_ATOMS, help="atoms of the compile point "
                                                                            "(the CUDA simulator: 4)")
    r.add_argument("--large-atoms", type=int, default=LARGE_ATOMS, help="0: no large evaluation")
    r.add_argument("--budget", type=float, default=None, help="seconds for the whole run (points that would "
                                                              "not fit are skipped)")
    r.add_argument("--output", required=True, help="JSON file to write")
    m = sub.add_parser("report", help="README table and plot from JSON files of `run`")
    md_report.add_arguments(m)
    args = p.parse_args(argv)
    return run_command(args) if args.command == "run" else md_report.report_command(args)


if __name__ == "__main__":
    raise SystemExit(main())
