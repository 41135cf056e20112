"""Direct launches (dpsycl/backends/cuda_launch.py) against numba-cuda's dispatcher, same process.

    python3 -P benchmarks/gpu_launch_probe.py MODEL [N_CELLS] [OUT_JSON]     (cuda:0; NumPy only, no ASE)

Prints and writes: the numba-cuda / cuda-core / cuda-bindings versions; for a 4·N_CELLS³-atom NVE
run (dt 1 fs, the default skin and sampling), ms per MD step with the dispatcher and with direct
launches (alternating rounds), and whether 300 steps from one start give bit-identical positions,
velocities and forces both ways; ``DeepPot.eval`` end to end both ways; launches per step by kind;
then cProfile's top entries (own time) of 200 direct-launch steps, and each compiled kernel's registers,
local and shared memory and resident blocks per multiprocessor (dpsycl.backends.cuda.kernel_resources).
"""
from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from gpu_smoke import alloy  # noqa: E402

import dpsycl  # noqa: E402
from dpsycl.md import MDSettings, initial_state, nve, to_host  # noqa: E402


def versions() -> dict:
    out = {}
    for name in ("numba", "numba_cuda", "cuda.core", "cuda.bindings", "numpy"):
        try:
            module = __import__(name, fromlist=["__version__"])
            out[name] = getattr(module, "__version__", "?")
        except ImportError as exc:
            out[name] = f"not importable: {exc}"
    return out


#: PROBE_SCALE=0.01 shrinks every step count (a smoke test under the CUDA simulator)
SCALE = float(os.environ.get("PROBE_SCALE", "1"))


def n_steps(n: int) -> int:
    return max(2, int(n * SCALE))


def main() -> None:
    model = sys.argv[1]
    cells = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    out_json = sys.argv[3] if len(sys.argv) > 3 else None
    report: dict = {"versions": versions()}
    print(report["versions"], flush=True)
    dp = dpsycl.DeepPot(model, device="cuda:0")
    launcher = dp.evaluator.backend.launcher
    x, cell, at = alloy(cells)
    report["atoms"] = len(at)
    settings = MDSettings(dt=1.0, ensemble="nve", temperature=300.0).validate()
    host0 = initial_state(x, cell, at, dp.get_type_map(), 300.0, seed=13)
    init, step = nve(dp, settings)

    def md(mode: str, steps: int, host=host0):
        launcher.enabled = mode == "direct"
        state = init(host)
        for _ in range(steps):
            state = step(state)
        dp.evaluator.backend.synchronize()
        return state

    # correctness first: one start, 300 steps both ways, bit for bit
    finals = {}
    for mode in ("dispatcher", "direct"):
        h = to_host(md(mode, n_steps(300)))
        finals[mode] = h
    same = {name: bool(np.array_equal(getattr(finals["dispatcher"], name), getattr(finals["direct"], name)))
            for name in ("positions", "velocities", "forces")}
    report["bit_identical_after_300_steps"] = same
    print("bit-identical after 300 steps:", same, flush=True)

    # ms per step, alternating rounds (each: 100 warm-up steps, then 500 timed)
    times: dict = {"dispatcher": [], "direct": []}
    for _ in range(3):
        for mode in ("dispatcher", "direct"):
            launcher.enabled = mode == "direct"
            state = md(mode, n_steps(100))
            before = launcher.fast_launches, launcher.dispatched_launches
            t0 = time.perf_counter()
            for _ in range(n_steps(500)):
                state = step(state)
            dp.evaluator.backend.synchronize()
            times[mode].append((time.perf_counter() - t0) / n_steps(500) * 1e3)
            if mode == "direct":
                report["launches_per_step"] = {
                    "direct": (launcher.fast_launches - before[0]) / n_steps(500),
                    "dispatcher": (launcher.dispatched_launches - before[1]) / n_steps(500)}
    report["md_ms_per_step"] = times
    print("MD ms/step:", {k: [round(t, 3) for t in v] for k, v in times.items()},
          "launches/step (direct run):", report.get("launches_per_step"), flush=True)

    # DeepPot.eval end to end (host arrays in and out)
    xs, cs = x[None], cell.reshape(1, 9)
    evals: dict = {"dispatcher": [], "direct": []}
    for _ in range(3):
        for mode in ("dispatcher", "direct"):
            launcher.enabled = mode == "direct"
            for _ in range(3):
                dp.eval(xs, cs, at)
            ts = []
            for _ in range(20):
                t0 = time.perf_counter()
                dp.eval(xs, cs, at)
                ts.append(time.perf_counter() - t0)
            evals[mode].append(float(np.median(ts)) * 1e3)
    launcher.enabled = True
    e_direct = dp.eval(xs, cs, at)
    launcher.enabled = False
    e_disp = dp.eval(xs, cs, at)
    report["eval_ms"] = evals
    report["eval_bit_identical"] = bool(all(np.array_equal(a, b) for a, b in zip(e_disp, e_direct)))
    print("DeepPot.eval ms:", {k: [round(t, 3) for t in v] for k, v in evals.items()},
          "bit-identical:", report["eval_bit_identical"], flush=True)

    launcher.enabled = True
    state = md("direct", n_steps(50))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n_steps(200)):
        state = step(state)
    dp.evaluator.backend.synchronize()
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(22)
    report["profile_direct_200_steps"] = text.getvalue()
    print(text.getvalue())
    from dpsycl.backends.cuda import kernel_resources
    try:
        report["kernel_resources"] = kernel_resources()
    except Exception as exc:  # noqa: BLE001 - a probe: report what failed and keep the rest
        report["kernel_resources"] = [{"error": f"{type(exc).__name__}: {exc}"}]
    for row in report["kernel_resources"]:
        print(row)
    if out_json:
        with open(out_json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
