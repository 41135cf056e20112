"""DeePMD-kit's serialised networks (from a ``.dp`` file) as dpsycl layers, with the checks that DeePMD-kit
would compute with them exactly what dpsycl's layer rule computes.

Read from the JSON of a ``.dp`` file (``deepmd/dpmodel/utils/network.py`` is DeePMD-kit's definition):

* ``NetworkCollection`` {ndim, ntypes, networks}: ``ntypes**ndim`` networks in a flat list; the network of
  the type tuple (t_0, …, t_{ndim−1}) sits at index Σ_k t_k·ntypes**k.  ndim 1: by one species;
  ndim 2 (se_e2_a embedding nets without type_one_side): (centre, neighbour) at centre + neighbour·ntypes.
* ``EmbeddingNetwork`` / ``FittingNetwork`` {layers}: dense layers in order (a fitting network's last
  layer is its linear output layer).
* ``Layer`` {activation_function, resnet, @variables {w (in, out), b (out,) or None, idt (out,) or None}}:
  DeePMD-kit computes  y = φ(x·w + b), then y·idt where there is an idt, then adds x (width stays) or
  [x, x] (width doubles) where ``resnet`` is true.

dpsycl's rule (device_kernels/layers.py) fixes where the input is added: every embedding layer whose width
stays or doubles, and fitting hidden layers from the second on whose width stays; idt only on embedding
layers with that skip.  A layer whose own flags make DeePMD-kit compute something else is refused,
naming the layer.  Arrays keep their dtype and bits; ``b`` None (a layer without bias) becomes zeros.
"""
from __future__ import annotations

import numpy as np

from ..device_kernels.activations import canonical_activation
from ..device_kernels.layers import embedding_skip, fitting_residual
from ..model import Layer, ModelError

class TensorFlowMeaning(ModelError):
    """A model whose .dp form DeePMD-kit's PyTorch, JAX and NumPy backends evaluate differently from its
    TensorFlow backend, which computes it as dpsycl does: refused, since the file alone cannot say which
    was meant (DeePMD-kit's TensorFlow serialiser writes such files from some .pb models)."""


# the newest @version of each class that this reader knows (DeePMD-kit 3.2's serialisers)
KNOWN_VERSIONS = {"NetworkCollection": 1, "EmbeddingNetwork": 2, "FittingNetwork": 1, "Layer": 2}
PRECISIONS = ("float64", "float32")


def check_version(node: dict, cls: str, newest: int, where: str) -> None:
    """ModelError unless ``node`` is of class ``cls`` with an @version this reader knows."""
    found = node.get("@class", cls)
    if found != cls:
        raise ModelError(f"{where} is a '{found}', expected a '{cls}'")
    version = node.get("@version", 1)
    if not isinstance(version, int) or version < 1:
        raise ModelError(f"{where} ({cls}) has @version {version!r}, not a positive integer")
    if version > newest:
        raise ModelError(f"{where} ({cls}) has @version {version}, newer than this dpsycl knows "
                         f"({cls} @version up to {newest}) — upgrade dpsycl")


def need(node: dict, key: str, where: str):
    """``node[key]``; a one-line ModelError naming the missing key otherwise."""
    if not isinstance(node, dict) or key not in node:
        raise ModelError(f"{where} has no '{key}'")
    return node[key]


def collection_networks(node: dict, ntypes: int, where: str) -> tuple[int, list]:
    """(ndim, networks) of a NetworkCollection, checked to hold ntypes**ndim entries."""
    check_version(node, "NetworkCollection", KNOWN_VERSIONS["NetworkCollection"], where)
    ndim = need(node, "ndim", where)
    networks = need(node, "networks", where)
    if need(node, "ntypes", where) != ntypes or not isinstance(networks, list) or len(networks) != ntypes ** ndim:
        raise ModelError(f"{where}: {len(networks) if isinstance(networks, list) else networks!r} networks for "
                         f"ndim {ndim} and {node.get('ntypes')} species; expected {ntypes}**{ndim} for {ntypes} species")
    return ndim, networks


