"""``dpsycl run``, ``dpsycl eval`` and ``dpsycl devices`` (registered in dpsycl.cli.COMMANDS).

    dpsycl run MODEL [STRUCTURE] [--alloy Cu0.5Ag0.5 --atoms N] --ensemble {nve,langevin,csvr}
               --dt FS --steps N --temperature K --device DEV --every N --output FILE.h5
               [--seed S] [--overwrite] [--restart] [--plots DIR] [--nvt-steps N]
               [--max-temperature K] [--max-drift MEV] [--max-displacement Å] [--strict]
    dpsycl eval MODEL STRUCTURE [--atomic] [--json] [--device DEV]
    dpsycl devices

``--steps`` is the step the run ends at, counted from the start of the trajectory, so a run
interrupted for any reason is finished by repeating its command line with ``--restart``.
Everything a user can get wrong is checked before the output file is touched; errors are one
line and exit status 2 (dpsycl.cli.main).  A run the watchdog stops (dpsycl/md/watchdog.py:
non-finite energy, runaway temperature or NVE drift, an atom moving too far in one step, sel
truncation under --strict) ends with one line ``dpsycl: stopped: step S: ...`` and exit status 3;
the output then ends at the last good frame, which --restart continues.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from .input_checks import crowding
from .md import DEFAULT_FRICTION, DEFAULT_MAX_DRIFT, DEFAULT_SKIN, DEFAULT_TAU, ENSEMBLES, MDSettings
from .structures import atoms_to_arrays, random_alloy, read_atoms

_POTENTIALS: dict = {}


# ---------------------------------------------------------------------------------------------
# shared helpers
def _potential(model_path: str, device: str):
    """A DeepPot per (model file, device), reused by later commands of the same process."""
    from .deep_pot import DeepPot
    st = os.stat(model_path)
    key = (os.path.realpath(model_path), st.st_mtime_ns, st.st_size, device)
    dp = _POTENTIALS.get(key)
    if dp is None:
        dp = _POTENTIALS[key] = DeepPot(model_path, device=device)
    return dp


def _load_model_checked(path: str):
    from .model import ModelError
    from .model_io import load_model
    if not os.path.isfile(path):
        raise ModelError(f"model file not found: {path}")
    return load_model(path)


def read_structure(path: str, index=-1):
    """ASE Atoms (or a list with index=':'); any failure is one ValueError line."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"structure file not found: {path}")
    atoms = read_atoms(path, index=index, what="structure")
    frames = atoms if isinstance(atoms, list) else [atoms]
    if not frames or any(len(a) == 0 for a in frames):
        raise ValueError(f"structure {path} holds no atoms")
    return atoms


def warn(message: str) -> None:
    """A warning of dpsycl run/eval: one line on stderr."""
    print(f"dpsycl: warning: {message}", file=sys.stderr)


def _fmt_rate(ns_per_day: float) -> str:
    return f"{ns_per_day:.3g} ns/day"


# ---------------------------------------------------------------------------------------------
# dpsycl run
def add_parameter_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fparam", nargs="+", type=float, metavar="F",
                   help="the model's frame parameters (numb_fparam numbers), for models trained with them")
    p.add_argument("--aparam", nargs="+", metavar="A",
                   help="the model's atomic parameters: numb_aparam numbers for every atom, or a .npy/.txt "
                        "file of shape (natoms, numb_aparam)")


