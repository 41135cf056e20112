"""The se_e2_a descriptor and its back-propagation in float64 NumPy (the specification).

    R_ij = (R̃(r_ij) − t_avg) / t_std                 normalised environment row (dpsycl/env_matrix.py)
    G_ij = 𝒩_{type_i?,type_j}(R_ij[0])                 embedding net of the normalised s(r_ij)
    T_i  = R_iᵀ G_i / nnei                              (4 × M)
    D_i  = T_iᵀ T_i[:, :M<]                             (M × M<, M< = axis_neuron)

Back-propagation from ∂E/∂D_i gives ∂E/∂R_ij, including the path through G_ij(R_ij[0]), then
g_ij = ∂E/∂r_ij.  The kernels implementing the same equations are device_kernels/se_e2_a.py and
device_kernels/se_e2_a_group.py.
"""
from __future__ import annotations

import numpy as np

from ...env_matrix import env_matrix, normalise, pair_gradients
from ..smooth import embed_slots, excluded_slots
from .params import SeE2A


def embed(d: SeE2A, atype: np.ndarray, env: np.ndarray):
    """G (nloc, nnei, M) and dG/ds (nloc, nnei, M) for every slot, empty slots included; zero for
    excluded pairs (DeePMD-kit zeroes their environment rows, so they add nothing to T either way)."""
    G, dG = embed_slots(d, atype, env[..., 0])
    excluded = excluded_slots(d, atype)
    G[excluded] = 0.0
    dG[excluded] = 0.0
    return G, dG


def descriptor(d: SeE2A, env: np.ndarray, G: np.ndarray):
    """D (nloc, M·M<) and T (nloc, 4, M)."""
    T = np.einsum("ija,ijm->iam", env, G) / d.nnei
    D = np.einsum("iam,ian->imn", T, T[:, :, :d.axis_neuron])
    return D.reshape(len(env), -1), T


def descriptor_backward(d: SeE2A, env, G, dG, T, dE_dD):
    """∂E/∂R_ij (nloc, nnei, 4) from ∂E/∂D (nloc, M·M<)."""
    M2 = d.axis_neuron
    dD = dE_dD.reshape(len(env), d.embedding_width, M2)
    dT = np.einsum("imn,ian->iam", dD, T[:, :, :M2])
    dT[:, :, :M2] += np.einsum("ikm,iak->iam", dD, T)
    dT /= d.nnei
    dR = np.einsum("iam,ijm->ija", dT, G)
    dE_dG = np.einsum("ija,iam->ijm", env, dT)
    dR[:, :, 0] += np.sum(dE_dG * dG, axis=-1)
    return dR


def forward(d: SeE2A, atype: np.ndarray, lists: list):
    """D_i (nloc, M·M<) from the neighbour list of d.neighbor_specs(), and what backward needs."""
    (nl,) = lists
    mask = nl.nlist >= 0
    raw, deriv = env_matrix(nl.rij, mask, d.rcut, d.rcut_smth)
    env = normalise(raw, atype, d.t_avg, d.t_std)
    G, dG = embed(d, atype, env)
    D, T = descriptor(d, env, G)
    return D, (env, deriv, mask, G, dG, T)


def backward(d: SeE2A, atype: np.ndarray, saved, dE_dD: np.ndarray) -> list:
    """[g_ij (nloc, nnei, 3)]: ∂E/∂r_ij for each slot of the list."""
    env, deriv, mask, G, dG, T = saved
    dE_dR = descriptor_backward(d, env, G, dG, T, dE_dD)
    std = d.t_std[atype].reshape(env.shape)
    return [pair_gradients(dE_dR, std, deriv, mask)]
