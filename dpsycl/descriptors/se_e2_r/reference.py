"""The se_e2_r descriptor and its back-propagation in float64 NumPy (the specification).

    R_ij = (s(r_ij) − t_avg[p]) / t_std[p]              normalised radial term (dpsycl/env_matrix.py)
    G_ij = 𝒩_{type_i?,type_j}(R_ij)                      embedding net, M channels
    D_i  = (1/5) · (1/nnei) Σ_j G_ij                     mean over all nnei slots, DeePMD-kit's 1/5 rescale

Every slot counts in the mean, empty ones too (their R is −t_avg/t_std).  Excluded species pairs:
with per-pair nets (type_one_side false) their slots add zero; with one net per neighbour species
DeePMD-kit multiplies their R by 0, so each of their slots adds G(0) and no gradient.

    g_ij = ∂E/∂r_ij = (Σ_m ∂E/∂D_i[m] ∂G_ij[m]/∂R_ij) / (5 nnei t_std[p]) · ∂s/∂r_ij

The kernels implementing the same equations are device_kernels/se_e2_r.py.
"""
from __future__ import annotations

import numpy as np

from ...env_matrix import env_matrix, normalise, pair_gradients
from ..smooth import embed_slots, excluded_slots
from .params import SeE2R

RESCALE = 0.2        # DeePMD-kit's res_rescale of se_e2_r


def forward(d: SeE2R, atype: np.ndarray, lists: list):
    """D_i (nloc, M) from the neighbour list of d.neighbor_specs(), and what backward needs."""
    (nl,) = lists
    mask = nl.nlist >= 0
    raw, deriv = env_matrix(nl.rij, mask, d.rcut, d.rcut_smth)
    s = normalise(raw[..., 0], atype, d.t_avg, d.t_std)
    excluded = excluded_slots(d, atype)
    if d.type_one_side:
        s = np.where(excluded, 0.0, s)
    G, dG = embed_slots(d, atype, s)
    dG[excluded] = 0.0
    D = G.sum(axis=1) * (RESCALE / d.nnei)
    return D, (deriv[..., :1, :], mask, dG)


def backward(d: SeE2R, atype: np.ndarray, saved, dE_dD: np.ndarray) -> list:
    """[g_ij (nloc, nnei, 3)]: ∂E/∂r_ij for each slot of the list."""
    deriv, mask, dG = saved
    dE_dR = np.einsum("im,ijm->ij", dE_dD, dG)[..., None] * (RESCALE / d.nnei)
    std = d.t_std[atype].reshape(dE_dR.shape)
    return [pair_gradients(dE_dR, std, deriv, mask)]
