"""Case study: a binary Cu–Ag alloy with the bundled DeePMD-kit model, run by dpsycl on a device.

    python benchmarks/case_study.py --out out/case_study                 # small, CPU: a few minutes
    python benchmarks/case_study.py --out out/cs_gpu --device cuda:0 \\
        --atoms 4000 --nve-ps 20 --equil-ps 20 --prod-ps 100 --every 50      # bigger, on a GPU

Three questions, one figure each, every figure titled with the number that summarises it:

1. Energy conservation: NVE from the same 600 K start at dt 1 fs and 2 fs; figure E_tot(t) − E_0,
   summary: drift (meV/atom/ps, least-squares slope) and RMS fluctuation (meV/atom) per dt.
2. Structure: partial RDFs (Cu–Cu, Cu–Ag, Ag–Ag) at 300 K and 1000 K from CSVR MD with the model,
   against the same MD (same start, dt, CSVR τ, steps, sampling) driven by ASE's EMT — the
   potential the model was trained on; summary: mean |g_DP − g_EMT| per pair and first-peak shift.
3. Mobility: mean-squared displacement at both temperatures, model vs EMT; summary: the MSD
   plateau (mean over the second half, Å²: the vibrational amplitude in the solid) and a diffusion
   coefficient from the slope of the second half (cm²/s; noise-level in the solid, meaningful once
   it melts or for long runs).

Everything lands in --out: nve_drift.png, rdf_300K.png, rdf_1000K.png, msd.png, summary.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

try:                    # installed, or staged on PYTHONPATH (benchmarks/gpu_stage.sh)
    import dpsycl  # noqa: F401
except ImportError:     # a checkout without an install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dpsycl import analysis  # noqa: E402
from dpsycl.md import MDSettings, initial_state, maxwell_boltzmann, run, sample, schedule  # noqa: E402
from dpsycl.plots import pyplot  # noqa: E402
from dpsycl.structures import random_alloy  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "dpsycl", "data", "cuag.pb")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default=None, help="float64, float32 or mixed (default: the model's)")
    p.add_argument("--nve-only", action="store_true", help="only the energy-conservation runs")
    p.add_argument("--alloy", default="Cu0.5Ag0.5")
    p.add_argument("--atoms", type=int, default=108, help="at least this many atoms (default 108)")
    p.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 1000.0])
    p.add_argument("--dts", type=float, nargs="+", default=[1.0, 2.0], help="NVE time steps (fs)")
    p.add_argument("--nve-ps", type=float, default=0.4, help="NVE length per time step (ps)")
    p.add_argument("--dt", type=float, default=2.0, help="time step of the NVT runs (fs)")
    p.add_argument("--tau", type=float, default=50.0, help="CSVR time constant (fs)")
    p.add_argument("--equil-ps", type=float, default=0.4, help="NVT equilibration per temperature (ps)")
    p.add_argument("--prod-ps", type=float, default=0.8, help="NVT production per temperature (ps)")
    p.add_argument("--every", type=int, default=10, help="sampling period (steps)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-emt", action="store_true", help="skip the EMT reference runs")
    p.add_argument("--emt-cache", metavar="DIR",
                   help="EMT reference trajectories: read emt_<T>K.npz from here when its protocol matches, "
                        "else run EMT and write it here")
    p.add_argument("--emt-only", action="store_true",
                   help="only run (and cache) the EMT references of --temperatures, for running them on "
                        "another machine than the model's MD")
    p.add_argument("--force-check", type=int, metavar="FRAMES", default=0,
                   help="only compare the model's forces with EMT's on FRAMES frames of each cached EMT "
                        "trajectory (force_check.json)")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
def dp_run(dp, atoms, settings, steps, sample_from=0):
    """Device MD; returns times (fs), total energies, temperatures and unwrapped positions of the
    frames from step ``sample_from`` on, plus the wall time per step."""
    type_map = dp.get_type_map()
    atype = np.asarray([type_map.index(s) for s in atoms.get_chemical_symbols()])
    init, step = schedule(dp, settings)
    state = init(initial_state(atoms.positions, atoms.cell.array, atype, type_map, settings.temperature,
                               settings.seed))
    frames = [sample(state)]
    t0 = time.perf_counter()
    run(step, state, steps, every=settings.every,
        on_frame=lambda f: frames.append(f) if f.step >= sample_from else None)
    wall = (time.perf_counter() - t0) / max(steps, 1)
    frames = [f for f in frames if f.step >= sample_from]
    return {"time": np.asarray([f.time for f in frames]),
            "total": np.asarray([f.observables["total_energy"] for f in frames]),
            "temperature": np.asarray([f.observables["temperature"] for f in frames]),
            "positions": np.asarray([f.unwrapped_positions() for f in frames]),
            "cell": atoms.cell.array, "species": atype, "s_per_step": wall}


def emt_run(atoms, settings, steps, sample_from=0):
    """The same protocol with ASE's EMT: same start (Maxwell–Boltzmann from the same seed), CSVR
    (ase.md.bussi.Bussi) with the same τ, or velocity Verlet for NVE."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.bussi import Bussi
    from ase.md.verlet import VelocityVerlet

    a = atoms.copy()
    a.calc = EMT()
    a.set_velocities(maxwell_boltzmann(a.get_masses(), settings.temperature, settings.seed) / units.fs)
    if settings.ensemble == "csvr":
        dyn = Bussi(a, settings.dt * units.fs, temperature_K=settings.temperature, taut=settings.tau * units.fs,
                    rng=np.random.default_rng(settings.seed))
    else:
        dyn = VelocityVerlet(a, settings.dt * units.fs)
    rec = {"time": [], "total": [], "temperature": [], "positions": []}
    ndof = 3 * len(a) - 3

    def sample():
        step = dyn.nsteps
        if step % settings.every or step < sample_from:
            return
        ke = a.get_kinetic_energy()
        rec["time"].append(step * settings.dt)
        rec["total"].append(a.get_potential_energy() + ke)
        rec["temperature"].append(2 * ke / (ndof * units.kB))
        rec["positions"].append(a.get_positions().copy())
    dyn.attach(sample, interval=1)
    t0 = time.perf_counter()

    def progress():
        done = dyn.nsteps
        if done and done % max(1, steps // 20) == 0:
            el = time.perf_counter() - t0
            print(f"    EMT {settings.temperature:g} K: step {done}/{steps}, {el / done:.3g} s/step, "
                  f"{el / done * (steps - done) / 60:.1f} min left", flush=True)
    dyn.attach(progress, interval=1)
    dyn.run(steps)
    wall = (time.perf_counter() - t0) / max(steps, 1)
    out = {k: np.asarray(v) for k, v in rec.items()}
    out.update(cell=a.cell.array, species=None, s_per_step=wall)
    return out


def nvt_protocol(args, temp):
    """The CSVR run of one temperature that both codes follow: settings, total steps, and the
    step from which frames are sampled (the end of the equilibration)."""
    equil = int(round(args.equil_ps * 1000 / args.dt))
    prod = int(round(args.prod_ps * 1000 / args.dt))
    settings = MDSettings(dt=args.dt, ensemble="csvr", temperature=temp, tau=args.tau, every=args.every,
                          seed=args.seed)
    return settings, equil + prod, equil


def emt_reference(atoms, settings, steps, sample_from, cache_dir):
    """The EMT run of one temperature, read from ``cache_dir`` when a run of exactly this protocol
    (atoms, species, cell, dt, τ, steps, sampling, seed) is stored there, else run and stored — the
    pure-Python EMT is 100× slower than the model on a GPU, so it runs once, on any CPU."""
    protocol = {"natoms": len(atoms), "symbols": "".join(atoms.get_chemical_symbols()),
                "cell": atoms.cell.array.round(10).tolist(), "temperature": settings.temperature,
                "dt": settings.dt, "tau": settings.tau, "steps": steps, "sample_from": sample_from,
                "every": settings.every, "seed": settings.seed}
    path = os.path.join(cache_dir, f"emt_{settings.temperature:g}K.npz") if cache_dir else None
    if path and os.path.exists(path):
        with np.load(path) as z:
            if json.loads(str(z["protocol"])) == protocol:
                print(f"    EMT {settings.temperature:g} K: read from {path}", flush=True)
                out = {k: z[k] for k in ("time", "total", "temperature", "positions", "cell")}
                out.update(species=None, s_per_step=float(z["s_per_step"]))
                return out
        print(f"    EMT {settings.temperature:g} K: {path} has another protocol, rerunning", flush=True)
    out = emt_run(atoms, settings, steps, sample_from)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".part.npz"
        np.savez(tmp, protocol=json.dumps(protocol), **{k: out[k] for k in
                 ("time", "total", "temperature", "positions", "cell", "s_per_step")})
        os.replace(tmp, path)
    return out


def force_check(dp, atoms, args):
    """The model against EMT on EMT's own sampled configurations: force RMSE (against EMT's RMS
    force for scale) and the slope k of a least-squares line F_DP = k·F_EMT through the origin."""
    from ase.calculators.emt import EMT
    type_map = dp.get_type_map()
    atype = np.asarray([type_map.index(s) for s in atoms.get_chemical_symbols()])
    res = {}
    for temp in args.temperatures:
        run = emt_reference(atoms, *nvt_protocol(args, temp), args.emt_cache)
        picks = np.linspace(0, len(run["positions"]) - 1, args.force_check).round().astype(int)
        f_dp, f_emt = [], []
        for k in picks:
            a = atoms.copy()
            a.positions = run["positions"][k]
            a.calc = EMT()
            f_emt.append(a.get_forces())
            f_dp.append(dp.eval(a.positions[None], a.cell.array.reshape(1, 9), atype)[1][0])
        f_dp, f_emt = np.concatenate(f_dp).ravel(), np.concatenate(f_emt).ravel()
        r = res[f"{temp:g} K"] = {"frames": len(picks),
                                  "force_rmse_eV_A": float(np.sqrt(np.mean((f_dp - f_emt) ** 2))),
                                  "force_rms_emt_eV_A": float(np.sqrt(np.mean(f_emt ** 2))),
                                  "slope_dp_vs_emt": float(np.dot(f_dp, f_emt) / np.dot(f_emt, f_emt))}
        print(f"  forces on {len(picks)} EMT frames at {temp:g} K: RMSE {r['force_rmse_eV_A']:.4f} eV/Å "
              f"(EMT RMS {r['force_rms_emt_eV_A']:.3f}), slope F_DP/F_EMT {r['slope_dp_vs_emt']:.4f}", flush=True)
    return res


# ---------------------------------------------------------------------------------------------
def nve_study(dp, atoms, args, natoms):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    res = {}
    for dt in args.dts:
        steps = int(round(args.nve_ps * 1000 / dt))
        every = max(1, int(round(10.0 / dt)))          # a sample every ~10 fs at any dt
        s = MDSettings(dt=dt, ensemble="nve", temperature=600.0, every=every, seed=args.seed)
        r = dp_run(dp, atoms, s, steps)
        drift = analysis.energy_drift(r["time"], r["total"], natoms)
        e = (r["total"] - r["total"][0]) / natoms * 1e3
        rms = float(np.sqrt(np.mean((e - e.mean()) ** 2)))
        res[f"{dt:g} fs"] = {"drift_meV_atom_ps": drift, "rms_meV_atom": rms, "s_per_step": r["s_per_step"]}
        ax.plot(r["time"] / 1000, e, label=f"dt {dt:g} fs: drift {drift:+.3g} meV/atom/ps, RMS {rms:.3g} meV/atom")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("E_tot − E_0 (meV/atom)")
    ax.legend(fontsize=8)
    worst = max(abs(v["drift_meV_atom_ps"]) for v in res.values())
    ax.set_title(f"NVE, {natoms} atoms from 600 K: |drift| ≤ {worst:.2g} meV/atom/ps")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "nve_drift.png"), dpi=110)
    plt.close(fig)
    return res


