"""Probe (session 30): where cuBLAS lives on a GPU machine and how fast its GEMMs run at the fitting net's shapes.

For each precision and each (rows, k, n) of cuag's fitting net (512 -> 120 -> 120 -> 120 -> 1, forward X·W and
backward H·Wᵀ), the product of row-major matrices in numba device arrays through cuBLAS's gemm called by ctypes
(C = A·B row-major is Cᵀ = Bᵀ·Aᵀ column-major), timed with CUDA events over repeats, and checked against NumPy;
torch.matmul on the same shapes beside it, where torch is there.  Prints one line per case and writes a JSON.

    python3 benchmarks/gpu_cublas_probe.py --output OUT.json
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import sys
import time

import numpy as np


def candidates() -> list[str]:
    found = []
    try:
        from numba.cuda.cudadrv import libs
        found.append(("numba open_cudalib", libs.get_cudalib("cublas")))
    except Exception as exc:  # noqa: BLE001 - a probe: say what failed
        found.append(("numba open_cudalib", f"failed: {type(exc).__name__}: {exc}"))
    for base in sys.path:
        for pattern in ("nvidia/*/lib/libcublas.so*", "nvidia/cublas/lib/libcublas.so*", "nvidia/cu*/lib/libcublas.so*"):
            found += [("site-packages", p) for p in sorted(glob.glob(os.path.join(base, pattern)))]
    for d in ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"):
        found += [("system", p) for p in sorted(glob.glob(os.path.join(d, "libcublas.so*")))]
    import ctypes.util
    found.append(("find_library", ctypes.util.find_library("cublas")))
    return found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default="cublas_probe.json")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rows", default="2048,16384,65536,131072")
    args = ap.parse_args()
    from numba import cuda
    report = {"candidates": [list(c) for c in candidates()], "cases": []}
    for c in report["candidates"]:
        print("cublas candidate:", c)
    lib = None
    for how, path in report["candidates"]:
        if path and not str(path).startswith("failed") and "libcublasLt" not in str(path):
            try:
                lib = ctypes.CDLL(str(path))
                report["loaded"] = str(path)
                break
            except OSError as exc:
                print("could not load", path, exc)
    if lib is None:
        print("no cuBLAS")
        json.dump(report, open(args.output, "w"), indent=1)
        return 1
    print("loaded", report["loaded"])
    cuda.current_context()
    handle = ctypes.c_void_p()
    st = lib.cublasCreate_v2(ctypes.byref(handle))
    version = ctypes.c_int()
    lib.cublasGetVersion_v2(handle, ctypes.byref(version))
    mode = ctypes.c_int()
    lib.cublasGetMathMode(handle, ctypes.byref(mode))
    report.update(create_status=st, version=version.value, math_mode=mode.value)
    print("cublasCreate", st, "version", version.value, "math mode", mode.value)
    gemms = {np.float64: lib.cublasDgemm_v2, np.float32: lib.cublasSgemm_v2}
    for f in gemms.values():
        f.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        f.restype = ctypes.c_int
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(1)
    shapes = [(k, n) for k, n in ((512, 120), (120, 120), (120, 1), (120, 512))]
    for dtype in (np.float64, np.float32):
        ct = ctypes.c_double if dtype == np.float64 else ctypes.c_float
        one, zero = ct(1.0), ct(0.0)
        for rows in (int(r) for r in args.rows.split(",")):
            for k, n in shapes:
                a = rng.standard_normal((rows, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                da, db = cuda.to_device(a.ravel()), cuda.to_device(b.ravel())
                dc = cuda.device_array(rows * n, dtype=dtype)
                ptr = [x.__cuda_array_interface__["data"][0] for x in (da, db, dc)]

                def call():
                    # row-major C (rows × n) = A (rows × k) B (k × n): column-major Cᵀ = Bᵀ Aᵀ
                    return gemms[dtype](handle, 0, 0, n, rows, k, ctypes.byref(one), ptr[1], n, ptr[0], k,
                                        ctypes.byref(zero), ptr[2], n)
                status = call()
                cuda.synchronize()
                err = float(np.max(np.abs(dc.copy_to_host().reshape(rows, n) - a @ b)) / max(1.0, np.max(np.abs(a @ b))))
                start, stop = cuda.event(), cuda.event()
                start.record()
                t0 = time.perf_counter()
                for _ in range(args.repeats):
                    call()
                host_us = (time.perf_counter() - t0) / args.repeats * 1e6
                stop.record()
                stop.synchronize()
                ms = cuda.event_elapsed_time(start, stop) / args.repeats
                case = {"dtype": np.dtype(dtype).name, "rows": rows, "k": k, "n": n, "status": status, "ms": ms,
                        "tflops": 2.0 * rows * k * n / ms / 1e9, "host_us_per_call": host_us, "rel_err": err}
                if torch is not None:
                    ta, tb = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")
                    torch.matmul(ta, tb)
                    torch.cuda.synchronize()
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    e0.record()
                    for _ in range(args.repeats):
                        torch.matmul(ta, tb)
                    e1.record()
                    torch.cuda.synchronize()
                    case["torch_ms"] = e0.elapsed_time(e1) / args.repeats
                report["cases"].append(case)
                print(json.dumps(case))
    json.dump(report, open(args.output, "w"), indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
