"""dpsycl's compile rules (backends/compile_rules.py) act on its kernels only: numba's other targets
keep Python's negative indices, float64 literals and integer-with-float32 arithmetic in float64, even
inside ``kernel_rules``."""
import operator

import numpy as np
import pytest
from numba import njit, types

from dpsycl.backends import cuda  # noqa: F401  (installs the rules for the CUDA target)
from dpsycl.backends import sycl_available
from dpsycl.backends.compile_rules import active_rules, kernel_rules


def test_cpu_target_keeps_python_semantics_inside_kernel_rules():
    if sycl_available():
        from dpsycl.backends import sycl  # noqa: F401  (and for the SPIR-V target)

    @njit
    def last_third_and_triple(a, i, n):
        return a[i], a[0] * (1.0 / 3.0), n * a[1]

    a = np.arange(5, dtype=np.float32) + 1
    with kernel_rules(np.float32):
        last, third, triple = last_third_and_triple(a, -1, 3)
    assert last == 5.0                        # wrapped, as Python does
    assert third == 1.0 / 3.0                 # computed in float64: the literal stayed float64
    assert isinstance(third, float)
    assert isinstance(triple, float)          # int64 with float32: float64, numba's rule


def test_rules_are_scoped_and_restored():
    from dpsycl.backends import compile_rules
    assert active_rules() == (False, False)
    with kernel_rules(np.float32):
        assert active_rules() == (not compile_rules.KEEP_WRAPAROUND, not compile_rules.FLOAT64_LITERALS)
        with kernel_rules(np.float64):
            assert active_rules() == (not compile_rules.KEEP_WRAPAROUND, False)
        assert active_rules()[1] is (not compile_rules.FLOAT64_LITERALS)
    assert active_rules() == (False, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_precision_has_its_own_compiled_bodies(dtype):
    other = np.float64 if dtype == np.float32 else np.float32
    assert cuda.compiled_bodies(dtype) is not cuda.compiled_bodies(other)


def kernel_typing_contexts():
    """The typing contexts compile_rules is installed into here: CUDA's always, SPIR-V's with the SYCL stack."""
    from numba.cuda.target import CUDATypingContext
    contexts = [CUDATypingContext()]
    if sycl_available():
        from dpsycl.backends import sycl
        contexts.append(sycl.SPIRVTypingContext())
    return contexts


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd])
def test_an_integer_with_float32_is_float32_in_float32_kernels_only(op):
    """n·x of an integer and a float32 is float32 inside a float32 kernel's compilation (C's rule: an image
    shift times a box vector made a float32 kernel's pair vectors float64), float64 outside it and in
    float64 kernels, and an integer with a float64 stays float64."""
    from dpsycl.backends import compile_rules
    mixed = types.float64 if compile_rules.FLOAT64_LITERALS else types.float32   # the switch keeps numba's
    for ctx in kernel_typing_contexts():
        ctx.refresh()
        fn = ctx.resolve_value_type(op)

        def result(*args):
            return ctx.resolve_function_type(fn, args, {}).return_type
        with kernel_rules(np.float32):
            assert result(types.int64, types.float32) == mixed
            assert result(types.float32, types.int32) == mixed
            assert result(types.int64, types.float64) == types.float64
            assert result(types.float32, types.float32) == types.float32
        with kernel_rules(np.float64):
            assert result(types.int64, types.float32) == types.float64
        assert result(types.int64, types.float32) == types.float64
