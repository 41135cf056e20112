"""Probe (session 33): could a float32 product beat cuBLAS's sgemm at the fitting net's shapes without losing float32's
accuracy?  Hopper's FP32 FMA pipe and its FP64 tensor cores have the same peak, so sgemm is barely faster than dgemm
there (NOTES.md, session 33); TF32 tensor cores are ~7x faster but keep 10 mantissa bits.  Three TF32 products of
operands split as x = hi + lo (hi: x rounded to TF32, lo = x - hi exactly) recover about float32's accuracy
("3xTF32": lo·hi + hi·lo + hi·hi, the lo·lo term dropped).

For each (rows, k, n) of cuag's fitting net, row-major float32 operands in numba device arrays, timed with CUDA
events: sgemm (default math), one TF32 product (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32), three TF32 products of
pre-split operands, cuBLAS's BF16x9 emulation where this cuBLAS and GPU have it (CUBLAS_COMPUTE_32F_EMULATED_16BFX9,
emulation strategy EAGER: Blackwell's, likely refused or native here), and the split of A alone (a numba kernel: what
3xTF32 adds unless the kernel producing A writes both parts).  Errors against the float64 product of the same float32
operands, max |C - C64| / max |C64|.  Prints one line per case and writes a JSON.

    python3 benchmarks/gpu_tf32x3_probe.py --output OUT.json
"""
from __future__ import annotations

import argparse
import ctypes
import json

import numpy as np

CUDA_R_32F = 0
COMPUTE_32F = 68
COMPUTE_32F_FAST_TF32 = 77
COMPUTE_32F_EMULATED_16BFX9 = 78
GEMM_DEFAULT = -1
EMULATION_EAGER = 2


