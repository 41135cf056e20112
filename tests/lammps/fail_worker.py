"""A 2-rank run through dpsycl.lammps.attach in which rank 1's device fails at its fourth force call.

Run as ``mpirun -np 2 python fail_worker.py MODEL``; the test expects MPI_Abort with one message.
"""
import sys

import numpy as np

import dpsycl
from dpsycl.lammps import attach, load_modules
from dpsycl.reference import ReferenceEvaluator

lammps, MPI = load_modules()
comm = MPI.COMM_WORLD
dp = dpsycl.DeepPot(sys.argv[1], "numpy")


class FailingDevice:
    """Stands for a device that dies mid-run (a lost GPU): three good calls, then an error."""
    name, dtype = "numpy", np.dtype(np.float64)

    def __init__(self, model):
        self.reference, self.calls = ReferenceEvaluator(model), 0

    def describe(self):
        return "failing test device"

    def evaluate(self, coords, cell, atype, ncentres=None):
        self.calls += 1
        if self.calls > 3:
            raise RuntimeError("simulated device failure: the device was lost")
        return self.reference.evaluate(coords, cell, atype, ncentres)


if comm.Get_rank() == 1:
    dp.evaluator = FailingDevice(dp.evaluator.model)
lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"], comm=comm)
lmp.commands_string("""
units metal
atom_style atomic
lattice fcc 3.85
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 12345
mass * 80.0
velocity all create 600 4928 loop geom
""")
attach(lmp, dp, ["Cu", "Ag"], comm=comm, MPI=MPI)
lmp.commands_string("fix nve all nve\nrun 1000")
print("the run finished although a device failed", flush=True)
