"""Read a DeePMD-kit TensorFlow frozen graph (``frozen_model.pb``) into a :class:`dpsycl.model.Model`.

This package is the only part of dpsycl that uses TensorFlow, and imports it lazily (graph.py).
This module reads what every energy model shares and hands the descriptor to the extraction rule
of its unit (``dpsycl.descriptors``: ``extraction = "dpsycl.extract.<module>:<function>"``).

What is read from where (the graph first; the training script only for what the graph cannot
tell, and the graph may have no ``train_attr/*`` at all):

* descriptor type              -- the environment-matrix op (``ProdEnvMatA``, ...) and node names;
                                  ``hybrid`` where ``descrpt_attr_0/t_avg`` exists (one op per member)
* type_map                     -- ``model_attr/tmap``
* fitting nets                 -- ``layer_{k}_type_{t}/{matrix,bias,idt}``,
                                  ``final_layer_type_{t}/{matrix,bias}``; activation from the op
                                  that consumes each layer's ``BiasAdd``
* bias_atom_e                  -- ``fitting_attr/t_bias_atom_e`` (zeros when absent: older graphs
                                  baked the bias into the final layer)
* out_bias, out_std            -- ``model_attr/model_attr/t_out_{bias,std}`` (or
                                  ``model_attr/t_out_*``; zeros / ones when absent)
* numb_fparam, numb_aparam     -- ``fitting_attr/dfparam``, ``daparam`` (else the script)
* the descriptor's parameters  -- its unit's rule (e.g. extract/se_e2_a.py)
"""
from __future__ import annotations

import importlib
import os
import re

import numpy as np

import warnings

from dpsycl import descriptors
from dpsycl.model import EnergyFitting, Layer, Model, ModelError

from . import type_embedding
from .hybrid import refuse_type_embedding_members
from .tables import TABLE_OPS, THREE_BODY_OP
from .graph import (ENV_MAT_OPS, Graph, activation_of, dense_layer, import_tf, read_graph_def, training_script,
                    used_const,
                    version_info)

__all__ = ["extract_model", "OutputScaleWarning"]


class OutputScaleWarning(UserWarning):
    """The graph scales atomic energies by t_out_std ≠ 1, which DeePMD-kit's TensorFlow backend
    applies and its PyTorch, JAX and NumPy backends do not: a graph converted from a PyTorch model."""

# ---------------------------------------------------------------------------------------------
COMPRESSION_OPS = ("TabulateFusion", "TabulateFusionSeA", "TabulateFusionSeAtten",
                   "TabulateFusionSeT", "TabulateFusionSeR")
OTHER_UNSUPPORTED_OPS = {
    "PairTab": "a pair table (use_srtab / ZBL, PairTab op)",
    "DprcPairwiseIdx": "DPRc (DprcPairwiseIdx op)",
    "SoftMinSwitch": "a pair table with soft-min switch (SoftMinSwitch op)",
}


# ---------------------------------------------------------------------------------------------
def descriptor_kind(g: Graph) -> str:
    """Name the graph's descriptor; ModelError for one that no registered unit reads."""
    supported = f"supported: {', '.join(descriptors.supported())}"
    env_nodes = [n for n in g.nodes.values() if n.op in ENV_MAT_OPS]
    if not env_nodes:
        found = sorted(op for op in g.ops if op.startswith(("Tabulate", "ProdEnv", "Descrpt")))
        extra = f" (found {', '.join(found)})" if found else ""
        raise ModelError(f"{g.path}: no DeePMD-kit descriptor operator (ProdEnvMatA) in the graph{extra}: "
                         "not a DeePMD-kit frozen model")
    kinds = sorted({ENV_MAT_OPS[n.op] for n in env_nodes})
    # a hybrid's members have scopes descrpt_attr_0, descrpt_attr_1, ... and one op each (extract/hybrid.py)
    hybrid = g.has_const("descrpt_attr_0/t_avg") or g.has_const("descrpt_attr_0_0/t_avg")   # (member 0 a hybrid)
    if len(env_nodes) > 1 and not hybrid:
        ops = ", ".join(sorted(n.op for n in env_nodes))
        raise ModelError(f"{g.path}: {len(env_nodes)} environment-matrix ops ({ops}) but no hybrid descriptor "
                         f"scopes (descrpt_attr_0/t_avg): several models in one graph are not supported; {supported}")
    kind = "hybrid" if hybrid else kinds[0]
    op = ", ".join(sorted(n.op for n in env_nodes))
    if kind not in descriptors.UNITS:
        raise ModelError(f"{g.path}: descriptor '{kind}' (found {op} op) is not supported yet; {supported}")
    # se_e2_a-like environment matrix: tell se_e3 and type-embedding variants apart
    names = g.nodes.keys()
    if not hybrid and (g.ops.get("TabulateFusionSeT") or any(
            re.fullmatch(r"filter_type_all\w*/matrix_\d+_\d+_\d+", nm) for nm in names)):
        kind = "se_e3"      # se_t: the nets of neighbour-species pairs, filter_type_all/matrix_L_A_B
        # (a hybrid's members are told apart by extract/hybrid.py: member_kind)
    type_embedding.refuse_other_forms(g, op, supported)
    if type_embedding.has_type_embedding(g) and kind not in (*type_embedding.DESCRIPTORS, "hybrid"):
        raise ModelError(f"{g.path}: a model-level type_embedding with descriptor '{kind}' is not supported yet "
                         f"(read with {', '.join(type_embedding.DESCRIPTORS)} and hybrids of them)")
    if hybrid:      # a hybrid's members one by one
        refuse_type_embedding_members(g)
    if any(nm.startswith("attention_layer_") for nm in names):
        raise ModelError(f"{g.path}: descriptor 'se_atten' ({op} with attention layers) is not "
                         f"supported yet; {supported}")
    return kind


