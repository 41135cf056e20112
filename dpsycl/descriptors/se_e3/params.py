"""Hyper-parameters and weights of DeePMD-kit's se_e3 descriptor (se_t / se_at: smooth edition,
three-body embedding of the angles between two neighbours).  The equations are in reference.py.

The shared smooth-edition fields keep their meaning (rcut, rcut_smth, sel, neuron, resnet_dt,
activation, t_avg/t_std with 4 columns per slot), except the embedding nets: se_e3 has one net per
unordered pair of *neighbour* species (a, b), a ≤ b, stored under the key (a, b).  DeePMD-kit
has no type_one_side for se_e3 (always false here) and its TensorFlow backend refuses exclude_types,
so dpsycl reads models without exclusions only.

A compressed se_e3 (`dp compress`: DeePMD-kit's ``TabulateFusionSeT``) holds one table per pair
(a, b) instead of the net, over the signed input e = q_j·q_k (dpsycl/descriptors/tables.py, tables
with a low tail).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...model import ModelError, check_activation
from ...networks import embedding_net
from ..smooth import SmoothDescriptor
from ..tables import tabulate_three_body


@dataclass(kw_only=True)
class SeE3(SmoothDescriptor):
    kind: ClassVar[str] = "se_e3"
    columns: ClassVar[int] = 4        # s(r)(1, x/r, y/r, z/r); only the last three enter the angles
    type_one_side: bool = False       # se_e3 has no such option: its nets are per neighbour-species pair
    reads_exclusions: ClassVar[bool] = False    # exclude_types refused (DeePMD-kit's TensorFlow se_t refuses it)

    @property
    def output_width(self) -> int:
        return self.embedding_width

    @staticmethod
    def serialised_nets_used(ntypes: int) -> set[tuple[int, int]]:
        """The nets of a DeePMD-kit 3 ``.dp`` collection that se_e3 runs (it writes zeros for b < a)."""
        return {(a, b) for a in range(ntypes) for b in range(a, ntypes)}

    def pair_net(self, a: int, b: int):
        """The embedding net of neighbour species a and b (either order)."""
        return self.embedding_nets[(min(a, b), max(a, b))]

    def pair_embedding(self, a: int, b: int, e: np.ndarray):
        """𝒩_ab(e) and d𝒩_ab/de (len(e), M): the net's, or its table's in a compressed model."""
        if self.compressed:
            return self.tables[(min(a, b), max(a, b))].evaluate(e)
        return embedding_net(self.pair_net(a, b), self.activation, e)

    def tabulate(self, min_nbor_dist: float, step: float, extrapolate: float, frequency: int) -> dict:
        """The tables `dp compress` makes of its nets (dpsycl/descriptors/tables.py)."""
        return tabulate_three_body(self, min_nbor_dist, step, extrapolate, frequency)

    def validate(self, ntypes: int) -> None:
        check_activation(self.activation, "embedding-net")
        if self.type_one_side:
            raise ModelError("se_e3 has one embedding net per pair of neighbour species (type_one_side false)")
        if self.exclude_types:
            raise ModelError(f"se_e3 with exclude_types {[list(p) for p in self.exclude_types]} is not supported "
                             "(DeePMD-kit's TensorFlow backend refuses it too)")
        if len(self.sel) != ntypes:
            raise ModelError(f"sel has {len(self.sel)} entries for {ntypes} species")
        if any(s <= 0 for s in self.sel):
            raise ModelError(f"se_e3 needs sel > 0 for every species (it divides by sel), got {list(self.sel)}")
        shape = (ntypes, self.columns * self.nnei)
        if self.t_avg.shape != shape or self.t_std.shape != shape:
            raise ModelError(f"t_avg/t_std have shape {self.t_avg.shape}, expected {shape}")
        if not 0 <= self.rcut_smth < self.rcut:
            raise ModelError(f"rcut_smth {self.rcut_smth} must lie in [0, rcut = {self.rcut})")
        wanted = self.serialised_nets_used(ntypes)
        what, nets = ("table", self.tables) if self.compressed else ("net", self.embedding_nets)
        if set(nets) != wanted:
            raise ModelError(f"se_e3 needs one embedding {what} per neighbour-species pair a <= b {sorted(wanted)}, "
                             f"found {sorted(nets)}")
        for key, table in self.tables.items():
            if table.width != self.embedding_width or not table.low_tail:
                raise ModelError(f"se_e3 table {key}: {table.width} outputs for embedding width {self.embedding_width}"
                                 f"{'' if table.low_tail else ', and no low tail (its input q_j·q_k is signed)'}")

    def summary(self) -> str:
        resnet = ", resnet_dt" if self.resnet_dt else ""
        if self.compressed:
            t = max(self.tables.values(), key=lambda table: table.upper)
            resnet += (f", compressed: tables [{t.lower:g}, {t.upper:g}) step {t.stride1:g}, "
                       f"from {t.bottom:g} to {t.upper_extrapolate:g} step {t.stride2:g}")
        return (f"{self.kind} rcut {self.rcut} (smooth from {self.rcut_smth}); sel {list(self.sel)}; "
                f"three-body embedding {'-'.join(str(n) for n in self.neuron)} (per neighbour-species pair, "
                f"{self.activation}{resnet})")
