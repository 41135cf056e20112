"""The portable DeePMD-kit energy model: a descriptor's parameters, the fitting nets, the species.

A model is a pure description (hyper-parameters + NumPy arrays), framework-free.  It is produced
by ``dpsycl.extract`` (the only TensorFlow user) and saved to / loaded from a versioned HDF5 file
(dpsycl/model_io.py, documented in docs/model-format.md).  The descriptor part is one of the
units registered in ``dpsycl.descriptors``; everything else here is shared by all of them.

Atomic energy of atom i with species t (DeePMD-kit v2/v3 energy model):

    E_i = (F_t(D_i) + bias_atom_e[t]) · out_std[t] + out_bias[t]

with F_t the fitting net of species t and D_i the descriptor of atom i.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

import numpy as np

from .device_kernels.activations import activation_code


class ModelError(ValueError):
    """A model file or graph that dpsycl cannot use; the message says why in one line."""


@dataclass
class Layer:
    """One dense layer y = φ(x W + b), optionally scaled by ``idt`` (resnet_dt)."""

    matrix: np.ndarray
    bias: np.ndarray
    idt: np.ndarray | None = None

    def astype(self, dtype) -> "Layer":
        return Layer(self.matrix.astype(dtype), self.bias.astype(dtype),
                     None if self.idt is None else self.idt.astype(dtype))


def named_arrays(obj, prefix: str = ""):
    """Every NumPy array reachable from a model part, with a path naming it (``fitting.nets[0][2].matrix``)."""
    if isinstance(obj, np.ndarray):
        yield prefix, obj
    elif is_dataclass(obj):
        for f in fields(obj):
            yield from named_arrays(getattr(obj, f.name), f"{prefix}.{f.name}" if prefix else f.name)
    elif isinstance(obj, (list, tuple)):
        for k, item in enumerate(obj):
            yield from named_arrays(item, f"{prefix}[{k}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from named_arrays(item, f"{prefix}[{key!r}]")


def check_finite(name: str, array: np.ndarray, where: str = "") -> None:
    """ModelError naming the array unless every value of a floating-point parameter is finite: one NaN
    weight (a damaged file) would otherwise turn every energy into NaN without a word."""
    if array.dtype.kind in "fc":
        bad = np.size(array) - int(np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ModelError(f"{where}parameter {name} holds {bad} non-finite value{'s' * (bad > 1)} (NaN or inf) "
                             f"of {np.size(array)}: the model is damaged; extract it again from the frozen graph")


def check_activation(name: str, where: str) -> None:
    """ModelError naming ``where`` unless ``name`` is an activation of the table (argument included)."""
    try:
        activation_code(name)
    except ValueError as exc:
        raise ModelError(f"{where} {exc}") from None


@dataclass
class EnergyFitting:
    """Per-species fitting nets and the energy statistics of a DeePMD-kit energy model."""

    neuron: list[int]                 # hidden widths
    resnet_dt: bool
    activation: str
    nets: list[list[Layer]]           # per species; the last layer is the linear output layer
    bias_atom_e: np.ndarray           # (ntypes,)
    out_bias: np.ndarray              # (ntypes,)
    out_std: np.ndarray               # (ntypes,)
    numb_fparam: int = 0
    numb_aparam: int = 0
    fparam_stats: dict[str, np.ndarray] = field(default_factory=dict)
    aparam_stats: dict[str, np.ndarray] = field(default_factory=dict)

    def validate(self, ntypes: int, descriptor_width: int) -> None:
        check_activation(self.activation, "fitting-net")
        if len(self.nets) != ntypes:
            raise ModelError(f"{len(self.nets)} fitting nets for {ntypes} species")
        width = descriptor_width + self.numb_fparam + self.numb_aparam
        for t, net in enumerate(self.nets):
            if net[0].matrix.shape[0] != width:
                raise ModelError(f"fitting net of species {t} takes {net[0].matrix.shape[0]} inputs; the descriptor "
                                 f"gives {descriptor_width}, with {self.numb_fparam} frame and {self.numb_aparam} "
                                 "atomic parameters")
        for kind, count in (("fparam", self.numb_fparam), ("aparam", self.numb_aparam)):
            for stat, array in self.parameter_stats(kind).items():
                if np.shape(array) != (count,) or not np.all(np.isfinite(array)):
                    raise ModelError(f"{kind} statistics '{stat}' have shape {np.shape(array)} or non-finite values; "
                                     f"expected {count} finite numbers")
        for name in ("bias_atom_e", "out_bias", "out_std"):
            if np.shape(getattr(self, name)) != (ntypes,):
                raise ModelError(f"{name} has shape {np.shape(getattr(self, name))}, expected ({ntypes},)")

    @property
    def input_width(self) -> int:
        return int(self.nets[0][0].matrix.shape[0])

    def parameter_stats(self, kind: str) -> dict[str, np.ndarray]:
        """avg and istd of the frame ("fparam") or atomic ("aparam") parameters, flattened, with
        DeePMD-kit's defaults (0 and 1) where the model stores none."""
        count = self.numb_fparam if kind == "fparam" else self.numb_aparam
        stats = self.fparam_stats if kind == "fparam" else self.aparam_stats
        return {"avg": np.ravel(stats.get("avg", np.zeros(count))).astype(np.float64),
                "istd": np.ravel(stats.get("istd", np.ones(count))).astype(np.float64)}

    def normalised_parameters(self, kind: str, values) -> np.ndarray:
        """(value − avg) · istd: what the fitting net reads after the descriptor."""
        stats = self.parameter_stats(kind)
        return (np.asarray(values, dtype=np.float64) - stats["avg"]) * stats["istd"]

    def astype(self, dtype) -> "EnergyFitting":
        return replace(self, nets=[[layer.astype(dtype) for layer in net] for net in self.nets],
                       bias_atom_e=np.asarray(self.bias_atom_e, dtype), out_bias=np.asarray(self.out_bias, dtype),
                       out_std=np.asarray(self.out_std, dtype))


@dataclass
class Model:
    """A DeePMD-kit energy model: species, descriptor parameters (a registered unit), fitting."""

    type_map: list[str]
    descriptor: Any                   # the parameters of a unit of dpsycl.descriptors
    fitting: EnergyFitting
    precision: str                    # "float64" or "float32"
    deepmd_version: str = "unknown"
    model_version: str = "unknown"
    source: str = ""
    # how a model-level type embedding was folded into the per-species nets ("": none)
    type_embedding: str = ""

    @property
    def ntypes(self) -> int:
        return len(self.type_map)

    @property
    def descriptor_type(self) -> str:
        return self.descriptor.kind

    @property
    def rcut(self) -> float:
        return float(self.descriptor.rcut)

    @property
    def sel(self) -> list[int]:
        return list(self.descriptor.sel)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.precision)

    def validate(self) -> None:
        """Check internal consistency; raise ModelError naming the first problem."""
        if self.precision not in ("float64", "float32"):
            raise ModelError(f"precision '{self.precision}' is not supported; float64 or float32")
        for name, array in named_arrays(self):
            check_finite(name, array)
        self.descriptor.validate(self.ntypes)
        self.fitting.validate(self.ntypes, self.descriptor.output_width)

    def astype(self, dtype) -> "Model":
        """The same model with every array in ``dtype`` (the reference computes in float64)."""
        return replace(self, descriptor=self.descriptor.astype(dtype), fitting=self.fitting.astype(dtype))
