"""The se_e2_r descriptor unit (DeePMD-kit's ``se_e2_r`` / ``se_r``): parameters (params.py),
NumPy reference (reference.py), device passes (device.py, kernel bodies in
device_kernels/se_e2_r.py), model-file section (file_section.py) and extraction rule
(extract/se_e2_r.py)."""
from ...device_kernels import se_e2_r as kernels
from ..base import DescriptorUnit
from . import reference
from .device import SeE2RDevice
from .file_section import read_section, write_section
from .params import SeE2R

UNIT = DescriptorUnit(
    kind=SeE2R.kind,
    params=SeE2R,
    reference=reference,
    device=SeE2RDevice,
    kernel_modules=(kernels,),
    write_section=write_section,
    read_section=read_section,
    serialised_type="se_r",
    extraction="dpsycl.extract.se_e2_r:read_descriptor",
)

__all__ = ["UNIT", "SeE2R"]