def model_parameters(args, model, natoms: int):
    """(fparam, aparam) from the options, checked against the model: None where it takes none."""
    fit = model.fitting
    nfp, nap = fit.numb_fparam, fit.numb_aparam
    fparam = aparam = None
    if nfp and args.fparam is None:
        raise ValueError(f"this model needs --fparam with {nfp} number(s) (its numb_fparam)")
    if nap and args.aparam is None:
        raise ValueError(f"this model needs --aparam with {nap} number(s) per atom or a file of shape ({natoms}, {nap})")
    if args.fparam is not None:
        if len(args.fparam) != nfp:
            raise ValueError(f"--fparam got {len(args.fparam)} number(s); this model takes {nfp}")
        fparam = np.asarray(args.fparam, dtype=np.float64)
    if args.aparam is not None:
        if not nap:
            raise ValueError("--aparam given, but this model takes no atomic parameters")
        if len(args.aparam) == 1 and os.path.isfile(args.aparam[0]):
            path = args.aparam[0]
            values = np.load(path) if path.endswith(".npy") else np.loadtxt(path, ndmin=2)
            if np.size(values) != natoms * nap:
                raise ValueError(f"--aparam {path} holds {np.size(values)} numbers; expected ({natoms}, {nap})")
            aparam = np.asarray(values, dtype=np.float64).reshape(natoms, nap)
        else:
            try:
                values = [float(x) for x in args.aparam]
            except ValueError:
                raise ValueError(f"--aparam {' '.join(args.aparam)}: give {nap} number(s) or an existing file") from None
            if len(values) != nap:
                raise ValueError(f"--aparam got {len(values)} number(s); this model takes {nap} per atom")
            aparam = np.tile(values, (natoms, 1))
        if not np.all(np.isfinite(aparam)):
            raise ValueError("--aparam contains NaN or infinite values")
    return fparam, aparam


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="DeePMD-kit frozen_model.pb or dpsycl model .h5")
    p.add_argument("structure", metavar="STRUCTURE", nargs="?",
                   help="initial structure, any file ASE reads (last frame is used)")
    p.add_argument("--alloy", metavar="COMP", help="build a random fcc alloy of this composition, e.g. Cu0.5Ag0.5")
    p.add_argument("--atoms", type=int, default=None, metavar="N",
                   help="with --alloy: at least N atoms, nearest cube-ish repetition (default 256)")
    p.add_argument("--ensemble", choices=ENSEMBLES, default=None, help="nve (default), langevin or csvr")
    p.add_argument("--dt", type=float, default=None, metavar="FS", help="time step in fs (default 1)")
    p.add_argument("--steps", type=int, default=1000, metavar="N",
                   help="last step of the run, counted from the start of the trajectory (default 1000)")
    p.add_argument("--temperature", type=float, default=None, metavar="K",
                   help="initial and thermostat temperature (default 300 K)")
    p.add_argument("--nvt-steps", type=int, default=None, metavar="N",
                   help="thermostat the first N steps (CSVR when --ensemble nve), then NVE")
    p.add_argument("--friction", type=float, default=None, metavar="1/FS",
                   help=f"Langevin friction (default {DEFAULT_FRICTION} /fs)")
    p.add_argument("--tau", type=float, default=None, metavar="FS", help=f"CSVR time constant (default {DEFAULT_TAU} fs)")
    p.add_argument("--skin", type=float, default=None, metavar="Å",
                   help=f"Verlet skin; 0 rebuilds the list every step (default {DEFAULT_SKIN} Å)")
    p.add_argument("--device", default="auto", help="device: auto, opencl:cpu, level_zero:gpu, cuda:0, ...")
    p.add_argument("--every", type=int, default=None, metavar="N",
                   help="write a frame and observables every N steps (default 10); a frame keeps the positions "
                        "its neighbour list was built from, which makes restarts bit-identical")
    p.add_argument("--flush-every", type=int, default=1, metavar="K", help="flush the file every K frames (default 1)")
    p.add_argument("--output", "-o", required=True, metavar="FILE.h5", help="H5MD trajectory to write")
    p.add_argument("--seed", type=int, default=None, help="random seed (velocities, alloy, thermostats; default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--restart", action="store_true", help="continue the run stored in --output and append to it")
    p.add_argument("--plots", metavar="DIR", help="write energies.png and rdf.png to DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    w = p.add_argument_group("watchdog", "bounds that stop an unstable run with exit status 3 (inf: no check)")
    w.add_argument("--max-temperature", type=float, default=None, metavar="K",
                   help="stop above this temperature (default: 10 × --temperature, at least 10000 K)")
    w.add_argument("--max-drift", type=float, default=None, metavar="MEV",
                   help=f"stop when the NVE energy drifts faster, in meV/atom/ps (default {DEFAULT_MAX_DRIFT:g})")
    w.add_argument("--max-displacement", type=float, default=None, metavar="Å",
                   help="stop when an atom moves farther in one step (default: the skin, 1 Å without one)")
    w.add_argument("--strict", action="store_true", default=None,
                   help="sel truncation (more neighbours than the model's sel) stops the run instead of a warning")
    add_parameter_arguments(p)


_PHYSICS = ("ensemble", "dt", "temperature", "nvt_steps", "friction", "tau", "skin", "every", "seed")
_WATCHDOG = ("max_temperature", "max_drift", "max_displacement", "strict")   # a restart may change these


def _with_watchdog_args(settings: MDSettings, args) -> MDSettings:
    """The settings with the watchdog bounds given on the command line."""
    given = {k: getattr(args, k) for k in _WATCHDOG if getattr(args, k) is not None}
    return dataclasses.replace(settings, **given).validate()


def _settings_from_args(args) -> MDSettings:
    d = MDSettings()
    settings = MDSettings(
        dt=d.dt if args.dt is None else args.dt,
        ensemble=args.ensemble or d.ensemble,
        temperature=d.temperature if args.temperature is None else args.temperature,
        friction=d.friction if args.friction is None else args.friction,
        tau=d.tau if args.tau is None else args.tau,
        nvt_steps=args.nvt_steps,
        skin=d.skin if args.skin is None else args.skin,
        every=d.every if args.every is None else args.every,
        seed=d.seed if args.seed is None else args.seed,
    ).validate()
    return _with_watchdog_args(settings, args)


def _check_run_args(args) -> None:
    """Everything that can be checked without the model, the device or the output's contents."""
    if args.dt is not None and not (math.isfinite(args.dt) and args.dt > 0):
        raise ValueError(f"--dt must be a positive time step in fs, got {args.dt}")
    if args.steps < 0:
        raise ValueError(f"--steps must be ≥ 0, got {args.steps}")
    if args.every is not None and args.every < 1:
        raise ValueError(f"--every must be ≥ 1, got {args.every}")
    if args.flush_every < 1:
        raise ValueError(f"--flush-every must be ≥ 1, got {args.flush_every}")
    if args.atoms is not None and args.atoms < 1:
        raise ValueError(f"--atoms must be ≥ 1, got {args.atoms}")
    if args.atoms is not None and not args.alloy:
        raise ValueError("--atoms goes with --alloy")
    out = args.output
    if not out.endswith((".h5", ".h5md", ".hdf5")):
        raise ValueError(f"--output {out}: expected an .h5 (H5MD) file name")
    if args.plots:
        from .plots import require
        require()
    if args.restart:
        if not os.path.isfile(out):
            raise FileNotFoundError(f"--restart: trajectory not found: {out}")
        if args.structure or args.alloy:
            raise ValueError("--restart continues the trajectory in --output; give no STRUCTURE or --alloy")
    else:
        if os.path.exists(out) and not args.overwrite:
            raise FileExistsError(f"output {out} exists; pass --overwrite to replace it or --restart to continue it")
        if os.path.isdir(out):
            raise IsADirectoryError(f"output {out} is a directory")
        if not args.structure and not args.alloy:
            raise ValueError("give a STRUCTURE file or --alloy COMPOSITION")
        if args.structure and args.alloy:
            raise ValueError("give either a STRUCTURE file or --alloy, not both")
    _settings_from_args(args)   # numeric ranges of the physics options (MDError is a ValueError)


def cmd_run(args) -> int:
    from . import analysis, plots
    from .h5md import H5MDWriter, read_restart, read_trajectory, sha256_of
    from .md import RunStopped, check_frame, initial_state, run, sample, schedule, to_host, watch

    _check_run_args(args)
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        # past a file-size limit (ulimit -f) the write fails with EFBIG, which the writer reports in
        # one line, keeping the file readable; the default action would kill the run mid-write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    t_start = time.perf_counter()
    atoms = read_structure(args.structure) if args.structure else None
    model = _load_model_checked(args.model)
    type_map = list(model.type_map)
    if args.restart:
        host_state, settings, params = read_restart(args.output)
        for name in _PHYSICS:
            given = getattr(args, name)
            if given is None:
                continue
            stored = getattr(settings, name)
            if (given != stored if not isinstance(stored, float) else not math.isclose(given, stored)):
                raise ValueError(f"--{name.replace('_', '-')} {given} conflicts with the trajectory's {stored}; "
                                 "a restart continues the stored run (omit the option)")
        if host_state.type_map != type_map:
            raise ValueError(f"the trajectory's species {host_state.type_map} differ from the model's {type_map}")
        if args.fparam is not None or args.aparam is not None:
            raise ValueError("--restart continues with the trajectory's stored fparam/aparam; omit the options")
        stored_sha = params.get("model", {}).get("sha256", "")
        if stored_sha and stored_sha != sha256_of(args.model):
            raise ValueError(f"{args.model} is not the model the trajectory was run with (sha256 differs)")
        settings = _with_watchdog_args(settings, args)
    else:
        settings = _settings_from_args(args)
        if atoms is None:
            atoms = random_alloy(args.alloy, args.atoms or 256, settings.seed)
        coords, cell, atype = atoms_to_arrays(atoms, type_map)
        fparam, aparam = model_parameters(args, model, len(atype))
        host_state = initial_state(coords, cell, atype, type_map, settings.temperature, settings.seed, fparam, aparam)

    if args.output and os.path.dirname(os.path.abspath(args.output)):
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    dp = _potential(args.model, args.device)
    t_setup = time.perf_counter()
    init, md_step = schedule(dp, settings, warn=warn)
    state = None
    timing = {"last": host_state.step} if args.restart else {}   # "last": the file's last frame
    try:
        state = init(host_state)
        first = sample(state)
        check_frame(state, first, settings, start=True)      # a non-finite start is not written
        warning = None if args.restart else crowding(first.positions, first.species, type_map, first.cell,
                                                     where=f"step {first.step}")
        if warning:
            warn(warning)
        if args.restart:
            if params.get("device") and params["device"] != dp.device:
                warn(f"restarting on {dp.device}, the run so far used {params['device']}: the continuation "
                     "is exact but not bit-identical to an uninterrupted run")
            writer = H5MDWriter.append(args.output, flush_every=args.flush_every)
        else:
            writer = H5MDWriter.create(args.output, to_host(state), settings, model_path=args.model, device=dp.device,
                                       dtype=state.system.dtype, rcut=dp.get_rcut(), flush_every=args.flush_every,
                                       extra={"steps": int(args.steps),
                                              "structure": args.structure or f"random fcc {args.alloy}"})
        start = state.step
        natoms = state.natoms
        n_todo = max(0, args.steps - start)
        timing.update(t0=None, s0=start, last=start)
        with writer:
            if not args.restart:
                writer.write(first)
            bar = None
            if not args.no_progress and n_todo:
                from tqdm import tqdm
                bar = tqdm(total=args.steps, initial=start, file=sys.stderr, unit="step", mininterval=1.0,
                           dynamic_ncols=True, desc=f"MD {natoms} atoms")

            def on_frame(frame):
                writer.write(frame)
                timing["last"] = frame.step
                now = time.perf_counter()
                if timing["t0"] is None:          # the first frame: kernels compiled, rates count from here
                    timing["t0"], timing["s0"] = now, frame.step
                elif bar is not None:
                    steps = frame.step - timing["s0"]
                    rate = steps / (now - timing["t0"])
                    bar.set_postfix_str(f"{rate * settings.dt * 86400e-6:.3g} ns/day, {rate * natoms:.3g} atom-steps/s, "
                                        f"T {frame.observables['temperature']:.0f} K", refresh=False)

            def on_step(step_number):
                if bar is not None:
                    bar.update(1)

            try:
                t_loop = time.perf_counter()
                state = run(md_step, state, args.steps, every=settings.every, on_frame=on_frame, on_step=on_step,
                            check=watch(settings))
                t_end = time.perf_counter()
            finally:
                if bar is not None:
                    bar.close()
    except RunStopped as exc:
        _report_truncation(state, dp, warn)
        kept = (f"{args.output} ends at step {timing['last']}, the last good frame; --restart continues from it"
                if "last" in timing else f"nothing was written to {args.output}")
        print(f"dpsycl: stopped: {exc}; {kept}", file=sys.stderr)
        return exc.exit_status
    _report_truncation(state, dp, warn)
    # rates over the steady part of the loop (after the first frame), else over the whole loop
    if timing["t0"] is not None and state.step > timing["s0"] and t_end > timing["t0"]:
        rate = (state.step - timing["s0"]) / (t_end - timing["t0"])
    else:
        rate = n_todo / max(t_end - t_loop, 1e-9) if n_todo else float("nan")
    ns_day = rate * settings.dt * 86400e-6
    traj = read_trajectory(args.output)
    steps = traj["step"]
    if settings.thermostat_at(0) is None:
        nve_from = 0                          # NVE throughout
    else:
        nve_from = settings.nvt_steps         # None: thermostatted throughout
    if nve_from is not None and np.sum(steps >= nve_from) >= 2:
        sel = steps >= nve_from
        drift = analysis.energy_drift(traj["time"][sel], traj["observables"]["total_energy"][sel], natoms)
        drift_txt = f"NVE drift {drift:+.3g} meV/atom/ps"
    else:
        drift_txt = "NVE drift n/a (no NVE phase)"
    temps = traj["observables"]["temperature"]
    tail = temps[len(temps) // 2:] if len(temps) else temps
    plot_txt = ""
    if args.plots:
        made = plots.run_plots(traj, args.plots, nve_from_step=settings.nvt_steps if nve_from else None)
        plot_txt = f" | plots {args.plots}"
        if "peaks" in made:
            plot_txt += " (RDF peaks " + ", ".join(f"{k} {v:.2f} Å" for k, v in made["peaks"].items()) + ")"
    phase = settings.describe()
    print(f"dpsycl run: {dp.device} | {natoms} atoms | steps {start}→{state.step} ({phase}) | "
          f"{_fmt_rate(ns_day)}, {rate * natoms:.3g} atom-steps/s | {drift_txt} | "
          f"⟨T⟩ {np.mean(tail) if len(tail) else float('nan'):.0f} K (last half) | "
          f"{len(steps)} frames → {args.output} | setup {t_setup - t_start:.0f} s, "
          f"wall {time.perf_counter() - t_start:.0f} s{plot_txt}")
    return 0


def _report_truncation(state, dp, warn) -> None:
    """The count of neighbour-list builds that truncated at sel (one warning line), if any did."""
    from .md import truncation_summary
    line = None if state is None else truncation_summary(state, dp.get_sel())
    if line:
        warn(line)


# ---------------------------------------------------------------------------------------------
# dpsycl eval
def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="DeePMD-kit frozen_model.pb or dpsycl model .h5")
    p.add_argument("structure", metavar="STRUCTURE", help="any file ASE reads (every frame is evaluated)")
    p.add_argument("--atomic", action="store_true", help="also per-atom energies and virials")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--device", default="auto", help="device (default: auto)")
    add_parameter_arguments(p)


def cmd_eval(args) -> int:
    frames = read_structure(args.structure, index=":")
    model = _load_model_checked(args.model)
    type_map = list(model.type_map)
    arrays = [atoms_to_arrays(a, type_map) for a in frames]
    dp = _potential(args.model, args.device)
    results = []
    parameters = [model_parameters(args, model, len(atype)) for _, _, atype in arrays]
    for k, (atoms, (coords, cell, atype), (fparam, aparam)) in enumerate(zip(frames, arrays, parameters)):
        periodic = cell is not None
        e, f, v, ae, av = dp.eval(coords.reshape(1, -1), None if cell is None else cell.reshape(1, 9), atype,
                                  atomic=True, fparam=fparam, aparam=aparam)
        # after the evaluation, which refused cells too thin for the cutoff (and so for this search)
        warning = crowding(coords, atype, type_map, cell, where=f"frame {k}" if len(frames) > 1 else "")
        if warning:
            warn(warning)
        r = {"natoms": len(atoms), "symbols": atoms.get_chemical_symbols(), "energy": float(e[0, 0]),
             "forces": f[0].tolist(), "virial": v[0].reshape(3, 3).tolist()}
        if periodic:
            w = v[0].reshape(3, 3)
            r["stress"] = (-0.5 * (w + w.T) / atoms.get_volume()).tolist()
        if args.atomic:
            r["atom_energy"] = ae[0].ravel().tolist()
            r["atom_virial"] = av[0].reshape(-1, 9).tolist()
        results.append(r)
    if args.json:
        print(json.dumps({"model": args.model, "device": dp.device, "units": {
            "energy": "eV", "forces": "eV/Angstrom", "virial": "eV", "stress": "eV/Angstrom^3 (ASE sign)"},
            "frames": results}))
        return 0
    print(f"# {args.model} on {dp.device}; energy eV, forces eV/Å, virial eV")
    for k, r in enumerate(results):
        print(f"frame {k}: {r['natoms']} atoms, energy {r['energy']:.10f} eV "
              f"({r['energy'] / r['natoms']:.8f} eV/atom)")
        print(f"  virial {' '.join(f'{x:.6g}' for x in np.ravel(r['virial']))}")
        header = "  atom  species            fx            fy            fz"
        header += "        energy" if args.atomic else ""
        print(header)
        for i, (sym, fi) in enumerate(zip(r["symbols"], r["forces"])):
            line = f"  {i:4d}  {sym:7s} {fi[0]:13.6e} {fi[1]:13.6e} {fi[2]:13.6e}"
            if args.atomic:
                line += f" {r['atom_energy'][i]:13.6e}"
            print(line)
    return 0


# ---------------------------------------------------------------------------------------------
# dpsycl devices
def add_devices_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def cmd_devices(args) -> int:
    from .backends import device_table
    rows = device_table()
    if getattr(args, "json", False):
        print(json.dumps(rows))
        return 0
    cols = [("device", "device"), ("name", "name"), ("vendor", "vendor"), ("fp64", "fp64"),
            ("compute_units", "compute units"), ("memory_gib", "memory GiB")]
    cells = [[str(r.get(k, "")) if k != "fp64" else ("yes" if r.get(k) else "no") for k, _ in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(cols)]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths)).rstrip())
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())
    return 0
