"""The descriptor of a ``.dp`` model as the parameters of a dpsycl descriptor unit.

Read from the model's ``descriptor`` object (DeePMD-kit's serialisers: ``deepmd/dpmodel/descriptor/
se_e2_a.py``, ``se_r.py``; the same fields whichever backend wrote the file):

* type                        -- "se_e2_a" -> dpsycl's se_e2_a; "se_r" -> dpsycl's se_e2_r; "se_e3" ->
                                 dpsycl's se_e3; "hybrid" -> dpsycl's hybrid, its ``list`` of member
                                 descriptors each read as below (DeePMD-kit's
                                 deepmd/dpmodel/descriptor/hybrid.py); any other descriptor is refused, naming it
* rcut, rcut_smth, sel, neuron, axis_neuron (se_e2_a), type_one_side, exclude_types, set_davg_zero
                              -- the fields of the same names
* env_protection, env_mat {protection, use_exp_switch}, spin
                              -- checked to be what dpsycl computes (0, 0, false, none)
* t_avg, t_std                -- ``@variables`` davg, dstd of shape (ntypes, nnei, columns) (columns: 4
                                 for se_e2_a, 1 for se_r), reshaped to (ntypes, nnei·columns), bits kept
* embedding nets              -- ``embeddings`` (a NetworkCollection; networks.py): ndim 1 (type_one_side)
                                 by neighbour species -> key (−1, neighbour); ndim 2 by (centre,
                                 neighbour) -> key (centre, neighbour), excluded pairs left out as a
                                 frozen graph leaves them out; se_e3 (ndim 2, no type_one_side key): by
                                 neighbour-species pair (a, b), only a ≤ b kept (DeePMD-kit zeroes the others)
* exclusions                  -- refused where DeePMD-kit's empty-slot term of an excluded pair is not
                                 dpsycl's (check_empty_slots_of_excluded_pairs)
* activation, resnet_dt       -- the layers' own activation; resnet_dt = some layer has an idt
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..descriptors import UNITS
from ..descriptors.hybrid import Hybrid
from ..model import ModelError
from ..networks import embedding_net
from .networks import TensorFlowMeaning, check_version, collection_networks, need, one_activation, read_embedding_net, type_tuple

# DeePMD-kit's serialised descriptor type -> the parameters class of the dpsycl unit that reads it
READABLE = {unit.serialised_type: unit.params for unit in UNITS.values()}
# the newest Descriptor @version known; @version 3 adds the tables of a compressed model
NEWEST_UNCOMPRESSED = 2
COMPRESSED = 3
# what the other descriptors DeePMD-kit 3 writes are, for the refusal
OTHERS = {
    "se_atten": "DPA-1: attention over a type embedding", "dpa1": "DPA-1: attention over a type embedding",
    "se_atten_v2": "DPA-1 v2: attention over a type embedding", "dpa2": "DPA-2", "dpa3": "DPA-3",
    "dpa4c": "DPA-4", "SeZM": "DPA-4",
    "se_e3_tebd": "three-body embedding with a type embedding",
}


def read_descriptor(node: dict, type_map: list[str], where: str):
    """The dpsycl descriptor parameters of a serialised descriptor, and the dtype of its weights."""
    kind = need(node, "type", where)
    if kind not in READABLE:
        what = f" ({OTHERS[kind]})" if kind in OTHERS else ""
        raise ModelError(f"{where}: descriptor '{kind}'{what} is not supported yet; supported: "
                         f"{', '.join(READABLE)} (DeePMD-kit's names)")
    params_class = READABLE[kind]
    if params_class is Hybrid:
        return read_hybrid(node, type_map, where)
    columns = params_class.columns
    where = f"{where} ({kind})"
    version = node.get("@version", 1)
    if version == COMPRESSED or "compress" in node:
        raise ModelError(f"{where}: compressed models (written by `dp compress`) are not supported yet; "
                         "convert the uncompressed model")
    check_version(node, "Descriptor", NEWEST_UNCOMPRESSED, where)
    ntypes = len(type_map)
    check_environment(node, where)
    if node.get("type_map") not in (None, type_map):
        raise ModelError(f"{where}: type_map {node['type_map']} differs from the model's {type_map}")

    sel = [int(s) for s in need(node, "sel", where)]
    if len(sel) != ntypes:
        raise ModelError(f"{where}: sel has {len(sel)} entries for {ntypes} species")
    neuron = [int(n) for n in need(node, "neuron", where)]
    # a unit without the option (se_e3) gives its field a default and DeePMD-kit writes no such key
    side_default = {f.name: f.default for f in dataclasses.fields(params_class)}.get("type_one_side", dataclasses.MISSING)
    if "type_one_side" in node or side_default is dataclasses.MISSING:
        type_one_side = bool(need(node, "type_one_side", where))
    else:
        type_one_side = bool(side_default)
    exclude_types = excluded_pairs(node.get("exclude_types") or [], ntypes, where)
    if exclude_types and not getattr(params_class, "reads_exclusions", True):
        raise ModelError(f"{where}: exclude_types {[list(p) for p in exclude_types]} is not supported for this "
                         "descriptor yet")
    nets, activation = embedding_nets(need(node, "embeddings", where), ntypes, type_one_side, where)
    widths = {tuple(int(layer.matrix.shape[1]) for layer in net) for net in nets.values()}
    if widths != {tuple(neuron)}:
        raise ModelError(f"{where}: embedding-net widths {sorted(widths)} differ from neuron {neuron}")
    dtypes = {str(layer.matrix.dtype) for net in nets.values() for layer in net}
    if len(dtypes) != 1:
        raise ModelError(f"{where}: embedding nets of different precisions {sorted(dtypes)}; not supported yet")

    variables = need(node, "@variables", where)
    nnei = sum(sel)
    stats = {}
    for name, field in (("davg", "t_avg"), ("dstd", "t_std")):
        arr = need(variables, name, f"{where} @variables")
        if not isinstance(arr, np.ndarray) or arr.shape != (ntypes, nnei, columns):
            raise ModelError(f"{where}: {name} has shape {getattr(arr, 'shape', arr)!r}, expected "
                             f"({ntypes}, {nnei}, {columns})")
        stats[field] = arr.reshape(ntypes, nnei * columns)
    check_empty_slots_of_excluded_pairs(nets, activation, stats, sel, columns, type_one_side, exclude_types, where)
    if not type_one_side:
        # a frozen graph has no net for an excluded pair, and dpsycl never evaluates one
        nets = {key: net for key, net in nets.items() if key not in set(exclude_types) | {(b, a) for a, b in exclude_types}}
    if hasattr(params_class, "serialised_nets_used"):
        # se_e3: DeePMD-kit writes a net for every ordered pair and zeroes those it never runs
        nets = {key: net for key, net in nets.items() if key in params_class.serialised_nets_used(ntypes)}
    kwargs = dict(rcut=float(need(node, "rcut", where)), rcut_smth=float(need(node, "rcut_smth", where)), sel=sel,
                  neuron=neuron, type_one_side=type_one_side,
                  resnet_dt=any(layer.idt is not None for net in nets.values() for layer in net),
                  activation=activation, embedding_nets=nets, exclude_types=exclude_types,
                  set_davg_zero=bool(node.get("set_davg_zero", False)), **stats)
    # a unit's own fields beyond the shared ones (se_e2_a: axis_neuron) have DeePMD-kit's names
    casts = {"int": int, "float": float, "bool": bool}
    for field in dataclasses.fields(params_class):
        if field.name not in kwargs and field.type in casts:
            kwargs[field.name] = casts[field.type](need(node, field.name, where))
    return params_class(**kwargs), np.dtype(dtypes.pop())


def read_hybrid(node: dict, type_map: list[str], where: str):
    """A hybrid's members, in the order of its ``list``, each read by read_descriptor."""
    where = f"{where} (hybrid)"
    check_version(node, "Descriptor", NEWEST_UNCOMPRESSED, where)
    items = need(node, "list", where)
    if not isinstance(items, list) or not items:
        raise ModelError(f"{where}: its 'list' holds no descriptors")
    members, dtypes = [], set()
    for k, item in enumerate(items):
        if isinstance(item, dict) and READABLE.get(item.get("type")) is Hybrid:
            raise ModelError(f"{where}: member {k} is itself a hybrid; not supported yet")
        member, dtype = read_descriptor(item, type_map, f"{where} member {k}")
        members.append(member)
        dtypes.add(str(dtype))
    if len(dtypes) != 1:
        raise ModelError(f"{where}: members of different precisions {sorted(dtypes)}; not supported yet")
    return Hybrid(members=members), np.dtype(dtypes.pop())


