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


#: int64 values whose conversion by halves could go wrong: signs, the word boundary, rounding past 2⁵³, the ends
CONVERSION_CASES = np.array([0, 1, -1, 7, -7, 2 ** 31 - 1, -2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, -2 ** 32 - 1,
                             2 ** 52 + 1, 2 ** 53 - 1, -2 ** 53 + 1, 2 ** 53 + 1, 2 ** 53 + 3, -2 ** 53 - 3,
                             2 ** 62 + 2 ** 10 + 1, 2 ** 63 - 1, -2 ** 63, -2 ** 63 + 1, 123_456_789_012_345],
                            dtype=np.int64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sycl_kernels_convert_int64_to_float_as_numpy(dtype):
    """The fourth rule (an int64 converted by its halves in SYCL kernels) gives what a direct conversion
    gives: NumPy's correctly rounded int64 → float64 for every int64, and int64 → float32 below 2⁵³."""
    if not sycl_available():
        pytest.skip("no SYCL stack here")
    import dpnp
    import numba_dpex as dpex
    from numba_dpex import kernel_api
    from dpsycl.backends import sycl  # noqa: F401  (installs the rules for the SPIR-V target)

    @dpex.kernel
    def to_float(item: kernel_api.Item, ints, floats):
        i = item.get_id(0)
        floats[i] = ints[i] + floats[i]          # an int64 with the float array's type: one conversion

    rng = np.random.default_rng(5)
    ints = np.concatenate([CONVERSION_CASES, rng.integers(-2 ** 63, 2 ** 63 - 1, 64, dtype=np.int64),
                           rng.integers(-2 ** 40, 2 ** 40, 64, dtype=np.int64)])
    if dtype == np.float32:
        ints = ints[np.abs(ints.astype(np.float64)) < 2.0 ** 53]
    device_ints = dpnp.asarray(ints, device="opencl:cpu" if _has_cpu_device() else None)
    device_floats = dpnp.zeros(ints.size, dtype=dtype, device=device_ints.device)
    with kernel_rules(dtype):
        dpex.call_kernel(to_float, dpex.Range(ints.size), device_ints, device_floats)
    got = dpnp.asnumpy(device_floats)
    np.testing.assert_array_equal(got, ints.astype(dtype))


def _has_cpu_device():
    import dpctl
    return any(d.is_cpu for d in dpctl.get_devices())
