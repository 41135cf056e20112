"""The se_e2_a section of a model file: the group ``/descriptor`` (docs/model-format.md).

    /descriptor                attrs type="se_e2_a", rcut, rcut_smth, sel, neuron, axis_neuron,
                               type_one_side, resnet_dt, activation, set_davg_zero
        t_avg, t_std           (ntypes, 4·nnei), model dtype
        exclude_types          (n, 2) int64
        embedding_nets/net_{c|all}_{n}   attrs centre_type (−1: all), neighbour_type;
                                         layer_k/{matrix, bias[, idt]}

Schema 1 files kept ``embedding_nets`` at the file's root; they read the same.
"""
from __future__ import annotations

import numpy as np

from ...model_sections import SectionReader
from ..smooth import read_common, write_common
from .params import SeE2A


def write_section(group, d: SeE2A) -> None:
    write_common(group, d)
    group.attrs["axis_neuron"] = np.int64(d.axis_neuron)


def read_section(r: SectionReader, group) -> SeE2A:
    return SeE2A(axis_neuron=int(r.attr(group, "axis_neuron")), **read_common(r, group))
