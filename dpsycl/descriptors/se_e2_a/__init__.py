"""The se_e2_a descriptor unit (DeePMD-kit's ``se_e2_a`` / ``se_a``): parameters (params.py),
NumPy reference (reference.py), device passes (device.py, kernel bodies in device_kernels/se_e2_a.py,
se_e2_a_group.py, se_e2_a_fitting.py, se_e2_a_rows.py and se_e2_a_tables.py), model-file section (file_section.py) and
extraction rule (extract/se_e2_a.py)."""
from ...device_kernels import (se_e2_a as kernels_chunk, se_e2_a_fitting as kernels_fitting,
                               se_e2_a_group as kernels_group, se_e2_a_rows as kernels_rows,
                               se_e2_a_tables as kernels_tables)
from ..base import DescriptorUnit
from . import reference
from .device import SeE2ADevice
from .file_section import read_section, write_section
from .params import SeE2A

UNIT = DescriptorUnit(
    kind=SeE2A.kind,
    params=SeE2A,
    reference=reference,
    device=SeE2ADevice,
    kernel_modules=(kernels_chunk, kernels_group, kernels_fitting, kernels_rows, kernels_tables),
    write_section=write_section,
    read_section=read_section,
    serialised_type="se_e2_a",
    extraction="dpsycl.extract.se_e2_a:read_descriptor",
)

__all__ = ["UNIT", "SeE2A"]
