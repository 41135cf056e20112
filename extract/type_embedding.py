"""A model-level type embedding (DeePMD-kit 2.x ``"model": {"type_embedding": {...}}``), folded
into per-species nets so that the model runs as a plain se_e2_a model.

DeePMD-kit's TensorFlow backend (concatenation mode, ``tebd_input_mode`` "concat") maps each
species t to a row e_t of the table ``t_typeebd`` (ntypes × T; a small net on one-hot(t), or on
the electronic configuration with ``use_econf_tebd``) and feeds it to two nets:

* the one shared embedding net ``filter_type_all/{matrix,bias,idt}_{l}`` takes, per neighbour slot,
  x = (s_ij, e_{type_j}) with type_one_side, else x = (s_ij, e_{type_j}, e_{type_i});
* the one shared fitting net ``layer_{k}/...``, ``final_layer/...`` takes
  (D_i, e_{type_i}, fparam, aparam).

(se_e2_r ignores the table: its embedding nets stay per species and only the fitting net reads it.
A hybrid hands the table to every member: member k's shared net is ``filter_type_all_k/*_{l}``.)

Since e_t is a constant of the species, the first layer of either net is

    φ(x W + b) = φ(s W_s + [b + e_j W_j + e_i W_i])        (embedding, per species pair)
    φ(x W + b) = φ((D, fparam, aparam) W_rest + [b + e_i W_e])   (fitting, per species)

so per-pair (or per-neighbour-species) embedding nets and per-species fitting nets whose first
bias absorbs the embedding rows, and whose other layers are the shared ones, compute the same
function.  This holds exactly unless the first embedding layer carries a skip connection: DeePMD-kit
decides it from the width of x (1 + T or 1 + 2T), the folded net from width 1, so such models (first
width 1, 2, 1 + T, 2 + 2T, ... ) are refused.  The fitting net's first layer never has one.
The table is evaluated from the graph itself (its constants only), so the type-embedding net's
activation, resnet_dt, bias and trainable flag need no rule here.
"""
from __future__ import annotations

import numpy as np

from dpsycl.device_kernels.layers import embedding_skip
from dpsycl.model import Layer, ModelError

from .graph import Graph, activation_of, dense_layer

TABLE_NODE = "t_typeebd"
#: the descriptors whose type-embedding models are folded (and tested against DeePMD-kit)
DESCRIPTORS = ("se_e2_a", "se_e2_r", "se_e3")


def has_type_embedding(g: Graph) -> bool:
    """Whether the graph carries a model-level type embedding (the table ``t_typeebd``)."""
    return TABLE_NODE in g.nodes


def feeds_embedding_net(g: Graph, suffix: str = "") -> bool:
    """Whether the descriptor (hybrid member ``suffix`` "_k") reads the table through one shared embedding
    net (se_e2_a); DeePMD-kit's se_e2_r and se_e3 ignore the table, which then reaches the fitting net only."""
    return has_type_embedding(g) and g.has_const(f"filter_type_all{suffix}/matrix_1")


def refuse_other_forms(g: Graph, op: str, supported: str) -> None:
    """ModelError for type-embedding forms that are not the model-level concatenation."""
    names = g.nodes.keys()
    if any(nm.startswith("type_embed_layer_") or "_amplify" in nm for nm in names):
        raise ModelError(f"{g.path}: descriptor 'se_a_ebd' (se_a_tpe; {op} with its own type embedding "
                         f"type_embed_layer_*) is not supported yet; {supported}")
    if any(nm.endswith(("_one_side_ebd", "_two_side_ebd")) for nm in names):
        raise ModelError(f"{g.path}: type embedding with tebd_input_mode 'strip' (se_a_ebd_v2; {op} with "
                         f"*_side_ebd nets) is not supported yet; {supported}")
    if any(nm.startswith("type_embed_net") for nm in names) and not has_type_embedding(g):
        raise ModelError(f"{g.path}: type_embed_net without the table '{TABLE_NODE}' (a type embedding "
                         f"of another form) is not supported yet; {supported}")


