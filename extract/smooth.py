"""What the smooth-edition descriptors' extraction rules share: cutoffs and sel from the
environment-matrix op, statistics, embedding nets (one per neighbour species, ``filter_type_all``,
or per species pair, ``filter_type_{centre}``), exclusions, and the checks on all of them.

* rcut, rcut_smth, sel          -- the op's attributes (``descrpt_attr/rcut`` when present, since
                                   the op attribute is float32); cross-checked with
                                   ``descrpt_attr/{sel,original_sel,ntypes}``
* t_avg, t_std                  -- ``descrpt_attr/t_avg``, ``descrpt_attr/t_std``
* embedding nets                -- ``filter_type_all/{matrix,bias,idt}_{layer}_{neighbour}``
                                   (type_one_side) or ``filter_type_{centre}/...``; widths from
                                   the weight shapes, resnet_dt from the presence of ``idt``
* activation                    -- the op that consumes each layer's ``BiasAdd``
* exclude_types                 -- missing embedding nets (type_one_side false); otherwise the
                                   training script, else the graph's type-exclusion mask constant
* set_davg_zero                 -- the training script only (default false; t_avg is stored anyway)
* a model-level type embedding  -- the shared net ``filter_type_all/*_{layer}`` folded into per-species
                                   nets (extract/type_embedding.py); exclusions as with type_one_side;
                                   a hybrid's se_e2_a member k has it as ``filter_type_all_k/*_{layer}``

Member k of a hybrid descriptor (extract/hybrid.py) has the same tensors with the suffix ``_k`` on
their scopes (``descrpt_attr_k/t_avg``, ``filter_type_all_k/matrix_1_0``, ``filter_type_0_k/...``)
and its own environment-matrix op; ``descrpt_attr/rcut`` is then the hybrid's largest cutoff, so a
member's rcut is its op's attribute.  A :class:`Scope` says which descriptor is read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dpsycl.model import Layer, ModelError

from .graph import ENV_MAT_OPS, Graph, activation_of, dense_layer, nice_float
from .type_embedding import (feeds_embedding_net, fold_embedding_net, has_type_embedding, shared_embedding_net,
                             type_embedding_table)
from .tables import is_compressed, read_tables


@dataclass(frozen=True)
class Scope:
    """Where one descriptor's tensors are in a graph: the whole graph's descriptor (suffix "") or
    member k of a hybrid (suffix "_k", ``env`` its environment-matrix op node)."""
    suffix: str = ""
    env: Any = None

    def env_node(self, g: Graph):
        return self.env if self.env is not None else next(n for n in g.nodes.values() if n.op in ENV_MAT_OPS)

    def attr(self, name: str) -> str:
        """``descrpt_attr/name`` of this descriptor."""
        return f"descrpt_attr{self.suffix}/{name}"


def read_smooth(g: Graph, ntypes: int, sdesc: dict, sel_attr: str, rcut_attr_name: str,
                rcut_smth_attr_name: str, scope: Scope = Scope(), read_nets=None,
                read_table_ops=read_tables) -> tuple[dict, np.dtype]:
    """Keyword arguments of a SmoothDescriptor read from graph ``g`` and the dtype of its weights;
    the environment op's attribute names differ between descriptors (se_e2_a: sel_a, rcut_r, ...);
    ``read_nets(g, ntypes)`` replaces embedding_nets for a descriptor whose nets are named otherwise,
    ``read_table_ops(g, sel)`` read_tables for one whose compressed graph has other ops."""
    path = g.path
    env = scope.env_node(g)
    sel = [int(x) for x in env.attr[sel_attr].list.i]
    if not sel:
        raise ModelError(f"{path}: the {env.op} node has no {sel_attr} attribute")
    if len(sel) != ntypes:
        raise ModelError(f"{path}: type map has {ntypes} species but sel has {len(sel)}")
    rcut_attr = float(env.attr[rcut_attr_name].f)
    rcut_smth = nice_float(env.attr[rcut_smth_attr_name].f)
    rcut_const = g.opt_const(scope.attr("rcut"))
    rcut = float(rcut_const) if rcut_const is not None else nice_float(rcut_attr)
    if abs(rcut - rcut_attr) > 1e-6 * max(1.0, abs(rcut)):
        raise ModelError(f"{path}: {scope.attr('rcut')} ({rcut}) disagrees with the {env.op} attribute "
                         f"{rcut_attr_name} ({rcut_attr})")
    const_sel = g.opt_const(scope.attr("sel"))
    if const_sel is not None and [int(x) for x in const_sel.ravel()] != sel:
        raise ModelError(f"{path}: {scope.attr('sel')} {const_sel.tolist()} disagrees with {env.op} {sel_attr} {sel}")
    orig_sel = g.opt_const(scope.attr("original_sel"))
    if orig_sel is not None and [int(x) for x in orig_sel.ravel()] != sel:
        raise ModelError(f"{path}: sel was changed after training (original_sel {orig_sel.tolist()}, "
                         f"sel {sel}); such models are not supported yet")
    nt_const = g.opt_const("descrpt_attr/ntypes")
    if nt_const is not None and int(nt_const) != ntypes:
        raise ModelError(f"{path}: descrpt_attr/ntypes is {int(nt_const)} but sel has {ntypes} entries")
    t_avg = g.const(scope.attr("t_avg"))
    t_std = g.const(scope.attr("t_std"))

    if is_compressed(g):
        if has_type_embedding(g):
            raise ModelError(f"{path}: a compressed model with a type embedding is not supported yet; extract "
                             "the uncompressed graph")
        return compressed_smooth(g, sdesc, dict(rcut=rcut, rcut_smth=rcut_smth, sel=sel, t_avg=t_avg, t_std=t_std),
                                 scope.suffix, read_table_ops)
    table = type_embedding_table(g) if feeds_embedding_net(g, scope.suffix) else None
    if table is None:
        type_one_side, nets, activation, missing_pairs = (
            read_nets(g, ntypes) if read_nets else embedding_nets(g, ntypes, scope.suffix))
    else:   # one shared net reading (s, e_j[, e_i]): folded below, once the exclusions are known
        shared, activation = shared_embedding_net(g, scope.suffix)
        type_one_side, nets = fold_embedding_net(g, table, shared, excluded=())
    neuron_sets = {tuple(int(layer.matrix.shape[1]) for layer in net) for net in nets.values()}
    if len(neuron_sets) != 1:
        raise ModelError(f"{path}: embedding nets have different widths: {sorted(neuron_sets)}")
    for key, net in nets.items():
        if net[0].matrix.shape[0] != 1:
            raise ModelError(f"{path}: embedding net {key} takes {net[0].matrix.shape[0]} inputs; "
                             "the embedding nets of this descriptor take 1 (s(r))")
    dtype = next(iter(nets.values()))[0].matrix.dtype
    for layer in (layer for net in nets.values() for layer in net):
        if {a.dtype for a in (layer.matrix, layer.bias, layer.idt) if a is not None} != {dtype}:
            raise ModelError(f"{path}: embedding-net weights of mixed dtypes (mixed precision?); not supported yet")

    if type_one_side or table is not None:   # exclusions as a mask on the environment matrix
        if isinstance(sdesc.get("exclude_types"), list):
            pairs = sdesc["exclude_types"]
        else:
            pairs = mask_exclusions(g, ntypes) or []
            if pairs and scope.suffix:
                raise ModelError(f"{path}: a type-exclusion mask in a hybrid graph without its training script: "
                                 "which member it belongs to is not known")
    else:
        pairs = missing_pairs
    try:
        exclude_types = sorted({(min(int(a), int(b)), max(int(a), int(b))) for a, b in pairs})
    except (TypeError, ValueError):
        raise ModelError(f"{path}: cannot read exclude_types {pairs!r} from the training script") from None
    if table is not None and not type_one_side:
        type_one_side, nets = fold_embedding_net(g, table, shared, excluded=set(exclude_types))
    if float(sdesc.get("env_protection", 0.0) or 0.0) != 0.0:
        raise ModelError(f"{path}: descriptors with env_protection != 0 are not supported yet")
    kwargs = dict(rcut=rcut, rcut_smth=rcut_smth, sel=sel, neuron=list(neuron_sets.pop()),
                  type_one_side=type_one_side,
                  resnet_dt=any(layer.idt is not None for net in nets.values() for layer in net),
                  activation=activation, t_avg=t_avg, t_std=t_std, embedding_nets=nets,
                  exclude_types=exclude_types, set_davg_zero=bool(sdesc.get("set_davg_zero", False)))
    return kwargs, np.dtype(dtype)


def compressed_smooth(g: Graph, sdesc: dict, common: dict, suffix: str = "",
                      read_table_ops=read_tables) -> tuple[dict, np.dtype]:
    """The keyword arguments of a compressed graph: tables instead of nets (extract/tables.py);
    neuron and activation from the training script, which the graph must then carry (a hybrid's
    member, scope suffix ``_k``: its ``descriptor.list[k]``)."""
    ntypes = len(common["sel"])
    type_one_side, tables, width, missing = read_table_ops(g, common["sel"], suffix)
    neuron = sdesc.get("neuron")
    if not isinstance(neuron, list) or not neuron or int(neuron[-1]) != width:
        raise ModelError(f"{g.path}: a compressed graph needs its training script's neuron ending in the "
                         f"table width {width} (found {neuron!r})")
    if not type_one_side:       # per-pair graphs have no table for an excluded pair
        pairs = missing
    elif isinstance(sdesc.get("exclude_types"), list):
        pairs = sdesc["exclude_types"]
    else:
        pairs = mask_exclusions(g, ntypes) or []
        if pairs and suffix:
            raise ModelError(f"{g.path}: a type-exclusion mask in a hybrid graph without its training script: "
                             "which member it belongs to is not known")
    exclude_types = sorted({(min(int(a), int(b)), max(int(a), int(b))) for a, b in pairs})
    if float(sdesc.get("env_protection", 0.0) or 0.0) != 0.0:
        raise ModelError(f"{g.path}: descriptors with env_protection != 0 are not supported yet")
    dtype = next(iter(tables.values())).coefficients.dtype
    kwargs = dict(common, neuron=[int(n) for n in neuron], type_one_side=type_one_side, resnet_dt=False,
                  activation=str(sdesc.get("activation_function", "tanh")), embedding_nets={},
                  exclude_types=exclude_types, set_davg_zero=bool(sdesc.get("set_davg_zero", False)), tables=tables)
    return kwargs, np.dtype(dtype)


def embedding_nets(g: Graph, ntypes: int, suffix: str = ""):
    """Read the embedding nets (scopes ``filter_type_all{suffix}``, ``filter_type_{centre}{suffix}``);
    return (type_one_side, nets, activation, excluded_pairs)."""
    def read_net(scope: str, j: int) -> list[Layer]:
        layers = []
        ll = 1
        while g.has_const(f"{scope}/matrix_{ll}_{j}"):
            layers.append(dense_layer(g, f"{scope}/", f"_{ll}_{j}"))
            ll += 1
        return layers

    nets: dict[tuple[int, int], list[Layer]] = {}
    act_probe: list[str] = []
    excluded: list[tuple[int, int]] = []
    one_side = f"filter_type_all{suffix}"
    if any(g.has_const(f"{one_side}/matrix_1_{j}") for j in range(ntypes)):
        type_one_side = True
        for j in range(ntypes):
            net = read_net(one_side, j)
            if not net:
                raise ModelError(f"{g.path}: the graph has no embedding net for neighbour species {j} "
                                 f"(missing constant '{one_side}/matrix_1_{j}')")
            nets[(-1, j)] = net
            act_probe.append(f"{one_side}/bias_1_{j}")
    else:
        type_one_side = False
        for i in range(ntypes):
            for j in range(ntypes):
                net = read_net(f"filter_type_{i}{suffix}", j)
                if net:
                    nets[(i, j)] = net
                    act_probe.append(f"filter_type_{i}{suffix}/bias_1_{j}")
                else:
                    excluded.append((i, j))
        if not nets:
            raise ModelError(f"{g.path}: the graph has no embedding-net weights "
                             f"({one_side}/matrix_1_0 or filter_type_0{suffix}/matrix_1_0)")
    acts = set()
    for key, net in nets.items():
        scope = one_side if key[0] < 0 else f"filter_type_{key[0]}{suffix}"
        for ll in range(1, len(net) + 1):
            acts.add(activation_of(g, f"{scope}/bias_{ll}_{key[1]}"))
    if len(acts) != 1:
        raise ModelError(f"{g.path}: embedding-net layers use different activations: {', '.join(sorted(acts))}")
    return type_one_side, nets, acts.pop(), excluded


def mask_exclusions(g: Graph, ntypes: int) -> list[tuple[int, int]] | None:
    """Excluded pairs from the (ntypes, ntypes) 0/1 mask that se_e2_a builds with type_one_side.

    DeePMD-kit's ``build_type_exclude_mask`` embeds the mask as a float constant of shape
    (ntypes, ntypes) that is reshaped to (ntypes**2,) and gathered.  Returns None if not found.
    """
    for node in g.nodes.values():
        if node.op != "Const":
            continue
        shape = [d.size for d in node.attr["value"].tensor.tensor_shape.dim]
        if shape != [ntypes, ntypes]:
            continue
        arr = g.const(node.name)
        if arr.dtype.kind != "f" or not np.all((arr == 0) | (arr == 1)) or np.all(arr == 1):
            continue
        feeds_gather = False
        for c in g.live_consumers(node.name):
            if c.op == "Reshape" and any(cc.op in ("GatherV2", "Gather", "ResourceGather")
                                         for cc in g.live_consumers(c.name)):
                feeds_gather = True
        if not feeds_gather:
            continue
        # mask[tt_j][tt_i] == 0 when (tt_i, tt_j) is excluded
        return sorted({(min(i, j), max(i, j)) for j in range(ntypes) for i in range(ntypes)
                       if arr[j, i] == 0})
    return None


