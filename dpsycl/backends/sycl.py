"""SYCL backend: numba-dpex kernels on a dpctl queue, dpnp arrays.

Compute follows data in numba-dpex: every array of one evaluator is allocated on one queue.
"""
from __future__ import annotations

import numpy as np

from . import sycl_runtime
from .codegen import build_group_wrapper, build_wrapper

sycl_runtime.prepare(mkl=True)

import dpctl  # noqa: E402
import dpnp  # noqa: E402
import numba_dpex  # noqa: E402
from numba_dpex import kernel_api  # noqa: E402

from ..device_kernels import bind_bodies  # noqa: E402

_BODIES = None


def _barrier(item):
    kernel_api.group_barrier(item.get_group())


def _bodies():
    global _BODIES
    if _BODIES is None:
        _BODIES = bind_bodies(numba_dpex.device_func, {"barrier": numba_dpex.device_func(_barrier)})
    return _BODIES


def _bin_kernel():
    cell_of = _bodies()["cell_of"]
    AtomicRef = kernel_api.AtomicRef

    def bin_atoms(item, n, pos, grid_inv, origin, ncell, cell_count, cell_atoms, cap):
        i = item.get_id(0)
        if i < n:
            c = cell_of(i, pos, grid_inv, origin, ncell)
            slot = AtomicRef(cell_count, index=c).fetch_add(1)
            if slot < cap:
                cell_atoms[c * cap + slot] = i
    return numba_dpex.kernel(bin_atoms)


class SyclBackend:
    kind = "sycl"

    def __init__(self, device: str | dpctl.SyclQueue):
        # the device's cached queue: numba-dpex 0.23 types local-memory arguments on exactly that queue,
        # and compute-follows-data needs every argument of a kernel on one queue
        self.queue = (device if isinstance(device, dpctl.SyclQueue)
                      else dpctl._sycl_queue_manager.get_device_cached_queue(dpctl.SyclDevice(device)))
        self.device = self.queue.sycl_device
        self.name = self.device.filter_string
        self.fp64 = bool(self.device.has_aspect_fp64)
        # work-items that keep the device busy: a CPU runs one per core well, a GPU wants thousands
        self.is_gpu = bool(self.device.is_gpu)
        self.parallel_width = int(self.device.max_compute_units) * (256 if self.is_gpu else 1)
        # local-memory kernels type their local arrays on the default device's queue (numba-dpex 0.23)
        self.supports_groups = self.queue == dpctl._sycl_queue_manager.get_device_cached_queue(dpctl.SyclDevice())
        self._kernels = {}

    def describe(self) -> str:
        return f"{self.name} ({self.device.name.strip()}, SYCL via numba-dpex)"

    # -- arrays ---------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        return dpnp.asarray(np.ascontiguousarray(a, dtype=dtype).ravel(), sycl_queue=self.queue)

    def empty(self, n, dtype):
        return dpnp.empty(int(n), dtype=dtype, sycl_queue=self.queue)

    def zeros(self, n, dtype):
        return dpnp.zeros(int(n), dtype=dtype, sycl_queue=self.queue)

    def to_host(self, a) -> np.ndarray:
        return dpnp.asnumpy(a)

    def copy_from_host(self, dst, host: np.ndarray):
        dst[:] = host

    def copy(self, a):
        return dpnp.copy(a)

    def is_device_array(self, a) -> bool:
        return isinstance(a, dpnp.ndarray)

    def from_user_array(self, a, dtype):
        if a.sycl_queue == self.queue and a.dtype == dtype and a.flags.c_contiguous:
            return dpnp.reshape(a, -1)
        return dpnp.asarray(dpnp.reshape(a, -1), dtype=dtype, sycl_queue=self.queue)

    def synchronize(self):
        self.queue.wait()

    # -- kernels --------------------------------------------------------------------------
    def launch(self, body_name: str, n: int, *args, scratch: tuple = (), dtype=np.float64):
        key = (body_name, len(args), tuple(scratch), np.dtype(dtype).str)
        kern = self._kernels.get(key)
        if kern is None:
            scope = {body_name: _bodies()[body_name], "PrivateArray": kernel_api.PrivateArray,
                     "DT": np.dtype(dtype).type}
            fn = build_wrapper(body_name, len(args), scratch, scope, signature="item, ",
                               index="item.get_id(0)", alloc="PrivateArray({size}, dtype=DT)")
            kern = self._kernels[key] = numba_dpex.kernel(fn)
        if n > 0:
            numba_dpex.call_kernel(kern, numba_dpex.Range(int(n)), int(n), *args)

    def launch_groups(self, body_name: str, ngroups: int, nlane: int, *args, local: tuple = (),
                      scratch: tuple = (), dtype=np.float64):
        """One work-group of nlane work-items per group id; local arrays shared inside a group.

        numba-dpex 0.23 checks that all array arguments share one queue and types local accessors
        on the default device's queue, so the accessors come first and only that device qualifies.
        """
        key = ("group", body_name, nlane, len(args), tuple(local), tuple(scratch), np.dtype(dtype).str)
        kern = self._kernels.get(key)
        if kern is None:
            scope = {body_name: _bodies()[body_name], "PrivateArray": kernel_api.PrivateArray,
                     "DT": np.dtype(dtype).type}
            fn = build_group_wrapper(body_name, len(args), nlane, local, scratch, scope,
                                     signature="item, " + "".join(f"l{k}, " for k in range(len(local))),
                                     local_args=False, group="item.get_group().get_group_id(0)",
                                     lane="item.get_local_id(0)", item="item", local_alloc="",
                                     alloc="PrivateArray({size}, dtype=DT)")
            kern = self._kernels[key] = numba_dpex.kernel(fn)
        if ngroups > 0:
            if not self.supports_groups:
                raise RuntimeError(f"work-group kernels need the default SYCL device; {self.name} is not")
            accessors = [kernel_api.LocalAccessor(int(size), dtype=np.dtype(dtype).type) for size in local]
            numba_dpex.call_kernel(kern, numba_dpex.NdRange(numba_dpex.Range(int(ngroups) * nlane),
                                                            numba_dpex.Range(nlane)),
                                   *accessors, int(ngroups), *args)

    def bin_atoms(self, n, pos, grid_inv, origin, ncell, cell_count, cell_atoms, cap):
        kern = self._kernels.get("bin_atoms")
        if kern is None:
            kern = self._kernels["bin_atoms"] = _bin_kernel()
        numba_dpex.call_kernel(kern, numba_dpex.Range(int(n)), int(n), pos, grid_inv, origin, ncell,
                               cell_count, cell_atoms, int(cap))


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
