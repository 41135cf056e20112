"""The se_e2_a descriptor and its back-propagation.

    G_ij = 𝒩_{type_i?,type_j}(R_ij[0])                 embedding net of the normalised s(r_ij)
    T_i  = R_iᵀ G_i / nnei                              (4 × M)
    D_i  = T_iᵀ T_i[:, :M<]                             (M × M<, M< = axis_neuron)

Back-propagation from ∂E/∂D_i gives ∂E/∂R_ij, including the path through G_ij(R_ij[0]).
"""
from __future__ import annotations

import numpy as np

from .model import Model
from .networks import embedding_net


def embed(model: Model, atype: np.ndarray, env: np.ndarray):
    """G (nloc, nnei, M) and dG/ds (nloc, nnei, M) for every slot, empty slots included."""
    nloc, nnei, _ = env.shape
    M = model.embedding_width
    G = np.zeros((nloc, nnei, M))
    dG = np.zeros((nloc, nnei, M))
    offs = model.sel_offsets
    centre_types = [-1] if model.type_one_side else range(model.ntypes)
    for ti in centre_types:
        rows = np.arange(nloc) if ti == -1 else np.nonzero(atype == ti)[0]
        if len(rows) == 0:
            continue
        for tj in range(model.ntypes):
            if ti >= 0 and model.is_excluded(ti, tj):
                continue  # graphs without type_one_side carry no net for an excluded pair
            block = slice(offs[tj], offs[tj + 1])
            s = env[rows, block, 0].reshape(-1)
            g, dg = embedding_net(model.embedding_net(ti, tj), model.activation, s)
            G[rows, block] = g.reshape(len(rows), -1, M)
            dG[rows, block] = dg.reshape(len(rows), -1, M)
    for ti, tj in model.exclude_types:
        for a, b in ((ti, tj), (tj, ti)):
            G[atype == a, offs[b]:offs[b + 1]] = 0.0
            dG[atype == a, offs[b]:offs[b + 1]] = 0.0
    return G, dG


def descriptor(model: Model, env: np.ndarray, G: np.ndarray):
    """D (nloc, M·M<) and T (nloc, 4, M)."""
    T = np.einsum("ija,ijm->iam", env, G) / model.nnei
    D = np.einsum("iam,ian->imn", T, T[:, :, :model.axis_neuron])
    return D.reshape(len(env), -1), T


def descriptor_backward(model: Model, env, G, dG, T, dE_dD):
    """∂E/∂R_ij (nloc, nnei, 4) from ∂E/∂D (nloc, M·M<)."""
    M2 = model.axis_neuron
    dD = dE_dD.reshape(len(env), model.embedding_width, M2)
    dT = np.einsum("imn,ian->iam", dD, T[:, :, :M2])
    dT[:, :, :M2] += np.einsum("ikm,iak->iam", dD, T)
    dT /= model.nnei
    dR = np.einsum("iam,ijm->ija", dT, G)
    dE_dG = np.einsum("ija,iam->ijm", env, dT)
    dR[:, :, 0] += np.sum(dE_dG * dG, axis=-1)
    return dR
