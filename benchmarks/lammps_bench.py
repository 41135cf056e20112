"""LAMMPS + dpsycl, time per MD step split into its parts, per ghost shell; and dpsycl's own MD.

    python benchmarks/lammps_bench.py --atoms 32000,1048576 --device cuda:0 --shells periodic,double \
        --own-md --output out/lammps_bench.json                              # 1 rank on a GPU
    mpirun -np 2 python benchmarks/lammps_bench.py --atoms 256 --device numpy \
        --shells reverse,double --steps 3                                    # the CPU measurement

System: an fcc Cu–Ag random alloy (a = 3.85 Å, 4·n³ atoms for the n³ cells nearest to --atoms),
600 K, NVE, time step 2 fs, LAMMPS neighbour skin 1 Å.  Per (size, shell) one LAMMPS instance:
set-up, ``run 0`` and one warm-up step (kernel compilation), then ``run --steps`` timed.  Reported
per step (rank with the slowest force calls): ``total`` (wall time of the timed run), ``dpsycl``
(the evaluation), ``exchange`` (reading positions, the energy/virial Allreduce, routing and
returning ghost values), ``lammps`` (total − the force callback: integration, LAMMPS's
communication, neighbour lists), ghosts and evaluated atoms per rank.  ``--own-md`` (1 rank) times
dpsycl's own velocity-Verlet MD on the same atoms (dpsycl.md.nve, skin 1 Å, every 100 steps).
A shell that cannot run here (e.g. ``reverse`` on a device evaluator without local centres) is
recorded with its reason and skipped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import dpsycl
from dpsycl.lammps import LammpsError, attach, load_modules


def lattice_cells(natoms: int) -> int:
    return max(1, int(round((natoms / 4) ** (1 / 3))))


def build_system(lmp, cells: int) -> None:
    lmp.commands_string(f"""
