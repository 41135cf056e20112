"""dpsycl as LAMMPS's force field, through ``fix external pf/callback``, on every MPI rank.

Each step LAMMPS calls :meth:`LammpsForceField.on_forces` on every rank with its local atoms;
the rank evaluates its model on its own device and hands back, for its local atoms only,

* forces (eV/Å) into the fix's force array;
* the global energy ``Σ_ranks Σ_{i local} E_i`` and the global virial ``Σ_ranks Σ_{i local} w_i``:
  fix external takes both as totals, the same on every rank (its energy is reported as given and
  its virial is divided by the rank count before compute pressure sums over ranks, measured with
  the 2025.7.22 wheel), so the ranks' sums are added with one Allreduce per step;
* per-atom energies and virials of its local atoms (``compute pe/atom``, ``compute stress/atom``).

Virial convention.  DeePMD-kit's W = −Σ_ij r_ij ⊗ ∂E/∂r_ij (eV) is LAMMPS's Σ r·F virial with the
same sign (for a pair term the force on j is −∂E/∂r_ij), so it goes in unchanged as LAMMPS's
(xx, yy, zz, xy, xz, yz) = W[0, 4, 8, 3, 6, 7], the components DeePMD-kit's own pair style passes.

Ghost shells (``ghost_shell``; the cost of each is measured in docs/lammps.md):

``periodic``  one rank, periodic in x, y and z: the rank's atoms are the whole system and are
              evaluated with the box as the cell; LAMMPS's ghosts are not used.
``reverse``   ghost shell rcut + skin; only local atoms are centres, forces and atomic virials
              computed on ghosts are sent back to their owners (dpsycl/lammps/reverse_comm.py).
              DeePMD-kit's own scheme (the evaluators' ``ncentres``: DeePMD-kit's nloc of nall).
``double``    ghost shell 2·rcut + skin; local and ghost atoms are evaluated as one open cluster and
              the results of local atoms kept (a ghost within rcut of a local atom has its whole
              neighbourhood in the shell).  Works with any evaluator, at the price of evaluating
              every ghost.
``auto``      periodic if it applies, else reverse.

The shell is LAMMPS's ghost cutoff: ``pair_style zero <cut>`` plus the neighbour skin, so it
follows the user's ``neighbor`` command and LAMMPS re-neighbours (and re-sends ghosts) exactly as
for a pair style of that cutoff.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .library import LammpsError, abort
from .reverse_comm import GhostReturn

GHOST_SHELLS = ("auto", "periodic", "reverse", "double")
#: DeePMD-kit 3×3 (row-major) → LAMMPS's (xx, yy, zz, xy, xz, yz), as DeePMD-kit's pair style
LAMMPS_VIRIAL_ORDER = [0, 4, 8, 3, 6, 7]


@dataclass
class ForceFieldStats:
    """Per-rank time and size accounting of the force calls (seconds, atom counts summed over calls)."""
    calls: int = 0
    evaluate_s: float = 0.0      # the dpsycl evaluation itself
    exchange_s: float = 0.0      # reading positions, the energy Allreduce, routing and returning ghosts
    callback_s: float = 0.0      # everything inside the callback
    atoms_evaluated: int = 0
    local_atoms: int = 0
    ghost_atoms: int = 0
    plans: int = 0               # ghost-return plans made (re-neighbourings seen)

    def summary(self) -> dict:
        n = max(self.calls, 1)
        return {"calls": self.calls, "evaluate_ms": 1e3 * self.evaluate_s / n,
                "exchange_ms": 1e3 * self.exchange_s / n, "callback_ms": 1e3 * self.callback_s / n,
                "local_atoms": self.local_atoms / n, "ghost_atoms": self.ghost_atoms / n,
                "atoms_evaluated": self.atoms_evaluated / n, "plans": self.plans}


def species_map(type_map: list[str], ntypes: int, elements: list[str] | None) -> np.ndarray:
    """Model species index of each LAMMPS type (index 0 unused), from element names in type order."""
    if elements is None:
        if ntypes > len(type_map):
            raise LammpsError(f"the box has {ntypes} atom types but the model knows {len(type_map)} "
                              f"({' '.join(type_map)}); name the element of each type (--elements)")
        elements = type_map[:ntypes]
    if len(elements) != ntypes:
        raise LammpsError(f"{len(elements)} element name(s) ({' '.join(elements)}) for {ntypes} LAMMPS atom types")
    unknown = [e for e in elements if e not in type_map]
    if unknown:
        raise LammpsError(f"element(s) {' '.join(unknown)} not in the model's type map {' '.join(type_map)}")
    return np.array([-1] + [type_map.index(e) for e in elements], dtype=np.int64)


def box_cell(lmp) -> tuple[np.ndarray, bool]:
    """The box as cell rows (LAMMPS's a, b, c) and whether it is periodic in x, y and z."""
    boxlo, boxhi, xy, yz, xz, periodicity, _ = lmp.extract_box()
    lx, ly, lz = (boxhi[k] - boxlo[k] for k in range(3))
    cell = np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])
    return cell, all(periodicity)


