"""The se_e2_a extraction rule: its parameters from a DeePMD-kit frozen graph.

The shared fields come from extract/smooth.py (the ``ProdEnvMatA`` op: ``sel_a``, ``rcut_r``,
``rcut_r_smth``); se_e2_a adds ``axis_neuron`` = fitting input width / embedding width.
"""
from __future__ import annotations

import numpy as np

from dpsycl.descriptors.se_e2_a.params import SeE2A
from dpsycl.model import ModelError

from .graph import ENV_MAT_OPS, Graph
from .smooth import read_smooth


def read_descriptor(g: Graph, ntypes: int, sdesc: dict, fitting_input: int) -> tuple[SeE2A, np.dtype]:
    """The se_e2_a parameters of graph ``g`` and the dtype of its weights."""
    env = next(n for n in g.nodes.values() if n.op in ENV_MAT_OPS)
    if any(int(x) for x in env.attr["sel_r"].list.i):
        raise ModelError(f"{g.path}: {env.op} has a non-zero sel_r (radial-only neighbours); not se_e2_a")
    kwargs, dtype = read_smooth(g, ntypes, sdesc, "sel_a", "rcut_r", "rcut_r_smth")
    width = kwargs["neuron"][-1]
    if fitting_input <= 0 or fitting_input % width:
        raise ModelError(f"{g.path}: fitting input width {fitting_input} is not a multiple of the embedding "
                         f"width {width} (extra fitting inputs such as case embedding?)")
    return SeE2A(axis_neuron=fitting_input // width, **kwargs), dtype
