"""The se_e2_r extraction rule: its parameters from a DeePMD-kit frozen graph.

The shared fields come from extract/smooth.py (the ``ProdEnvMatR`` op: ``sel``, ``rcut``,
``rcut_smth``); the fitting net takes the embedding width as its input.
"""
from __future__ import annotations

import numpy as np

from dpsycl.descriptors.se_e2_r.params import SeE2R
from dpsycl.model import ModelError

from .graph import Graph
from .smooth import Scope, read_smooth


def read_descriptor(g: Graph, ntypes: int, sdesc: dict, fitting_input: int | None,
                    scope: Scope = Scope()) -> tuple[SeE2R, np.dtype]:
    """The se_e2_r parameters of graph ``g`` (``scope``: which descriptor; ``fitting_input`` None
    for a hybrid's member) and the dtype of its weights."""
    kwargs, dtype = read_smooth(g, ntypes, sdesc, "sel", "rcut", "rcut_smth", scope)
    if fitting_input is not None and fitting_input != kwargs["neuron"][-1]:
        raise ModelError(f"{g.path}: fitting input width {fitting_input} differs from the embedding width "
                         f"{kwargs['neuron'][-1]} (extra fitting inputs such as case embedding?)")
    return SeE2R(**kwargs), dtype
