"""Model deviation of an ensemble: DeePMD-kit's ``model_devi.out`` (``dp model-devi``, DeePMD-kit 3.2).

For M models evaluated on the same frame of N atoms (E_m, F_m,i, W_m: energy, force on atom i,
virial), with ⟨·⟩ the mean over the models and σ(x) = sqrt(⟨x²⟩ − ⟨x⟩²) the population standard
deviation (numpy's ``std`` with ddof = 0):

* force deviation of atom i:  ε_F,i = ‖σ(F_i)‖ = sqrt(Σ_α σ(F_iα)²), α over x, y, z;
  ``--relative L`` divides it by ‖⟨F_i⟩‖ + L (DeePMD-kit v2 paper, Eq. 71);
  max_devi_f, min_devi_f, avg_devi_f are the max, min and mean of ε_F,i over the atoms;
* virial deviation, on the virial per atom W/N:  σ_αβ = σ(W_αβ/N) for the nine components;
  ``--relative_v L`` divides every component by ‖⟨W/N⟩‖ + L (Frobenius norm, Eq. 72);
  max_devi_v, min_devi_v are the max and min over the nine, avg_devi_v = ‖σ‖_F / 3;
* devi_e = σ(E/N), the deviation of the energy per atom.

N counts every atom of the frame (with DeePMD-kit's mixed format, the padding atoms too; their
forces are zero).  The file: a header per trajectory (``# <name>`` then the column names), then one
row per frame: step (``%12d``), then max/min/avg_devi_v, max/min/avg_devi_f, devi_e (``%19.6e``
each), then with ``--atomic`` ε_F,i of every atom.
"""
from __future__ import annotations

import numpy as np

#: columns after "step", in file order
COLUMNS = ("max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f", "devi_e")


def force_deviation(forces: np.ndarray, relative: float | None = None) -> np.ndarray:
    """ε_F,i of every atom of every frame: forces (models, frames, atoms, 3) → (frames, atoms)."""
    forces = np.asarray(forces, dtype=np.float64)
    spread = np.sqrt(np.sum(np.var(forces, axis=0), axis=-1))
    if relative is not None:
        magnitude = np.sqrt(np.sum(np.mean(forces, axis=0) ** 2, axis=-1))
        spread = spread / (magnitude + relative)
    return spread


def virial_deviation(virials_per_atom: np.ndarray, relative: float | None = None):
    """(max, min, avg) over the nine components: virials per atom (models, frames, 9) → 3 × (frames,)."""
    v = np.asarray(virials_per_atom, dtype=np.float64)
    sigma = np.std(v, axis=0)
    if relative is not None:
        magnitude = np.sqrt(np.sum(np.mean(v, axis=0) ** 2, axis=-1, keepdims=True))
        sigma = sigma / (magnitude + relative)
    return sigma.max(axis=-1), sigma.min(axis=-1), np.sqrt(np.sum(sigma ** 2, axis=-1)) / 3.0


def deviation_rows(energies, forces, virials, natoms: int, *, relative: float | None = None,
                   relative_v: float | None = None, atomic: bool = False) -> np.ndarray:
    """The columns of ``model_devi.out`` after "step" for a batch of frames.

    energies (models, frames), forces (models, frames, atoms, 3), virials (models, frames, 9);
    returns (frames, 7), or (frames, 7 + atoms) with ``atomic``.
    """
    energies = np.asarray(energies, dtype=np.float64) / natoms
    virials = np.asarray(virials, dtype=np.float64) / natoms
    eps_f = force_deviation(forces, relative)
    max_v, min_v, avg_v = virial_deviation(virials, relative_v)
    cols = [max_v, min_v, avg_v, eps_f.max(axis=-1), eps_f.min(axis=-1), eps_f.mean(axis=-1),
            np.std(energies, axis=0)]
    rows = np.stack(cols, axis=1)
    return np.concatenate([rows, eps_f], axis=1) if atomic else rows


def header(name: str, atomic: bool = False) -> str:
    """The two header lines of one block (without their '# ' prefix)."""
    names = f"{'step':10s}" + "".join(f"{c:19s}" for c in COLUMNS)
    if atomic:
        names += f"{'atm_devi_f(N)':19s}"
    return f"{name}\n{names}"


def write_block(fh, name: str, steps, rows: np.ndarray | None, atomic: bool = False, *, with_header=True) -> None:
    """Write rows of one trajectory to an open text file (the header first when ``with_header``)."""
    if with_header:
        fh.write("".join(f"# {line}\n" for line in header(name, atomic).split("\n")))
    if rows is None or len(rows) == 0:
        return
    for step, row in zip(np.asarray(steps), np.asarray(rows)):
        fh.write(f"{int(step):12d}" + "".join(f"{x:19.6e}" for x in row) + "\n")