def type_tuple(index: int, ntypes: int, ndim: int) -> tuple[int, ...]:
    """The type tuple of network ``index`` of a NetworkCollection (the inverse of Σ_k t_k·ntypes**k)."""
    return tuple((index // ntypes ** k) % ntypes for k in range(ndim))


# ---------------------------------------------------------------------------------------------
def read_layer(node: dict, where: str) -> tuple[Layer, str, bool]:
    """(Layer, activation name, whether DeePMD-kit adds the input) of one serialised ``Layer``."""
    check_version(node, "Layer", KNOWN_VERSIONS["Layer"], where)
    variables = need(node, "@variables", where)
    w = need(variables, "w", where)
    if not isinstance(w, np.ndarray) or w.ndim != 2:
        raise ModelError(f"{where}: weight matrix w is {getattr(w, 'shape', w)!r}, not a 2-D array")
    precision = node.get("precision", str(w.dtype))
    if precision not in PRECISIONS:
        raise ModelError(f"{where}: precision '{precision}' is not supported; float64 or float32")
    n_in, n_out = w.shape
    b, idt = variables.get("b"), variables.get("idt")
    # DeePMD-kit ravels b and idt when it reads a layer; so does dpsycl (idt keeps dpsycl's shapes below)
    b = np.zeros(n_out, dtype=w.dtype) if b is None else np.asarray(b).reshape(-1)
    idt = None if idt is None else np.asarray(idt).reshape(-1)
    for name, arr in (("b", b), ("idt", idt)):
        if arr is not None and arr.shape != (n_out,):
            raise ModelError(f"{where}: {name} has {arr.size} values for a layer of width {n_out}")
    dtypes = {str(a.dtype) for a in (w, b, idt) if a is not None}
    if dtypes != {precision}:
        raise ModelError(f"{where}: arrays of dtypes {sorted(dtypes)} in a layer of precision {precision} "
                         "(mixed precision is not supported yet)")
    activation = node.get("activation_function") or "none"
    adds_input = bool(node.get("resnet", False)) and deepmd_adds_input_at_width(n_in, n_out)
    return Layer(matrix=w, bias=b, idt=idt), activation, adds_input


def deepmd_adds_input_at_width(n_in: int, n_out: int) -> bool:
    """Whether a DeePMD-kit layer with ``resnet`` true adds its input at these widths: the same width
    condition as dpsycl's embedding skip (x when the width stays, [x, x] when it doubles)."""
    return embedding_skip(n_in, n_out) != 0


def one_activation(names: list[str], where: str) -> str:
    """The one activation of a set of layers (names as written, so that 'silut:2.0' keeps its argument)."""
    if len(set(names)) != 1:
        raise ModelError(f"{where}: layers with different activations {sorted(set(names))}; dpsycl evaluates "
                         "one activation per network")
    return names[0]


def read_embedding_net(node: dict, where: str) -> tuple[list[Layer], str]:
    """Layers and activation of a serialised ``EmbeddingNetwork``; idt as (1, out), as in a frozen graph."""
    check_version(node, "EmbeddingNetwork", KNOWN_VERSIONS["EmbeddingNetwork"], where)
    layers, activations = [], []
    for k, layer_node in enumerate(need(node, "layers", where)):
        at = f"{where} layer {k}"
        layer, activation, adds_input = read_layer(layer_node, at)
        n_in, n_out = layer.matrix.shape
        skip = embedding_skip(n_in, n_out) != 0
        if adds_input != skip:
            raise ModelError(f"{at} ({n_in} -> {n_out}) has resnet false: DeePMD-kit adds no input there, "
                             "dpsycl's embedding rule adds it wherever the width stays or doubles")
        if layer.idt is not None and not skip:
            raise ModelError(f"{at} ({n_in} -> {n_out}) has an idt: DeePMD-kit scales this layer, dpsycl "
                             "scales only embedding layers whose width stays or doubles")
        if layer.idt is not None:
            layer = Layer(layer.matrix, layer.bias, layer.idt.reshape(1, -1))
        layers.append(layer)
        activations.append(activation)
    if not layers:
        raise ModelError(f"{where} has no layers")
    return layers, one_activation(activations, where)


def read_fitting_net(node: dict, where: str) -> tuple[list[Layer], str]:
    """Layers and hidden-layer activation of a serialised ``FittingNetwork`` (last layer: linear output)."""
    check_version(node, "FittingNetwork", KNOWN_VERSIONS["FittingNetwork"], where)
    layer_nodes = need(node, "layers", where)
    if len(layer_nodes) < 2:
        raise ModelError(f"{where} has {len(layer_nodes)} layers; dpsycl needs a hidden layer and the output layer")
    layers, activations = [], []
    for k, layer_node in enumerate(layer_nodes[:-1]):
        at = f"{where} layer {k}"
        layer, activation, adds_input = read_layer(layer_node, at)
        n_in, n_out = layer.matrix.shape
        if adds_input and not fitting_residual(k, n_in, n_out):
            raise TensorFlowMeaning(f"{at} ({n_in} -> {n_out}) has resnet true: DeePMD-kit (PyTorch, JAX, NumPy) adds "
                                    "the layer's input there, dpsycl (as DeePMD-kit's TensorFlow backend) only from the "
                                    "second hidden layer on where the width stays")
        if fitting_residual(k, n_in, n_out) and not adds_input:
            raise ModelError(f"{at} ({n_in} -> {n_out}) has resnet false: DeePMD-kit adds no input there, dpsycl's "
                             "fitting rule adds it on every hidden layer after the first whose width stays")
        layers.append(layer)
        activations.append(activation)
    at = f"{where} output layer {len(layer_nodes) - 1}"
    output, activation, adds_input = read_layer(layer_nodes[-1], at)
    n_in, n_out = output.matrix.shape
    if n_out != 1:
        raise ModelError(f"{at} has {n_out} outputs; an energy fitting net has 1")
    if canonical_activation(activation) != "linear" or output.idt is not None or adds_input:
        raise ModelError(f"{at} is not a plain linear layer (activation '{activation}', "
                         f"idt {'present' if output.idt is not None else 'absent'}, resnet "
                         f"{str(bool(layer_nodes[-1].get('resnet'))).lower()}); dpsycl's output layer is x·w + b")
    return layers + [output], one_activation(activations, where)
