"""Dense networks of DeePMD-kit in NumPy: activations, the embedding net and the fitting net.

Layer l maps x → h = φ(x W + b).  Which layers scale by ``idt`` and add a skip connection is the
rule of device_kernels/layers.py (``embedding_skip``, ``fitting_residual``), called here too; the
activation names and their meaning are the table of device_kernels/activations.py.

φ and φ' are ``activate``; φ'' (``activate_twice``), which only model compression needs (the
quintic tables match the net's curvature), is known for the activations DeePMD-kit tabulates:

    tanh      φ'' = −2 φ φ'
    gelu      φ'' = (1 − t²) u' (1 − z t u') + 3 a c z² (1 − t²),   t = tanh u, u = c (z + a z³), u' = c (1 + 3 a z²)
              (gelu_tf: φ with TensorFlow's float32-rounded a, φ' and φ'' with a, as dp compress tabulates it)
    relu      φ'' = 0           relu6  φ'' = 0
    softplus  φ'' = σ(z)(1 − σ(z))
    sigmoid   φ'' = φ' (1 − 2 φ)
"""
from __future__ import annotations

import numpy as np

from .device_kernels.activations import GELU_A, GELU_A_TF, GELU_C, activation_argument, canonical_activation
from .device_kernels.layers import embedding_skip, fitting_residual
from .model import Layer


def logistic(z):
    """1 / (1 + e^(-z)); for z below ≈ −709 e^(-z) overflows to inf and the value is the correct 0, so
    NumPy's overflow warning is silenced here (hostile inputs reach it: tests/test_fuzz.py)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def activate(name: str, z: np.ndarray):
    """φ(z) and φ'(z) for an activation of the table (any of its DeePMD-kit spellings)."""
    full_name, name = name, canonical_activation(name)
    if name == "tanh":
        y = np.tanh(z)
        return y, 1.0 - y * y
    if name == "gelu":  # DeePMD-kit's gelu is the tanh approximation
        t = np.tanh(GELU_C * (z + GELU_A * z ** 3))
        y = 0.5 * z * (1.0 + t)
        dy = 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * z * z)
        return y, dy
    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(z.dtype)
    if name == "relu6":
        return np.clip(z, 0.0, 6.0), ((z > 0) & (z < 6)).astype(z.dtype)
    if name == "softplus":
        return np.logaddexp(0.0, z), logistic(z)
    if name == "sigmoid":
        y = logistic(z)
        return y, y * (1.0 - y)
    if name in ("silu", "silut"):
        sg = logistic(z)
        y, dy = z * sg, sg + z * sg * (1.0 - sg)
        if name == "silut":
            threshold = activation_argument(full_name)
            s_t = 1.0 / (1.0 + np.exp(-threshold))
            slope = s_t + threshold * s_t * (1.0 - s_t)
            t = np.tanh(slope * (z - threshold))
            above = z >= threshold
            y, dy = np.where(above, t + threshold * s_t, y), np.where(above, slope * (1.0 - t * t), dy)
        return y, dy
    if name == "linear":
        return z, np.ones_like(z)
    raise ValueError(f"unknown activation {name}")


#: the activations whose second derivative ``activate_twice`` knows: those DeePMD-kit's `dp compress`
#: tabulates (its functypes 1-6; gelu_tf is gelu)
TABULATED_ACTIVATIONS = ("tanh", "gelu", "relu", "relu6", "softplus", "sigmoid")


def activate_twice(name: str, z: np.ndarray):
    """φ(z), φ'(z) and φ''(z) for an activation DeePMD-kit tabulates; ValueError for another."""
    canonical = canonical_activation(name)
    if canonical not in TABULATED_ACTIVATIONS:
        raise ValueError(f"the second derivative of activation '{name}' is not known here "
                         f"(known: {', '.join(TABULATED_ACTIVATIONS)}, as DeePMD-kit tabulates)")
    y, dy = activate(name, z)
    if (name or "").lower() == "gelu_tf":
        # dp compress takes gelu_tf's values from TensorFlow (GELU_A_TF) and its derivatives from
        # the gelu formula (its functype 2): the same mixture, so that the tables are its tables
        y = 0.5 * z * (1.0 + np.tanh(GELU_C * (z + GELU_A_TF * z ** 3)))
    if canonical == "tanh":
        d2y = -2.0 * y * dy
    elif canonical == "gelu":
        t = np.tanh(GELU_C * (z + GELU_A * z ** 3))
        du = GELU_C * (1.0 + 3.0 * GELU_A * z * z)
        d2y = (1.0 - t * t) * du * (1.0 - z * t * du) + 3.0 * GELU_A * GELU_C * z * z * (1.0 - t * t)
    elif canonical in ("relu", "relu6"):
        d2y = np.zeros_like(z)
    elif canonical == "softplus":
        d2y = dy * (1.0 - dy)       # φ' = σ
    else:                           # sigmoid
        d2y = dy * (1.0 - 2.0 * y)
    return y, dy, d2y


def embedding_net(layers: list[Layer], activation: str, s: np.ndarray):
    """G(s) for inputs s (n,) → (n, M), and the tangent dG/ds (n, M) by forward-mode differentiation."""
    x = s[:, None]
    dx = np.ones_like(x)
    for layer in layers:
        z = x @ layer.matrix + layer.bias
        h, dh = activate(activation, z)
        dh = dh * (dx @ layer.matrix)
        skip = embedding_skip(x.shape[1], h.shape[1])
        if skip and layer.idt is not None:
            h, dh = h * layer.idt, dh * layer.idt
        if skip == 1:
            h, dh = x + h, dx + dh
        elif skip == 2:
            h, dh = np.concatenate([x, x], axis=1) + h, np.concatenate([dx, dx], axis=1) + dh
        x, dx = h, dh
    return x, dx


def fitting_net(layers: list[Layer], activation: str, d: np.ndarray):
    """Atomic outputs y (n,) of a fitting net and dy/dd (n, width(d)) by reverse-mode differentiation."""
    x = d
    tape = []
    for k, layer in enumerate(layers[:-1]):
        z = x @ layer.matrix + layer.bias
        h, dh = activate(activation, z)
        scale = layer.idt if layer.idt is not None else 1.0
        residual = fitting_residual(k, x.shape[1], h.shape[1])
        tape.append((layer, dh * scale, residual))
        x = x + h * scale if residual else h * scale
    last = layers[-1]
    y = (x @ last.matrix + last.bias)[:, 0]
    grad = np.broadcast_to(last.matrix[:, 0], x.shape).copy()
    for layer, dact, residual in reversed(tape):
        g_in = (grad * dact) @ layer.matrix.T
        grad = grad + g_in if residual else g_in
    return y, grad