def tf32_split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hi = x rounded to nearest with TF32's 10 mantissa bits (low 13 bits zero), lo = x - hi (exact in float32)."""
    bits = x.astype(np.float32).view(np.uint32)
    hi = ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)
    return hi, (x - hi).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default="tf32x3_probe.json")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--rows", default="16384,131072")
    args = ap.parse_args()
    from numba import cuda

    from dpsycl.backends import cuda as _numpy_shim  # noqa: F401 - numba-cuda 0.30 needs np.row_stack (NumPy >= 2.4)
    from dpsycl.backends import cuda_blas
    g = cuda_blas.gemm(0)
    if g is None:
        print("no cuBLAS:", cuda_blas.why_not())
        return 1
    lib = ctypes.CDLL(g.path)
    handle = g.handle
    ex = lib.cublasGemmEx
    ex.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                   ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                   ctypes.c_int]
    ex.restype = ctypes.c_int
    report = {"cublas": g.path, "version": g.version, "gpu": cuda.get_current_device().name.decode()
              if isinstance(cuda.get_current_device().name, bytes) else str(cuda.get_current_device().name),
              "cases": []}
    one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)

    @cuda.jit
    def split_kernel(x, hi, lo):
        i = cuda.grid(1)
        if i < x.size:
            v = x[i]
            b = cuda.libdevice.float_as_int(v)
            h = cuda.libdevice.int_as_float((b + 0x1000) & -8192)
            hi[i] = h
            lo[i] = v - h

    def timed(call, repeats):
        call()
        cuda.synchronize()
        start, stop = cuda.event(), cuda.event()
        start.record()
        for _ in range(repeats):
            call()
        stop.record()
        stop.synchronize()
        return cuda.event_elapsed_time(start, stop) / repeats

    rng = np.random.default_rng(3)
    for rows in (int(r) for r in args.rows.split(",")):
        for k, n in ((512, 120), (120, 120), (120, 512)):
            a = np.tanh(rng.standard_normal((rows, k))).astype(np.float32)
            b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
            ref = a.astype(np.float64) @ b.astype(np.float64)
            scale = float(np.max(np.abs(ref)))
            a_hi, a_lo = tf32_split(a)
            b_hi, b_lo = tf32_split(b)
            a_lo_trunc = a - (a.view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)
            d = {name: cuda.to_device(v.ravel()) for name, v in
                 (("a", a), ("b", b), ("a_hi", a_hi), ("a_lo", a_lo), ("b_hi", b_hi), ("b_lo", b_lo),
                  ("a_lo_trunc", a_lo_trunc))}
            dc = cuda.device_array(rows * n, dtype=np.float32)
            ptr = {name: v.__cuda_array_interface__["data"][0] for name, v in d.items()}
            pc = dc.__cuda_array_interface__["data"][0]
            sgemm = g.calls[np.dtype(np.float32)][0]

            def err():
                cuda.synchronize()
                return float(np.max(np.abs(dc.copy_to_host().reshape(rows, n) - ref)) / scale)

            def gemm_ex(pa, pb, beta, compute):
                # row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ
                return ex(handle, 0, 0, n, rows, k, ctypes.byref(one), pb, CUDA_R_32F, n, pa, CUDA_R_32F, k,
                          ctypes.byref(beta), pc, CUDA_R_32F, n, compute, GEMM_DEFAULT)

            case = {"rows": rows, "k": k, "n": n}
            call = lambda: sgemm(handle, 0, 0, n, rows, k, ctypes.byref(one), ptr["b"], n, ptr["a"], k,  # noqa: E731
                                 ctypes.byref(zero), pc, n)
            case["sgemm_ms"] = timed(call, args.repeats)
            case["sgemm_err"] = err()
            st = gemm_ex(ptr["a"], ptr["b"], zero, COMPUTE_32F_FAST_TF32)
            case["tf32_status"] = st
            if st == 0:
                case["tf32_ms"] = timed(lambda: gemm_ex(ptr["a"], ptr["b"], zero, COMPUTE_32F_FAST_TF32), args.repeats)
                case["tf32_err"] = err()

            def three_products(a_lo, a_hi):
                """lo(A)·hi(B) + hi(A)·lo(B) + hi(A)·hi(B), the small terms first, into C."""
                def call():
                    gemm_ex(ptr[a_lo], ptr["b_hi"], zero, COMPUTE_32F_FAST_TF32)
                    gemm_ex(ptr[a_hi], ptr["b_lo"], one, COMPUTE_32F_FAST_TF32)
                    return gemm_ex(ptr[a_hi], ptr["b_hi"], one, COMPUTE_32F_FAST_TF32)
                return call
            if st == 0:
                # A split by rounding; A fed whole (cuBLAS's own conversion to TF32 taken as hi), with lo from
                # rounding and from truncation: which conversion the tensor cores' inputs get
                for name, a_lo, a_hi in (("tf32x3", "a_lo", "a_hi"), ("tf32x3_unsplit_a", "a_lo", "a"),
                                         ("tf32x3_trunc_a", "a_lo_trunc", "a")):
                    case[f"{name}_ms"] = timed(three_products(a_lo, a_hi), args.repeats)
                    case[f"{name}_err"] = err()
            blocks = (rows * k + 255) // 256
            case["split_a_ms"] = timed(lambda: split_kernel[blocks, 256](d["a"], d["a_hi"], d["a_lo"]), args.repeats)
            if hasattr(lib, "cublasSetEmulationStrategy"):
                case["emulation_strategy_status"] = lib.cublasSetEmulationStrategy(handle, EMULATION_EAGER)
                st = gemm_ex(ptr["a"], ptr["b"], zero, COMPUTE_32F_EMULATED_16BFX9)
                case["bf16x9_status"] = st
                if st == 0:
                    case["bf16x9_ms"] = timed(lambda: gemm_ex(ptr["a"], ptr["b"], zero, COMPUTE_32F_EMULATED_16BFX9),
                                              args.repeats)
                    case["bf16x9_err"] = err()
                lib.cublasSetEmulationStrategy(handle, 0)
            report["cases"].append(case)
            print(json.dumps({key: (round(v, 5) if isinstance(v, float) and v > 1e-3 else v) for key, v in case.items()}))
    json.dump(report, open(args.output, "w"), indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