def check_supported(g: Graph) -> str:
    """The graph's descriptor type; ModelError for any feature dpsycl does not read."""
    mtype = g.string("model_attr/model_type")
    if mtype is not None and mtype != "ener":
        raise ModelError(f"{g.path}: model type '{mtype}' is not supported; dpsycl reads energy "
                         "models (model type 'ener') only")
    kind = descriptor_kind(g)
    # se_e2_a / se_e2_r / se_e3 tables are read by extract/tables.py; other descriptors' tables are not
    compressed = [op for op in COMPRESSION_OPS if g.ops.get(op) and op not in (*TABLE_OPS, THREE_BODY_OP)]
    if compressed:
        what = f"{compressed[0]} op"
        raise ModelError(f"{g.path}: compressed models are not supported yet (found {what}, written by "
                         "`dp compress`); extract the uncompressed frozen_model.pb that `dp freeze` "
                         "wrote before compression")
    for op, what in OTHER_UNSUPPORTED_OPS.items():
        if g.ops.get(op):
            raise ModelError(f"{g.path}: models with {what} are not supported yet")
    shared_fitting = r"share_.+/matrix" if type_embedding.has_type_embedding(g) else \
        r"layer_\d+/matrix|final_layer/matrix|share_.+/matrix"
    for name in g.nodes:
        if re.fullmatch(shared_fitting, name):
            raise ModelError(f"{g.path}: fitting net '{name.split('/')[0]}' without per-species "
                             "'_type_N' suffix (type-embedding or shared fitting) is not supported yet")
    return kind


# ---------------------------------------------------------------------------------------------

def fitting_nets(g: Graph, ntypes: int):
    nets: list[list[Layer]] = []
    acts = set()
    for t in range(ntypes):
        layers = []
        k = 0
        while g.has_const(f"layer_{k}_type_{t}/matrix"):
            layers.append(dense_layer(g, f"layer_{k}_type_{t}/", ""))
            acts.add(activation_of(g, f"layer_{k}_type_{t}/bias"))
            k += 1
        if not layers:
            raise ModelError(f"{g.path}: the graph has no fitting net for species {t} "
                             f"(missing constant 'layer_0_type_{t}/matrix')")
        final = dense_layer(g, f"final_layer_type_{t}/", "")
        if final.matrix.shape[1] != 1:
            raise ModelError(f"{g.path}: final fitting layer of species {t} has {final.matrix.shape[1]} "
                             "outputs; an energy model has 1")
        final_act = activation_of(g, f"final_layer_type_{t}/bias")
        if final_act != "linear":
            raise ModelError(f"{g.path}: final fitting layer of species {t} uses activation "
                             f"'{final_act}'; expected none")
        layers.append(final)
        nets.append(layers)
    if len(acts) != 1:
        raise ModelError(f"{g.path}: fitting-net layers use different activations: {', '.join(sorted(acts))}")
    return nets, acts.pop()




def _type_map(g: Graph, smodel: dict) -> list[str]:
    tmap = g.string("model_attr/tmap")
    if tmap:
        return tmap.split()
    if isinstance(smodel.get("type_map"), list):
        return [str(x) for x in smodel["type_map"]]
    nt_const = g.opt_const("descrpt_attr/ntypes")
    ntypes = int(nt_const) if nt_const is not None else 0
    while not nt_const and g.has_const(f"layer_0_type_{ntypes}/matrix"):
        ntypes += 1
    return [f"type_{i}" for i in range(ntypes)]


def _check_dtypes(path: str, nets: list[list[Layer]], what: str) -> np.dtype:
    dtype = nets[0][0].matrix.dtype
    for layer in (layer for net in nets for layer in net):
        if {a.dtype for a in (layer.matrix, layer.bias, layer.idt) if a is not None} != {dtype}:
            raise ModelError(f"{path}: {what}-net weights of mixed dtypes (mixed precision?); not supported yet")
    return np.dtype(dtype)


