"""CUDA backend: numba's CUDA target compiles the same kernel bodies for NVIDIA GPUs.

Works under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set before numba is imported).
"""
from __future__ import annotations

import numpy as np

if not hasattr(np, "row_stack"):  # numba-cuda 0.30 still calls np.row_stack (gone in NumPy 2.4)
    np.row_stack = np.vstack

from numba import config as _numba_config  # noqa: E402
from numba import cuda  # noqa: E402  (module global: the simulator swaps it inside kernels)

SIMULATOR = bool(_numba_config.ENABLE_CUDASIM)

from ..device_kernels import bind_bodies  # noqa: E402
from .codegen import build_group_wrapper, build_wrapper  # noqa: E402

_BODIES = None
THREADS = 128


def _barrier(item):
    cuda.syncthreads()


def _bodies():
    global _BODIES
    if _BODIES is None:
        _BODIES = bind_bodies(cuda.jit(device=True), {"barrier": cuda.jit(device=True)(_barrier)})
    return _BODIES


def _bin_kernel():
    cell_of = _bodies()["cell_of"]

    def bin_atoms(n, pos, grid_inv, origin, ncell, cell_count, cell_atoms, cap):
        i = cuda.grid(1)
        if i < n:
            c = cell_of(i, pos, grid_inv, origin, ncell)
            slot = cuda.atomic.add(cell_count, c, 1)
            if slot < cap:
                cell_atoms[c * cap + slot] = i
    return cuda.jit(bin_atoms)


class CudaBackend:
    kind = "cuda"

    def __init__(self, device: str = "cuda:0"):
        index = int(device.split(":")[1]) if ":" in device else 0
        cuda.select_device(index)
        self.name = f"cuda:{index}"
        self.fp64 = True
        # (atom, slot-chunk) work-items wanted in flight: 512 per multiprocessor
        self.sm_count = 1 if SIMULATOR else int(cuda.current_context().device.MULTIPROCESSOR_COUNT)
        self.parallel_width = 512 * self.sm_count
        self.supports_groups = True
        self.is_gpu = True  # the simulator too: it runs the GPU code path, for CI
        self._kernels = {}

    def describe(self) -> str:
        if SIMULATOR:
            return f"{self.name} (numba CUDA simulator)"
        dev = cuda.current_context().device
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        return f"{self.name} ({name}, numba CUDA)"

    def threads_for(self, n: int) -> int:
        """Block size of a one-thread-per-item kernel: small blocks while n cannot fill every SM."""
        return THREADS if n >= THREADS * self.sm_count else 32

    def asarray(self, a, dtype=None):
        return cuda.to_device(np.ascontiguousarray(a, dtype=dtype).ravel())

    def empty(self, n, dtype):
        return cuda.device_array(int(n), dtype=dtype)

    def zeros(self, n, dtype):
        return cuda.to_device(np.zeros(int(n), dtype=dtype))

    def to_host(self, a) -> np.ndarray:
        return a.copy_to_host()

    def copy_from_host(self, dst, host: np.ndarray):
        dst.copy_to_device(host)

    def copy(self, a):
        out = cuda.device_array_like(a)
        out.copy_to_device(a)
        return out

    def is_device_array(self, a) -> bool:
        if hasattr(a, "copy_to_host"):
            return True
        return not SIMULATOR and cuda.is_cuda_array(a)

    def from_user_array(self, a, dtype):
        a = cuda.as_cuda_array(a)
        if a.dtype == dtype and a.is_c_contiguous():
            return a.reshape(a.size)
        return cuda.to_device(a.copy_to_host().astype(dtype).ravel())

    def synchronize(self):
        cuda.synchronize()

    def launch(self, body_name: str, n: int, *args, scratch: tuple = (), dtype=np.float64):
        key = (body_name, len(args), tuple(scratch), np.dtype(dtype).str)
        kern = self._kernels.get(key)
        if kern is None:
            from numba import float32, float64
            scope = {body_name: _bodies()[body_name], "cuda": cuda,
                     "DT": float64 if np.dtype(dtype) == np.float64 else float32}
            fn = build_wrapper(body_name, len(args), scratch, scope, signature="",
                               index="cuda.grid(1)", alloc="cuda.local.array({size}, DT)")
            kern = self._kernels[key] = cuda.jit(fn)
        if n > 0:
            threads = self.threads_for(n)
            kern[(int(n) + threads - 1) // threads, threads](int(n), *args)

    def launch_groups(self, body_name: str, ngroups: int, nlane: int, *args, local: tuple = (),
                      scratch: tuple = (), dtype=np.float64):
        """One thread block of nlane threads per group id; local arrays in shared memory."""
        key = ("group", body_name, nlane, len(args), tuple(local), tuple(scratch), np.dtype(dtype).str)
        kern = self._kernels.get(key)
        if kern is None:
            from numba import float32, float64
            scope = {body_name: _bodies()[body_name], "cuda": cuda,
                     "DT": float64 if np.dtype(dtype) == np.float64 else float32}
            fn = build_group_wrapper(body_name, len(args), nlane, local, scratch, scope, signature="",
                                     local_args=False, group="cuda.blockIdx.x", lane="cuda.threadIdx.x",
                                     item="0", local_alloc="cuda.shared.array({size}, DT)",
                                     alloc="cuda.local.array({size}, DT)")
            kern = self._kernels[key] = cuda.jit(fn)
        if ngroups > 0:
            kern[int(ngroups), int(nlane)](int(ngroups), *args)

    def bin_atoms(self, n, pos, grid_inv, origin, ncell, cell_count, cell_atoms, cap):
        kern = self._kernels.get("bin_atoms")
        if kern is None:
            kern = self._kernels["bin_atoms"] = _bin_kernel()
        threads = self.threads_for(n)
        kern[(int(n) + threads - 1) // threads, threads](int(n), pos, grid_inv, origin, ncell, cell_count,
                                                         cell_atoms, int(cap))


def list_devices() -> list[dict]:
    out = []
    if not cuda.is_available():
        return out
    for k, gpu in enumerate(cuda.gpus):
        with gpu:
            dev = cuda.get_current_device()
            ctx = cuda.current_context()
            free, total = ctx.get_memory_info()
            name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
            out.append({"device": f"cuda:{k}", "name": name, "vendor": "NVIDIA", "fp64": True,
                        "compute_units": int(dev.MULTIPROCESSOR_COUNT),
                        "memory_gib": round(total / 2 ** 30, 1), "type": "gpu", "backend": "cuda"})
    return out
