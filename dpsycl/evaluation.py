"""What evaluates a model on one frame, and what it returns.

Two implementations of :class:`Evaluator`: ``reference.ReferenceEvaluator`` (float64 NumPy, the
specification) and ``evaluator.DeviceEvaluator`` (the kernels on a device backend).  ``DeepPot``
holds one, chosen by ``deep_pot.make_evaluator`` from the device string.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np


class FrameResult(NamedTuple):
    """One frame's results on the host, float64."""
    energy: float
    force: np.ndarray          # (N, 3) eV/Å
    virial: np.ndarray         # (9,) eV
    atom_energy: np.ndarray | None    # (N,) eV; None where the caller asked for no atomic values
    atom_virial: np.ndarray | None    # (N, 9) eV; likewise


@runtime_checkable
class Evaluator(Protocol):
    name: str                  # the device string ("numpy", "opencl:cpu:0", "cuda:0", ...)
    dtype: np.dtype            # the precision it computes in

    def describe(self) -> str:
        """One line naming the device and how it computes."""

    def evaluate(self, coords: np.ndarray, cell: np.ndarray | None, atype: np.ndarray,
                 ncentres: int | None = None, fparam=None, aparam=None, atomic: bool = True) -> FrameResult:
        """coords (N, 3) Å, cell (3, 3) rows or None (no PBC), atype (N,) species indices; with
        ``ncentres``, only the first ncentres atoms are centres (DeePMD-kit's nloc of nall);
        ``fparam`` (numb_fparam,) and ``aparam`` (N, numb_aparam) for models that take them.
        ``atomic=False`` allows an implementation to leave atom_energy and atom_virial out (None)."""
