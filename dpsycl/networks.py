"""Dense networks of DeePMD-kit: activations, the embedding net and the fitting net.

Layer l maps x → h = φ(x W + b).  Embedding nets (input width 1) add a skip when the width stays
(x + h·idt) or doubles ((x, x) + h·idt), otherwise x → h; fitting nets add x + h·idt when the width stays; the final
fitting layer is linear.  ``idt`` is 1 for models trained without resnet_dt.
"""
from __future__ import annotations

import numpy as np

from .model import Layer

_C = np.sqrt(2.0 / np.pi)


def activate(name: str, z: np.ndarray):
    """φ(z) and φ'(z)."""
    if name == "tanh":
        y = np.tanh(z)
        return y, 1.0 - y * y
    if name in ("gelu", "gelu_tf"):  # DeePMD-kit's gelu is the tanh approximation
        t = np.tanh(_C * (z + 0.044715 * z ** 3))
        y = 0.5 * z * (1.0 + t)
        dy = 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _C * (1.0 + 3.0 * 0.044715 * z * z)
        return y, dy
    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(z.dtype)
    if name == "relu6":
        return np.clip(z, 0.0, 6.0), ((z > 0) & (z < 6)).astype(z.dtype)
    if name == "softplus":
        return np.logaddexp(0.0, z), 1.0 / (1.0 + np.exp(-z))
    if name == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-z))
        return y, y * (1.0 - y)
    if name in ("linear", "none"):
        return z, np.ones_like(z)
    raise ValueError(f"unknown activation {name}")


def skip_kind(n_in: int, n_out: int) -> int:
    """0: no skip, 1: identity skip, 2: duplicated-input skip (embedding nets only)."""
    return 1 if n_out == n_in else 2 if n_out == 2 * n_in else 0


def embedding_net(layers: list[Layer], activation: str, s: np.ndarray):
    """G(s) for inputs s (n,) → (n, M), and the tangent dG/ds (n, M) by forward-mode differentiation."""
    x = s[:, None]
    dx = np.ones_like(x)
    for layer in layers:
        z = x @ layer.matrix + layer.bias
        h, dh = activate(activation, z)
        dh = dh * (dx @ layer.matrix)
        kind = skip_kind(x.shape[1], h.shape[1])
        if kind and layer.idt is not None:  # DeePMD-kit scales by idt only on skip layers
            h, dh = h * layer.idt, dh * layer.idt
        if kind == 1:
            h, dh = x + h, dx + dh
        elif kind == 2:
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
        residual = k >= 1 and h.shape[1] == x.shape[1]
        tape.append((layer, dh * scale, residual))
        x = x + h * scale if residual else h * scale
    last = layers[-1]
    y = (x @ last.matrix + last.bias)[:, 0]
    grad = np.broadcast_to(last.matrix[:, 0], x.shape).copy()
    for layer, dact, residual in reversed(tape):
        g_in = (grad * dact) @ layer.matrix.T
        grad = grad + g_in if residual else g_in
    return y, grad
