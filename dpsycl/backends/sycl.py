"""SYCL backend: numba-dpex kernels on a dpctl queue, dpnp arrays.

Compute follows data in numba-dpex: every array of one evaluator is allocated on one queue.
"""
from __future__ import annotations

import os

import numpy as np

from . import sycl_runtime
from .launch import SPECIALISED, KernelCache, flatten
from .protocol import DeviceMemory, allocation_failed

sycl_runtime.prepare(mkl=True)

import dpctl  # noqa: E402
import dpctl.tensor as dpt  # noqa: E402
import dpctl.utils  # noqa: E402
import dpnp  # noqa: E402
from dpnp.backend.extensions.blas import _blas_impl as onemkl_blas  # noqa: E402
from dpctl.memory import USMAllocationError  # noqa: E402
import numba_dpex  # noqa: E402
from numba.np import arrayobj as _numba_arrayobj  # noqa: E402
from numba_dpex import kernel_api  # noqa: E402
from numba_dpex.kernel_api_impl.spirv.target import SPIRVTargetContext, SPIRVTypingContext  # noqa: E402

from .compile_rules import install, install_conversions, install_typing_rules  # noqa: E402
from .kernels import compile_kernels  # noqa: E402
from .sycl_kernel_files import CachedKernel, filter_string  # noqa: E402
from ..device_kernels import activations  # noqa: E402

install(_numba_arrayobj, SPIRVTargetContext)  # numba-dpex lowers arrays with numba's own module
install_typing_rules(SPIRVTypingContext)
install_conversions(SPIRVTargetContext)

#: one kernel cache per precision (compile_rules.py: float literals follow the kernel's precision)
_KERNELS: dict = {}
#: compiled in on top of the activations: whether a descriptor has one embedding net per neighbour
#: species (type_one_side).  The OpenCL CPU compiler runs 16 work-items (atoms) in the lanes of
#: AVX-512 registers; with one_side a run-time value the net index (tj, or ti·ntypes + tj) differs
#: between lanes, so every embedding weight is a gather; compiled in, the net is tj for all lanes
#: and each weight one broadcast load (benchmarks/NOTES.md, session 6)
SYCL_SPECIALISED = SPECIALISED | {"one_side"}
#: bodies that the OpenCL CPU device runs faster as scalar code, one work-item after another, than
#: vectorised across 16 work-items (measured on an AMD EPYC, benchmarks/NOTES.md session 6: the
#: fitting net's weights differ per lane with the centre's species and its large private arrays are
#: gathered lane by lane; the neighbour rows' sorted insertions diverge).  The CPU runtime runs its
#: vectorised code only over whole vectors of a work-group, so a work-group of one work-item is
#: scalar code whatever width its compiler picked.
#: (se_e2_a's fitting net runs as fitting_group_atoms where group kernels are available: group_fitting)
CPU_SCALAR_BODIES = frozenset({"fitting_atom", "neighbor_row", "sort_reverse_row"})
_ND_ITEM_TEMPLATE = dict(signature="item, ", index="item.get_global_id(0)", alloc="PrivateArray({size}, dtype=DT)")


def _barrier(item):
    kernel_api.group_barrier(item.get_group())


def _atomic_add(arr, index, value):
    return kernel_api.AtomicRef(arr, index=index).fetch_add(value)


def compiled_bodies(dtype=np.float64, cpu: bool = False) -> dict:
    """Every kernel body compiled as a numba-dpex device function (compiled on first use)."""
    return _kernel_cache(dtype, cpu).compiled_bodies


def _kernel_cache(dtype=np.float64, cpu: bool = False) -> KernelCache:
    """One cache per precision and kind of device: CPU devices take ``tanh_expm1`` in the per-pair
    embedding nets (device_kernels/activations.py)."""
    key = (np.dtype(dtype).str, bool(cpu))
    if key not in _KERNELS:
        primitives = {"barrier": numba_dpex.device_func(_barrier),
                      "atomic_add": numba_dpex.device_func(_atomic_add)}
        if cpu:
            primitives["pair_tanh"] = numba_dpex.device_func(activations.tanh_expm1)
        _KERNELS[key] = compile_kernels(
            numba_dpex.device_func, primitives, lambda wrapper: CachedKernel(wrapper, variant=key),
            scope=lambda dtype: {"PrivateArray": kernel_api.PrivateArray, "DT": np.dtype(dtype).type},
            item_template=dict(signature="item, ", index="item.get_id(0)", alloc="PrivateArray({size}, dtype=DT)"),
            # numba-dpex 0.23 types local accessors on the default device's queue: they come first
            group_template=dict(signature="item, {locals}", local_args=False, group="item.get_group().get_group_id(0)",
                                lane="item.get_local_id(0)", item="item", local_alloc="",
                                alloc="PrivateArray({size}, dtype=DT)"),
            specialised=SYCL_SPECIALISED)
    return _KERNELS[key]


