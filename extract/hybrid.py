"""The hybrid extraction rule: its members' parameters from a DeePMD-kit frozen graph.

DeePMD-kit builds member k of a hybrid with the scope suffix ``_k``: its statistics are
``descrpt_attr_k/{t_avg,t_std,sel,original_sel}``, its embedding nets ``filter_type_all_k/...``
(or ``filter_type_{centre}_k/...``), and it has its own environment-matrix op, the one that reads
``descrpt_attr_k/t_avg``; an se_e3 member has a ProdEnvMatA op like se_e2_a, and nets of
neighbour-species pairs, ``filter_type_all_k/matrix_L_A_B`` (or, compressed, a TabulateFusionSeT op in
that scope).  Each member is read by its own unit's rule with that scope; members are
numbered from 0 until ``descrpt_attr_k/t_avg`` is missing, and their descriptors, in that order,
must fill the fitting net's input.  The member's training-script section is ``descriptor.list[k]``.
A member that is itself a hybrid (its members' scopes ``descrpt_attr_k_j``) is refused.
With a model-level type embedding DeePMD-kit hands the table to every member: an se_e2_a member reads it
through its shared net ``filter_type_all_k/*_{layer}``, folded as a single descriptor's
(extract/type_embedding.py), an se_e2_r member ignores it.
"""
from __future__ import annotations

import importlib
import re

import numpy as np

from dpsycl import descriptors
from dpsycl.descriptors.hybrid.params import Hybrid
from dpsycl.model import ModelError

from .graph import ENV_MAT_OPS, Graph
from .smooth import Scope
from .type_embedding import DESCRIPTORS as TYPE_EMBEDDING_DESCRIPTORS
from .type_embedding import has_type_embedding


def member_env_op(g: Graph, k: int):
    """The environment-matrix op of member k: the one whose inputs include descrpt_attr_k/t_avg."""
    avg = f"descrpt_attr_{k}/t_avg"
    found = [n for n in g.nodes.values() if n.op in ENV_MAT_OPS
             and any(i.split(":")[0].removesuffix("/read") == avg for i in n.input)]
    if len(found) != 1:
        raise ModelError(f"{g.path}: {len(found)} environment-matrix ops read {avg}; expected one (hybrid member {k})")
    return found[0]


def member_kind(g: Graph, k: int, env) -> str:
    """The descriptor type of member k: its environment op's, se_e3 told from se_e2_a by its nets."""
    kind = ENV_MAT_OPS[env.op]
    scope = f"filter_type_all_{k}/"
    three_body = re.compile(rf"{scope}matrix_\d+_\d+_\d+")
    if kind == "se_e2_a" and any(three_body.fullmatch(name) or name.startswith(scope) and node.op == "TabulateFusionSeT"
                                 for name, node in g.nodes.items()):
        return "se_e3"
    return kind


def refuse_type_embedding_members(g: Graph) -> None:
    """ModelError for a model-level type embedding with a member that dpsycl does not read with one
    (checked before the fitting net is folded, so that the message names the member)."""
    k = 0
    while has_type_embedding(g) and g.has_const(f"descrpt_attr_{k}/t_avg"):
        kind = member_kind(g, k, member_env_op(g, k))
        if kind not in TYPE_EMBEDDING_DESCRIPTORS:
            raise ModelError(f"{g.path}: hybrid member {k} is descriptor '{kind}' with a model-level type_embedding, "
                             f"which is not supported yet (members read with it: {', '.join(TYPE_EMBEDDING_DESCRIPTORS)})")
        k += 1


def read_descriptor(g: Graph, ntypes: int, sdesc: dict, fitting_input: int | None,
                    scope: Scope = Scope()) -> tuple[Hybrid, np.dtype]:
    """The hybrid parameters of graph ``g`` and the dtype of its weights."""
    if scope.suffix:
        raise ModelError(f"{g.path}: a hybrid descriptor inside a hybrid descriptor is not supported yet")
    scripts = sdesc.get("list") if isinstance(sdesc.get("list"), list) else []
    members, dtypes = [], set()
    k = 0
    while g.has_const(f"descrpt_attr_{k}/t_avg") or g.has_const(f"descrpt_attr_{k}_0/t_avg"):
        if not g.has_const(f"descrpt_attr_{k}/t_avg"):     # DeePMD-kit names member j of member k "_k_j"
            raise ModelError(f"{g.path}: hybrid member {k} is itself a hybrid (descrpt_attr_{k}_0/t_avg); a hybrid "
                             "inside a hybrid is not supported")
        env = member_env_op(g, k)
        kind = member_kind(g, k, env)
        if kind not in descriptors.UNITS or kind == Hybrid.kind:
            raise ModelError(f"{g.path}: hybrid member {k} is descriptor '{kind}' (found {env.op} op), which is not "
                             f"supported yet; supported members: "
                             f"{', '.join(u for u in descriptors.supported() if u != Hybrid.kind)}")
        module, function = descriptors.unit(kind).extraction.split(":")
        read_member = getattr(importlib.import_module(module), function)
        script = scripts[k] if k < len(scripts) and isinstance(scripts[k], dict) else {}
        member, dtype = read_member(g, ntypes, script, None, Scope(f"_{k}", env))
        members.append(member)
        dtypes.add(np.dtype(dtype))
        k += 1
    if not members:
        raise ModelError(f"{g.path}: hybrid descriptor without members (no descrpt_attr_0/t_avg)")
    if len(dtypes) != 1:
        raise ModelError(f"{g.path}: hybrid members of different precisions {sorted(map(str, dtypes))}; not supported yet")
    hybrid = Hybrid(members=members)
    if fitting_input is not None and fitting_input != hybrid.output_width:
        raise ModelError(f"{g.path}: the fitting net reads {fitting_input} inputs, the hybrid's members give "
                         f"{' + '.join(map(str, hybrid.widths))} (extra fitting inputs such as case embedding?)")
    return hybrid, dtypes.pop()
