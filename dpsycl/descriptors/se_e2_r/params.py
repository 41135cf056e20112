"""Hyper-parameters and weights of DeePMD-kit's se_e2_r descriptor (smooth edition, two-body
embedding, radial information only).  The equations are in reference.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..smooth import SmoothDescriptor


@dataclass(kw_only=True)
class SeE2R(SmoothDescriptor):
    kind: ClassVar[str] = "se_e2_r"
    columns: ClassVar[int] = 1        # s(r) only

    @property
    def output_width(self) -> int:
        return self.embedding_width

    def summary(self) -> str:
        return self.summary_of_embedding()