class LammpsForceField:
    """The model on one rank's device as LAMMPS's force field (made by :func:`attach`)."""

    def __init__(self, lmp, comm, MPI, potential, species_of_type: np.ndarray, ghost_shell: str,
                 fix_id: str, rank: int, device: str):
        self.lmp, self.comm, self.MPI = lmp, comm, MPI
        self.potential = potential
        self.species_of_type = species_of_type
        self.ghost_shell = ghost_shell
        self.fix_id = fix_id
        self.rank, self.device = rank, device
        self.rcut = potential.get_rcut()
        self.ghost_return = GhostReturn(comm, MPI) if ghost_shell == "reverse" else None
        self.stats = ForceFieldStats()

    @property
    def pair_cutoff(self) -> float:
        """Cutoff of ``pair_style zero``: LAMMPS's ghost shell is this plus the neighbour skin."""
        # periodic: no ghost is read, so the smallest shell LAMMPS accepts keeps its list cheap
        return {"periodic": 1.0, "reverse": self.rcut, "double": 2.0 * self.rcut}[self.ghost_shell]

    def install(self) -> None:
        lmp = self.lmp
        lmp.command(f"pair_style zero {self.pair_cutoff:.10g} nocoeff")
        lmp.command("pair_coeff * *")
        lmp.command(f"fix {self.fix_id} all external pf/callback 1 1")
        lmp.set_fix_external_callback(self.fix_id, self.on_forces)

    # -- the callback -----------------------------------------------------------------------
    def on_forces(self, caller, step, nlocal, tag, x, f) -> None:
        """Called by LAMMPS in post_force on every rank; a failure ends the whole run (MPI_Abort)."""
        try:
            start = time.perf_counter()
            self._forces(int(nlocal), f)
            self.stats.callback_s += time.perf_counter() - start
            self.stats.calls += 1
        except BaseException as exc:  # noqa: BLE001 - nothing may unwind into LAMMPS's C++ frames
            detail = str(exc) or type(exc).__name__
            if not isinstance(exc, (LammpsError, ValueError, OSError)):
                detail = f"{type(exc).__name__}: {detail}"
            abort(self.comm, f"rank {self.rank} ({self.device}) at step {step}: {detail}")

    def _forces(self, nlocal: int, f: np.ndarray) -> None:
        lmp, stats = self.lmp, self.stats
        t0 = time.perf_counter()
        nghost = int(lmp.extract_setting("nghost"))
        periodic = self.ghost_shell == "periodic"
        nread = nlocal if periodic else nlocal + nghost
        x = np.array(lmp.numpy.extract_atom("x", nelem=nread, dim=3), dtype=np.float64)
        types = np.asarray(lmp.numpy.extract_atom("type", nelem=nread))
        species = self.species_of_type[types]
        tags = np.asarray(lmp.numpy.extract_atom("id", nelem=nread), dtype=np.int64) if self.ghost_return else None
        t1 = time.perf_counter()
        if periodic:
            cell, _ = box_cell(lmp)
            r = self.potential.evaluator.evaluate(x, cell, species)
        elif self.ghost_shell == "reverse":
            r = self.potential.evaluator.evaluate(x, None, species, ncentres=nlocal)
        else:
            r = self.potential.evaluator.evaluate(x, None, species)
        t2 = time.perf_counter()
        atom_energy = r.atom_energy[:nlocal]
        if self.ghost_shell == "reverse":
            rank_virial = r.virial          # every term of a local centre, ghosts' share included
            replan = self.ghost_return.needs_plan(tags[:nlocal], tags[nlocal:])
        else:
            rank_virial = r.atom_virial[:nlocal].sum(axis=0)
            replan = False
        # fix external takes the global energy and the global virial, each the same on every rank
        # (it divides the virial by the rank count before LAMMPS sums the ranks' shares: measured)
        totals = np.concatenate([[atom_energy.sum(), float(replan)], rank_virial[LAMMPS_VIRIAL_ORDER]])
        self.comm.Allreduce(self.MPI.IN_PLACE, totals, op=self.MPI.SUM)
        force, atom_virial = r.force[:nlocal], r.atom_virial[:nlocal]
        if self.ghost_return is not None:
            if totals[1] > 0:                # any rank re-neighboured: every rank plans again
                self.ghost_return.plan(tags[:nlocal], tags[nlocal:])
                stats.plans += 1
            back = self.ghost_return.send_back(np.hstack([r.force[nlocal:], r.atom_virial[nlocal:]]), nlocal)
            force, atom_virial = force + back[:, :3], atom_virial + back[:, 3:]
        f[:, :] = force
        lmp.fix_external_set_energy_global(self.fix_id, float(totals[0]))
        lmp.fix_external_set_virial_global(self.fix_id, [float(v) for v in totals[2:]])
        lmp.numpy.fix_external_set_energy_peratom(self.fix_id, np.ascontiguousarray(atom_energy))
        if nlocal:
            lmp.numpy.fix_external_set_virial_peratom(
                self.fix_id, np.ascontiguousarray(atom_virial[:, LAMMPS_VIRIAL_ORDER]))
        t3 = time.perf_counter()
        stats.evaluate_s += t2 - t1
        stats.exchange_s += (t1 - t0) + (t3 - t2)
        stats.atoms_evaluated += len(x)
        stats.local_atoms += nlocal
        stats.ghost_atoms += nghost


