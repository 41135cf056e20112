"""Hyper-parameters and weights of DeePMD-kit's se_e2_a descriptor (smooth edition, two-body
embedding, full angular information).  The equations are in reference.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...model import ModelError
from ..smooth import SmoothDescriptor


@dataclass(kw_only=True)
class SeE2A(SmoothDescriptor):
    kind: ClassVar[str] = "se_e2_a"
    columns: ClassVar[int] = 4        # s, s·x/r, s·y/r, s·z/r

    axis_neuron: int                  # M<: columns of T kept on the right of D = Tᵀ T[:, :M<]

    @property
    def output_width(self) -> int:
        return self.embedding_width * int(self.axis_neuron)

    def validate(self, ntypes: int) -> None:
        super().validate(ntypes)
        if self.axis_neuron > self.embedding_width:
            raise ModelError("axis_neuron is larger than the embedding width")

    def summary(self) -> str:
        return f"{self.summary_of_embedding()}, axis {self.axis_neuron}"
