"""PTX of a model's work-group kernels for numba's CUDA target, without a GPU.

numba's CUDA target compiles the very wrappers and bodies that ``dpsycl.backends.cuda`` launches (same
templates, same compile-time constants and compile rules, argument types from the arrays an evaluation
passes) to PTX with libNVVM.  The launches themselves are replaced: the descriptor unit's
``energies_and_pair_gradients`` runs against a workspace that allocates nothing
(dpsycl.workspace.AllocationRecorder) and a backend that compiles each work-group kernel instead of
launching it.  benchmarks/group_kernel_resources.py hands the PTX to ptxas (registers, spills);
tests/test_float32_kernels.py reads the instructions.
"""
from __future__ import annotations

import contextlib
import types

import numpy as np


@contextlib.contextmanager
def compute_capability(cc: tuple[int, int]):
    """The device functions ask the current device for its compute capability: stand in for a GPU of ``cc``."""
    import numba.cuda.dispatcher as numba_dispatcher
    current = numba_dispatcher.get_current_device
    numba_dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    try:
        yield
    finally:
        numba_dispatcher.get_current_device = current


def work_group_ptx(model, dtype, layout: str = "group", cc: tuple[int, int] = (9, 0)) -> list[dict]:
    """One entry per work-group kernel an evaluation of ``model`` in ``layout`` launches: body, block (lanes),
    local_arrays (name -> values), dtype and ptx."""
    from numba import cuda, typeof

    from ..descriptors import Geometry, unit_of
    from ..fitting import ParameterPack
    from ..workspace import AllocationRecorder
    from . import cuda as cuda_backend
    from .compile_rules import kernel_rules
    from .launch import flatten

    dt = np.dtype(dtype)
    cache = cuda_backend.build_kernel_cache(lambda wrapper: wrapper, dt)    # the Python wrappers, compiled below
    kernels: list[dict] = []

    class CompilingBackend:
        local_memory_bytes = cuda_backend.STATIC_SHARED_BYTES

        def launch(self, *args, **kwargs):
            pass

        def to_host(self, a):
            return np.asarray(a)

        def launch_groups(self, body_name, ngroups, nlane, *packs, local=None, scratch=None, dtype=np.float64):
            names, values = flatten(packs)
            wrapper, runtime = cache.group_kernel(body_name, names, values, nlane, local or {}, scratch or {}, dtype)
            with kernel_rules(dtype):     # as the backend compiles its launches
                ptx, _ = cuda.compile_ptx(wrapper, (typeof(int(ngroups)), *(typeof(v) for v in runtime)), cc=cc)
            kernels.append({"body": body_name, "block": int(nlane), "local_arrays": dict(local or {}),
                            "dtype": np.dtype(dtype).name, "ptx": ptx})

    ws = AllocationRecorder()
    ws.backend = CompilingBackend()
    with compute_capability(cc):
        passes = unit_of(model.descriptor).device(model.descriptor, model.fitting, ws, dt)
        if "group" not in passes.layouts:
            raise ValueError(f"{model.descriptor_type} has no work-group layout")
        geometries = [Geometry(np.zeros(3, dt), np.zeros(9, dt), np.zeros(1, np.int64), np.zeros(1, np.int64),
                               np.zeros(1, np.int64), int(sum(spec.sel))) for spec in model.descriptor.neighbor_specs()]
        params = ParameterPack(np.zeros(1, dt), 0, np.zeros(1, dt), 0)
        passes.energies_and_pair_gradients(geometries, 1, np.zeros(1, dt), [np.zeros(3, dt)] * len(geometries),
                                           layout, 1, params)
    return kernels
