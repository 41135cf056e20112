"""Four rules numba applies to every Python function that dpsycl's kernels change, for its kernels only.

All are installed into a target's numba modules once and act only while ``kernel_rules(dtype)``
is active, which each backend holds around its kernel launches (the kernels are compiled at their
first launch), and only for the target context they were installed for: every other numba target,
and kernels that other code launches, keep numba's semantics.

**Direct indexing.**
numba lowers ``a[i]`` for a signed integer ``i`` as ``a[i + len(a) if i < 0 else i]`` (Python's
meaning of a negative index) unless LLVM proves ``i >= 0``, which it cannot for an offset into a
flat array such as ``w[mo + k * n_out + o]`` (numba's integer arithmetic carries no no-overflow
flags).  That select sits in every inner loop of every kernel, and it also keeps the compiler from
turning ``mo + k * n_out + o`` into a pointer that steps by ``n_out``.  On the OpenCL CPU device it
was 33 of 62 instructions per pass of the fitting net's register-blocked loop; on an H200 the
work-group kernel's executed instructions were 73% integer (ISETP and SEL alone 18%) against 6% of
floating point (Nsight Compute, benchmarks/NOTES.md, session 8).  dpsycl's kernel bodies never
index with a negative number (their arrays are laid out from 0, and empty neighbour slots (−1)
are tested before they are used), so inside dpsycl's launches ``a[i]`` is element ``i``.

The ``fix_integer_index`` that a target's array lowering looks up at each compilation (numba's own
for numba-dpex's SPIR-V target, numba-cuda's vendored copy for the CUDA target) is wrapped.
``DPSYCL_WRAPAROUND=1`` in the environment keeps the wraparound for dpsycl's kernels too (to check
that a body does not rely on a negative index: the results must not change).

**Float literals in the kernel's precision.**  numba types a Python float constant (``1.0 - y * y``,
``0.5 * z``, a module constant such as GELU_C) as float64, and float64 with float32 gives float64,
so a float32 kernel ran much of its arithmetic in float64 with a conversion at each load: on an
H200, 3% of its executed instructions were F2F conversions and its FP64 instructions outnumbered
what a float32 kernel needs (Nsight Compute, session 8).  In a float32 kernel's compilation a float
constant is typed float32, as C's ``1.0f`` would be; float64 kernels are unchanged.  A float32
kernel thereby computes in float32 throughout, except where a body mixes in an integer (numba
gives float32 with int64 float64) or a float64 array.  Device functions are compiled once per
argument types, so each precision keeps its own compiled bodies (the backends' kernel caches are
per precision): a body with integer arguments only must not be shared between the two.
``DPSYCL_FLOAT_LITERALS=float64`` keeps numba's typing in float32 kernels too.

**Integers with float32 give float32.**  numba types ``n * x`` for an integer n and a float32 x as
float64 (int64 converts to float64 "safely", to float32 not), and a variable that takes a float64
value once is float64 everywhere in its function.  An image shift times a box vector
(``sx * cell[0]``) thereby made every pair vector, environment row and switch of a float32 kernel
float64, and a count times an embedding (``n_empty * pad_g[...]``) made the descriptor's sums T
float64: on the H200 a float64 multiply-add and up to two F2F conversions (16 per clock and SM on
sm_90, an eighth of FFMA's rate) for each of T's terms (PTX of group_descriptor, float32: 57
cvt.f64.f32, 40 fma.rn.f64; benchmarks/NOTES.md, session 18).  Inside a float32 kernel's compilation
``+ - * /`` of an integer and a float32 are typed as float32 with float32, as C's usual arithmetic
conversions do: the integers these bodies mix in (shifts, counts, a row's slots, table intervals) are
far below 2²⁴, where the conversion is exact.  One is not: a slot number of the whole list (i·nnei + s,
past 2²⁴ from 93,207 atoms of 180 slots), which the gather turns into its row through a float estimate;
until session 33 that estimate put a row's last slot into the next row from slot ≈ 6.1·10⁶ on, in
float32 only (device_kernels/environment.py: slot_row now computes it in float64: ``float()`` is float64
under these rules too).  The same switch (``DPSYCL_FLOAT_LITERALS=float64``) keeps numba's
typing.

**64-bit integers to floats without a library call (SYCL).**  A vector of int64 has no conversion to
float64 on x86 below AVX-512DQ: the OpenCL CPU compiler splits every ``k + zero``, ``sx * cell[0]`` or
``(idx - n_low) * step`` of a vectorised kernel into one call of its SVML routine per lane (on an AVX2
Zen 3, 133 call sites in the compressed descriptor pass, 23 in its gradient pass: benchmarks/NOTES.md,
session 29).  In the SPIR-V target's kernels such a conversion is built from the halves, each of which
vectorises: the high word as an int32 (``vcvtdq2pd``), the low word through the exponent of 2⁵²
(an integer ``or`` and a float subtraction), then hi·2³² + lo, rounded once: the value a direct
conversion gives for every int64 (float32: through float64, the same for |k| < 2⁵³).  CUDA converts
natively and keeps numba's cast.
"""
from __future__ import annotations

import contextlib
import operator
import os
import threading

import numpy as np
from numba.core import types

