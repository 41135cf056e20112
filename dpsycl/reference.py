"""The float64 NumPy evaluation of a se_e2_a model: the specification every device kernel matches.

neighbours → environment matrix → embedding + descriptor → fitting → chain rule for forces/virial.
"""
from __future__ import annotations

import numpy as np

from .descriptor import descriptor, descriptor_backward, embed
from .env_matrix import env_matrix, normalise
from .fitting import atomic_energies
from .forces import forces_and_virial, pair_gradients
from .model import Layer, Model
from .neighbors import build_neighbor_list


def as_float64(model: Model) -> Model:
    """The same model with every array in float64 (the reference computes in float64 always)."""
    def cast(layers):
        return [Layer(l.matrix.astype(np.float64), l.bias.astype(np.float64),
                      None if l.idt is None else l.idt.astype(np.float64)) for l in layers]
    import dataclasses
    return dataclasses.replace(
        model,
        t_avg=model.t_avg.astype(np.float64), t_std=model.t_std.astype(np.float64),
        embedding_nets={k: cast(v) for k, v in model.embedding_nets.items()},
        fitting_nets=[cast(v) for v in model.fitting_nets],
        bias_atom_e=np.asarray(model.bias_atom_e, np.float64),
        out_bias=np.asarray(model.out_bias, np.float64), out_std=np.asarray(model.out_std, np.float64))


def evaluate_frame(model: Model, coords: np.ndarray, cell, atype: np.ndarray):
    """Energy, forces, virial (9,), atomic energies and atomic virials of one frame (float64)."""
    nl = build_neighbor_list(coords, cell, atype, model.rcut, model.sel)
    mask = nl.nlist >= 0
    raw, deriv = env_matrix(nl.rij, mask, model.rcut, model.rcut_smth)
    env = normalise(raw, atype, model.t_avg, model.t_std)
    G, dG = embed(model, atype, env)
    D, T = descriptor(model, env, G)
    ae, dE_dD = atomic_energies(model, atype, D)
    dE_dR = descriptor_backward(model, env, G, dG, T, dE_dD)
    std = model.t_std[atype].reshape(env.shape)
    g = pair_gradients(dE_dR, std, deriv, mask)
    force, virial, atom_virial = forces_and_virial(g, nl.nlist, nl.rij, len(coords))
    return ae.sum(), force, virial, ae, atom_virial


class NumpyBackend:
    """Host reference 'device'."""

    name = "numpy"

    def __init__(self, model: Model):
        self.model = as_float64(model)

    def describe(self) -> str:
        return "numpy (float64 host reference)"

    def evaluate(self, coords, cell, atype, atomic: bool):
        return evaluate_frame(self.model, coords, cell, atype)
