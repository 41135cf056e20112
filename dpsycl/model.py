"""The portable se_e2_a model: every parameter of a DeePMD-kit frozen graph, framework-free.

A model is a pure description (hyper-parameters + NumPy arrays).  It is produced by
``dpsycl.extract`` (the only TensorFlow user) and saved to / loaded from a versioned HDF5 file
whose schema is documented in ``docs/model-format.md``.

Atomic energy of atom i with species t (DeePMD-kit v2/v3 energy model):

    E_i = (F_t(D_i) + bias_atom_e[t]) * out_std[t] + out_bias[t]

with F_t the fitting net of species t and D_i the se_e2_a descriptor.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

SCHEMA_VERSION = 1
FORMAT_NAME = "dpsycl-model"
SUPPORTED_DESCRIPTORS = ("se_e2_a",)
ACTIVATIONS = ("tanh", "gelu", "gelu_tf", "relu", "relu6", "softplus", "sigmoid", "linear", "none")


class ModelError(ValueError):
    """A model file or graph that dpsycl cannot use; the message says why in one line."""


@dataclass
class Layer:
    """One dense layer y = act(x W + b), optionally a resnet step scaled by ``idt``."""

    matrix: np.ndarray
    bias: np.ndarray
    idt: np.ndarray | None = None


@dataclass
class Model:
    """Hyper-parameters and weights of a DeePMD-kit se_e2_a energy model."""

    type_map: list[str]
    rcut: float
    rcut_smth: float
    sel: list[int]
    neuron: list[int]                 # embedding-net widths
    axis_neuron: int
    type_one_side: bool
    resnet_dt: bool                   # embedding net
    activation: str                   # embedding net
    fitting_neuron: list[int]
    fitting_resnet_dt: bool
    fitting_activation: str
    precision: str                    # "float64" or "float32"
    t_avg: np.ndarray                 # (ntypes, nnei*4)
    t_std: np.ndarray                 # (ntypes, nnei*4)
    # key (centre_type, neighbour_type); centre_type == -1 when type_one_side is true
    embedding_nets: dict[tuple[int, int], list[Layer]]
    fitting_nets: list[list[Layer]]   # per species; the last layer is the linear output layer
    bias_atom_e: np.ndarray           # (ntypes,)
    out_bias: np.ndarray              # (ntypes,)
    out_std: np.ndarray               # (ntypes,)
    exclude_types: list[tuple[int, int]] = field(default_factory=list)
    set_davg_zero: bool = False
    numb_fparam: int = 0
    numb_aparam: int = 0
    fparam_stats: dict[str, np.ndarray] = field(default_factory=dict)
    aparam_stats: dict[str, np.ndarray] = field(default_factory=dict)
    descriptor_type: str = "se_e2_a"
    deepmd_version: str = "unknown"
    model_version: str = "unknown"
    source: str = ""

    # -- derived sizes -----------------------------------------------------------------
    @property
    def ntypes(self) -> int:
        return len(self.type_map)

    @property
    def nnei(self) -> int:
        return int(sum(self.sel))

    @property
    def sel_offsets(self) -> np.ndarray:
        """Start of each neighbour-species block in a neighbour list row."""
        return np.concatenate([[0], np.cumsum(self.sel)]).astype(np.int64)

    @property
    def embedding_width(self) -> int:
        return int(self.neuron[-1])

    @property
    def dtype(self):
        return np.dtype(self.precision)

    def embedding_net(self, centre_type: int, neighbour_type: int) -> list[Layer]:
        key = (-1 if self.type_one_side else centre_type, neighbour_type)
        return self.embedding_nets[key]

    def is_excluded(self, centre_type: int, neighbour_type: int) -> bool:
        return (centre_type, neighbour_type) in self.exclude_types or (
            neighbour_type, centre_type) in self.exclude_types

    def validate(self) -> None:
        """Check internal consistency; raise ModelError naming the first problem."""
        if self.descriptor_type not in SUPPORTED_DESCRIPTORS:
            raise ModelError(
                f"descriptor '{self.descriptor_type}' is not supported yet; supported: "
                f"{', '.join(SUPPORTED_DESCRIPTORS)}")
        for act in (self.activation, self.fitting_activation):
            if act not in ACTIVATIONS:
                raise ModelError(f"activation '{act}' is not supported; supported: {', '.join(ACTIVATIONS)}")
        if self.numb_fparam or self.numb_aparam:
            raise ModelError("models with frame or atomic parameters (fparam/aparam) are not supported yet")
        nt = self.ntypes
        if len(self.sel) != nt:
            raise ModelError(f"sel has {len(self.sel)} entries for {nt} species")
        if self.t_avg.shape != (nt, 4 * self.nnei) or self.t_std.shape != self.t_avg.shape:
            raise ModelError(f"t_avg/t_std have shape {self.t_avg.shape}, expected {(nt, 4 * self.nnei)}")
        if self.axis_neuron > self.embedding_width:
            raise ModelError("axis_neuron is larger than the embedding width")
        if len(self.fitting_nets) != nt:
            raise ModelError(f"{len(self.fitting_nets)} fitting nets for {nt} species")


def activation_name(name: str | None) -> str:
    name = (name or "tanh").lower()
    return "linear" if name == "none" else name


def file_head(path: str) -> bytes:
    """The first 8 bytes of a model file (its format's magic), or ModelError if there is no file."""
    if not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ModelError(f"model path is a directory, not a file: {path}")
    with open(path, "rb") as fh:
        return fh.read(8)


def load_model(path: str | os.PathLike) -> Model:
    """Load a model from a dpsycl ``.h5`` file or (extracting in memory) a DeePMD-kit ``.pb``."""
    path = os.fspath(path)
    head = file_head(path)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        from .model_io import read_model
        return read_model(path)
    from .extract import extract_model
    return extract_model(path)
