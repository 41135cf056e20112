"""What a long NVE trajectory says about energy conservation and the watchdog.

    python benchmarks/long_nve_report.py nve.h5 run.log

Prints JSON: frames, simulated ps, restarts, the total energy's drift (least-squares slope,
meV/atom/ps) and RMS fluctuation about that line (meV/atom), the largest |E(t) − E(0)| per atom,
the temperature range, and the watchdog's lines in the run's log (stopped/warning), which a sound
run must not have.
"""
from __future__ import annotations

import json
import sys

import numpy as np


def main(path: str, log_path: str) -> int:
    from dpsycl.h5md import read_trajectory
    t = read_trajectory(path)
    n = len(t["step"])
    natoms = t["positions"].shape[1]
    time_ps = np.asarray(t["time"], dtype=np.float64) / 1000.0
    etot = np.asarray(t["observables"]["total_energy"], dtype=np.float64) / natoms * 1000.0  # meV/atom
    temperature = np.asarray(t["observables"]["temperature"], dtype=np.float64)
    slope, intercept = np.polyfit(time_ps, etot, 1) if n > 2 else (float("nan"), float("nan"))
    residual = etot - (slope * time_ps + intercept)
    with open(log_path, errors="replace") as f:
        log = f.read().splitlines()
    watchdog = [line for line in log if line.startswith(("dpsycl: stopped", "dpsycl: warning", "dpsycl: error"))]
    par = t["parameters"]
    report = {
        "file": path, "frames": n, "atoms": natoms, "dt_fs": float(par.get("timestep", float("nan"))),
        "first_step": int(t["step"][0]), "last_step": int(t["step"][-1]),
        "simulated_ps": float(time_ps[-1] - time_ps[0]),
        "drift_meV_per_atom_per_ps": float(slope),
        "rms_fluctuation_meV_per_atom": float(np.sqrt(np.mean(residual ** 2))) if n > 2 else None,
        "max_abs_dE_meV_per_atom": float(np.max(np.abs(etot - etot[0]))),
        "temperature_K": {"min": float(temperature.min()), "mean": float(temperature.mean()),
                          "max": float(temperature.max())},
        "all_finite": bool(np.isfinite(t["positions"]).all() and np.isfinite(etot).all()),
        "watchdog_lines": watchdog,
        "log_tail": log[-6:],
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