def check_environment(node: dict, where: str) -> None:
    """Refuse environment-matrix options that change what DeePMD-kit computes from what dpsycl computes."""
    if node.get("spin") is not None:
        raise ModelError(f"{where}: descriptors with spin are not supported yet")
    env_mat = node.get("env_mat") or {}
    protection = float(node.get("env_protection", 0.0) or 0.0) or float(env_mat.get("protection", 0.0) or 0.0)
    if protection != 0.0:
        raise ModelError(f"{where}: env_protection {protection} is not supported yet (dpsycl computes env_protection 0)")
    if env_mat.get("use_exp_switch"):
        raise ModelError(f"{where}: the exponential switch function (env_mat use_exp_switch) is not supported yet")
    for key in ("rcut", "rcut_smth"):
        if key in env_mat and float(env_mat[key]) != float(need(node, key, where)):
            raise ModelError(f"{where}: env_mat {key} {env_mat[key]} differs from the descriptor's {node[key]}")


def excluded_pairs(pairs, ntypes: int, where: str) -> list[tuple[int, int]]:
    """exclude_types as sorted (i <= j) species pairs, checked to name species of the model."""
    try:
        out = sorted({(min(int(a), int(b)), max(int(a), int(b))) for a, b in pairs})
    except (TypeError, ValueError):
        raise ModelError(f"{where}: exclude_types {pairs!r} is not a list of species pairs") from None
    for a, b in out:
        if not (0 <= a < ntypes and 0 <= b < ntypes):
            raise ModelError(f"{where}: exclude_types pair ({a}, {b}) names a species outside 0..{ntypes - 1}")
    return out


