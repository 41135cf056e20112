#!/usr/bin/env python3
"""Registers, stack (local memory) and spills of the CUDA work-group kernel, without a GPU.

    CUDA_HOME=/usr/local/cuda python benchmarks/group_kernel_resources.py tests/data/cuag/model.h5 [--cc 9.0]
        [--precision float32] [--sass /tmp/k]     # then: python benchmarks/sass_loops.py /tmp/k.group_atom_energy.sass

``dpsycl.backends.cuda_ptx.work_group_ptx`` compiles the very wrappers and bodies that
``dpsycl.backends.cuda`` launches to PTX with libNVVM; ``ptxas -v`` then reports what the GPU would load:
registers per thread, the stack frame (private arrays numba put in local memory) and spill bytes.
No GPU needed, only the CUDA toolkit (libNVVM, ptxas).  The driver's JIT and a newer numba-cuda may
allocate registers differently: a guide, not the measurement (dpsycl.backends.cuda.kernel_resources
on the GPU is).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np


def ptxas_report(ptx: str, cc: str, max_registers: int = 0, sass: str | None = None) -> dict:
    """ptxas -v's resource line of the kernel in ``ptx`` for sm_<cc> (registers capped where > 0, as
    DPSYCL_CUDA_GROUP_MAX_REGISTERS caps them); with ``sass``, the cubin's SASS listing is written there
    (cuobjdump: the CUDA toolkit's, or the nvidia-cuda-cuobjdump wheel's on PATH)."""
    ptxas = shutil.which("ptxas") or os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        with open(path, "w") as fh:
            fh.write(ptx)
        cap = [f"-maxrregcount={max_registers}"] if max_registers > 0 else []
        proc = subprocess.run([ptxas, f"-arch=sm_{cc.replace('.', '')}", "-v", "-O3", *cap, path, "-o",
                               os.path.join(tmp, "kernel.cubin")], capture_output=True, text=True)
        text = proc.stdout + proc.stderr
        if proc.returncode:
            raise RuntimeError(f"ptxas failed: {text[-2000:]}")
        if sass:
            cuobjdump = shutil.which("cuobjdump") or os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"),
                                                                  "bin", "cuobjdump")
            with open(sass, "w") as fh:
                subprocess.run([cuobjdump, "-sass", os.path.join(tmp, "kernel.cubin")], stdout=fh, check=True)
    out = {"ptxas": " | ".join(line.split("info    : ")[-1] for line in text.splitlines() if "info" in line)}
    for key, pattern in (("registers", r"Used (\d+) registers"), ("stack_bytes", r"(\d+) bytes stack frame"),
                         ("spill_store_bytes", r"(\d+) bytes spill stores"),
                         ("spill_load_bytes", r"(\d+) bytes spill loads"), ("shared_bytes", r"(\d+) bytes smem")):
        found = re.findall(pattern, text)
        out[key] = int(found[-1]) if found else 0
    return out


def align_shared_arrays(nbytes: int) -> None:
    """Have a numba whose cuda.shared.array takes no alignment (numba's own CUDA target, before numba-cuda
    0.11) align group-local arrays to ``nbytes`` as dpsycl.backends.cuda asks newer ones to
    (SHARED_ALIGNMENT), so that the PTX here is the one the GPU's numba-cuda compiles: libNVVM merges
    adjacent loads into vector loads only where it knows the alignment."""
    from llvmlite import ir
    from numba.core import cgutils
    from numba.cuda import cudaimpl
    from numba.cuda.cudadrv import nvvm

    class AlignedGlobal(ir.GlobalVariable):
        @property
        def align(self):
            return self._forced_align

        @align.setter
        def align(self, value):
            self._forced_align = None if value is None else max(value, nbytes)

    def add_global_variable(module, ty, name, addrspace=0):
        gv = cgutils.add_global_variable(module, ty, name, addrspace)
        if addrspace == nvvm.ADDRSPACE_SHARED:
            gv.__class__ = AlignedGlobal
            gv.align = nbytes
        return gv

    cudaimpl.cgutils = type(cgutils)("cgutils_aligned_shared")
    cudaimpl.cgutils.__dict__.update(vars(cgutils))
    cudaimpl.cgutils.add_global_variable = add_global_variable


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--cc", default="9.0", help="compute capability (H100/H200: 9.0)")
    p.add_argument("--precision", choices=("float64", "float32"))
    p.add_argument("--max-registers", type=int, default=0,
                   help="cap every kernel as DPSYCL_CUDA_GROUP_MAX_REGISTERS does (default: cuda.register_cap)")
    p.add_argument("--layout", default="group", choices=("group", "split"),
                   help="the one work-group kernel, or the split layout's three kernels")
    p.add_argument("--output", help="write the report as JSON")
    p.add_argument("--ptx", help="also write each kernel's PTX to PTX.<body>.ptx")
    p.add_argument("--sass", help="also write each kernel's SASS to SASS.<body>.sass (benchmarks/sass_loops.py "
                                  "reads it)")
    args = p.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        p.error("the simulator compiles nothing: unset NUMBA_ENABLE_CUDASIM")

    import dpsycl
    from dpsycl.backends import cuda as cuda_backend
    from dpsycl.backends.cuda_ptx import work_group_ptx
    shared_alloc = getattr(cuda_backend, "shared_alloc", None)      # trees before session 22 align nothing
    if shared_alloc is not None and "alignment" not in shared_alloc():
        align_shared_arrays(cuda_backend.SHARED_ALIGNMENT)
        print(f"this numba takes no shared-array alignment: group-local arrays aligned to "
              f"{cuda_backend.SHARED_ALIGNMENT} B as numba-cuda >= 0.11 aligns them")

    cc = tuple(int(x) for x in args.cc.split("."))
    model = dpsycl.load_model(args.model)
    dt = np.dtype(args.precision or model.precision)
    try:
        kernels = work_group_ptx(model, dt, args.layout, cc)
    except ValueError as exc:
        p.error(str(exc))
    reports = []
    for kernel in kernels:
        body_name, ptx = kernel["body"], kernel.pop("ptx")
        if args.ptx:
            with open(f"{args.ptx}.{body_name}.ptx", "w") as fh:
                fh.write(ptx)
        shared = sum(int(n) for n in kernel["local_arrays"].values()) * np.dtype(kernel["dtype"]).itemsize
        reports.append({**kernel, "shared_bytes_declared": shared,
                        **ptxas_report(ptx, args.cc, args.max_registers or cuda_backend.register_cap(body_name, dt),
                                       f"{args.sass}.{body_name}.sass" if args.sass else None)})
    for row in reports:
        print(f"{row['body']} ({row['dtype']}, {row['block']} lanes, sm_{args.cc}): {row['registers']} registers, "
              f"stack {row['stack_bytes']} B, spills {row['spill_store_bytes']}/{row['spill_load_bytes']} B, "
              f"shared {row['shared_bytes_declared']} B")
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(reports, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
