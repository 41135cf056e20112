"""CUDA backend: numba's CUDA target compiles the same kernel bodies for NVIDIA GPUs.

Works under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set before numba is imported).
"""
from __future__ import annotations

import inspect
import os

import numpy as np

if not hasattr(np, "row_stack"):  # numba-cuda 0.30 still calls np.row_stack (gone in NumPy 2.4)
    np.row_stack = np.vstack

from numba import config as _numba_config  # noqa: E402
from numba import cuda  # noqa: E402  (module global: the simulator swaps it inside kernels)

SIMULATOR = bool(_numba_config.ENABLE_CUDASIM)

from ..device_kernels import activations  # noqa: E402
from . import cuda_blas  # noqa: E402
from .cuda_launch import DirectCopies, Launcher  # noqa: E402
from .compile_rules import install, install_typing_rules, kernel_rules  # noqa: E402
from .kernels import compile_kernels  # noqa: E402
from .launch import KERNEL_PREFIX, KernelCache, flatten  # noqa: E402
from .protocol import UNKNOWN_BYTES, DeviceMemory, allocation_failed  # noqa: E402

THREADS = 128
#: bytes a group-local array is aligned to where numba-cuda takes an alignment (0.11 on): libNVVM then merges
#: neighbouring loads of one into a vector load (the descriptor kernel's float64 spills go; benchmarks/NOTES.md)
SHARED_ALIGNMENT = 16
#: one kernel cache per precision (compile_rules.py: float literals follow the kernel's precision)
_KERNELS: dict = {}


def _install_compile_rules() -> None:
    """numba-cuda ≥ 0.2x lowers arrays with its vendored numba.cuda.np.arrayobj, older ones with numba's."""
    if SIMULATOR:
        return
    try:
        from numba.cuda.np import arrayobj
    except ImportError:
        from numba.np import arrayobj
    from numba.cuda.target import CUDATargetContext, CUDATypingContext
    install(arrayobj, CUDATargetContext)
    install_typing_rules(CUDATypingContext)


_install_compile_rules()


def _barrier(item):
    cuda.syncthreads()


def _atomic_add(arr, index, value):
    return cuda.atomic.add(arr, index, value)


def _scope(dtype):
    from numba import float32, float64
    return {"cuda": cuda, "DT": float64 if np.dtype(dtype) == np.float64 else float32}


#: registers per thread a work-group kernel is compiled with, by precision, where numba's choice is not the
#: fastest: group_pair_gradient takes 106 in float64, eight 64-lane blocks per H200 SM; at 96 (12 bytes
#: spilled) ten, and 16.7 -> 16.2 ms at 131,072 atoms (benchmarks/NOTES.md, session 17); in float32 it takes
#: 96, and 64 spill nothing (ptxas 13.0, sm_90): sixteen blocks per SM by registers (session 18; cuag's shared
#: memory allows 14 since session 37, 11 before); group_descriptor takes
#: 82-84 in float64 since its batch loops are written once for any batch, ten blocks per SM where 80 gave
#: twelve (session 20), and 64 sixteen: 11.32 -> 10.91 ms for cuag and 3.92 -> 3.53 ms for the compressed
#: cuag at 131,072 atoms, where 64 makes group_pair_gradient slower (6.13 -> 6.82 ms compressed; session 25).
#: In float32 group_descriptor takes 43 and no cap from 40 to 72 moved it beyond 1.3% (H100, session 37)
GROUP_MAX_REGISTERS = {("group_pair_gradient", "float64"): 96, ("group_pair_gradient", "float32"): 64,
                       ("group_descriptor", "float64"): 64}


def register_cap(body_name: str, dtype=np.float64) -> int:
    """Registers per thread for a work-group kernel (0: numba's choice): DPSYCL_CUDA_GROUP_MAX_REGISTERS=N
    caps every one (benchmarks/gpu_register_cap.py measures a cap), else GROUP_MAX_REGISTERS."""
    cap = int(os.environ.get("DPSYCL_CUDA_GROUP_MAX_REGISTERS", "0") or 0)
    return cap if cap > 0 else GROUP_MAX_REGISTERS.get((body_name, np.dtype(dtype).name), 0)


def _group_jit(dtype=np.float64):
    """cuda.jit for the work-group kernels of one precision, each with its register_cap (more resident blocks,
    possibly spills)."""
    def jit(wrapper):
        cap = register_cap(wrapper.__name__.removeprefix(KERNEL_PREFIX), dtype)
        return cuda.jit(max_registers=cap)(wrapper) if cap > 0 and not SIMULATOR else cuda.jit(wrapper)
    return jit


def compiled_bodies(dtype=np.float64) -> dict:
    """Every kernel body compiled as a numba CUDA device function (compiled on first use)."""
    return _kernel_cache(dtype).compiled_bodies


