"""The se_e2_r section of a model file: the group ``/descriptor`` (docs/model-format.md).

    /descriptor                attrs type="se_e2_r", rcut, rcut_smth, sel, neuron, type_one_side,
                               resnet_dt, activation, set_davg_zero
        t_avg, t_std           (ntypes, nnei), model dtype
        exclude_types          (n, 2) int64
        embedding_nets/net_{c|all}_{n}   as for se_e2_a
"""
from __future__ import annotations

from ...model_sections import SectionReader
from ..smooth import read_common, write_common
from .params import SeE2R


def write_section(group, d: SeE2R) -> None:
    write_common(group, d)


def read_section(r: SectionReader, group) -> SeE2R:
    return SeE2R(**read_common(r, group))