def embedding_nets(node: dict, ntypes: int, type_one_side: bool, where: str):
    """Every embedding net {(centre or −1, neighbour): layers} of the collection, and their one activation."""
    where = f"{where} embeddings"
    ndim, networks = collection_networks(node, ntypes, where)
    if ndim != (1 if type_one_side else 2):
        raise ModelError(f"{where}: a collection of ndim {ndim} with type_one_side {str(type_one_side).lower()} "
                         f"(expected ndim {1 if type_one_side else 2})")
    nets, activations = {}, []
    for index, network in enumerate(networks):
        types = type_tuple(index, ntypes, ndim)
        key = (-1, types[0]) if ndim == 1 else types
        label = (f"neighbour species {key[1]}" if ndim == 1 else f"centre species {key[0]}, neighbour species {key[1]}")
        if network is None:
            raise ModelError(f"{where}: no embedding net for {label}")
        nets[key], activation = read_embedding_net(network, f"{where} network {index} ({label})")
        activations.append(activation)
    return nets, one_activation(activations, where)


def check_empty_slots_of_excluded_pairs(nets: dict, activation: str, stats: dict, sel: list[int], columns: int,
                                        type_one_side: bool, exclude_types: list[tuple[int, int]], where: str) -> None:
    """Refuse exclusions that DeePMD-kit's .dp semantics evaluate differently from dpsycl.

    DeePMD-kit's NumPy, PyTorch and JAX backends mask an excluded pair's real neighbours only: an empty
    slot of the pair's block (environment row R_pad = −t_avg/t_std) still adds its embedding
    G(R_pad[0]) — through R_padᵀ G for se_e2_a, into the mean for se_r.  dpsycl, like DeePMD-kit's
    TensorFlow backend, treats the whole block as excluded (se_e2_a: nothing; se_r with one net per
    neighbour species: G(0) per slot; se_r per pair: nothing, and only TensorFlow evaluates that).  The
    two agree only where that padding term is the same, e.g. for the zeroed nets that DeePMD-kit writes
    for a TensorFlow model's excluded pairs; elsewhere the model is refused.
    """
    offsets = np.concatenate([[0], np.cumsum(sel)])
    for centre, neighbour in sorted(set(exclude_types) | {(b, a) for a, b in exclude_types}):
        if sel[neighbour] == 0:
            continue
        slot = offsets[neighbour] * columns
        pad = -stats["t_avg"][centre, slot:slot + columns] / stats["t_std"][centre, slot:slot + columns]
        net = nets[(-1, neighbour) if type_one_side else (centre, neighbour)]
        g_pad = embedding_net_values(net, activation, pad[0])
        if columns == 1:
            differs = np.any(g_pad != embedding_net_values(net, activation, 0.0)) if type_one_side else False
        else:
            differs = np.any(np.outer(pad, g_pad) != 0.0)
        if differs:
            raise TensorFlowMeaning(f"{where}: exclude_types pair ({centre}, {neighbour}): DeePMD-kit (PyTorch, JAX, NumPy) "
                                    "adds the pair's embedding net on the pair's empty neighbour slots, dpsycl (as "
                                    "DeePMD-kit's TensorFlow backend) does not")


def embedding_net_values(layers: list, activation: str, s: float) -> np.ndarray:
    """G(s) (M,) of one embedding net in float64."""
    return embedding_net([layer.astype(np.float64) for layer in layers], activation, np.array([float(s)]))[0][0]
