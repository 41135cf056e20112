"""The Cu–Ag example driven from Python: ``run_input`` with the bundled model.

    python run.py [--device numpy] [--nvt-steps 100] [--npt-steps 100]
    mpirun -np 2 python run.py --device numpy          # each rank on its own device

LAMMPS writes log.lammps and final.dump into the current folder.
"""
import argparse
import os

import dpsycl
from dpsycl.lammps import run_input
from dpsycl.lammps.driver import describe

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--device", default="numpy", help="device of each rank (default numpy)")
parser.add_argument("--nvt-steps", type=int, default=100)
parser.add_argument("--npt-steps", type=int, default=100)
args = parser.parse_args()

report = run_input(os.path.join(HERE, "in.cuag"), model=dpsycl.bundled_model(), device=args.device,
                   elements=["Cu", "Ag"], variables={"nvt_steps": args.nvt_steps, "npt_steps": args.npt_steps})
if report.rank == 0:
    print(describe(report))
