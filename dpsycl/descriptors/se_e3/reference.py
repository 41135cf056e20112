"""The se_e3 descriptor (DeePMD-kit's se_t) and its back-propagation in float64 NumPy (the specification).

For centre i, every slot j of its neighbour list (species block by species block) has the
normalised environment row R_ij = (R̃_ij − t_avg[p]) / t_std[p] (dpsycl/env_matrix.py); only its
last three columns enter, the smoothed direction  q_ij = R_ij[1:4]  (≈ s(r_ij) r_ij/r_ij scaled).
For each unordered pair of neighbour species a ≤ b, with its embedding net 𝒩_ab (1 → M; in a
compressed model its table, as DeePMD-kit's TabulateFusionSeT evaluates it):

    e_jk  = q_ij · q_ik                                  j in block a, k in block b
    D_i   = Σ_{a ≤ b} 1/(sel_a sel_b) Σ_{j ∈ a} Σ_{k ∈ b} e_jk 𝒩_ab(e_jk)        (M channels)

Every slot counts, empty ones too (their row is −t_avg/t_std, whose direction columns DeePMD-kit's
statistics leave at zero, so they add nothing); the block a = b counts both orders (j, k), (k, j)
and j = k; the normalisation is by the slot counts sel, not by the neighbours found.

Back-propagation, with h_jk = 1/(sel_a sel_b) Σ_m ∂E/∂D_i[m] (𝒩_ab(e) + e 𝒩'_ab(e))[m] at e = e_jk:

    ∂E/∂q_ij = Σ_k h_jk q_ik  (pairs where j is the first slot)  +  Σ_k h_kj q_ik  (second slot)
    g_ij     = ∂E/∂r_ij = Σ_{c=1..3} ∂E/∂q_ij[c] / t_std[p, c] · ∂R̃_ij[c]/∂r_ij

The kernels implementing the same equations are device_kernels/se_e3.py.
"""
from __future__ import annotations

import numpy as np

from ...env_matrix import env_matrix, normalise, pair_gradients
from .params import SeE3


def forward(d: SeE3, atype: np.ndarray, lists: list):
    """D_i (nloc, M) from the neighbour list of d.neighbor_specs(), and what backward needs."""
    (nl,) = lists
    mask = nl.nlist >= 0
    raw, deriv = env_matrix(nl.rij, mask, d.rcut, d.rcut_smth)
    q = normalise(raw, atype, d.t_avg, d.t_std)[..., 1:]
    nloc, M = len(atype), d.embedding_width
    offs, ntypes = d.sel_offsets, len(d.sel)
    D = np.zeros((nloc, M))
    pairs = []
    for a in range(ntypes):
        for b in range(a, ntypes):
            qa, qb = q[:, offs[a]:offs[a + 1]], q[:, offs[b]:offs[b + 1]]
            e = np.einsum("ijc,ikc->ijk", qa, qb)
            G, dG = d.pair_embedding(a, b, e.reshape(-1))
            G, dG = G.reshape(*e.shape, M), dG.reshape(*e.shape, M)
            scale = 1.0 / (d.sel[a] * d.sel[b])
            D += np.einsum("ijk,ijkm->im", e, G) * scale
            pairs.append((a, b, e, G, dG, scale))
    return D, (q, deriv, mask, pairs)


def backward(d: SeE3, atype: np.ndarray, saved, dE_dD: np.ndarray) -> list:
    """[g_ij (nloc, nnei, 3)]: ∂E/∂r_ij for each slot of the list."""
    q, deriv, mask, pairs = saved
    offs = d.sel_offsets
    dE_dq = np.zeros_like(q)
    for a, b, e, G, dG, scale in pairs:
        h = np.einsum("im,ijkm->ijk", dE_dD, G + e[..., None] * dG) * scale
        sa, sb = slice(offs[a], offs[a + 1]), slice(offs[b], offs[b + 1])
        dE_dq[:, sa] += np.einsum("ijk,ikc->ijc", h, q[:, sb])
        dE_dq[:, sb] += np.einsum("ijk,ijc->ikc", h, q[:, sa])
    dE_dR = np.concatenate([np.zeros(q.shape[:-1] + (1,)), dE_dq], axis=-1)
    std = d.t_std[atype].reshape(dE_dR.shape)
    return [pair_gradients(dE_dR, std, deriv, mask)]
