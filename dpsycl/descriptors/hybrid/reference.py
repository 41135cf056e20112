"""The hybrid descriptor and its back-propagation in float64 NumPy (the specification).

    D_i = D_i^(0) ⊕ D_i^(1) ⊕ …                      each member k on its own neighbour list(s)
    ∂E/∂D_i^(k) = (∂E/∂D_i)[off_k : off_k + width_k]   the fitting net's gradient, split back
    g_ij^(k) = member k's backward of ∂E/∂D_i^(k)      one pair-gradient array per list

Forces and virials are then summed over every list (dpsycl/reference.py), as DeePMD-kit's hybrid
sums its members' prod_force_virial.  Each member's equations are its own unit's reference.
"""
from __future__ import annotations

import numpy as np

from ..base import unit_of
from .params import Hybrid


def forward(d: Hybrid, atype: np.ndarray, lists: list):
    """D_i (nloc, Σ widths): the members' descriptors concatenated in list order, and what backward needs."""
    outputs, saved = [], []
    for member, which in zip(d.members, d.member_lists()):
        D, kept = unit_of(member).reference.forward(member, atype, lists[which])
        outputs.append(D)
        saved.append(kept)
    return np.concatenate(outputs, axis=1), saved


def backward(d: Hybrid, atype: np.ndarray, saved, dE_dD: np.ndarray) -> list:
    """[g_ij per list], list by list as neighbor_specs() names them."""
    grads: list = []
    for member, kept, at, width in zip(d.members, saved, d.offsets, d.widths):
        grads += unit_of(member).reference.backward(member, atype, kept, dE_dD[:, at:at + width])
    return grads