units metal
atom_style atomic
boundary p p p
lattice fcc 3.85
region box block 0 {cells} 0 {cells} 0 {cells}
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 4928
mass 1 63.546
mass 2 107.8682
neighbor 1.0 bin
timestep 0.002
velocity all create 600 4928 loop geom
fix nve all nve
thermo 0
""")


def positions_and_forces(lmp) -> np.ndarray:
    """(N, 6): every atom's position and force, gathered from all ranks (collective), in position order.

    Not in atom-ID order: ``create_atoms`` numbers the atoms rank by rank, so IDs differ between
    rank counts, while the lattice positions (and ``set type/fraction``'s species, drawn per
    position) do not."""
    n = int(lmp.get_natoms())
    x, f = (np.ctypeslib.as_array(lmp.gather_atoms(name, 1, 3), shape=(3 * n,)).reshape(n, 3).copy()
            for name in ("x", "f"))
    order = np.lexsort(np.round(x, 6).T[::-1])
    return np.hstack([x, f])[order]


def lammps_case(lammps, MPI, comm, dp, cells: int, shell: str, steps: int, forces_to: str | None = None) -> dict:
    lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"], comm=comm)
    try:
        build_system(lmp, cells)
        try:
            field = attach(lmp, dp, ["Cu", "Ag"], ghost_shell=shell, comm=comm, MPI=MPI)
        except LammpsError as exc:
            return {"shell": shell, "skipped": str(exc)}
        saved = None
        if forces_to:
            # forces of the start structure, before any step: comparable across rank counts
            lmp.command("run 0")
            forces = positions_and_forces(lmp)
            if comm.Get_rank() == 0:
                saved = f"{forces_to}-{int(lmp.get_natoms())}.npy"
                np.save(saved, forces)
        t = time.perf_counter()
        lmp.command("run 1")                     # set-up and one step: compilation, first lists
        warmup = time.perf_counter() - t
        stats = field.stats
        before = (stats.calls, stats.evaluate_s, stats.exchange_s, stats.callback_s, stats.ghost_atoms,
                  stats.atoms_evaluated)
        comm.Barrier()
        t = time.perf_counter()
        lmp.command(f"run {steps} pre no post no")
        comm.Barrier()
        total = time.perf_counter() - t
        calls = stats.calls - before[0]
        mine = {"evaluate_ms": 1e3 * (stats.evaluate_s - before[1]) / calls,
                "exchange_ms": 1e3 * (stats.exchange_s - before[2]) / calls,
                "callback_ms": 1e3 * (stats.callback_s - before[3]) / calls,
                "ghosts": (stats.ghost_atoms - before[4]) / calls,
                "atoms_evaluated": (stats.atoms_evaluated - before[5]) / calls}
        ranks = comm.allgather(mine)
        slowest = max(ranks, key=lambda r: r["callback_ms"])
        total_ms = 1e3 * total / steps
        return {"shell": field.ghost_shell, "natoms": int(lmp.get_natoms()), "ranks": comm.Get_size(),
                "steps": steps, "warmup_s": warmup, "total_ms": total_ms, "dpsycl_ms": slowest["evaluate_ms"],
                "exchange_ms": slowest["exchange_ms"], "lammps_ms": total_ms - slowest["callback_ms"],
                "ghosts_per_rank": [r["ghosts"] for r in ranks],
                "evaluated_per_rank": [r["atoms_evaluated"] for r in ranks], "start_forces": saved}
    finally:
        lmp.close()


def own_md(lammps, comm, dp, cells: int, steps: int) -> dict:
    """dpsycl's own NVE on the very atoms LAMMPS creates (one rank)."""
    from dpsycl.md import MDSettings, initial_state, nve, run
    lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"], comm=comm)
    try:
        build_system(lmp, cells)
        n = int(lmp.extract_setting("nlocal"))
        x = np.array(lmp.numpy.extract_atom("x", nelem=n, dim=3))
        atype = np.asarray(lmp.numpy.extract_atom("type", nelem=n)) - 1
        boxlo, boxhi = lmp.extract_box()[:2]
        cell = np.diag(np.array(boxhi) - np.array(boxlo))
    finally:
        lmp.close()
    settings = MDSettings(dt=2.0, ensemble="nve", temperature=600.0, skin=1.0, every=100)
    init, step = nve(dp, settings)
    state = init(initial_state(x, cell, atype, dp.get_type_map(), 600.0, seed=0))
    t = time.perf_counter()
    state = run(step, state, 1, every=100)
    warmup = time.perf_counter() - t
    t = time.perf_counter()
    state = run(step, state, 1 + steps, every=100)
    return {"shell": "dpsycl-md", "natoms": n, "ranks": 1, "steps": steps, "warmup_s": warmup,
            "total_ms": 1e3 * (time.perf_counter() - t) / steps}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--atoms", default="256", help="comma list of sizes (rounded to 4·n³)")
    p.add_argument("--device", default="numpy", help="device of each rank (as dpsycl lammps --device)")
    p.add_argument("--shells", default="auto", help="comma list of ghost shells")
    p.add_argument("--steps", default="5", help="timed steps: one number or one per size")
    p.add_argument("--own-md", action="store_true", help="also time dpsycl's own MD (1 rank)")
    p.add_argument("--output", help="JSON file for the results (rank 0)")
    p.add_argument("--forces-at-start", metavar="PREFIX",
                   help="save the start structure's positions and forces (N, 6; position order) to PREFIX-<natoms>.npy "
                        "(rank 0); the warm-up step then follows a `run 0`")
    args = p.parse_args(argv)
    lammps, MPI = load_modules()
    from dpsycl.lammps.library import device_for_rank, rank_info
    comm = MPI.COMM_WORLD
    info = rank_info(comm, MPI)
    dp = dpsycl.DeepPot(dpsycl.bundled_model(), device_for_rank(args.device, info.local_rank))
    sizes = [int(s) for s in args.atoms.split(",")]
    steps = [int(s) for s in args.steps.split(",")]
    steps = steps * len(sizes) if len(steps) == 1 else steps
    results = []
    for natoms, nsteps in zip(sizes, steps):
        cells = lattice_cells(natoms)
        for shell in args.shells.split(","):
            row = lammps_case(lammps, MPI, comm, dp, cells, shell, nsteps, args.forces_at_start)
            results.append(row)
            if info.rank == 0:
                print(json.dumps(row), flush=True)
        if args.own_md and info.size == 1:
            try:
                row = own_md(lammps, comm, dp, cells, nsteps)
            except Exception as exc:  # noqa: BLE001 - e.g. the NumPy device has no device MD
                row = {"shell": "dpsycl-md", "skipped": " ".join(str(exc).split())}
            results.append(row)
            print(json.dumps(row), flush=True)
    if info.rank == 0 and args.output:
        with open(args.output, "w") as fh:
            json.dump({"device": dp.device, "describe": dp.describe_device(), "ranks": info.size,
                       "results": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
