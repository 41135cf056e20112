"""``dpsycl lammps SCRIPT --model M --device DEV``: run a LAMMPS input with a dpsycl model.

Serial, or ``mpirun -np N dpsycl lammps ...`` with one device per rank.  The script names the
force field with ``pair_style dpsycl`` (dpsycl/lammps/script.py); ``--elements`` names the element
of each atom type as ``pair_coeff * * Cu Ag`` would.  Nothing here imports LAMMPS or MPI until
the command runs.
"""
from __future__ import annotations

import argparse
import sys


def add_lammps_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("script", metavar="SCRIPT", help="LAMMPS input with a 'pair_style dpsycl' line")
    p.add_argument("--model", help="dpsycl model (.h5) or DeePMD-kit frozen graph (.pb); default: the "
                   "file named on the pair_style line")
    p.add_argument("--device", default="auto",
                   help="device of each rank: cuda (rank r on cuda:<local rank>), a SYCL filter "
                        "(opencl:cpu, level_zero:gpu -> :<local rank>), numpy, a comma list, or auto")
    p.add_argument("--elements", nargs="+", metavar="EL",
                   help="element of each LAMMPS atom type, in type order (like 'pair_coeff * * Cu Ag')")
    p.add_argument("--ghost-shell", default="auto", choices=("auto", "periodic", "reverse", "double"),
                   help="how a rank sees the atoms its forces depend on (docs/lammps.md); default auto")
    p.add_argument("--var", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="LAMMPS index variable, as lmp -var NAME VALUE (repeatable)")
    p.add_argument("--log", default="log.lammps", help="LAMMPS log file ('none' for no log)")
    p.add_argument("--quiet", action="store_true", help="no LAMMPS screen output")
    p.add_argument("--precision", choices=("float32", "float64", "mixed"), help="evaluate in this precision")


def cmd_lammps(args: argparse.Namespace) -> int:
    from .driver import RunFailed, describe, run_input

    try:
        report = run_input(args.script, model=args.model, device=args.device, elements=args.elements,
                           ghost_shell=args.ghost_shell, variables=dict(args.var),
                           log=None if args.log == "none" else args.log, screen=not args.quiet,
                           precision=args.precision)
    except RunFailed as exc:
        if exc.report_here:
            print(f"dpsycl: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if report.rank == 0:
        print(describe(report), flush=True)
    return 0