def build_kernel_cache(jit_group_kernel, dtype=np.float64) -> KernelCache:
    """Every body compiled for numba's CUDA target, the work-group wrappers by ``jit_group_kernel``
    (benchmarks/group_kernel_resources.py passes one that keeps them as Python functions, to compile
    them to PTX without a GPU).  float64 kernels take the branch-free tanh (activations.py): libdevice's
    runs two paths in a warp whose lanes straddle |z| ≈ 0.65; DPSYCL_CUDA_TANH=libdevice keeps it."""
    device = cuda.jit(device=True)
    primitives = {"barrier": device(_barrier), "atomic_add": device(_atomic_add)}
    if np.dtype(dtype) == np.float64 and os.environ.get("DPSYCL_CUDA_TANH", "") != "libdevice":
        primitives["tanh"] = device(activations.tanh_branch_free)
    return compile_kernels(
        device, primitives, cuda.jit, jit_group_kernel=jit_group_kernel, scope=_scope,
        item_template=dict(signature="", index="cuda.grid(1)", alloc="cuda.local.array({size}, DT)"),
        group_template=dict(signature="", local_args=False, group="cuda.blockIdx.x", lane="cuda.threadIdx.x",
                            item="0", local_alloc=shared_alloc(),
                            alloc="cuda.local.array({size}, DT)"))


def shared_alloc() -> str:
    """The statement that allocates a group-local array: static shared memory, SHARED_ALIGNMENT-aligned where
    this numba's cuda.shared.array takes an alignment.  Without one an array is aligned to
    its element, and the compiler keeps scalar loads.  numba's CUDA simulator has no cuda.shared outside a
    kernel: there the plain statement."""
    try:
        takes_alignment = "alignment" in inspect.signature(cuda.shared.array).parameters
    except (AttributeError, TypeError, ValueError):
        takes_alignment = False
    if takes_alignment:
        return f"cuda.shared.array({{size}}, DT, alignment={SHARED_ALIGNMENT})"
    return "cuda.shared.array({size}, DT)"


def _kernel_cache(dtype=np.float64) -> KernelCache:
    key = np.dtype(dtype).str
    if key not in _KERNELS:
        _KERNELS[key] = build_kernel_cache(_group_jit(dtype), dtype)
    return _KERNELS[key]


def _numba_cuda_configs() -> list:
    """numba's config, and numba-cuda's own where it has one (newer numba-cuda reads that)."""
    configs = [_numba_config]
    try:
        from numba.cuda.core import config as cuda_config
    except ImportError:
        return configs
    return configs + [cuda_config]


#: allocations from this size on first hand numba's pending frees back to the driver
RELEASE_BEFORE_BYTES = 64 << 20


def release_pending_frees() -> None:
    """numba frees device arrays lazily, ten at a time or once they hold a fifth of the device's
    memory: the arrays a large system drops (a regrown neighbour buffer: 0.9 GB at 1 M atoms) stayed
    allocated beside their successors, growing the memory in use by 0.9 GB per list build of an MD
    run (benchmarks/NOTES.md, session 12)."""
    if SIMULATOR:
        return
    pending = getattr(cuda.current_context(), "deallocations", None)
    if pending is not None:
        pending.clear()


