"""cuBLAS's gemm for the CUDA backend's dense products, through ctypes.

numba-cuda has no binding to cuBLAS; the library itself comes with every CUDA toolkit and with the pip
wheels that PyTorch, CuPy and numba-cuda's ``cuda-toolkit`` extra install.  Handles on the primary context
numba uses, and the legacy default stream, which the backend's kernel launches use
too (cuda_launch.py): the products are ordered after the kernels before them without a wait.  A handle
belongs to the GPU that was current when it was made: one per device index.

Row-major C (m × n) = A (m × k)·B (k × n) is column-major Cᵀ = Bᵀ·Aᵀ, so gemm(N, N, n, m, k) with the
operands swapped.  The math mode is cuBLAS's default, which keeps float32 products in float32 arithmetic
(cuBLAS takes TF32 tensor cores only where the math mode asks for them); on an H100 float64 products ran on the
FP64 tensor cores (sm90_xmma_gemm_f64 kernels) within 2.2e-15 of NumPy's (benchmarks/gpu_cublas_probe.py,
NOTES.md session 30).

DPSYCL_CUBLAS=/path/to/libcublas.so.N names the library; DPSYCL_CUBLAS=off keeps the kernels' own dense
layers (the backend then reports ``dense_products`` False).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import sys

import numpy as np

log = logging.getLogger(__name__)

#: cublasMath_t: CUBLAS_DEFAULT_MATH
DEFAULT_MATH = 0
#: sonames tried, newest first
SONAMES = ("libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so")


def switched_off() -> bool:
    """DPSYCL_CUBLAS=off (or 0, none): the kernels' own dense layers, whatever cuBLAS is here."""
    return os.environ.get("DPSYCL_CUBLAS", "").lower() in ("off", "0", "none")


def library_paths() -> list[str]:
    """Where a libcublas may be, in the order tried, each once: DPSYCL_CUBLAS, the pip wheels of NVIDIA's toolkit
    on sys.path, CUDA_HOME / CUDA_PATH, the usual toolkit folder, then the loader's own search."""
    named = "" if switched_off() else os.environ.get("DPSYCL_CUBLAS", "")
    paths = [named] if named else []
    for base in sys.path:
        for sub in ("nvidia/cu13/lib", "nvidia/cublas/lib", "nvidia/cu12/lib"):
            paths += sorted(glob.glob(os.path.join(base or ".", sub, "libcublas.so.*")), reverse=True)
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            paths += sorted(glob.glob(os.path.join(home, "lib64", "libcublas.so.*")), reverse=True)
    found = ctypes.util.find_library("cublas")
    paths = [p for p in paths if "libcublasLt" not in p] + list(SONAMES) + ([found] if found else [])
    return list(dict.fromkeys(paths))


class Gemm:
    """cuBLAS's dgemm and sgemm on numba device arrays (row-major, offsets in elements)."""

    def __init__(self, lib, path: str):
        self.path = path
        self.handle = ctypes.c_void_p()
        check(lib.cublasCreate_v2(ctypes.byref(self.handle)), "cublasCreate")
        check(lib.cublasSetMathMode(self.handle, DEFAULT_MATH), "cublasSetMathMode")
        version = ctypes.c_int()
        check(lib.cublasGetVersion_v2(self.handle, ctypes.byref(version)), "cublasGetVersion")
        self.version = version.value
        self.calls = {}
        for dtype, name, scalar in ((np.float64, "cublasDgemm_v2", ctypes.c_double),
                                    (np.float32, "cublasSgemm_v2", ctypes.c_float)):
            fn = getattr(lib, name)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
            fn.restype = ctypes.c_int
            one, zero = scalar(1.0), scalar(0.0)
            self.calls[np.dtype(dtype)] = (fn, one, zero, ctypes.addressof(one), ctypes.addressof(zero))

    def __call__(self, a, a_at: int, b, b_at: int, out, out_at: int, m: int, k: int, n: int) -> None:
        dtype = np.dtype(out.dtype)
        if a.dtype != dtype or b.dtype != dtype:
            raise TypeError(f"gemm over {a.dtype}, {b.dtype} into {dtype}: one dtype expected")
        fn, _one, _zero, one, zero = self.calls[dtype]
        size = dtype.itemsize
        pa, pb, pc = (x.__cuda_array_interface__["data"][0] + at * size
                      for x, at in ((a, a_at), (b, b_at), (out, out_at)))
        check(fn(self.handle, 0, 0, n, m, k, one, pb, n, pa, k, zero, pc, n), "gemm")


def check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"cuBLAS {what} failed (cublasStatus_t {status})")


_GEMM: dict = {}
_FAILURES: list = []


def gemm(device: int = 0) -> Gemm | None:
    """The Gemm of GPU ``device`` (a cuBLAS handle is bound to the device current when it is created: the caller
    has selected it), created on first use, or None where no cuBLAS loads or DPSYCL_CUBLAS is 'off';
    ``why_not()`` says which."""
    if device in _GEMM:
        return _GEMM[device]
    found = None
    if not switched_off():
        for path in library_paths():
            try:
                found = Gemm(ctypes.CDLL(path), path)
                break
            except (OSError, AttributeError, RuntimeError) as exc:
                _FAILURES.append(f"{path}: {exc}")
        if found is None:
            # slower, not wrong: say so once per device, where a user looking for the cause will see it
            log.info("cuda:%d: %s; the fitting net runs in the kernels' own dense layers", device, why_not())
    _GEMM[device] = found
    return found


def why_not() -> str:
    if switched_off():
        return "DPSYCL_CUBLAS=off"
    tried = "; ".join(f for f in _FAILURES if "cannot open shared object" not in f)
    return ("no usable libcublas (tried DPSYCL_CUBLAS, NVIDIA's pip wheels, CUDA_HOME, the loader's path)"
            + (f": {tried}" if tried else ""))
