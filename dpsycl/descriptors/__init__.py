"""The descriptor units dpsycl evaluates, registered in one place: ``UNITS``.

Adding a descriptor means writing its unit (a subpackage here, its kernel bodies under
device_kernels/, its extraction rule under extract/) and adding it to ``UNITS``; the evaluators,
the backends, the model file and MD need no change (docs/architecture.md).
"""
from __future__ import annotations

from .base import (REGISTERED, DescriptorParams, DescriptorUnit, DevicePasses, Geometry, MemberPasses, NeighborSpec,
                   unit, unit_of)
from .hybrid import UNIT as HYBRID
from .se_e2_a import UNIT as SE_E2_A
from .se_e2_r import UNIT as SE_E2_R
from .se_e3 import UNIT as SE_E3

UNITS: dict[str, DescriptorUnit] = REGISTERED
UNITS.update({u.kind: u for u in (SE_E2_A, SE_E2_R, SE_E3, HYBRID)})

__all__ = ["UNITS", "DescriptorParams", "DescriptorUnit", "DevicePasses", "Geometry", "MemberPasses", "NeighborSpec",
           "unit", "unit_of", "kernel_modules", "supported"]


def supported() -> tuple[str, ...]:
    return tuple(UNITS)


def kernel_modules() -> tuple:
    """The device_kernels modules of every registered unit (each backend compiles them)."""
    out: list = []
    for u in UNITS.values():
        out += [m for m in u.kernel_modules if m not in out]
    return tuple(out)
