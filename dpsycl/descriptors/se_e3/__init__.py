"""The se_e3 descriptor unit (DeePMD-kit's ``se_e3`` / ``se_t`` / ``se_at``: three-body embedding):
parameters (params.py), NumPy reference (reference.py), device passes (device.py, kernel bodies in
device_kernels/se_e3.py), model-file section (file_section.py) and extraction rule
(extract/se_e3.py)."""
from ...device_kernels import se_e3 as kernels
from ..base import DescriptorUnit
from . import reference
from .device import SeE3Device
from .file_section import read_section, write_section
from .params import SeE3

UNIT = DescriptorUnit(
    kind=SeE3.kind,
    params=SeE3,
    reference=reference,
    device=SeE3Device,
    kernel_modules=(kernels,),
    write_section=write_section,
    read_section=read_section,
    serialised_type="se_e3",
    extraction="dpsycl.extract.se_e3:read_descriptor",
)

__all__ = ["UNIT", "SeE3"]
