"""The se_e3 (se_t) extraction rule: its parameters from a DeePMD-kit frozen graph.

The shared fields come from extract/smooth.py (the ``ProdEnvMatA`` op: ``sel_a``, ``rcut_r``,
``rcut_r_smth``; ``descrpt_attr/t_avg``, ``t_std``).  The embedding nets are one per pair of
neighbour species a ≤ b, ``filter_type_all/{matrix,bias,idt}_{layer}_{a}_{b}``; the fitting net
takes the embedding width as its input.  DeePMD-kit's TensorFlow se_t refuses exclude_types, so a
graph has none.  As member k of a hybrid (extract/hybrid.py) its tensors carry the suffix ``_k``
(``descrpt_attr_k/t_avg``, ``filter_type_all_k/matrix_1_0_1``) and its own environment op.
A compressed graph (`dp compress`) has tables instead of the nets
(extract/tables.py: ``read_three_body_tables``).
"""
from __future__ import annotations

import numpy as np

from dpsycl.descriptors.se_e3.params import SeE3
from dpsycl.model import Layer, ModelError

from .graph import Graph, activation_of, dense_layer
from .smooth import Scope, read_smooth
from .tables import read_three_body_tables

SCOPE = "filter_type_all"


def three_body_nets(g: Graph, ntypes: int, suffix: str = ""):
    """(type_one_side False, {(a, b): layers} for a ≤ b, activation, no excluded pairs); ``suffix``
    names a hybrid member's scope."""
    scope = f"{SCOPE}{suffix}"
    nets: dict[tuple[int, int], list[Layer]] = {}
    for a in range(ntypes):
        for b in range(a, ntypes):
            layers, ll = [], 1
            while g.has_const(f"{scope}/matrix_{ll}_{a}_{b}"):
                layers.append(dense_layer(g, f"{scope}/", f"_{ll}_{a}_{b}"))
                ll += 1
            if not layers:
                raise ModelError(f"{g.path}: the se_e3 graph has no embedding net for neighbour species ({a}, {b}) "
                                 f"(missing constant '{scope}/matrix_1_{a}_{b}')")
            nets[(a, b)] = layers
    acts = {activation_of(g, f"{scope}/bias_{ll}_{a}_{b}") for (a, b), net in nets.items()
            for ll in range(1, len(net) + 1)}
    if len(acts) != 1:
        raise ModelError(f"{g.path}: embedding-net layers use different activations: {', '.join(sorted(acts))}")
    return False, nets, acts.pop(), []


def read_descriptor(g: Graph, ntypes: int, sdesc: dict, fitting_input: int | None,
                    scope: Scope = Scope()) -> tuple[SeE3, np.dtype]:
    """The se_e3 parameters of graph ``g`` and the dtype of its weights (``scope``: which descriptor;
    ``fitting_input`` None for a hybrid's member)."""
    env = scope.env_node(g)
    if any(int(x) for x in env.attr["sel_r"].list.i):
        raise ModelError(f"{g.path}: {env.op} has a non-zero sel_r (radial-only neighbours); not se_e3")
    if sdesc.get("exclude_types"):
        raise ModelError(f"{g.path}: se_e3 with exclude_types {sdesc['exclude_types']} is not supported")
    kwargs, dtype = read_smooth(g, ntypes, sdesc, "sel_a", "rcut_r", "rcut_r_smth", scope,
                                read_nets=lambda g, ntypes: three_body_nets(g, ntypes, scope.suffix),
                                read_table_ops=read_three_body_tables)
    if fitting_input is not None and fitting_input != kwargs["neuron"][-1]:
        raise ModelError(f"{g.path}: fitting input width {fitting_input} differs from the embedding width "
                         f"{kwargs['neuron'][-1]} (extra fitting inputs such as case embedding?)")
    return SeE3(**kwargs), dtype