class SyclBackend:
    kind = "sycl"

    def __init__(self, device: str | dpctl.SyclQueue):
        # the device's cached queue: numba-dpex 0.23 types local-memory arguments on exactly that queue,
        # and compute-follows-data needs every argument of a kernel on one queue
        self.queue = (device if isinstance(device, dpctl.SyclQueue)
                      else dpctl._sycl_queue_manager.get_device_cached_queue(dpctl.SyclDevice(device)))
        self.device = self.queue.sycl_device
        self.name = device_label(self.device)
        self.fp64 = bool(self.device.has_aspect_fp64)
        # work-items that keep the device busy: a CPU runs one per core well, a GPU wants thousands
        self.is_gpu = bool(self.device.is_gpu)
        self.parallel_width = int(self.device.max_compute_units) * (256 if self.is_gpu else 1)
        self.local_memory_bytes = int(self.device.local_mem_size)
        # numba-dpex 0.23 types local arrays on the default device's queue, so its launcher took work-group kernels
        # on that device only; sycl_kernel_files.py builds each kernel's program for the queue it runs on and
        # passes the local arrays itself, so any queue takes them (tests/test_sycl_queues.py: a sub-device)
        self.supports_groups = True
        self.scalar_bodies = CPU_SCALAR_BODIES if self.device.is_cpu else frozenset()
        # the fitting net as work-groups of one vector of lanes (se_e2_a: fitting_group_atoms) on CPUs
        self.group_fitting = bool(self.device.is_cpu)
        # and its layers as oneMKL GEMMs over the rows of each species (dpsycl/fitting_rows.py), whose element-wise
        # work-group kernels need the same device: on a 2-core Zen 3, dgemm of cuag's first layer over 1,024 rows
        # ran at 60-70 GFLOP/s of 78 where the fitting kernel ran at 27.6% of it (benchmarks/NOTES.md, session 27)
        self.dense_products = self.group_fitting

    def describe(self) -> str:
        return f"{self.name} ({self.device.name.strip()}, SYCL via numba-dpex)"

    def memory(self) -> DeviceMemory:
        total = int(self.device.global_mem_size)
        if self.device.is_cpu:           # the host's memory: what the kernel says is available
            free = min(total, host_available_bytes())
        else:                            # Level Zero reports free memory (with ZES_ENABLE_SYSMAN=1); else total
            free = int(dpctl.utils.intel_device_info(self.device).get("free_memory", total))
        return DeviceMemory(free=free, total=total, max_allocation=int(self.device.max_mem_alloc_size))

    # -- arrays ---------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        host = np.ascontiguousarray(a, dtype=dtype).ravel()
        try:
            return dpnp.asarray(host, sycl_queue=self.queue)
        except USMAllocationError:
            raise allocation_failed(self.name, host.nbytes, "USM allocation failed") from None

    def empty(self, n, dtype):
        try:
            return dpnp.empty(int(n), dtype=dtype, sycl_queue=self.queue)
        except USMAllocationError:
            raise allocation_failed(self.name, int(n) * np.dtype(dtype).itemsize, "USM allocation failed") from None

    def zeros(self, n, dtype):
        try:
            return dpnp.zeros(int(n), dtype=dtype, sycl_queue=self.queue)
        except USMAllocationError:
            raise allocation_failed(self.name, int(n) * np.dtype(dtype).itemsize, "USM allocation failed") from None

    def to_host(self, a) -> np.ndarray:
        return dpnp.asnumpy(a)

    def copy_from_host(self, dst, host: np.ndarray):
        dst[:] = host

    def copy(self, a):
        return dpnp.copy(a)

    def nbytes(self, a) -> int:
        return int(a.nbytes)

    def is_device_array(self, a) -> bool:
        return isinstance(a, dpnp.ndarray)

    def from_user_array(self, a, dtype):
        if a.sycl_queue == self.queue and a.dtype == dtype and a.flags.c_contiguous:
            return dpnp.reshape(a, -1)
        return dpnp.asarray(dpnp.reshape(a, -1), dtype=dtype, sycl_queue=self.queue)

    def synchronize(self):
        self.queue.wait()

    # -- kernels --------------------------------------------------------------------------
    def launch(self, body_name: str, n: int, *packs, scratch: dict | None = None, dtype=np.float64):
        names, values = flatten(packs)
        scalar = body_name in self.scalar_bodies    # work-groups of one work-item: the CPU runs them as scalar code
        kern, values = _kernel_cache(dtype, self.device.is_cpu).item_kernel(
            body_name, names, values, scratch or {}, dtype, _ND_ITEM_TEMPLATE if scalar else None)
        if n > 0:       # compiled (compile_rules.py) or read from its file at the first launch
            kern.launch(self.queue, int(n), (int(n), *values), local_size=1 if scalar else None, dtype=dtype)

    def launch_groups(self, body_name: str, ngroups: int, nlane: int, *packs, local: dict | None = None,
                      scratch: dict | None = None, dtype=np.float64):
        """One work-group of nlane work-items per group id; local arrays shared inside a group.

        The local arrays come first (the wrapper's signature)."""
        local = local or {}
        need = sum(int(size) for size in local.values()) * np.dtype(dtype).itemsize
        if need > self.local_memory_bytes:
            # past the device's local memory a CPU work-group silently reads and writes out of bounds
            raise RuntimeError(f"work-group kernel '{body_name}' needs {need} bytes of local memory per work-group; "
                               f"{self.name} offers {self.local_memory_bytes} (on OpenCL CPU devices "
                               "CL_CONFIG_CPU_FORCE_LOCAL_MEM_SIZE sets it, e.g. 1MB, before the runtime starts)")
        names, values = flatten(packs)
        kern, values = _kernel_cache(dtype, self.device.is_cpu).group_kernel(
            body_name, names, values, nlane, local, scratch or {}, dtype)
        if ngroups > 0:
            kern.launch(self.queue, int(ngroups) * nlane, (int(ngroups), *values), local_size=nlane,
                        local_sizes=[int(size) for size in local.values()], dtype=dtype)

    def matmul(self, a, a_at: int, b, b_at: int, out, out_at: int, m: int, k: int, n: int):
        """oneMKL's gemm through dpnp's binding, on views of the 1-D arrays: dpnp.matmul adds ~0.3 ms of checks and
        copies per call (measured: 0.33 ms against 0.05 for a 4 × 120 × 120 product)."""
        if not self.dense_products:
            raise NotImplementedError(f"{self.name}: no dense products here (dense_products is False)")
        if m == 0 or n == 0:
            return
        views = [dpt.reshape(dpnp.get_usm_ndarray(arr)[at:at + rows * cols], (rows, cols))
                 for arr, at, rows, cols in ((a, a_at, m, k), (b, b_at, k, n), (out, out_at, m, n))]
        host_task, gemm, row_major = onemkl_blas._gemm(self.queue, *views, [])
        gemm.wait()
        host_task.wait()
        if not row_major and m > 1 and n > 1:
            # where an operand is both C- and F-contiguous (k = 1) the binding works column-major: out holds the
            # product's transpose row by row (m = 1 or n = 1 lay both orders out alike)
            views[2][...] = dpt.permute_dims(dpt.reshape(dpt.copy(views[2]), (n, m)), (1, 0))


def device_label(device) -> str:
    """The device's filter string; a sub-device (a partition of a root device, e.g. a GPU's tile or a share of a
    CPU's cores) has none: its root's, marked as a part of it."""
    name = filter_string(device)
    if name is not None:
        return name
    units = int(device.max_compute_units)
    return f"{device_label(device.parent_device)} (sub-device, {units} compute unit{'' if units == 1 else 's'})"


def host_available_bytes() -> int:
    """Memory the host can give without swapping: MemAvailable of /proc/meminfo (Linux), else free pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))


def list_devices() -> list[dict]:
    out = []
    for d in dpctl.get_devices():
        out.append({
            "device": d.filter_string, "name": d.name.strip(), "vendor": d.vendor.strip(),
            "fp64": bool(d.has_aspect_fp64), "compute_units": int(d.max_compute_units),
            "memory_gib": round(d.global_mem_size / 2 ** 30, 1), "type": d.device_type.name,
            "backend": d.backend.name,
        })
    return out