def choose_ghost_shell(requested: str, potential, nranks: int, periodic_box: bool) -> str:
    """The ghost shell a run uses (see the module docstring); refuses one that cannot work."""
    if requested not in GHOST_SHELLS:
        raise LammpsError(f"ghost shell '{requested}' is not one of {', '.join(GHOST_SHELLS)}")
    if requested == "auto":
        return "periodic" if nranks == 1 and periodic_box else "reverse"
    if requested == "periodic" and not (nranks == 1 and periodic_box):
        raise LammpsError("ghost shell 'periodic' needs one MPI rank and a box periodic in x, y and z")
    return requested


def attach(lmp, potential, elements: list[str] | None = None, ghost_shell: str = "auto",
           fix_id: str = "dpsycl", comm=None, MPI=None) -> LammpsForceField:
    """Make ``potential`` (a dpsycl.DeepPot) the force field of the LAMMPS instance ``lmp``.

    Call on every rank after the box exists (``read_data``, ``create_box``) and before ``run``;
    it issues ``pair_style zero``, ``pair_coeff * *`` and ``fix <fix_id> all external`` and sets the
    callback.  ``elements`` names the element of each LAMMPS atom type (default: the model's type
    map in order).  The input script must use ``units metal`` (eV, Å, ps).
    """
    if MPI is None:
        from mpi4py import MPI
    comm = comm if comm is not None else lmp.get_mpi_comm() or MPI.COMM_WORLD
    units = lmp.extract_global("units")
    if units != "metal":
        raise LammpsError(f"dpsycl models work in eV and Å: the input must use 'units metal' (it uses '{units}')")
    species = species_map(potential.get_type_map(), int(lmp.extract_setting("ntypes")), elements)
    _, periodic_box = box_cell(lmp)
    shell = choose_ghost_shell(ghost_shell, potential, comm.Get_size(), periodic_box)
    field_ = LammpsForceField(lmp, comm, MPI, potential, species, shell, fix_id, comm.Get_rank(), potential.device)
    field_.install()
    return field_
