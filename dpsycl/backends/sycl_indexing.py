"""Array indexing without Python's negative-index wraparound in dpsycl's SYCL kernels.

numba lowers ``a[i]`` for a signed integer ``i`` as ``a[i + len(a) if i < 0 else i]`` (Python's
meaning of a negative index) unless LLVM proves ``i >= 0``, which it cannot for an offset into a
flat array such as ``w[mo + k * n_out + o]`` (numba's integer arithmetic carries no no-overflow
flags).  On the OpenCL CPU device that select is 3–4 scalar integer instructions per array
access, or about 7 vector instructions per 16 lanes, in every inner loop of every kernel: in the
fitting net's register-blocked loop it was 33 of 62 instructions per pass (benchmarks/NOTES.md,
session 7).  dpsycl's kernel bodies never index with a negative number (their arrays are laid
out from 0, and empty neighbour slots (−1) are tested before they are used), so inside dpsycl's
launches the SYCL target indexes directly: ``a[i]`` is element ``i``.

The change is scoped: ``numba.np.arrayobj.fix_integer_index`` is wrapped once, and the wrapper
skips the wraparound only for the SPIR-V target and only while ``direct_indexing()`` is active,
which the SYCL backend holds around its kernel launches (numba-dpex compiles a kernel at its first
launch).  Every other numba target, and numba-dpex kernels that other code launches, keep
Python's semantics.  ``DPSYCL_SYCL_WRAPAROUND=1`` in the environment keeps them for dpsycl's
kernels too (to check that a body does not rely on a negative index: the results must not change).
"""
from __future__ import annotations

import contextlib
import os
import threading

from numba.core import types
from numba.np import arrayobj
from numba_dpex.kernel_api_impl.spirv.target import SPIRVTargetContext

_STATE = threading.local()
#: the environment's choice, read once: compiled kernels are cached for the process
KEEP_WRAPAROUND = os.environ.get("DPSYCL_SYCL_WRAPAROUND", "0") not in ("", "0")
_numba_fix_integer_index = arrayobj.fix_integer_index


def _fix_integer_index(context, builder, idxty, idx, size):
    """numba's index fix-up, or the index as it stands for dpsycl's SPIR-V kernels."""
    if idxty.signed and getattr(_STATE, "direct", False) and isinstance(context, SPIRVTargetContext):
        return context.cast(builder, idx, idxty, types.intp)
    return _numba_fix_integer_index(context, builder, idxty, idx, size)


@contextlib.contextmanager
def direct_indexing():
    """Kernels compiled inside this block (on this thread) index arrays without wraparound."""
    before = getattr(_STATE, "direct", False)
    _STATE.direct = not KEEP_WRAPAROUND
    try:
        yield
    finally:
        _STATE.direct = before


# numba's basic_indexing looks fix_integer_index up in its module at each compilation
if arrayobj.fix_integer_index is _numba_fix_integer_index:
    arrayobj.fix_integer_index = _fix_integer_index