_STATE = threading.local()
#: the environment's choices, read once: compiled kernels are cached for the process
KEEP_WRAPAROUND = os.environ.get("DPSYCL_WRAPAROUND", "0") not in ("", "0")
FLOAT64_LITERALS = os.environ.get("DPSYCL_FLOAT_LITERALS", "") == "float64"


def install(arrayobj, context_class) -> None:
    """Wrap ``arrayobj.fix_integer_index`` (a numba array-lowering module) so that kernels of
    ``context_class`` compiled inside ``kernel_rules()`` index directly; once per module."""
    original = arrayobj.fix_integer_index
    if getattr(original, "dpsycl_direct", None) is not None:
        original.dpsycl_direct.add(context_class)
        return
    contexts = {context_class}

    def fix_integer_index(context, builder, idxty, idx, size):
        if idxty.signed and getattr(_STATE, "direct", False) and isinstance(context, tuple(contexts)):
            return context.cast(builder, idx, idxty, types.intp)
        return original(context, builder, idxty, idx, size)

    fix_integer_index.dpsycl_direct = contexts
    # the lowering looks fix_integer_index up in its module's globals at each compilation
    arrayobj.fix_integer_index = fix_integer_index


#: the operators an integer and a float32 are typed float32 for (compile_rules' third rule)
MIXED_ARITHMETIC = frozenset({operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd,
                              operator.isub, operator.imul, operator.itruediv})


def integer_with_float32(a, b) -> bool:
    """Whether the operand types are an integer and a float32, in either order."""
    return ((isinstance(a, types.Integer) and b == types.float32)
            or (a == types.float32 and isinstance(b, types.Integer)))


def install_typing_rules(typing_context_class) -> None:
    """Wrap ``typing_context_class.resolve_value_type`` (the typing of a constant) and
    ``resolve_function_type`` (of an operator's operands), inherited by the target's typing context, so
    that float constants and integer-with-float32 arithmetic follow ``kernel_rules``; once per class."""
    original = typing_context_class.resolve_value_type
    if getattr(original, "dpsycl_literals", False):
        return

    def resolve_value_type(self, val):
        if type(val) is float and getattr(_STATE, "float32", False):
            return types.float32
        return original(self, val)

    resolve_value_type.dpsycl_literals = True
    typing_context_class.resolve_value_type = resolve_value_type
    resolve_function = typing_context_class.resolve_function_type

    def resolve_function_type(self, func, args, kws):
        if (getattr(_STATE, "float32", False) and not kws and len(args) == 2
                and getattr(func, "typing_key", func) in MIXED_ARITHMETIC and integer_with_float32(*args)):
            return resolve_function(self, func, (types.float32, types.float32), kws)
        return resolve_function(self, func, args, kws)

    typing_context_class.resolve_function_type = resolve_function_type


def install_conversions(context_class) -> None:
    """Wrap ``context_class.cast`` so that kernels compiled inside ``kernel_rules()`` convert signed 64-bit
    integers to floats by halves (the fourth rule); once per class."""
    original = context_class.cast
    if getattr(original, "dpsycl_conversions", False):
        return

    def cast(self, builder, val, fromty, toty):
        if (getattr(_STATE, "active", False) and isinstance(fromty, types.Integer) and fromty.signed
                and fromty.bitwidth == 64 and isinstance(toty, types.Float)):
            return int64_to_float(builder, val, self.get_value_type(toty))
        return original(self, builder, val, fromty, toty)

    cast.dpsycl_conversions = True
    context_class.cast = cast


def int64_to_float(builder, val, float_type):
    """float(val) for an LLVM i64 ``val``: high word (signed) · 2³² + low word (unsigned), in float64."""
    from llvmlite import ir
    i64, f64 = ir.IntType(64), ir.DoubleType()
    high = builder.sitofp(builder.trunc(builder.lshr(val, ir.Constant(i64, 32)), ir.IntType(32)), f64)
    # 2⁵² + low, exactly: the low word in the mantissa of a float64 whose exponent is 52
    low = builder.bitcast(builder.or_(builder.and_(val, ir.Constant(i64, 0xFFFFFFFF)),
                                      ir.Constant(i64, 0x4330000000000000)), f64)
    low = builder.fsub(low, ir.Constant(f64, 4503599627370496.0))
    result = builder.fadd(builder.fmul(high, ir.Constant(f64, 4294967296.0)), low)
    return result if float_type == f64 else builder.fptrunc(result, float_type)


def active_rules() -> tuple[bool, bool]:
    """(direct indexing, float32 literals): what a compilation on this thread would get now."""
    return getattr(_STATE, "direct", False), getattr(_STATE, "float32", False)


@contextlib.contextmanager
def kernel_rules(dtype=np.float64):
    """Kernels compiled inside this block (on this thread) index arrays without wraparound, convert int64 to
    floats by halves where ``install_conversions`` was installed and, for a float32 ``dtype``, type float
    constants as float32."""
    before = getattr(_STATE, "direct", False), getattr(_STATE, "float32", False), getattr(_STATE, "active", False)
    _STATE.direct = not KEEP_WRAPAROUND
    _STATE.float32 = np.dtype(dtype) == np.float32 and not FLOAT64_LITERALS
    _STATE.active = True
    try:
        yield
    finally:
        _STATE.direct, _STATE.float32, _STATE.active = before
