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

from ...model_sections import SectionReader, write_layers
from .params import SeE2A


def _net_name(key: tuple[int, int]) -> str:
    centre, neighbour = key
    return f"net_{'all' if centre < 0 else centre}_{neighbour}"


def write_section(group, d: SeE2A) -> None:
    group.attrs["type"] = d.kind
    group.attrs["rcut"] = np.float64(d.rcut)
    group.attrs["rcut_smth"] = np.float64(d.rcut_smth)
    group.attrs["sel"] = np.asarray(d.sel, dtype=np.int64)
    group.attrs["neuron"] = np.asarray(d.neuron, dtype=np.int64)
    group.attrs["axis_neuron"] = np.int64(d.axis_neuron)
    group.attrs["type_one_side"] = np.int8(bool(d.type_one_side))
    group.attrs["resnet_dt"] = np.int8(bool(d.resnet_dt))
    group.attrs["activation"] = d.activation
    group.attrs["set_davg_zero"] = np.int8(bool(d.set_davg_zero))
    group.create_dataset("t_avg", data=d.t_avg)
    group.create_dataset("t_std", data=d.t_std)
    group.create_dataset("exclude_types", data=np.asarray(d.exclude_types, dtype=np.int64).reshape(-1, 2))
    nets = group.create_group("embedding_nets")
    for key in sorted(d.embedding_nets):
        g = nets.create_group(_net_name(key))
        g.attrs["centre_type"] = np.int64(key[0])
        g.attrs["neighbour_type"] = np.int64(key[1])
        write_layers(g, d.embedding_nets[key])


def read_section(r: SectionReader, group) -> SeE2A:
    nets_path = f"{group.name.lstrip('/')}/embedding_nets" if "embedding_nets" in group else "embedding_nets"
    nets_group = r.group(nets_path)
    embedding_nets = {}
    for name in sorted(nets_group.keys()):
        g = r.group(f"{nets_path}/{name}")
        key = (int(r.attr(g, "centre_type")), int(r.attr(g, "neighbour_type")))
        embedding_nets[key] = r.layers(g)
    exclude = r.array(group, "exclude_types").reshape(-1, 2)
    return SeE2A(
        rcut=float(r.attr(group, "rcut")),
        rcut_smth=float(r.attr(group, "rcut_smth")),
        sel=list(r.attr(group, "sel")),
        neuron=list(r.attr(group, "neuron")),
        axis_neuron=int(r.attr(group, "axis_neuron")),
        type_one_side=bool(r.attr(group, "type_one_side")),
        resnet_dt=bool(r.attr(group, "resnet_dt")),
        activation=str(r.attr(group, "activation")),
        t_avg=r.array(group, "t_avg"),
        t_std=r.array(group, "t_std"),
        embedding_nets=embedding_nets,
        exclude_types=[(int(a), int(b)) for a, b in exclude],
        set_davg_zero=bool(r.attr(group, "set_davg_zero")),
    )