# ---------------------------------------------------------------------------------------------
def extract_model(pb_path) -> Model:
    """Read every parameter of a DeePMD-kit energy model's frozen graph into a validated Model."""
    path = os.fspath(pb_path)
    gd = read_graph_def(path)
    g = Graph(gd, import_tf(), path)
    kind = check_supported(g)
    script = training_script(g) or {}
    smodel = script.get("model", {}) if isinstance(script.get("model"), dict) else {}
    sdesc = smodel.get("descriptor", {}) if isinstance(smodel.get("descriptor"), dict) else {}
    sfit = smodel.get("fitting_net", {}) if isinstance(smodel.get("fitting_net"), dict) else {}

    type_map = _type_map(g, smodel)
    ntypes = len(type_map)
    dfparam = g.opt_const("fitting_attr/dfparam")
    daparam = g.opt_const("fitting_attr/daparam")
    numb_fparam = int(dfparam) if dfparam is not None else int(sfit.get("numb_fparam", 0) or 0)
    numb_aparam = int(daparam) if daparam is not None else int(sfit.get("numb_aparam", 0) or 0)
    if type_embedding.has_type_embedding(g):   # one shared fitting net reading (D, e_type): fold it
        table = type_embedding.type_embedding_table(g)
        type_embedding.check_table(g, table, ntypes)
        fit_nets, acts = type_embedding.fold_fitting_nets(g, table, numb_fparam + numb_aparam)
        if len(acts) != 1:
            raise ModelError(f"{path}: fitting-net layers use different activations: {', '.join(sorted(acts))}")
        fitting_activation = acts.pop()
    else:
        fit_nets, fitting_activation = fitting_nets(g, ntypes)
    fit_sets = {tuple(int(layer.matrix.shape[1]) for layer in net[:-1]) for net in fit_nets}
    if len(fit_sets) != 1:
        raise ModelError(f"{path}: fitting nets have different widths: {sorted(fit_sets)}")
    fparam_stats, aparam_stats = {}, {}
    for which, stats in (("fparam", fparam_stats), ("aparam", aparam_stats)):
        for stat in ("avg", "istd"):
            arr = g.opt_const(f"fitting_attr/t_{which}_{stat}")
            if arr is not None:
                stats[stat] = arr
    fit_in = int(fit_nets[0][0].matrix.shape[0]) - numb_fparam - numb_aparam

    # the descriptor: its unit's rule
    module, function = descriptors.unit(kind).extraction.split(":")
    read_descriptor = getattr(importlib.import_module(module), function)
    descriptor, desc_dtype = read_descriptor(g, ntypes, sdesc, fit_in)

    fit_dtype = _check_dtypes(path, fit_nets, "fitting")
    if desc_dtype != fit_dtype:
        raise ModelError(f"{path}: descriptor precision {desc_dtype} differs from fitting precision "
                         f"{fit_dtype}; not supported yet")
    if fit_dtype not in (np.float32, np.float64):
        raise ModelError(f"{path}: precision {fit_dtype} is not supported; float64 or float32 only")

    # a statistic that the forward graph does not use (older graphs baked the energy bias into
    # the final layer) must not be applied a second time: treat it as absent
    bias = used_const(g, "fitting_attr/t_bias_atom_e")
    bias_atom_e = bias.reshape(-1) if bias is not None else np.zeros(ntypes, dtype=np.float64)
    out_bias = used_const(g, "model_attr/model_attr/t_out_bias", "model_attr/t_out_bias")
    out_std = used_const(g, "model_attr/model_attr/t_out_std", "model_attr/t_out_std")
    out_bias = out_bias.reshape(-1) if out_bias is not None else np.zeros(ntypes, dtype=np.float64)
    out_std = out_std.reshape(-1) if out_std is not None else np.ones(ntypes, dtype=np.float64)
    for name, arr in (("t_bias_atom_e", bias_atom_e), ("t_out_bias", out_bias), ("t_out_std", out_std)):
        if arr.shape != (ntypes,):
            raise ModelError(f"{path}: {name} has {arr.size} values for {ntypes} species")
    if np.any(out_std != 1.0):
        warnings.warn(f"{path}: t_out_std is {np.round(out_std, 6).tolist()}, not 1: the energies are those of "
                      "DeePMD-kit's TensorFlow backend, which applies it; a model trained with PyTorch and "
                      "converted to .pb gives other energies than in PyTorch (read its .dp instead)",
                      OutputScaleWarning, stacklevel=2)
    for key in ("atom_exclude_types", "pair_exclude_types"):
        if smodel.get(key):
            raise ModelError(f"{path}: models with {key} are not supported yet")
    if sfit.get("atom_ener") and any(x is not None for x in sfit["atom_ener"]):
        raise ModelError(f"{path}: fitting nets with atom_ener are not supported yet")

    fitting = EnergyFitting(
        neuron=list(fit_sets.pop()), resnet_dt=any(layer.idt is not None for net in fit_nets for layer in net),
        activation=fitting_activation, nets=fit_nets, bias_atom_e=bias_atom_e, out_bias=out_bias, out_std=out_std,
        numb_fparam=numb_fparam, numb_aparam=numb_aparam, fparam_stats=fparam_stats, aparam_stats=aparam_stats)
    folded = "" if not type_embedding.has_type_embedding(g) else type_embedding.describe(table, descriptor)
    model = Model(type_map=type_map, descriptor=descriptor, fitting=fitting, precision=str(fit_dtype),
                  deepmd_version=version_info(g, script or None),
                  model_version=g.string("model_attr/model_version") or "unknown", source=os.path.basename(path),
                  type_embedding=folded)
    model.validate()
    return model