#: CUDA's limit on a block's static shared memory (more needs dynamic shared memory and an opt-in)
STATIC_SHARED_BYTES = 48 * 1024


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
        # dense products by cuBLAS where a libcublas loads (numba-cuda has no binding; cuda_blas.py): the
        # fitting net as products over each species' rows (dpsycl/fitting_rows.py); else the kernels' own layers
        self.gemm = None if SIMULATOR else cuda_blas.gemm(index)
        self.dense_products = self.gemm is not None
        # group-local arrays are static shared memory (cuda.shared.array), which CUDA caps at 48 KB a block
        self.local_memory_bytes = STATIC_SHARED_BYTES
        self.is_gpu = True  # the simulator too: it runs the GPU code path, for CI
        # interpreted kernels: one Python thread per lane and a thread barrier per group barrier
        self.simulated = SIMULATOR
        self.launcher = Launcher(enabled=not SIMULATOR)
        self.copies = DirectCopies(enabled=not SIMULATOR)
        if "NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS" not in os.environ:
            # small grids are by design here (a reduction's last pass, a 108-atom frame); numba's
            # warning for each would bury dpsycl's own lines.  Setting the variable keeps numba's choice.
            for config in _numba_cuda_configs():
                config.CUDA_LOW_OCCUPANCY_WARNINGS = 0

    def describe(self) -> str:
        if SIMULATOR:
            return f"{self.name} (numba CUDA simulator)"
        dev = cuda.current_context().device
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        blas = f"cuBLAS {self.gemm.version}" if self.gemm is not None else "no cuBLAS: the kernels' dense layers"
        return f"{self.name} ({name}, numba CUDA, {blas})"

    def threads_for(self, n: int) -> int:
        """Block size of a one-thread-per-item kernel: small blocks while n cannot fill every SM."""
        return THREADS if n >= THREADS * self.sm_count else 32

    # -- arrays ---------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        return cuda.to_device(np.ascontiguousarray(a, dtype=dtype).ravel())

    def empty(self, n, dtype):
        if int(n) * np.dtype(dtype).itemsize >= RELEASE_BEFORE_BYTES:
            release_pending_frees()
        try:
            return cuda.device_array(int(n), dtype=dtype)
        except Exception as exc:  # numba's CudaAPIError "[2] ... CUDA_ERROR_OUT_OF_MEMORY"
            if "OUT_OF_MEMORY" not in str(exc):
                raise
            raise allocation_failed(self.name, int(n) * np.dtype(dtype).itemsize, "CUDA_ERROR_OUT_OF_MEMORY") from None

    def zeros(self, n, dtype):
        return cuda.to_device(np.zeros(int(n), dtype=dtype))

    def to_host(self, a) -> np.ndarray:
        out = np.empty(a.shape, dtype=a.dtype)
        if self.copies.to_host(out, a):
            return out
        return a.copy_to_host(out)

    def copy_from_host(self, dst, host: np.ndarray):
        if not self.copies.to_device(dst, host):
            dst.copy_to_device(host)

    def copy(self, a):
        out = cuda.device_array_like(a)
        out.copy_to_device(a)
        return out

    def nbytes(self, a) -> int:
        return int(a.size) * int(a.dtype.itemsize)

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

    def memory(self) -> DeviceMemory:
        # cuMemGetInfo of the current context (the device selected in __init__, where every array of
        # this backend is allocated); the simulator reports infinity, a pool allocator may not say
        try:
            free, total = cuda.current_context().get_memory_info()
        except NotImplementedError:
            free = total = UNKNOWN_BYTES
        free, total = (int(x) if x < UNKNOWN_BYTES else UNKNOWN_BYTES for x in (free, total))
        return DeviceMemory(free=free, total=total, max_allocation=total)

    # -- kernels --------------------------------------------------------------------------
    def launch(self, body_name: str, n: int, *packs, scratch: dict | None = None, dtype=np.float64):
        names, values = flatten(packs)
        kern, values = _kernel_cache(dtype).item_kernel(body_name, names, values, scratch or {}, dtype)
        if n > 0:
            threads = self.threads_for(n)
            with kernel_rules(dtype):       # compiled at the first launch: compile_rules.py
                self.launcher.launch(kern, (int(n) + threads - 1) // threads, threads, (int(n), *values))

    def launch_groups(self, body_name: str, ngroups: int, nlane: int, *packs, local: dict | None = None,
                      scratch: dict | None = None, dtype=np.float64):
        """One thread block of nlane threads per group id; local arrays in shared memory."""
        need = sum(int(size) for size in (local or {}).values()) * np.dtype(dtype).itemsize
        if need > self.local_memory_bytes:
            raise RuntimeError(f"work-group kernel '{body_name}' needs {need} bytes of shared memory per block; "
                               f"static shared memory is limited to {self.local_memory_bytes}")
        names, values = flatten(packs)
        kern, values = _kernel_cache(dtype).group_kernel(body_name, names, values, nlane, local or {}, scratch or {},
                                                    dtype)
        if ngroups > 0:
            with kernel_rules(dtype):
                self.launcher.launch(kern, int(ngroups), int(nlane), (int(ngroups), *values))

    def matmul(self, a, a_at: int, b, b_at: int, out, out_at: int, m: int, k: int, n: int):
        """cuBLAS's gemm on the legacy default stream, after the kernels launched before it (cuda_blas.py)."""
        if self.gemm is None:
            reason = "the numba CUDA simulator" if SIMULATOR else cuda_blas.why_not()
            raise NotImplementedError(f"{self.name}: no dense products here ({reason})")
        if m > 0 and n > 0:
            self.gemm(a, a_at, b, b_at, out, out_at, m, k, n)


def kernel_resources() -> list[dict]:
    """Registers, local (spilled) and shared memory of every kernel compiled so far, and how many of
    its blocks one multiprocessor holds at the block size of a full launch (group kernels: their lanes;
    item kernels: THREADS, 32 for systems too small to fill every SM): the facts that
    bound a latency-limited kernel (benchmarks/gpu_launch_probe.py prints them)."""
    out = []
    ctx = None if SIMULATOR else cuda.current_context()
    for key, kern in ((k, v) for cache in _KERNELS.values() for k, v in cache.kernels.items()):
        group = key[0] == "group"
        body, block = (key[1], int(key[4])) if group else (key[0], THREADS)
        for compiled in kern.overloads.values():
            row = {"body": body, "layout": "group" if group else "item", "block": block,
                   "regs_per_thread": compiled.regs_per_thread, "local_bytes_per_thread": compiled.local_mem_per_thread,
                   "shared_bytes_per_block": compiled.shared_mem_per_block}
            if ctx is not None:
                try:
                    row["blocks_per_sm"] = ctx.get_active_blocks_per_multiprocessor(
                        compiled.library.get_cufunc(), block, 0)
                except Exception as exc:  # noqa: BLE001 - a report, not a computation: say why it is missing
                    row["blocks_per_sm"] = f"unknown ({type(exc).__name__}: {exc})"
            out.append(row)
    return out


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
