"""Probe, not the pipeline: how fast can a plain-Python register-tiled dense layer run under numba-cuda?

Issue 14's fitting kernel (device_kernels/se_e2_a_fitting.py) reaches ≈ 23% of the H200's FP64 peak: four
atoms per work-group, each weight loaded from L2 feeding four multiply-adds.  The alternative is the
fitting net as one dense layer at a time over all atoms of a species, y = φ(x·W + b), each a tiled
product: a work-group takes BM rows (atoms) × BN outputs, stages BK-deep slices of x and W in
group-local memory, and each lane keeps TM × TN sums in registers, so one local load feeds TN (or TM)
multiply-adds.  This script times that body alone for the cuag fitting net's shapes (131,072 × 512 → 120
and 131,072 × 120 → 120) in both precisions and several tilings, checks it against numpy, and prints
TFLOP/s.  It decides whether building the layered fitting path is worth it (benchmarks/NOTES.md,
session 24).

    (device tool) OUT=$OUT STAGE=/tmp/st bash -c 'source benchmarks/gpu_stage.sh; python3 -P benchmarks/gpu_dense_tile_probe.py'
    python3 benchmarks/gpu_dense_tile_probe.py [--rows 131072] [--repeats 20] [--output F.json]
    NUMBA_ENABLE_CUDASIM=1 python3 benchmarks/gpu_dense_tile_probe.py --rows 96 --repeats 1   # check only
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from dpsycl.backends import cuda as _dpsycl_cuda  # noqa: F401  (its NumPy 2.4 shim for numba-cuda, first)
from numba import cuda  # noqa: E402


def make_kernel_scalar(bm: int, bn: int, bk: int, dtype):
    """A kernel computing y = tanh(x·W + b) and s = 1 − y² for a (bm × bn) tile per block of (bm/4)·(bn/4)
    lanes; lane (r, c) owns rows r + i·(bm/4) and columns c + j·(bn/4), i, j < 4, as sixteen scalar sums, each
    k's four values of x and four of W loaded once into scalars; the slices staged by fixed per-lane
    positions.  (The probe's first form kept the sums in a private array and ran at 3.3–5.2 TFLOP/s in
    float64: benchmarks/NOTES.md, session 24; it is in this file's history.)"""
    lanes_c = bn // 4
    lanes_r = bm // 4
    nlane = lanes_r * lanes_c
    a_size = bk * bm
    b_size = bk * bn
    a_per_lane = a_size // nlane
    b_per_lane = b_size // nlane
    nb = np.dtype(dtype)

    @cuda.jit(fastmath=False)
    def dense(x, w, b, y, s, n_rows, k_in, n_out):
        lane = cuda.threadIdx.x
        row0 = cuda.blockIdx.x * bm
        col0 = cuda.blockIdx.y * bn
        sh_a = cuda.shared.array(a_size, nb)
        sh_b = cuda.shared.array(b_size, nb)
        tr = lane // lanes_c
        tc = lane % lanes_c
        z = 0.0 * w[0]
        c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = z
        c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = z
        for k0 in range(0, k_in, bk):
            for u in range(a_per_lane):
                e = lane + u * nlane
                r = e // bk
                kk = e % bk
                v = z
                if row0 + r < n_rows and k0 + kk < k_in:
                    v = x[(row0 + r) * k_in + k0 + kk]
                sh_a[kk * bm + r] = v
            for u in range(b_per_lane):
                e = lane + u * nlane
                kk = e // bn
                c = e % bn
                v = z
                if k0 + kk < k_in and col0 + c < n_out:
                    v = w[(k0 + kk) * n_out + col0 + c]
                sh_b[kk * bn + c] = v
            cuda.syncthreads()
            for kk in range(bk):
                ab = kk * bm + tr
                a0 = sh_a[ab]
                a1 = sh_a[ab + lanes_r]
                a2 = sh_a[ab + 2 * lanes_r]
                a3 = sh_a[ab + 3 * lanes_r]
                bb = kk * bn + tc
                b0 = sh_b[bb]
                b1 = sh_b[bb + lanes_c]
                b2 = sh_b[bb + 2 * lanes_c]
                b3 = sh_b[bb + 3 * lanes_c]
                c00 += a0 * b0
                c01 += a0 * b1
                c02 += a0 * b2
                c03 += a0 * b3
                c10 += a1 * b0
                c11 += a1 * b1
                c12 += a1 * b2
                c13 += a1 * b3
                c20 += a2 * b0
                c21 += a2 * b1
                c22 += a2 * b2
                c23 += a2 * b3
                c30 += a3 * b0
                c31 += a3 * b1
                c32 += a3 * b2
                c33 += a3 * b3
            cuda.syncthreads()
        store_row(y, s, b, row0 + tr, col0 + tc, lanes_c, n_rows, n_out, c00, c01, c02, c03)
        store_row(y, s, b, row0 + tr + lanes_r, col0 + tc, lanes_c, n_rows, n_out, c10, c11, c12, c13)
        store_row(y, s, b, row0 + tr + 2 * lanes_r, col0 + tc, lanes_c, n_rows, n_out, c20, c21, c22, c23)
        store_row(y, s, b, row0 + tr + 3 * lanes_r, col0 + tc, lanes_c, n_rows, n_out, c30, c31, c32, c33)

    return dense, nlane


@cuda.jit(device=True, inline=True)
def store_one(y, s, b, r, c, n_rows, n_out, acc):
    if r < n_rows and c < n_out:
        h = math.tanh(acc + b[c])
        y[r * n_out + c] = h
        s[r * n_out + c] = 1.0 - h * h


@cuda.jit(device=True, inline=True)
def store_row(y, s, b, r, c, step, n_rows, n_out, v0, v1, v2, v3):
    store_one(y, s, b, r, c, n_rows, n_out, v0)
    store_one(y, s, b, r, c + step, n_rows, n_out, v1)
    store_one(y, s, b, r, c + 2 * step, n_rows, n_out, v2)
    store_one(y, s, b, r, c + 3 * step, n_rows, n_out, v3)


TILINGS = {
    # name: (bm, bn, bk), four rows × four columns per lane
    "s32x64x16": (32, 64, 16),
    "s64x64x16": (64, 64, 16),
    "s64x64x8": (64, 64, 8),
    "s32x128x8": (32, 128, 8),
}


def run(rows: int, repeats: int, precisions, tilings, shapes) -> list[dict]:
    results = []
    rng = np.random.default_rng(7)
    for prec in precisions:
        dt = np.dtype(prec)
        for k_in, n_out in shapes:
            x = rng.standard_normal((rows, k_in)).astype(dt) * 0.1
            w = rng.standard_normal((k_in, n_out)).astype(dt) * 0.1
            b = rng.standard_normal(n_out).astype(dt) * 0.1
            want = np.tanh(x.astype(np.float64) @ w.astype(np.float64) + b)
            dx, dw, db = cuda.to_device(x.ravel()), cuda.to_device(w.ravel()), cuda.to_device(b)
            dy = cuda.device_array(rows * n_out, dt)
            ds = cuda.device_array(rows * n_out, dt)
            for name in tilings:
                bm, bn, bk = TILINGS[name]
                kern, nlane = make_kernel_scalar(bm, bn, bk, dt)
                grid = (-(-rows // bm), -(-n_out // bn))
                kern[grid, nlane](dx, dw, db, dy, ds, rows, k_in, n_out)
                cuda.synchronize()
                err = float(np.max(np.abs(dy.copy_to_host().reshape(rows, n_out) - want)))
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    kern[grid, nlane](dx, dw, db, dy, ds, rows, k_in, n_out)
                    cuda.synchronize()
                    times.append(time.perf_counter() - t0)
                t = float(np.median(times))
                flop = 2.0 * rows * k_in * n_out
                regs = None
                try:
                    regs = next(iter(kern.get_regs_per_thread().values()))
                except Exception:       # the simulator has no registers
                    pass
                row = {"precision": prec, "k_in": k_in, "n_out": n_out, "rows": rows, "tiling": name,
                       "lanes": nlane, "ms": t * 1e3, "tflops": flop / t / 1e12, "max_err": err, "registers": regs}
                results.append(row)
                print(f"{prec:8s} {k_in:4d}->{n_out:4d} {name:14s} lanes {nlane:3d} regs {regs}  "
                      f"{t * 1e3:8.3f} ms  {flop / t / 1e12:6.2f} TFLOP/s  max|err| {err:.1e}", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=131072)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--precisions", default="float64,float32")
    ap.add_argument("--tilings", default=",".join(TILINGS))
    ap.add_argument("--output")
    args = ap.parse_args()
    results = run(args.rows, args.repeats, args.precisions.split(","), args.tilings.split(","),
                  [(512, 120), (120, 120)])
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"results": results}, f, indent=1)


if __name__ == "__main__":
    main()
