"""What a set of benchmark results says: scaling exponents, performance portability, targets.

Input: the ``results`` records of one or several runs (the JSON files' lists); nothing here
measures or prints.
"""
from __future__ import annotations

import numpy as np

LARGE_N = 8000    # "from 8k up": where the GPU's time should grow linearly


def series(results: list[dict]) -> dict:
    """Successful device results grouped by (code, device, precision), each sorted by N."""
    out: dict = {}
    for r in results:
        if r.get("status") != "ok" or r.get("device") == "numpy":
            continue
        out.setdefault((r["code"], r["device"], r["precision"]), []).append(r)
    for rs in out.values():
        rs.sort(key=lambda r: r["natoms"])
    return out


def _slope(ns, ts) -> float | None:
    """Least-squares exponent of t ∝ N^k."""
    if len(ns) < 2:
        return None
    return float(np.polyfit(np.log(np.asarray(ns, float)), np.log(np.asarray(ts, float)), 1)[0])


def scaling(results: list[dict]) -> list[dict]:
    """Exponent of total time vs N per series: over all sizes, pairwise, and from 8k atoms up."""
    rows = []
    for (code, device, precision), rs in series(results).items():
        ns = [r["natoms"] for r in rs]
        ts = [r["t_total_s"] for r in rs]
        large = [(n, t) for n, t in zip(ns, ts) if n >= LARGE_N]
        rows.append({"code": code, "device": device, "precision": precision, "sizes": ns,
                     "exponent_all": _slope(ns, ts),
                     "pairwise": [{"from": ns[k], "to": ns[k + 1], "exponent": _slope(ns[k:k + 2], ts[k:k + 2])}
                                  for k in range(len(ns) - 1)],
                     "exponent_8k_up": _slope(*zip(*large)) if len(large) >= 2 else None,
                     "range_8k_up": [large[0][0], large[-1][0]] if len(large) >= 2 else None})
    return rows


def platform_of(run: dict, r: dict) -> str:
    """The hardware a result ran on: the GPU's name, or the host CPU (model × cores)."""
    cpu = f"{run['machine']['cpu']} ×{run['machine']['cores']} cores"
    if r["code"] == "dpsycl":
        peak = run["peaks"].get(r["device"]) or {}
        return peak["name"] if peak.get("kind") == "gpu" and peak.get("name") else f"{cpu} ({r['device']})"
    hardware = r.get("hardware") or "host CPU"
    return cpu if hardware == "host CPU" else hardware


