"""Hyper-parameters and weights of DeePMD-kit's se_e2_a descriptor (smooth edition, two-body
embedding, full angular information).  The equations are in reference.py."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from ...model import Layer, ModelError, check_activation
from ..base import NeighborSpec


@dataclass
class SeE2A:
    kind: ClassVar[str] = "se_e2_a"

    rcut: float
    rcut_smth: float
    sel: list[int]                    # neighbour slots per species
    neuron: list[int]                 # embedding-net widths
    axis_neuron: int                  # M<: columns of T kept on the right of D = Tᵀ T[:, :M<]
    type_one_side: bool               # one embedding net per neighbour species (else per pair)
    resnet_dt: bool
    activation: str
    t_avg: np.ndarray                 # (ntypes, nnei·4) statistics of the environment rows
    t_std: np.ndarray                 # (ntypes, nnei·4)
    # key (centre_type, neighbour_type); centre_type == −1 when type_one_side is true
    embedding_nets: dict[tuple[int, int], list[Layer]]
    exclude_types: list[tuple[int, int]] = field(default_factory=list)
    set_davg_zero: bool = False

    @property
    def nnei(self) -> int:
        return int(sum(self.sel))

    @property
    def sel_offsets(self) -> np.ndarray:
        """Start of each neighbour-species block in a neighbour-list row."""
        return np.concatenate([[0], np.cumsum(self.sel)]).astype(np.int64)

    @property
    def embedding_width(self) -> int:
        return int(self.neuron[-1])

    @property
    def output_width(self) -> int:
        return self.embedding_width * int(self.axis_neuron)

    def neighbor_specs(self) -> list[NeighborSpec]:
        return [NeighborSpec(float(self.rcut), tuple(int(s) for s in self.sel))]

    def embedding_net(self, centre_type: int, neighbour_type: int) -> list[Layer]:
        key = (-1 if self.type_one_side else centre_type, neighbour_type)
        return self.embedding_nets[key]

    def is_excluded(self, centre_type: int, neighbour_type: int) -> bool:
        return (centre_type, neighbour_type) in self.exclude_types or (
            neighbour_type, centre_type) in self.exclude_types

    def validate(self, ntypes: int) -> None:
        check_activation(self.activation, "embedding-net")
        if len(self.sel) != ntypes:
            raise ModelError(f"sel has {len(self.sel)} entries for {ntypes} species")
        if self.t_avg.shape != (ntypes, 4 * self.nnei) or self.t_std.shape != self.t_avg.shape:
            raise ModelError(f"t_avg/t_std have shape {self.t_avg.shape}, expected {(ntypes, 4 * self.nnei)}")
        if self.axis_neuron > self.embedding_width:
            raise ModelError("axis_neuron is larger than the embedding width")
        if not 0 < self.rcut_smth <= self.rcut:
            raise ModelError(f"rcut_smth {self.rcut_smth} must lie in (0, rcut = {self.rcut}]")
        for a, b in self.exclude_types:
            if not (0 <= a < ntypes and 0 <= b < ntypes):
                raise ModelError(f"exclude_types pair ({a}, {b}) names a species outside 0..{ntypes - 1}")
        centres = [-1] if self.type_one_side else range(ntypes)
        for ti in centres:
            for tj in range(ntypes):
                if (ti, tj) not in self.embedding_nets and (ti < 0 or not self.is_excluded(ti, tj)):
                    raise ModelError(f"no embedding net for species pair ({ti}, {tj})")

    def astype(self, dtype) -> "SeE2A":
        return replace(self, t_avg=self.t_avg.astype(dtype), t_std=self.t_std.astype(dtype),
                       embedding_nets={k: [layer.astype(dtype) for layer in v] for k, v in self.embedding_nets.items()})

    def summary(self) -> str:
        side = "one-side" if self.type_one_side else "per-pair"
        excl = f", exclude {[list(p) for p in self.exclude_types]}" if self.exclude_types else ""
        resnet = ", resnet_dt" if self.resnet_dt else ""
        return (f"se_e2_a rcut {self.rcut} (smooth from {self.rcut_smth}); sel {list(self.sel)}; "
                f"embedding {'-'.join(str(n) for n in self.neuron)} ({side}, {self.activation}{resnet}), "
                f"axis {self.axis_neuron}{excl}")
