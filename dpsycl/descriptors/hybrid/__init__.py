"""The hybrid descriptor unit (DeePMD-kit's ``hybrid``): members of any registered unit, each on
its own neighbour list(s), their descriptors concatenated for one fitting net.  Parameters
(params.py), NumPy reference (reference.py), device passes (device.py, its one kernel body in
device_kernels/hybrid.py; the members run their own), model-file section (file_section.py) and
extraction rule (extract/hybrid.py)."""
from ...device_kernels import hybrid as kernels
from ..base import DescriptorUnit
from . import reference
from .device import HybridDevice
from .file_section import read_section, write_section
from .params import Hybrid

UNIT = DescriptorUnit(
    kind=Hybrid.kind,
    params=Hybrid,
    reference=reference,
    device=HybridDevice,
    kernel_modules=(kernels,),
    write_section=write_section,
    read_section=read_section,
    serialised_type="hybrid",
    extraction="dpsycl.extract.hybrid:read_descriptor",
)

__all__ = ["UNIT", "Hybrid"]
