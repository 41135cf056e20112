"""The MD state on the host (what H5MD stores), sampled frames, initial velocities and observables.

Initial velocities: Maxwell–Boltzmann, v_ia ~ N(0, kT·CONV/m_i), then the centre-of-mass velocity
Σ m_i v_i / Σ m_i is subtracted and all velocities are scaled so that the instantaneous
temperature is exactly T.

Observables of a frame (``observables``):

    K = ½ Σ_i m_i v_i² / CONV                 kinetic energy (eV)
    T = 2K / (ndof k_B)                       ndof = 3N − 3, or 3N after Langevin steps (``ndof_for``)
    P_ab = (Σ_i m_i v_ia v_ib / CONV + W_ab) / V     pressure tensor, W = Σ_i w_i the DeePMD-kit virial
    pressure = tr P / 3,  stress = −P          in bar; ``stress`` has ASE's sign (negative under
                                               compression); both NaN without a cell.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ase.data import atomic_masses, atomic_numbers

from .settings import CONV, EV_PER_A3_IN_BAR, KB, MDError


@dataclass
class MDState:
    """The dynamical state on the host, as NumPy arrays.

    This is what the H5MD writer saves at every sampled step and what ``--restart`` reads back;
    :func:`dpsycl.md.to_device` and :func:`dpsycl.md.to_host` convert it to and from the
    :class:`dpsycl.md.DeviceState` that the integrators advance.  ``positions`` are the positions
    wrapped into the cell at the last neighbour-list build (they may have left the cell since);
    ``positions + image @ cell`` are the unwrapped ones.  ``list_reference`` holds the positions that
    build took (wrapped), when it was before ``step`` and a Verlet skin is in use: a run continued
    from this state builds its list from them, the list the uninterrupted run has, so it goes on bit
    for bit.
    """
    positions: np.ndarray                # (3N,) Å, model dtype
    velocities: np.ndarray               # (3N,) Å/fs, model dtype
    forces: np.ndarray | None            # (3N,) eV/Å; None until computed
    image: np.ndarray                    # (3N,) int64 periodic image counts
    atype: np.ndarray                    # (N,) species index into type_map
    type_map: list[str]
    cell: np.ndarray | None              # (3, 3) box vectors as rows; None: open boundaries
    step: int = 0
    time: float = 0.0                    # fs (= step · dt)
    seed: int = 0
    exact_neighbors_from: int | None = None  # step from which the skin was switched off (sel overflow)
    fparam: np.ndarray | None = None     # (numb_fparam,) the model's frame parameters, fixed for the run
    aparam: np.ndarray | None = None     # (N, numb_aparam) the model's atomic parameters, fixed for the run
    list_reference: np.ndarray | None = None  # (3N,) positions of the last list build, if before step
    list_built_at: int | None = None     # that build's step

    @property
    def natoms(self) -> int:
        return len(self.atype)

    @property
    def pbc(self) -> bool:
        return self.cell is not None

    def masses(self) -> np.ndarray:
        return masses_for(self.type_map)[self.atype]


@dataclass
class Frame:
    """One sampled step on the host: what the H5MD writer stores."""
    step: int
    time: float
    positions: np.ndarray                # (N, 3), model dtype (wrapped at the last list build)
    velocities: np.ndarray               # (N, 3)
    forces: np.ndarray                   # (N, 3) eV/Å
    image: np.ndarray                    # (N, 3) int64
    species: np.ndarray                  # (N,) int
    cell: np.ndarray | None              # (3, 3)
    observables: dict = field(default_factory=dict)
    exact_neighbors_from: int | None = None
    list_built_at: int | None = None     # step of the last list build while a skin is in use; else None
    list_reference: np.ndarray | None = None  # (N, 3) the positions it took, when before this step

    def unwrapped_positions(self) -> np.ndarray:
        if self.cell is None:
            return np.asarray(self.positions, dtype=np.float64)
        return np.asarray(self.positions, dtype=np.float64) + self.image @ self.cell


def masses_for(type_map) -> np.ndarray:
    """Atomic masses (amu) of the species of a type_map, from ase.data."""
    out = []
    for sym in type_map:
        if sym not in atomic_numbers:
            raise MDError(f"species '{sym}' of the model's type_map is not a chemical element; "
                          "MD needs its mass")
        out.append(atomic_masses[atomic_numbers[sym]])
    return np.asarray(out, dtype=np.float64)


def ndof_for(natoms: int, thermal_com: bool) -> int:
    """Degrees of freedom of the temperature: 3N − 3 while the total momentum is conserved (and
    zero), 3N once Langevin noise has thermalised the centre of mass too (``thermal_com``)."""
    return max(1, 3 * natoms if thermal_com else 3 * natoms - 3)


def maxwell_boltzmann(masses: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """(N, 3) velocities in Å/fs: Maxwell–Boltzmann at ``temperature``, zero total momentum,
    rescaled so the instantaneous temperature (ndof 3N − 3) is exactly ``temperature``."""
    masses = np.asarray(masses, dtype=np.float64)
    n = len(masses)
    v = np.zeros((n, 3))
    if temperature <= 0 or n == 0:
        return v
    rng = np.random.default_rng([int(seed), 0x4D42])  # "MB": a stream of its own for this seed
    v = rng.standard_normal((n, 3)) * np.sqrt(KB * temperature * CONV / masses)[:, None]
    if n > 1:
        v -= (masses[:, None] * v).sum(axis=0) / masses.sum()
    ke = 0.5 * np.sum(masses[:, None] * v * v) / CONV
    target = 0.5 * ndof_for(n, False) * KB * temperature
    if ke > 0:
        v *= math.sqrt(target / ke)
    return v


def initial_state(positions, cell, atype, type_map, temperature: float = 300.0, seed: int = 0, fparam=None,
                  aparam=None) -> MDState:
    """A host MDState at step 0 with Maxwell–Boltzmann velocities (``fparam``/``aparam``: the
    model's frame and atomic parameters, for models that take them)."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    atype = np.asarray(atype, dtype=np.int64).ravel()
    if len(atype) != len(positions):
        raise MDError(f"{len(positions)} positions but {len(atype)} species")
    if len(atype) == 0:
        raise MDError("the structure has no atoms")
    if np.any(atype < 0) or np.any(atype >= len(type_map)):
        raise MDError(f"species index outside the type_map {list(type_map)}")
    if cell is not None:
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        if abs(np.linalg.det(cell)) < 1e-6:
            raise MDError("the cell is singular")
    masses = masses_for(type_map)[atype]
    v = maxwell_boltzmann(masses, temperature, seed)
    return MDState(positions=positions.ravel(), velocities=v.ravel(), forces=None,
                   image=np.zeros(3 * len(atype), dtype=np.int64), atype=atype, type_map=list(type_map),
                   cell=cell, step=0, time=0.0, seed=int(seed),
                   fparam=None if fparam is None else np.asarray(fparam, dtype=np.float64).ravel(),
                   aparam=None if aparam is None else np.asarray(aparam, dtype=np.float64).reshape(len(atype), -1))


def observables(atom_energy, atom_virial, velocities, masses, cell, ndof: int) -> dict:
    """Potential, kinetic, total energy (eV), temperature (K), pressure and stress (bar)."""
    ae = np.asarray(atom_energy, dtype=np.float64)
    v = np.asarray(velocities, dtype=np.float64).reshape(-1, 3)
    m = np.asarray(masses, dtype=np.float64)
    kin_tensor = np.einsum("i,ia,ib->ab", m, v, v) / CONV          # Σ m v⊗v in eV
    ke = 0.5 * np.trace(kin_tensor)
    pe = float(ae.sum())
    out = {"potential_energy": pe, "kinetic_energy": float(ke), "total_energy": pe + float(ke),
           "temperature": float(2.0 * ke / (ndof * KB))}
    if cell is not None:
        vol = abs(np.linalg.det(cell))
        w = np.asarray(atom_virial, dtype=np.float64).reshape(-1, 3, 3).sum(axis=0)
        ptensor = (kin_tensor + w) / vol * EV_PER_A3_IN_BAR
        out["pressure"] = float(np.trace(ptensor) / 3.0)
        out["stress"] = -ptensor
    else:
        out["pressure"] = float("nan")
        out["stress"] = np.full((3, 3), np.nan)
    return out
