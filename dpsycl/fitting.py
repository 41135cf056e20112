"""Per-species fitting nets: atomic energies from descriptors, and ∂E/∂D.

    E_i = (𝓕_{type_i}(D_i) + bias_atom_e[type_i]) · out_std[type_i] + out_bias[type_i]
"""
from __future__ import annotations

import numpy as np

from .model import Model
from .networks import fitting_net


def atomic_energies(model: Model, atype: np.ndarray, D: np.ndarray):
    """E_i (nloc,) and ∂E_i/∂D_i (nloc, width(D))."""
    energy = np.zeros(len(D))
    grad = np.zeros_like(D)
    for t in range(model.ntypes):
        rows = np.nonzero(atype == t)[0]
        if len(rows) == 0:
            continue
        y, g = fitting_net(model.fitting_nets[t], model.fitting_activation, D[rows])
        energy[rows] = (y + model.bias_atom_e[t]) * model.out_std[t] + model.out_bias[t]
        grad[rows] = g * model.out_std[t]
    return energy, grad