def type_embedding_table(g: Graph) -> np.ndarray:
    """The (ntypes, T) table e_t, evaluated by TensorFlow from the graph's constants."""
    tf = g.tf
    keep, frontier = set(), [TABLE_NODE]
    while frontier:                   # the nodes the table depends on: constants and standard ops only
        name = frontier.pop().lstrip("^").split(":")[0]
        if name not in keep:
            keep.add(name)
            frontier.extend(g.nodes[name].input)
    sub = tf.compat.v1.GraphDef()
    sub.node.extend(n for n in g.graph_def.node if n.name in keep)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(sub, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        table = np.asarray(sess.run(f"{TABLE_NODE}:0"))
    if table.ndim != 2:
        raise ModelError(f"{g.path}: the type-embedding table has shape {table.shape}; expected (ntypes, T)")
    return table


def check_table(g: Graph, table: np.ndarray, ntypes: int) -> None:
    if table.shape[0] != ntypes:
        raise ModelError(f"{g.path}: the type-embedding table has {table.shape[0]} rows for {ntypes} species "
                         "(a padding row: not a se_e2_a type embedding)")


def shared_embedding_net(g: Graph, suffix: str = "") -> tuple[list[Layer], str]:
    """The shared embedding net ``filter_type_all{suffix}/*_{l}`` (suffix "_k": hybrid member k) and its
    activation."""
    scope = f"filter_type_all{suffix}/"
    layers, acts = [], set()
    ll = 1
    while g.has_const(f"{scope}matrix_{ll}"):
        layers.append(dense_layer(g, scope, f"_{ll}"))
        acts.add(activation_of(g, f"{scope}bias_{ll}"))
        ll += 1
    if not layers:
        raise ModelError(f"{g.path}: a type-embedding model without the shared embedding net "
                         f"'{scope}matrix_1'")
    if len(acts) != 1:
        raise ModelError(f"{g.path}: embedding-net layers use different activations: {', '.join(sorted(acts))}")
    return layers, acts.pop()


def fold_embedding_net(g: Graph, table: np.ndarray, layers: list[Layer],
                       excluded) -> tuple[bool, dict[tuple[int, int], list[Layer]]]:
    """(type_one_side, nets): the shared net as one net per neighbour species (key (−1, j)) when it
    reads (s, e_j), else per species pair (i, j) when it reads (s, e_j, e_i); excluded pairs of the
    per-pair form get no net (their slots are masked, as DeePMD-kit masks them)."""
    ntypes, width = table.shape
    first = layers[0]
    n_in, n_out = first.matrix.shape
    if n_in == 1 + width:
        one_side = True
    elif n_in == 1 + 2 * width:
        one_side = False
    else:
        raise ModelError(f"{g.path}: the shared embedding net takes {n_in} inputs; with a type embedding of "
                         f"width {width} DeePMD-kit feeds 1 + {width} or 1 + 2·{width}")
    if embedding_skip(n_in, n_out) or embedding_skip(1, n_out):
        raise ModelError(f"{g.path}: the first embedding layer ({n_in} -> {n_out}) would carry a skip connection "
                         "in DeePMD-kit or once folded to the input s alone; such type-embedding models are not "
                         "supported yet")
    w_s = first.matrix[:1]
    w_j = first.matrix[1:1 + width]
    w_i = first.matrix[1 + width:]
    nets: dict[tuple[int, int], list[Layer]] = {}
    for i in ([-1] if one_side else range(ntypes)):
        for j in range(ntypes):
            if i >= 0 and ((i, j) in excluded or (j, i) in excluded):
                continue
            bias = first.bias + table[j] @ w_j + (0.0 if i < 0 else table[i] @ w_i)
            folded = Layer(np.array(w_s), np.asarray(bias, dtype=first.bias.dtype),
                           None if first.idt is None else np.array(first.idt))
            nets[(i, j)] = [folded] + [Layer(np.array(x.matrix), np.array(x.bias),
                                             None if x.idt is None else np.array(x.idt)) for x in layers[1:]]
    return one_side, nets


def fold_fitting_nets(g: Graph, table: np.ndarray, numb_extra: int) -> tuple[list[list[Layer]], set[str]]:
    """Per-species fitting nets from the shared ``layer_{k}``/``final_layer`` net, whose input is
    (D, e_i, then ``numb_extra`` frame and atomic parameters); the activations met on the way."""
    layers, acts = [], set()
    k = 0
    while g.has_const(f"layer_{k}/matrix"):
        layers.append(dense_layer(g, f"layer_{k}/", ""))
        acts.add(activation_of(g, f"layer_{k}/bias"))
        k += 1
    if not layers or not g.has_const("final_layer/matrix"):
        raise ModelError(f"{g.path}: a type-embedding model without the shared fitting net "
                         "'layer_0/matrix' ... 'final_layer/matrix'")
    final = dense_layer(g, "final_layer/", "")
    if activation_of(g, "final_layer/bias") != "linear":
        raise ModelError(f"{g.path}: the final fitting layer has an activation; expected none")
    width = table.shape[1]
    first = layers[0]
    n_descriptor = first.matrix.shape[0] - width - numb_extra
    if n_descriptor <= 0:
        raise ModelError(f"{g.path}: the fitting net takes {first.matrix.shape[0]} inputs, fewer than the type "
                         f"embedding ({width}) and the {numb_extra} parameters")
    w_e = first.matrix[n_descriptor:n_descriptor + width]
    w_rest = np.concatenate([first.matrix[:n_descriptor], first.matrix[n_descriptor + width:]], axis=0)
    nets = []
    for t in range(table.shape[0]):
        bias = np.asarray(first.bias + table[t] @ w_e, dtype=first.bias.dtype)
        folded = Layer(np.array(w_rest), bias, None if first.idt is None else np.array(first.idt))
        rest = [Layer(np.array(x.matrix), np.array(x.bias), None if x.idt is None else np.array(x.idt))
                for x in layers[1:] + [final]]
        nets.append([folded] + rest)
    return nets, acts


def describe(table: np.ndarray, descriptor) -> str:
    """What the model file records of the folded type embedding (``dpsycl extract`` prints it): which
    embedding nets (of which hybrid member) took it, besides the per-species fitting nets."""
    members = getattr(descriptor, "members", None)
    folded = []
    for k, member in enumerate(members if members is not None else [descriptor]):
        if getattr(member, "kind", "") == "se_e2_a":      # the one descriptor that reads the table
            nets = f"per-{'neighbour-species' if member.type_one_side else 'pair'} embedding nets"
            folded.append(nets if members is None else f"member {k}'s {nets}")
    into = " and ".join(folded + ["per-species fitting nets"])
    return f"type_embedding width {table.shape[1]}, folded into {into}"
