"""The se_e2_a extraction rule: its parameters from a DeePMD-kit frozen graph.

The shared fields come from extract/smooth.py (the ``ProdEnvMatA`` op: ``sel_a``, ``rcut_r``,
``rcut_r_smth``); se_e2_a adds ``axis_neuron`` = fitting input width / embedding width; as a member of a hybrid
(the fitting net reads all members) it is the training script's ``axis_neuron``.
"""
from __future__ import annotations

import numpy as np

from dpsycl.descriptors.se_e2_a.params import SeE2A
from dpsycl.model import ModelError

from .graph import Graph
from .smooth import Scope, read_smooth


def read_descriptor(g: Graph, ntypes: int, sdesc: dict, fitting_input: int | None,
                    scope: Scope = Scope()) -> tuple[SeE2A, np.dtype]:
    """The se_e2_a parameters of graph ``g`` (``scope``: which descriptor; ``fitting_input`` None
    for a hybrid's member) and the dtype of its weights."""
    env = scope.env_node(g)
    if any(int(x) for x in env.attr["sel_r"].list.i):
        raise ModelError(f"{g.path}: {env.op} has a non-zero sel_r (radial-only neighbours); not se_e2_a")
    kwargs, dtype = read_smooth(g, ntypes, sdesc, "sel_a", "rcut_r", "rcut_r_smth", scope)
    width = kwargs["neuron"][-1]
    if fitting_input is None:
        if not isinstance(sdesc.get("axis_neuron"), int):
            raise ModelError(f"{g.path}: the axis_neuron of hybrid member {scope.suffix.lstrip('_')} is read from the "
                             "training script, which the graph does not hold")
        return SeE2A(axis_neuron=int(sdesc["axis_neuron"]), **kwargs), dtype
    if fitting_input <= 0 or fitting_input % width:
        raise ModelError(f"{g.path}: fitting input width {fitting_input} is not a multiple of the embedding "
                         f"width {width} (extra fitting inputs such as case embedding?)")
    return SeE2A(axis_neuron=fitting_input // width, **kwargs), dtype