def structure_study(dp, atoms, args, natoms):
    plt = pyplot()
    type_map = dp.get_type_map()
    res, msd_curves, plateau = {}, {}, {}
    for temp in args.temperatures:
        s, steps, equil = nvt_protocol(args, temp)
        runs = {"DP (dpsycl)": dp_run(dp, atoms, s, steps, sample_from=equil)}
        if not args.no_emt:
            runs["EMT (ASE)"] = emt_reference(atoms, s, steps, equil, args.emt_cache)
        species = runs["DP (dpsycl)"]["species"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        gs = {}
        for k, (name, r) in enumerate(runs.items()):
            x = r["positions"]
            cells = np.broadcast_to(r["cell"], (len(x), 3, 3))
            rr, g = analysis.partial_rdfs(x, cells, species, type_map, rmax=6.0, nbins=120)
            gs[name] = g
            for j, (pair, y) in enumerate(g.items()):
                ax.plot(rr, y, color=f"C{j}", ls="-" if k == 0 else "--", label=f"{pair} {name}")
            d = analysis.msd(x, r["time"])
            msd_curves[(temp, name)] = (r["time"] - r["time"][0], d[0], d[1])
            entry_key = "dp" if name.startswith("DP") else "emt"
            plateau[(temp, entry_key)] = float(np.mean(d[0][len(d[0]) // 2:]))
        entry = {"mean_T_dp": float(runs["DP (dpsycl)"]["temperature"].mean()),
                 "s_per_step_dp": runs["DP (dpsycl)"]["s_per_step"]}
        title = f"{natoms} atoms, {temp:g} K"
        if "EMT (ASE)" in gs:
            diff = {pair: float(np.mean(np.abs(gs["DP (dpsycl)"][pair] - gs["EMT (ASE)"][pair])))
                    for pair in gs["DP (dpsycl)"]}
            shift = {pair: analysis.first_peak(rr, gs["DP (dpsycl)"][pair])[0]
                     - analysis.first_peak(rr, gs["EMT (ASE)"][pair])[0] for pair in diff}
            entry.update(mean_abs_dg=diff, first_peak_shift_A=shift,
                         mean_T_emt=float(runs["EMT (ASE)"]["temperature"].mean()),
                         s_per_step_emt=runs["EMT (ASE)"]["s_per_step"])
            title += f": mean |g_DP − g_EMT| ≤ {max(diff.values()):.3f}, peak shift ≤ " \
                     f"{max(abs(v) for v in shift.values()):.3f} Å"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r)")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, f"rdf_{temp:g}K.png"), dpi=110)
        plt.close(fig)
        res[f"{temp:g} K"] = entry
    # MSD
    fig, ax = plt.subplots(figsize=(7, 4))
    dvals = {}
    for (temp, name), (t, m, dcoef) in msd_curves.items():
        ax.plot(t / 1000, m, ls="-" if name.startswith("DP") else "--", label=f"{temp:g} K {name}: D = {dcoef:.2g} cm²/s")
        dvals[f"{temp:g} K {name}"] = dcoef
        key = "dp" if name.startswith("DP") else "emt"
        res[f"{temp:g} K"]["D_cm2_s_" + key] = dcoef
        res[f"{temp:g} K"]["msd_plateau_A2_" + key] = plateau[(temp, key)]
    ax.set_xlabel("time since start of production (ps)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(fontsize=8)
    hot = max(args.temperatures)
    ax.set_title(f"MSD at {hot:g} K, mean over the second half: "
                 + ", ".join(f"{'DP' if key == 'dp' else 'EMT'} {v:.3g} Å²" for (t, key), v in plateau.items()
                             if t == hot), fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "msd.png"), dpi=110)
    plt.close(fig)
    return res


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    import dpsycl
    t0 = time.perf_counter()
    if args.emt_only:
        atoms = random_alloy(args.alloy, args.atoms, seed=args.seed)
        for temp in args.temperatures:
            emt_reference(atoms, *nvt_protocol(args, temp), args.emt_cache or args.out)
        print(f"  EMT references of {len(atoms)} atoms in {time.perf_counter() - t0:.0f} s")
        return 0
    dp = dpsycl.DeepPot(args.model, device=args.device, precision=args.precision)
    atoms = random_alloy(args.alloy, args.atoms, seed=args.seed)
    natoms = len(atoms)
    if args.force_check:
        out = {"natoms": natoms, "device": dp.device, "force_check": force_check(dp, atoms, args)}
        with open(os.path.join(args.out, "force_check.json"), "w") as fh:
            json.dump(out, fh, indent=1)
        return 0
    print(f"case study: {natoms} atoms {args.alloy}, model {os.path.basename(args.model)}, device {dp.device}, "
          f"precision {dp.evaluator.precision if dp.on_device else 'float64'}", flush=True)
    summary = {"natoms": natoms, "alloy": args.alloy, "device": dp.device,
               "precision": dp.evaluator.precision if dp.on_device else "float64",
               "model": os.path.abspath(args.model), "args": vars(args)}
    summary["nve"] = nve_study(dp, atoms, args, natoms)
    with open(os.path.join(args.out, "summary.json"), "w") as fh:     # kept if the NVT part is cut short
        json.dump(summary, fh, indent=1, default=float)
    for k, v in summary["nve"].items():
        print(f"  NVE dt {k}: drift {v['drift_meV_atom_ps']:+.3g} meV/atom/ps, RMS {v['rms_meV_atom']:.3g} meV/atom, "
              f"{v['s_per_step']:.3g} s/step", flush=True)
    if args.nve_only:
        print(f"  wrote {args.out}/summary.json and nve_drift.png in {time.perf_counter() - t0:.0f} s", flush=True)
        return 0
    summary["nvt"] = structure_study(dp, atoms, args, natoms)
    for k, v in summary["nvt"].items():
        line = (f"  {k}: <T> DP {v['mean_T_dp']:.0f} K, MSD plateau DP {v.get('msd_plateau_A2_dp', math.nan):.3g} Å², "
                f"D DP {v.get('D_cm2_s_dp', math.nan):.2g} cm²/s")
        if "mean_abs_dg" in v:
            line += (f"; EMT <T> {v['mean_T_emt']:.0f} K, MSD plateau {v.get('msd_plateau_A2_emt', math.nan):.3g} Å², "
                     f"D {v.get('D_cm2_s_emt', math.nan):.2g} cm²/s; "
                     "mean |Δg| " + ", ".join(f"{p} {d:.3f}" for p, d in v["mean_abs_dg"].items()))
        print(line, flush=True)
    summary["wall_s"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1, default=float)
    print(f"  wrote {args.out}/{{nve_drift,rdf_*K,msd}}.png and summary.json in {summary['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
