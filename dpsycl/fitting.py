"""The fitting stage of an energy model: per-species fitting nets turn descriptors into energies.

    E_i = (𝓕_{type_i}(D_i ⊕ f̂ ⊕ â_i) + bias_atom_e[type_i]) · out_std[type_i] + out_bias[type_i]

with f̂ = (fparam − avg) · istd the frame's parameters and â_i = (aparam_i − avg) · istd the
atom's (models with numb_fparam / numb_aparam; ⊕ appends).  ``atomic_energies`` is the NumPy
reference (E_i and ∂E_i/∂D_i); ``FittingPack`` is the same fitting net laid out for the kernels
(device_kernels/layers.py: fitting_forward_backward), which every descriptor's device passes call
after forming D_i, and ``ParameterPack`` the frame's and atoms' parameters on the device.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .device_kernels.activations import activation_argument, activation_code
from .model import EnergyFitting
from .networks import fitting_net


def atomic_energies(fitting: EnergyFitting, atype: np.ndarray, D: np.ndarray, fparam=None, aparam=None):
    """E_i (nloc,) and ∂E_i/∂D_i (nloc, width(D)).  ``fparam`` (numb_fparam,) and ``aparam``
    (nloc, numb_aparam) are the frame's and the atoms' parameters, appended to D_i normalised."""
    nloc = len(D)
    inputs = [D]
    if fitting.numb_fparam:
        inputs.append(np.broadcast_to(fitting.normalised_parameters("fparam", fparam), (nloc, fitting.numb_fparam)))
    if fitting.numb_aparam:
        inputs.append(fitting.normalised_parameters("aparam", np.reshape(aparam, (nloc, fitting.numb_aparam))))
    x = np.concatenate(inputs, axis=1) if len(inputs) > 1 else D
    energy = np.zeros(nloc)
    grad = np.zeros_like(D)
    for t, net in enumerate(fitting.nets):
        rows = np.nonzero(atype == t)[0]
        if len(rows) == 0:
            continue
        y, g = fitting_net(net, fitting.activation, x[rows])
        energy[rows] = (y + fitting.bias_atom_e[t]) * fitting.out_std[t] + fitting.out_bias[t]
        grad[rows] = g[:, :D.shape[1]] * fitting.out_std[t]
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
    def upload(cls, fitting: EnergyFitting, to_device, dtype) -> "FittingPack":
        """The pack on a device; ``to_device(host_array, dtype)`` makes one device array."""
        w, off = pack_layers(fitting.nets, dtype)
        widths = [fitting.input_width] + list(fitting.neuron) + [1]
        return cls(to_device(w, dtype), to_device(off, np.int64), to_device(widths, np.int64), len(fitting.neuron),
                   activation_code(fitting.activation), activation_argument(fitting.activation),
                   to_device(fitting.bias_atom_e, dtype),
                   to_device(fitting.out_std, dtype), to_device(fitting.out_bias, dtype), max(widths))


class ParameterPack(NamedTuple):
    """Kernel arguments of the frame's and the atoms' parameters, normalised (one unused element
    each when the model takes none)."""
    fparam: Any         # (numb_fparam,)
    nfp: int
    aparam: Any         # (natoms · numb_aparam,)
    nap: int

    @classmethod
    def upload(cls, fitting: EnergyFitting, fparam, aparam, natoms: int, to_device, dtype) -> "ParameterPack":
        """``fparam`` (numb_fparam,), ``aparam`` (natoms, numb_aparam) host values (None where the
        model takes none); ``to_device(name, host_array, dtype)`` makes or fills a device array."""
        nfp, nap = fitting.numb_fparam, fitting.numb_aparam
        if (nfp and fparam is None) or (nap and aparam is None):
            raise ValueError(f"this model takes {nfp} frame and {nap} atomic parameter(s) per evaluation")
        f = fitting.normalised_parameters("fparam", fparam) if nfp else np.zeros(1)
        a = fitting.normalised_parameters("aparam", np.reshape(aparam, (natoms, nap))) if nap else np.zeros(1)
        return cls(to_device("fparam", f, dtype), nfp, to_device("aparam", a, dtype), nap)
