"""Read a DeePMD-kit TensorFlow frozen graph (``frozen_model.pb``) into a :class:`dpsycl.model.Model`.

This is the only module of dpsycl that uses TensorFlow, and it imports it lazily (inside
:func:`extract_model`).  No session is run and DeePMD-kit's custom ops are not loaded: the
GraphDef is parsed as a protobuf and every weight is read from its ``Const`` node with
``tf.make_ndarray``, so each array keeps the graph's dtype and bits.

What is read from where (the graph first; the training script only for what the graph cannot
tell, and the graph may have no ``train_attr/*`` at all):

* rcut, rcut_smth, sel          -- the ``ProdEnvMatA`` node's attributes ``rcut_r``,
                                   ``rcut_r_smth``, ``sel_a`` (``descrpt_attr/rcut`` when present,
                                   since the op attribute is float32)
* type_map                      -- ``model_attr/tmap``
* t_avg, t_std                  -- ``descrpt_attr/t_avg``, ``descrpt_attr/t_std``
* embedding nets                -- ``filter_type_all/{matrix,bias,idt}_{layer}_{neighbour}``
                                   (type_one_side) or ``filter_type_{centre}/...``; widths from
                                   the weight shapes, resnet_dt from the presence of ``idt``
* fitting nets                  -- ``layer_{k}_type_{t}/{matrix,bias,idt}``,
                                   ``final_layer_type_{t}/{matrix,bias}``
* axis_neuron                   -- fitting input width / embedding width
* activation functions          -- the op that consumes each layer's ``BiasAdd`` (``Tanh``,
                                   ``GeluCustom``, ``Relu``, ... or a ``Gelu/`` name scope)
* bias_atom_e                   -- ``fitting_attr/t_bias_atom_e`` (zeros when absent: older
                                   graphs baked the bias into the final layer)
* out_bias, out_std             -- ``model_attr/model_attr/t_out_{bias,std}`` (or
                                   ``model_attr/t_out_*``; zeros / ones when absent)
* exclude_types                 -- missing embedding nets (type_one_side false); otherwise the
                                   training script, else the graph's type-exclusion mask constant
* set_davg_zero                 -- the training script only (default false; t_avg is stored anyway)
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter, defaultdict

import numpy as np

from dpsycl.model import Layer, Model, ModelError

__all__ = ["extract_model", "read_graph_def", "graph_constants"]

# ---------------------------------------------------------------------------------------------
# op names of DeePMD-kit's custom TensorFlow operators (libdeepmd_op.so) that identify a model
ENV_MAT_OPS = {
    "ProdEnvMatA": "se_e2_a",            # also used by se_e3 and by se_e2_a with type embedding
    "DescrptSeA": "se_e2_a",             # DeePMD-kit 1.x name of the same environment matrix
    "ProdEnvMatR": "se_e2_r",
    "DescrptSeR": "se_e2_r",
    "ProdEnvMatAMix": "se_atten",        # se_atten / se_atten_v2 (DPA-1), DPA-2
    "ProdEnvMatANvnmdQuantize": "se_e2_a (NVNMD quantised)",
    "ProdEnvMatAMixNvnmdQuantize": "se_atten (NVNMD quantised)",
    "Descrpt": "loc_frame",
    "DescrptNorot": "loc_frame",
    "DescrptSeAEf": "se_a_ef",
    "DescrptSeAEfPara": "se_a_ef",
    "DescrptSeAEfVert": "se_a_ef",
    "DescrptSeAMask": "se_a_mask",
}
COMPRESSION_OPS = ("TabulateFusion", "TabulateFusionSeA", "TabulateFusionSeAtten",
                   "TabulateFusionSeT", "TabulateFusionSeR")
OTHER_UNSUPPORTED_OPS = {
    "PairTab": "a pair table (use_srtab / ZBL, PairTab op)",
    "DprcPairwiseIdx": "DPRc (DprcPairwiseIdx op)",
    "SoftMinSwitch": "a pair table with soft-min switch (SoftMinSwitch op)",
}

# activation functions as they appear in the graph (op type -> DeePMD-kit name)
ACTIVATION_OPS = {
    "Tanh": "tanh",
    "GeluCustom": "gelu",                # deepmd's gelu: custom op (tanh approximation)
    "Gelu": "gelu",                      # DeePMD-kit <= 2.0 name of the same custom op
    "Relu": "relu",
    "Relu6": "relu6",
    "Softplus": "softplus",
}
_PASS_THROUGH = {"Identity", "Reshape", "Cast", "Shape", "StopGradient"}
_LINEAR_CONSUMERS = {"Mul", "AddV2", "Add", "AddN", "ConcatV2", "MatMul", "BatchMatMulV2",
                     "Slice", "StridedSlice", "Pack", "Sum", "Sub", "Transpose", "Identity",
                     "Reshape", "Cast", "Shape", "RealDiv", "Pad", "Select", "SelectV2"}
_GRAD_RE = re.compile(r"(^|/)gradients(_\d+)?/")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
def _import_tf():
    """Import TensorFlow quietly (its import writes log lines to fd 2 that no setting silences)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
    except Exception:  # pragma: no cover - stderr closed
        pass
    saved = devnull = None
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    except OSError:  # pragma: no cover - no fd 2 to redirect
        saved = None
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ModelError(
            f"reading a TensorFlow frozen graph needs TensorFlow (pip install 'dpsycl[extract]'): {exc}"
        ) from None
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        if devnull is not None:
            os.close(devnull)
    return tf


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        # a cut in the middle of a multi-byte character still counts as text
        try:
            text = sample[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(c.isprintable() or c in "\n\r\t\f\v" for c in text)


def read_graph_def(pb_path):
    """Parse a frozen graph file; raise ModelError (one line) when it is not a TensorFlow graph."""
    path = os.fspath(pb_path)
    if not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ModelError(f"model path is a directory, not a file: {path}")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise ModelError(f"{path} is empty, not a TensorFlow frozen graph")
    if data.startswith(_HDF5_MAGIC):
        raise ModelError(f"{path} is an HDF5 file, not a TensorFlow frozen graph "
                         "(a dpsycl .h5 model is read with dpsycl.model.load_model)")
    if data.startswith(b"PK\x03\x04"):
        raise ModelError(f"{path} is a zip archive (a PyTorch .pth model?), not a TensorFlow frozen "
                         "graph; convert it with `dp convert-backend MODEL.pth frozen_model.pb`")
    tf = _import_tf()
    from google.protobuf.message import DecodeError

    gd = tf.compat.v1.GraphDef()
    text = _looks_like_text(data)
    try:
        gd.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        if text and b"node" in data[:65536]:
            try:  # a GraphDef in protobuf text format (.pbtxt)
                from google.protobuf import text_format

                gd = tf.compat.v1.GraphDef()
                text_format.Merge(data.decode("utf-8"), gd)
            except Exception:
                raise ModelError(f"{path} is a text file, not a TensorFlow frozen graph (.pb)") from None
        elif text:
            raise ModelError(f"{path} is a text file, not a TensorFlow frozen graph (.pb)") from None
        else:
            reason = str(exc).split(":")[-1].strip() or type(exc).__name__
            raise ModelError(f"{path} is not a valid TensorFlow frozen graph ({reason}); "
                             "the file is truncated, corrupted or of another format") from None
    if len(gd.node) == 0:
        raise ModelError(f"{path} holds no graph nodes: not a TensorFlow frozen graph")
    return gd


def graph_constants(pb_path) -> dict[str, np.ndarray]:
    """Every ``Const`` node of a frozen graph as a NumPy array, by node name (a test/debug helper)."""
    tf = _import_tf()
    gd = read_graph_def(pb_path)
    return {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in gd.node if n.op == "Const"}


# ---------------------------------------------------------------------------------------------
class _Graph:
    """Index of a GraphDef: nodes by name, consumers of each node, cached constants."""

    def __init__(self, gd, tf, path: str):
        self.tf = tf
        self.path = path
        self.nodes = {n.name: n for n in gd.node}
        self.ops = Counter(n.op for n in gd.node)
        self.consumers: dict[str, list] = defaultdict(list)
        for n in gd.node:
            for inp in n.input:
                if inp.startswith("^"):
                    continue
                self.consumers[inp.split(":")[0]].append(n)
        self._cache: dict[str, np.ndarray] = {}

    def has_const(self, name: str) -> bool:
        node = self.nodes.get(name)
        return node is not None and node.op == "Const"

    def const(self, name: str) -> np.ndarray:
        if name not in self._cache:
            node = self.nodes.get(name)
            if node is None or node.op != "Const":
                raise ModelError(f"{self.path}: the graph has no constant '{name}' "
                                 "(truncated file, or not a DeePMD-kit se_e2_a energy model)")
            arr = self.tf.make_ndarray(node.attr["value"].tensor)
            self._cache[name] = np.array(arr, copy=True)
        return self._cache[name]

    def opt_const(self, *names: str):
        for name in names:
            if self.has_const(name):
                return self.const(name)
        return None

    def string(self, *names: str) -> str | None:
        arr = self.opt_const(*names)
        if arr is None:
            return None
        val = arr.item() if arr.ndim == 0 else arr.ravel()[0]
        return val.decode("utf-8", "replace") if isinstance(val, bytes) else str(val)

    def nodes_of_op(self, op: str) -> list:
        return [n for n in self.nodes.values() if n.op == op]

    def live_consumers(self, name: str) -> list:
        """Consumers of a node that are part of the forward computation (not gradients)."""
        return [c for c in self.consumers.get(name, ()) if not _GRAD_RE.search(c.name)]


# ---------------------------------------------------------------------------------------------
def _training_script(g: _Graph) -> dict | None:
    raw = g.string("train_attr/training_script")
    if raw is None:
        return None
    try:
        script = json.loads(raw)
    except (json.JSONDecodeError, ValueError):
        return None
    return script if isinstance(script, dict) else None


def _descriptor_kind(g: _Graph) -> str:
    """Name the graph's descriptor; raise ModelError for anything but a plain se_e2_a."""
    supported = "supported: se_e2_a"
    env_nodes = [n for n in g.nodes.values() if n.op in ENV_MAT_OPS]
    if not env_nodes:
        found = sorted(op for op in g.ops if op.startswith(("Tabulate", "ProdEnv", "Descrpt")))
        extra = f" (found {', '.join(found)})" if found else ""
        raise ModelError(f"{g.path}: no DeePMD-kit descriptor operator (ProdEnvMatA) in the graph{extra}: "
                         "not a DeePMD-kit frozen model")
    kinds = sorted({ENV_MAT_OPS[n.op] for n in env_nodes})
    hybrid_scopes = any(name.startswith("descrpt_attr_") for name in g.nodes)
    if len(env_nodes) > 1 or hybrid_scopes:
        ops = ", ".join(sorted(n.op for n in env_nodes))
        raise ModelError(f"{g.path}: descriptor 'hybrid' (or several models in one graph; found "
                         f"{len(env_nodes)} environment-matrix ops: {ops}) is not supported yet; {supported}")
    kind = kinds[0]
    op = env_nodes[0].op
    if kind != "se_e2_a":
        raise ModelError(f"{g.path}: descriptor '{kind}' (found {op} op) is not supported yet; {supported}")
    # se_e2_a-like environment matrix: tell se_e3 and type-embedding variants apart
    names = g.nodes.keys()
    if g.ops.get("TabulateFusionSeT") or any(
            re.fullmatch(r"filter_type_all\w*/matrix_\d+_\d+_\d+", nm) for nm in names):
        raise ModelError(f"{g.path}: descriptor 'se_e3' (se_t; {op} with three-body embedding nets "
                         f"filter_type_all/matrix_L_I_J) is not supported yet; {supported}")
    if any(nm.startswith("type_embed_net") for nm in names) or any(
            re.fullmatch(r"filter_type_all\w*/matrix_\d+", nm) for nm in names):
        raise ModelError(f"{g.path}: descriptor 'se_e2_a with type embedding' (se_a_tpe / se_a_ebd; "
                         f"{op} with type_embed_net) is not supported yet; {supported}")
    if any(nm.startswith("attention_layer_") for nm in names):
        raise ModelError(f"{g.path}: descriptor 'se_atten' ({op} with attention layers) is not "
                         f"supported yet; {supported}")
    return kind


def _check_supported(g: _Graph) -> None:
    mtype = g.string("model_attr/model_type")
    if mtype is not None and mtype != "ener":
        raise ModelError(f"{g.path}: model type '{mtype}' is not supported; dpsycl reads energy "
                         "models (model type 'ener') only")
    _descriptor_kind(g)
    compressed = [op for op in COMPRESSION_OPS if g.ops.get(op)]
    if compressed or g.string("model_type") == "compressed_model":
        what = f"{compressed[0]} op" if compressed else "model_type 'compressed_model'"
        raise ModelError(f"{g.path}: compressed models are not supported yet (found {what}, written by "
                         "`dp compress`); extract the uncompressed frozen_model.pb that `dp freeze` "
                         "wrote before compression")
    for op, what in OTHER_UNSUPPORTED_OPS.items():
        if g.ops.get(op):
            raise ModelError(f"{g.path}: models with {what} are not supported yet")
    for name in g.nodes:
        if re.fullmatch(r"layer_\d+/matrix|final_layer/matrix|share_.+/matrix", name):
            raise ModelError(f"{g.path}: fitting net '{name.split('/')[0]}' without per-species "
                             "'_type_N' suffix (type-embedding or shared fitting) is not supported yet")


# ---------------------------------------------------------------------------------------------
def _producer_chain_end(g: _Graph, const_name: str):
    """Follow a weight const through its ``/read`` Identity nodes to its forward consumers."""
    frontier = [const_name]
    seen = set()
    consumers = []
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        for c in g.live_consumers(name):
            if c.op in ("Identity", "Cast"):
                frontier.append(c.name)
            else:
                consumers.append(c)
    return consumers


def _activation_of(g: _Graph, bias_const: str) -> str:
    """The activation applied after ``x @ W + b`` where ``b`` is the const ``bias_const``."""
    adds = [c for c in _producer_chain_end(g, bias_const) if c.op in ("BiasAdd", "AddV2", "Add")]
    if not adds:
        raise ModelError(f"{g.path}: cannot find the BiasAdd that uses '{bias_const}'")
    pre = adds[0]
    found: set[str] = set()
    other: set[str] = set()
    frontier, seen = [pre], set()
    while frontier:
        node = frontier.pop()
        if node.name in seen:
            continue
        seen.add(node.name)
        for c in g.live_consumers(node.name):
            scope = c.name.split("/")
            if c.op in ACTIVATION_OPS:
                found.add(ACTIVATION_OPS[c.op])
            elif "Gelu" in scope[:-1] or any(s.startswith("Gelu_") for s in scope[:-1]):
                found.add("gelu_tf")         # tf.nn.gelu(approximate=True): ops under a Gelu/ scope
            elif c.op == "Sigmoid":
                outs = {cc.op for cc in g.live_consumers(c.name)}
                siblings = {cc.op for cc in g.live_consumers(node.name)}
                if siblings & {"GreaterEqual", "Select", "SelectV2", "Greater", "Less"}:
                    found.add("silut")
                elif "Mul" in outs and any(
                        node.name in [i.split(":")[0] for i in cc.input]
                        for cc in g.live_consumers(c.name) if cc.op == "Mul"):
                    found.add("silu")
                else:
                    found.add("sigmoid")
            elif c.op in ("Reshape", "Identity", "Cast", "StopGradient"):
                frontier.append(c)
            else:
                other.add(c.op)
    if len(found) == 1:
        return found.pop()
    if len(found) > 1:
        raise ModelError(f"{g.path}: the layer with bias '{bias_const}' feeds several activations: "
                         f"{', '.join(sorted(found))}")
    unknown = other - _LINEAR_CONSUMERS
    if unknown:
        raise ModelError(f"{g.path}: cannot tell the activation function after '{bias_const}' "
                         f"(it feeds {', '.join(sorted(unknown))})")
    return "linear"


def _layer(g: _Graph, prefix: str, suffix: str) -> Layer:
    """``{prefix}matrix{suffix}`` etc. -> Layer; idt is None when absent."""
    matrix = g.const(f"{prefix}matrix{suffix}")
    bias = g.const(f"{prefix}bias{suffix}")
    idt_name = f"{prefix}idt{suffix}"
    idt = g.const(idt_name) if g.has_const(idt_name) else None
    if matrix.ndim != 2 or bias.shape[-1] != matrix.shape[1]:
        raise ModelError(f"{g.path}: weights '{prefix}matrix{suffix}' {matrix.shape} and bias "
                         f"{bias.shape} do not form a dense layer")
    return Layer(matrix=matrix, bias=bias, idt=idt)


def _embedding_nets(g: _Graph, ntypes: int):
    """Read the embedding nets; return (type_one_side, nets, activation, excluded_pairs)."""
    def read_net(scope: str, j: int) -> list[Layer]:
        layers = []
        ll = 1
        while g.has_const(f"{scope}/matrix_{ll}_{j}"):
            layers.append(_layer(g, f"{scope}/", f"_{ll}_{j}"))
            ll += 1
        return layers

    nets: dict[tuple[int, int], list[Layer]] = {}
    act_probe: list[str] = []
    excluded: list[tuple[int, int]] = []
    if any(g.has_const(f"filter_type_all/matrix_1_{j}") for j in range(ntypes)):
        type_one_side = True
        for j in range(ntypes):
            net = read_net("filter_type_all", j)
            if not net:
                raise ModelError(f"{g.path}: the graph has no embedding net for neighbour species {j} "
                                 f"(missing constant 'filter_type_all/matrix_1_{j}')")
            nets[(-1, j)] = net
            act_probe.append(f"filter_type_all/bias_1_{j}")
    else:
        type_one_side = False
        for i in range(ntypes):
            for j in range(ntypes):
                net = read_net(f"filter_type_{i}", j)
                if net:
                    nets[(i, j)] = net
                    act_probe.append(f"filter_type_{i}/bias_1_{j}")
                else:
                    excluded.append((i, j))
        if not nets:
            raise ModelError(f"{g.path}: the graph has no embedding-net weights "
                             "(filter_type_all/matrix_1_0 or filter_type_0/matrix_1_0)")
    acts = set()
    for key, net in nets.items():
        scope = "filter_type_all" if key[0] < 0 else f"filter_type_{key[0]}"
        for ll in range(1, len(net) + 1):
            acts.add(_activation_of(g, f"{scope}/bias_{ll}_{key[1]}"))
    if len(acts) != 1:
        raise ModelError(f"{g.path}: embedding-net layers use different activations: {', '.join(sorted(acts))}")
    return type_one_side, nets, acts.pop(), excluded


def _fitting_nets(g: _Graph, ntypes: int):
    nets: list[list[Layer]] = []
    acts = set()
    for t in range(ntypes):
        layers = []
        k = 0
        while g.has_const(f"layer_{k}_type_{t}/matrix"):
            layers.append(_layer(g, f"layer_{k}_type_{t}/", ""))
            acts.add(_activation_of(g, f"layer_{k}_type_{t}/bias"))
            k += 1
        if not layers:
            raise ModelError(f"{g.path}: the graph has no fitting net for species {t} "
                             f"(missing constant 'layer_0_type_{t}/matrix')")
        final = _layer(g, f"final_layer_type_{t}/", "")
        if final.matrix.shape[1] != 1:
            raise ModelError(f"{g.path}: final fitting layer of species {t} has {final.matrix.shape[1]} "
                             "outputs; an energy model has 1")
        final_act = _activation_of(g, f"final_layer_type_{t}/bias")
        if final_act != "linear":
            raise ModelError(f"{g.path}: final fitting layer of species {t} uses activation "
                             f"'{final_act}'; expected none")
        layers.append(final)
        nets.append(layers)
    if len(acts) != 1:
        raise ModelError(f"{g.path}: fitting-net layers use different activations: {', '.join(sorted(acts))}")
    return nets, acts.pop()


def _mask_exclusions(g: _Graph, ntypes: int) -> list[tuple[int, int]] | None:
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


def _used_const(g: _Graph, *names: str):
    """The first of ``names`` that is a constant the forward graph consumes, else None."""
    for name in names:
        if g.has_const(name) and _producer_chain_end(g, name):
            return g.const(name)
    return None


def _nice_float(value: float) -> float:
    """A float32 op attribute as the decimal number it was written as (6.0, 0.5, 5.8, ...)."""
    return float(str(np.float32(value)))


def _version_info(g: _Graph, script: dict | None) -> str:
    for name in ("train_attr/deepmd_version", "model_attr/deepmd_version", "deepmd_version"):
        ver = g.string(name)
        if ver:
            return ver
    if script:
        for key in ("deepmd_version", "version"):
            if isinstance(script.get(key), str):
                return script[key]
        info = script.get("model", {}).get("info") if isinstance(script.get("model"), dict) else None
        if isinstance(info, dict) and isinstance(info.get("deepmd_version"), str):
            return info["deepmd_version"]
    return "unknown"


# ---------------------------------------------------------------------------------------------
def extract_model(pb_path) -> Model:
    """Read every parameter of a DeePMD-kit se_e2_a frozen graph into a validated Model."""
    path = os.fspath(pb_path)
    gd = read_graph_def(path)
    tf = _import_tf()
    g = _Graph(gd, tf, path)
    _check_supported(g)
    script = _training_script(g)
    sdesc = (script or {}).get("model", {}).get("descriptor", {}) if script else {}
    sfit = (script or {}).get("model", {}).get("fitting_net", {}) if script else {}
    smodel = (script or {}).get("model", {}) if script else {}

    # -- environment matrix -------------------------------------------------------------------
    env = next(n for n in g.nodes.values() if n.op in ENV_MAT_OPS)
    sel = [int(x) for x in env.attr["sel_a"].list.i]
    if not sel:
        raise ModelError(f"{path}: the {env.op} node has no sel_a attribute")
    if any(int(x) for x in env.attr["sel_r"].list.i):
        raise ModelError(f"{path}: {env.op} has a non-zero sel_r (radial-only neighbours); not se_e2_a")
    rcut_attr = float(env.attr["rcut_r"].f)
    rcut_smth = _nice_float(env.attr["rcut_r_smth"].f)
    rcut_const = g.opt_const("descrpt_attr/rcut")
    rcut = float(rcut_const) if rcut_const is not None else _nice_float(rcut_attr)
    if abs(rcut - rcut_attr) > 1e-6 * max(1.0, abs(rcut)):
        raise ModelError(f"{path}: descrpt_attr/rcut ({rcut}) disagrees with the {env.op} attribute "
                         f"rcut_r ({rcut_attr})")
    ntypes = len(sel)
    const_sel = g.opt_const("descrpt_attr/sel")
    if const_sel is not None and [int(x) for x in const_sel.ravel()] != sel:
        raise ModelError(f"{path}: descrpt_attr/sel {const_sel.tolist()} disagrees with {env.op} sel_a {sel}")
    orig_sel = g.opt_const("descrpt_attr/original_sel")
    if orig_sel is not None and [int(x) for x in orig_sel.ravel()] != sel:
        raise ModelError(f"{path}: sel was changed after training (original_sel {orig_sel.tolist()}, "
                         f"sel {sel}); such models are not supported yet")
    nt_const = g.opt_const("descrpt_attr/ntypes")
    if nt_const is not None and int(nt_const) != ntypes:
        raise ModelError(f"{path}: descrpt_attr/ntypes is {int(nt_const)} but sel has {ntypes} entries")

    tmap = g.string("model_attr/tmap")
    if tmap:
        type_map = tmap.split()
    elif isinstance(smodel.get("type_map"), list):
        type_map = [str(x) for x in smodel["type_map"]]
    else:
        type_map = [f"type_{i}" for i in range(ntypes)]
    if len(type_map) != ntypes:
        raise ModelError(f"{path}: type map {type_map} has {len(type_map)} species but sel has {ntypes}")

    t_avg = g.const("descrpt_attr/t_avg")
    t_std = g.const("descrpt_attr/t_std")

    # -- networks ----------------------------------------------------------------------------
    type_one_side, emb_nets, activation, missing_pairs = _embedding_nets(g, ntypes)
    neuron_sets = {tuple(int(l.matrix.shape[1]) for l in net) for net in emb_nets.values()}
    if len(neuron_sets) != 1:
        raise ModelError(f"{path}: embedding nets have different widths: {sorted(neuron_sets)}")
    neuron = list(neuron_sets.pop())
    for key, net in emb_nets.items():
        if net[0].matrix.shape[0] != 1:
            raise ModelError(f"{path}: embedding net {key} takes {net[0].matrix.shape[0]} inputs; "
                             "se_e2_a embedding nets take 1 (s(r))")
    resnet_dt = any(l.idt is not None for net in emb_nets.values() for l in net)

    fit_nets, fitting_activation = _fitting_nets(g, ntypes)
    fit_sets = {tuple(int(l.matrix.shape[1]) for l in net[:-1]) for net in fit_nets}
    if len(fit_sets) != 1:
        raise ModelError(f"{path}: fitting nets have different widths: {sorted(fit_sets)}")
    fitting_neuron = list(fit_sets.pop())
    fitting_resnet_dt = any(l.idt is not None for net in fit_nets for l in net)

    emb_dtype = next(iter(emb_nets.values()))[0].matrix.dtype
    fit_dtype = fit_nets[0][0].matrix.dtype
    for nets, dtype, what in ((list(emb_nets.values()), emb_dtype, "embedding"),
                              (fit_nets, fit_dtype, "fitting")):
        for l in (l for net in nets for l in net):
            if {a.dtype for a in (l.matrix, l.bias, l.idt) if a is not None} != {dtype}:
                raise ModelError(f"{path}: {what}-net weights of mixed dtypes (mixed precision?); "
                                 "not supported yet")
    if emb_dtype != fit_dtype:
        raise ModelError(f"{path}: descriptor precision {emb_dtype} differs from fitting precision "
                         f"{fit_dtype}; not supported yet")
    if emb_dtype not in (np.float32, np.float64):
        raise ModelError(f"{path}: precision {emb_dtype} is not supported; float64 or float32 only")
    precision = str(np.dtype(emb_dtype))

    # -- fitting attributes --------------------------------------------------------------------
    dfparam = g.opt_const("fitting_attr/dfparam")
    daparam = g.opt_const("fitting_attr/daparam")
    numb_fparam = int(dfparam) if dfparam is not None else int(sfit.get("numb_fparam", 0) or 0)
    numb_aparam = int(daparam) if daparam is not None else int(sfit.get("numb_aparam", 0) or 0)
    fparam_stats, aparam_stats = {}, {}
    for kind, stats in (("fparam", fparam_stats), ("aparam", aparam_stats)):
        for stat in ("avg", "istd"):
            arr = g.opt_const(f"fitting_attr/t_{kind}_{stat}")
            if arr is not None:
                stats[stat] = arr
    fit_in = int(fit_nets[0][0].matrix.shape[0]) - numb_fparam - numb_aparam
    if fit_in <= 0 or fit_in % neuron[-1]:
        raise ModelError(f"{path}: fitting input width {fit_in} is not a multiple of the embedding "
                         f"width {neuron[-1]} (extra fitting inputs such as case embedding?)")
    axis_neuron = fit_in // neuron[-1]

    # a statistic that the forward graph does not use (older graphs baked the energy bias into
    # the final layer) must not be applied a second time: treat it as absent
    bias = _used_const(g, "fitting_attr/t_bias_atom_e")
    bias_atom_e = bias.reshape(-1) if bias is not None else np.zeros(ntypes, dtype=np.float64)
    out_bias = _used_const(g, "model_attr/model_attr/t_out_bias", "model_attr/t_out_bias")
    out_std = _used_const(g, "model_attr/model_attr/t_out_std", "model_attr/t_out_std")
    out_bias = out_bias.reshape(-1) if out_bias is not None else np.zeros(ntypes, dtype=np.float64)
    out_std = out_std.reshape(-1) if out_std is not None else np.ones(ntypes, dtype=np.float64)
    for name, arr in (("t_bias_atom_e", bias_atom_e), ("t_out_bias", out_bias), ("t_out_std", out_std)):
        if arr.shape != (ntypes,):
            raise ModelError(f"{path}: {name} has {arr.size} values for {ntypes} species")

    # -- what only the training script (or a mask constant) tells ------------------------------
    if type_one_side:
        if script is not None and isinstance(sdesc.get("exclude_types"), list):
            pairs = sdesc["exclude_types"]
        else:
            pairs = _mask_exclusions(g, ntypes) or []
    else:
        pairs = missing_pairs
    try:
        exclude_types = sorted({(min(int(a), int(b)), max(int(a), int(b))) for a, b in pairs})
    except (TypeError, ValueError):
        raise ModelError(f"{path}: cannot read exclude_types {pairs!r} from the training script") from None
    set_davg_zero = bool(sdesc.get("set_davg_zero", False))
    for key in ("atom_exclude_types", "pair_exclude_types"):
        if smodel.get(key):
            raise ModelError(f"{path}: models with {key} are not supported yet")
    if sfit.get("atom_ener"):
        if any(x is not None for x in sfit["atom_ener"]):
            raise ModelError(f"{path}: fitting nets with atom_ener are not supported yet")
    if float(sdesc.get("env_protection", 0.0) or 0.0) != 0.0:
        raise ModelError(f"{path}: descriptors with env_protection != 0 are not supported yet")

    model = Model(
        type_map=type_map,
        rcut=rcut,
        rcut_smth=rcut_smth,
        sel=sel,
        neuron=neuron,
        axis_neuron=axis_neuron,
        type_one_side=type_one_side,
        resnet_dt=resnet_dt,
        activation=activation,
        fitting_neuron=fitting_neuron,
        fitting_resnet_dt=fitting_resnet_dt,
        fitting_activation=fitting_activation,
        precision=precision,
        t_avg=t_avg,
        t_std=t_std,
        embedding_nets=emb_nets,
        fitting_nets=fit_nets,
        bias_atom_e=bias_atom_e,
        out_bias=out_bias,
        out_std=out_std,
        exclude_types=exclude_types,
        set_davg_zero=set_davg_zero,
        numb_fparam=numb_fparam,
        numb_aparam=numb_aparam,
        fparam_stats=fparam_stats,
        aparam_stats=aparam_stats,
        descriptor_type="se_e2_a",
        deepmd_version=_version_info(g, script),
        model_version=g.string("model_attr/model_version") or "unknown",
        source=os.path.basename(path),
    )
    model.validate()
    return model
