"""Forces and virials from the pair gradients g_ij = ∂E/∂r_ij (NumPy reference).

    r_ij = x_j + S·h − x_i
    F_i  = Σ_j g_ij − Σ_k g_ki                  (images fold back onto their owners)
    W    = −Σ_ij g_ij ⊗ r_ij,     w_j += −g_ij ⊗ r_ij   (DeePMD-kit's atomic virial sits on the neighbour)

The kernel form is device_kernels/forces.py.
"""
from __future__ import annotations

import numpy as np


def forces_and_virial(g: np.ndarray, nlist: np.ndarray, rij: np.ndarray, natoms: int):
    """Forces (natoms, 3), virial (9,) and atomic virials (natoms, 9)."""
    mask = nlist >= 0
    force = np.zeros((natoms, 3))
    force[:len(g)] = np.sum(g, axis=1)       # rows: the centres (all atoms, or DeePMD-kit's nloc)
    owners = nlist[mask]
    np.add.at(force, owners, -g[mask])
    pair_virial = -(g[..., :, None] * rij[..., None, :]).reshape(*g.shape[:2], 9)
    atom_virial = np.zeros((natoms, 9))
    np.add.at(atom_virial, owners, pair_virial[mask])
    return force, atom_virial.sum(axis=0), atom_virial
