"""The se_e3 section of a model file: the group ``/descriptor`` (docs/model-format.md).

    /descriptor                attrs type="se_e3", rcut, rcut_smth, sel, neuron, type_one_side (0),
                               resnet_dt, activation, set_davg_zero
        t_avg, t_std           (ntypes, 4·nnei), model dtype
        exclude_types          (0, 2) int64 (se_e3 reads none)
        embedding_nets/net_{a}_{b}   one net per neighbour-species pair a ≤ b; the attributes
                               centre_type, neighbour_type hold a and b
"""
from __future__ import annotations

from ...model_sections import SectionReader
from ..smooth import read_common, write_common
from .params import SeE3


def write_section(group, d: SeE3) -> None:
    write_common(group, d)


def read_section(r: SectionReader, group) -> SeE3:
    return SeE3(**read_common(r, group))