def harmonic_mean(values) -> float:
    """Pennycook's P̸ over platforms: 0 when a code cannot run (or has no figure) on one of them."""
    values = list(values)
    if not values or any(v is None or v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


def portability(runs: list[dict]) -> dict:
    """Architectural efficiency (useful FLOP/s ÷ FP64 peak) per code and platform, float64, and P̸."""
    per_code: dict = {}
    for run in runs:
        for r in run["results"]:
            if (r.get("status") != "ok" or r.get("precision") != "float64" or not r.get("fraction_of_peak_useful")
                    or r.get("device") == "numpy"):
                continue
            per_code.setdefault(r["code"].split("-")[0], {}).setdefault(platform_of(run, r), {}).setdefault(
                run["run_id"], []).append(r)
    out = {}
    for code, platforms in per_code.items():
        efficiencies = {}
        for platform, by_run in platforms.items():
            # one platform measured by several runs: keep the run that reached the largest N
            rs = max(by_run.values(), key=lambda rs: (max(r["natoms"] for r in rs), len(rs)))
            largest = max(rs, key=lambda r: r["natoms"])
            at_2048 = next((r for r in rs if r["natoms"] == 2048), None)
            efficiencies[platform] = {"largest_n": largest["natoms"],
                                      "efficiency_largest": largest["fraction_of_peak_useful"],
                                      "efficiency_2048": at_2048["fraction_of_peak_useful"] if at_2048 else None}
        out[code] = {"platforms": efficiencies,
                     "pp_largest": harmonic_mean(e["efficiency_largest"] for e in efficiencies.values()),
                     "pp_2048": harmonic_mean(e["efficiency_2048"] for e in efficiencies.values())}
    return out


def _target(name: str, met, value: str) -> dict:
    return {"target": name, "met": met, "value": value}


def evaluate_targets(runs: list[dict]) -> list[dict]:
    """The project's performance targets, each met (True), not met (False) or not measured (None)."""
    every = [r for run in runs for r in run["results"]]

    def dpsycl_ok(device_prefix, n=None, precision="float64"):
        return [r for r in every if r["code"] == "dpsycl" and r["device"].startswith(device_prefix)
                and r["precision"] == precision and r.get("status") == "ok" and (n is None or r["natoms"] == n)]

    out = []
    # 1. CPU ≥ 1.0× DeePMD-kit TF at N ≥ 2,048
    name = "CPU: dpsycl opencl:cpu ≥ 1.0× DeePMD-kit TF at every N ≥ 2,048 (float64)"
    rs = [r for r in dpsycl_ok("opencl:cpu") if r["natoms"] >= 2048 and r.get("speed_ratio_vs_peer")
          and r.get("peer") == "deepmd-tf"]
    if rs:
        worst = min(rs, key=lambda r: r["speed_ratio_vs_peer"])
        out.append(_target(name, worst["speed_ratio_vs_peer"] >= 1.0,
                           f"worst {worst['speed_ratio_vs_peer']:.2f}× at N={worst['natoms']}; "
                           + ", ".join(f"{r['natoms']}: {r['speed_ratio_vs_peer']:.2f}×" for r in rs)))
    else:
        out.append(_target(name, None, "not measured"))
    # 2. GPU ≥ 2× DeePMD-kit PT at 2,048 and ≈ 8,800 atoms
    for n_goal, label in ((2048, "2,048"), (8788, "≈8,800")):
        name = f"GPU: dpsycl cuda ≥ 2× DeePMD-kit PT at N = {label} (float64)"
        rs = [r for r in dpsycl_ok("cuda") if abs(r["natoms"] - n_goal) <= 0.05 * n_goal]
        with_ratio = [r for r in rs if r.get("speed_ratio_vs_peer") and r.get("peer") == "deepmd-pt"]
        if with_ratio:
            r = with_ratio[0]
            out.append(_target(name, r["speed_ratio_vs_peer"] >= 2.0,
                               f"{r['speed_ratio_vs_peer']:.2f}× at N={r['natoms']}"))
        else:
            out.append(_target(name, None, "not measured" if not rs else "no peer time"))
    # 3. 131,072 and 1,048,576 atoms on one GPU within 40 KB/atom
    for n_goal in (131072, 1048576):
        name = f"GPU: {n_goal:,} atoms on one GPU with ≤ 40 KB/atom peak device memory"
        rs = dpsycl_ok("cuda", n_goal)
        out_of_memory = [r for r in every if r["code"] == "dpsycl" and r["device"].startswith("cuda")
                         and r["natoms"] == n_goal and r.get("status") == "oom"]
        if rs:
            kb = rs[0]["memory_bytes_per_atom"] / 1000
            out.append(_target(name, kb <= 40.0, f"{kb:.1f} KB/atom ({rs[0]['peak_memory_bytes'] / 1e9:.2f} GB), "
                                                 f"{rs[0]['us_per_step_atom']:.3f} µs/step/atom"))
        else:
            out.append(_target(name, False if out_of_memory else None, "OOM" if out_of_memory else "not measured"))
    # 4. time exponent ≤ 1.05 between 8k and 1M atoms
    name = "GPU: time exponent ≤ 1.05 between 8k and 1M atoms (float64)"
    rows = [s for s in scaling(every) if s["code"] == "dpsycl" and s["device"].startswith("cuda")
            and s["precision"] == "float64" and s["exponent_8k_up"] is not None]
    if rows:
        s = rows[0]
        full = s["range_8k_up"][1] >= 1_000_000
        out.append(_target(name, (s["exponent_8k_up"] <= 1.05) if full else None,
                           f"{s['exponent_8k_up']:.3f} over N={s['range_8k_up'][0]}…{s['range_8k_up'][1]}"
                           + ("" if full else " (range short of 1M)")))
    else:
        out.append(_target(name, None, "not measured"))
    # 5. ≥ 20% of the FP64 peak at N ≥ 131,072
    name = "GPU: ≥ 20% of FP64 peak at N ≥ 131,072 (dpsycl's own FLOPs / total time)"
    rs = [r for r in dpsycl_ok("cuda") if r["natoms"] >= 131072 and r.get("fraction_of_peak_own") is not None]
    if rs:
        worst = min(rs, key=lambda r: r["fraction_of_peak_own"])
        out.append(_target(name, worst["fraction_of_peak_own"] >= 0.20,
                           f"worst {100 * worst['fraction_of_peak_own']:.1f}% own "
                           f"({100 * worst['fraction_of_peak_useful']:.1f}% useful) at N={worst['natoms']}"))
    else:
        out.append(_target(name, None, "not measured"))
    return out
