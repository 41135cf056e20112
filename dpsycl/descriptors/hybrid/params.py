"""Hyper-parameters of DeePMD-kit's ``hybrid`` descriptor: a list of member descriptors, each with
its own cutoff, sel and neighbour list, whose descriptors are concatenated in list order,

    D_i = D_i^(0) ⊕ D_i^(1) ⊕ …        (width Σ_k width(D^(k))),

and one fitting net reads the concatenation.  A member is the parameters object of any registered
unit (dpsycl.descriptors.UNITS).  The equations are in reference.py.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ...model import ModelError
from ..base import NeighborSpec


@dataclass(kw_only=True)
class Hybrid:
    kind: ClassVar[str] = "hybrid"

    members: list                    # parameters objects of the member descriptors, in DeePMD-kit's order

    @property
    def rcut(self) -> float:
        """The largest member cutoff: the reach of the model (ghost atoms, DeePMD-kit's get_rcut)."""
        return float(max(m.rcut for m in self.members))

    @property
    def sel(self) -> list[int]:
        """Per species, the most slots any member has (DeePMD-kit's get_sel of a hybrid)."""
        return [int(s) for s in np.max([list(m.sel) for m in self.members], axis=0)]

    @property
    def output_width(self) -> int:
        return int(sum(m.output_width for m in self.members))

    @property
    def widths(self) -> list[int]:
        return [int(m.output_width) for m in self.members]

    @property
    def offsets(self) -> list[int]:
        """Start of each member's columns in D_i."""
        return [int(x) for x in np.concatenate([[0], np.cumsum(self.widths)])[:-1]]

    def member_lists(self) -> list[slice]:
        """Which of neighbor_specs() (and of the lists and pair gradients built from them) each member reads."""
        counts = [len(m.neighbor_specs()) for m in self.members]
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]

    def neighbor_specs(self) -> list[NeighborSpec]:
        return [spec for m in self.members for spec in m.neighbor_specs()]

    def validate(self, ntypes: int) -> None:
        if not self.members:
            raise ModelError("hybrid descriptor without members")
        for k, m in enumerate(self.members):
            try:
                m.validate(ntypes)
            except ModelError as exc:
                raise ModelError(f"hybrid member {k} ({m.kind}): {exc}") from None

    def astype(self, dtype) -> "Hybrid":
        return replace(self, members=[m.astype(dtype) for m in self.members])

    def summary(self) -> str:
        return "hybrid of " + " + ".join(f"[{m.summary()}]" for m in self.members)
