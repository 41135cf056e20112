"""Every kernel body compiled for one backend: the common modules of device_kernels and those of
each registered descriptor unit, with the backend's own primitives bound in."""
from __future__ import annotations

from .. import device_kernels
from ..descriptors import kernel_modules
from .launch import SPECIALISED, KernelCache


def compile_kernels(jit_device, primitives: dict, jit_kernel, scope, item_template: dict,
                    group_template: dict, jit_group_kernel=None, specialised=SPECIALISED) -> KernelCache:
    """``jit_device`` compiles a body as a device function, ``primitives`` maps primitive names
    (device_kernels/primitives.py) to the backend's compiled versions; the rest as KernelCache."""
    modules = device_kernels.COMMON_MODULES + kernel_modules()
    compiled = device_kernels.bind_bodies(jit_device, primitives, modules)
    python = {b.__name__: b for b in device_kernels.bodies(modules)}
    return KernelCache(python, compiled, jit_kernel, scope, item_template, group_template, jit_group_kernel,
                       specialised)
