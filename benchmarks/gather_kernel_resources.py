#!/usr/bin/env python3
"""Registers, spills and global loads of the two gather kernels (gather_forces, gather_forces_and_virials) per
precision, compiled offline to PTX (numba CUDA target, libNVVM) and assembled by ptxas for sm_90, no GPU needed:

    PATH=/usr/local/cuda-13.0/bin:$PATH CUDA_HOME=/usr/local/cuda-13.0 python benchmarks/gather_kernel_resources.py

The numbers of NOTES.md session 34 (gather_forces 32 registers in both precisions)."""
import os
import re
import sys

import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numba import cuda, types as nt
from dpsycl.backends.cuda import build_kernel_cache
from dpsycl.backends.cuda_ptx import compute_capability
from dpsycl.backends.compile_rules import kernel_rules
from group_kernel_resources import ptxas_report
for dt in (np.float64, np.float32):
    cache = build_kernel_cache(lambda w: w, dt)
    F = nt.float64 if dt == np.float64 else nt.float32
    A = lambda t: nt.Array(t, 1, "C")
    I = nt.int64
    specs = {
      "gather_forces": (["pos","nnei","ncentres","pair_grad","row_sums","row_sum","rev","rev_count","rev_cap","accumulate","force"],
                        [A(F), I, I, A(F), I, A(F), A(nt.int32), A(nt.int32), I, I, A(F)]),
      "gather_forces_and_virials": (["pos","cell","nlist","nshift","nnei","ncentres","pair_grad","row_sums","row_sum","rev","rev_count","rev_cap","accumulate","force","atom_virial"],
                        [A(F), A(F), A(nt.int32), A(nt.int32), I, I, A(F), I, A(F), A(nt.int32), A(nt.int32), I, I, A(F), A(F)]),
    }
    for name, (names, tys) in specs.items():
        kern, vals = cache.item_kernel(name, tuple(names), tuple([None]*len(names)), {}, dt)
        fn = kern.py_func if hasattr(kern, "py_func") else kern
        with kernel_rules(dt), compute_capability((9, 0)):
            ptx, _ = cuda.compile_ptx(fn, (I,) + tuple(tys), cc=(9, 0))
        rep = ptxas_report(ptx, "9.0")
        loads = len(re.findall(r"ld\.global", ptx))
        print(np.dtype(dt).name, name, rep["registers"], "regs; spills", rep["spill_store_bytes"], "; ld.global", loads)
