"""Reading a TensorFlow frozen graph without running it: the GraphDef, its constants, and how its
dense layers are wired (which activation follows which bias).

TensorFlow is imported lazily, only when a graph is read; DeePMD-kit's custom ops are never
loaded.  Every weight comes from its ``Const`` node through ``tf.make_ndarray``, so it keeps the
graph's dtype and bits.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter, defaultdict

import numpy as np

from dpsycl.formats import HDF5, ZIP, kind_of, read_head
from dpsycl.model import Layer, ModelError

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

# activation functions as they appear in the graph (op type -> DeePMD-kit name)
ACTIVATION_OPS = {
    "Tanh": "tanh",
    "GeluCustom": "gelu",                # deepmd's gelu: custom op (tanh approximation)
    "Gelu": "gelu",                      # DeePMD-kit <= 2.0 name of the same custom op
    "Relu": "relu",
    "Relu6": "relu6",
    "Softplus": "softplus",
}
LINEAR_CONSUMERS = {"Mul", "AddV2", "Add", "AddN", "ConcatV2", "MatMul", "BatchMatMulV2",
                     "Slice", "StridedSlice", "Pack", "Sum", "Sub", "Transpose", "Identity",
                     "Reshape", "Cast", "Shape", "RealDiv", "Pad", "Select", "SelectV2"}
GRAD_RE = re.compile(r"(^|/)gradients(_\d+)?/")



# ---------------------------------------------------------------------------------------------
def import_tf():
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


def looks_like_text(data: bytes) -> bool:
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
    data = read_head(path, ModelError, size=-1)
    if not data:
        raise ModelError(f"{path} is empty, not a TensorFlow frozen graph")
    if kind_of(data[:8]) == HDF5:
        raise ModelError(f"{path} is an HDF5 file, not a TensorFlow frozen graph "
                         "(a dpsycl .h5 model is read with dpsycl.model.load_model)")
    if kind_of(data[:8]) == ZIP:
        raise ModelError(f"{path} is a zip archive (a PyTorch .pth model?), not a TensorFlow frozen "
                         "graph; convert it with `dp --pt convert-backend MODEL.pth MODEL.dp` and give dpsycl the .dp")
    tf = import_tf()
    from google.protobuf.message import DecodeError

    gd = tf.compat.v1.GraphDef()
    text = looks_like_text(data)
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
    tf = import_tf()
    gd = read_graph_def(pb_path)
    return {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in gd.node if n.op == "Const"}


# ---------------------------------------------------------------------------------------------
class Graph:
    """Index of a GraphDef: nodes by name, consumers of each node, cached constants."""

    def __init__(self, gd, tf, path: str):
        self.tf = tf
        self.path = path
        self.graph_def = gd
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
        return [c for c in self.consumers.get(name, ()) if not GRAD_RE.search(c.name)]


# ---------------------------------------------------------------------------------------------
def training_script(g: Graph) -> dict | None:
    raw = g.string("train_attr/training_script")
    if raw is None:
        return None
    try:
        script = json.loads(raw)
    except (json.JSONDecodeError, ValueError):
        return None
    return script if isinstance(script, dict) else None


def producer_chain_end(g: Graph, const_name: str):
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


def activation_of(g: Graph, bias_const: str) -> str:
    """The activation applied after ``x @ W + b`` where ``b`` is the const ``bias_const``."""
    adds = [c for c in producer_chain_end(g, bias_const) if c.op in ("BiasAdd", "AddV2", "Add")]
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
                    found.add(f"silut:{silut_threshold(g, node)!r}")
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
    unknown = other - LINEAR_CONSUMERS
    if unknown:
        raise ModelError(f"{g.path}: cannot tell the activation function after '{bias_const}' "
                         f"(it feeds {', '.join(sorted(unknown))})")
    return "linear"


def silut_threshold(g: Graph, pre) -> float:
    """The threshold T of a silut activation applied to ``pre``: the constant that the comparison
    ``pre < T`` (DeePMD-kit's ``tf.where(x < T, silu(x), tanh(...))``) reads."""
    for c in g.live_consumers(pre.name):
        if c.op in ("Less", "GreaterEqual", "Greater", "LessEqual"):
            for name in c.input:
                name = name.split(":")[0]
                if name != pre.name and g.has_const(name):
                    return float(g.const(name))
    raise ModelError(f"{g.path}: cannot find the threshold of the silut activation after '{pre.name}'")


def dense_layer(g: Graph, prefix: str, suffix: str) -> Layer:
    """``{prefix}matrix{suffix}`` etc. -> Layer; idt is None when absent."""
    matrix = g.const(f"{prefix}matrix{suffix}")
    bias = g.const(f"{prefix}bias{suffix}")
    idt_name = f"{prefix}idt{suffix}"
    idt = g.const(idt_name) if g.has_const(idt_name) else None
    if matrix.ndim != 2 or bias.shape[-1] != matrix.shape[1]:
        raise ModelError(f"{g.path}: weights '{prefix}matrix{suffix}' {matrix.shape} and bias "
                         f"{bias.shape} do not form a dense layer")
    return Layer(matrix=matrix, bias=bias, idt=idt)


def used_const(g: Graph, *names: str):
    """The first of ``names`` that is a constant the forward graph consumes, else None."""
    for name in names:
        if g.has_const(name) and producer_chain_end(g, name):
            return g.const(name)
    return None


def nice_float(value: float) -> float:
    """A float32 op attribute as the decimal number it was written as (6.0, 0.5, 5.8, ...)."""
    return float(str(np.float32(value)))


def version_info(g: Graph, script: dict | None) -> str:
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


