"""The fitting stage of an energy model: per-species fitting nets turn descriptors into energies.

    E_i = (𝓕_{type_i}(D_i) + bias_atom_e[type_i]) · out_std[type_i] + out_bias[type_i]

``atomic_energies`` is the NumPy reference (E_i and ∂E_i/∂D_i); ``FittingPack`` is the same
fitting net laid out for the kernels (device_kernels/layers.py: fitting_forward_backward), which
every descriptor's device passes call after forming D_i.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .device_kernels.activations import activation_argument, activation_code
from .model import EnergyFitting
from .networks import fitting_net


def atomic_energies(fitting: EnergyFitting, atype: np.ndarray, D: np.ndarray):
    """E_i (nloc,) and ∂E_i/∂D_i (nloc, width(D))."""
    energy = np.zeros(len(D))
    grad = np.zeros_like(D)
    for t, net in enumerate(fitting.nets):
        rows = np.nonzero(atype == t)[0]
        if len(rows) == 0:
            continue
        y, g = fitting_net(net, fitting.activation, D[rows])
        energy[rows] = (y + fitting.bias_atom_e[t]) * fitting.out_std[t] + fitting.out_bias[t]
        grad[rows] = g * fitting.out_std[t]
    return energy, grad


def pack_layers(nets: list[list], dtype):
    """Flat weight buffer and (net, layer, {matrix, bias, idt}) offsets; idt −1 when absent."""
    chunks, offsets, pos = [], [], 0
    for layers in nets:
        for layer in layers:
            row = []
            for arr in (layer.matrix, layer.bias, layer.idt):
                if arr is None:
                    row.append(-1)
                    continue
                row.append(pos)
                flat = np.asarray(arr, dtype=dtype).ravel()
                chunks.append(flat)
                pos += flat.size
            offsets.append(row)
    return np.concatenate(chunks), np.asarray(offsets, dtype=np.int64).ravel()


class FittingPack(NamedTuple):
    """Kernel arguments of the fitting net (names as in the kernel bodies)."""
    fit_w: Any          # all weights, flat
    fit_off: Any        # offsets of (species, layer, matrix|bias|idt)
    fit_widths: Any     # input width, hidden widths, 1
    n_fit: int          # hidden layers
    act_fit: int        # activation code
    act_fit_arg: float  # its argument (silut's threshold)
    bias_e: Any         # bias_atom_e
    out_std: Any
    out_bias: Any
    fwmax: int          # widest layer

    @classmethod
    def upload(cls, fitting: EnergyFitting, input_width: int, to_device, dtype) -> "FittingPack":
        """The pack on a device; ``to_device(host_array, dtype)`` makes one device array."""
        w, off = pack_layers(fitting.nets, dtype)
        widths = [input_width] + list(fitting.neuron) + [1]
        return cls(to_device(w, dtype), to_device(off, np.int64), to_device(widths, np.int64), len(fitting.neuron),
                   activation_code(fitting.activation), activation_argument(fitting.activation),
                   to_device(fitting.bias_atom_e, dtype),
                   to_device(fitting.out_std, dtype), to_device(fitting.out_bias, dtype), max(widths))
