"""dpsycl's compile rules (backends/compile_rules.py) act on its kernels only: numba's other targets
keep Python's negative indices and float64 literals, even inside ``kernel_rules``."""
import numpy as np
import pytest
from numba import njit

from dpsycl.backends import cuda  # noqa: F401  (installs the rules for the CUDA target)
from dpsycl.backends import sycl_available
from dpsycl.backends.compile_rules import active_rules, kernel_rules


def test_cpu_target_keeps_python_semantics_inside_kernel_rules():
    if sycl_available():
        from dpsycl.backends import sycl  # noqa: F401  (and for the SPIR-V target)

    @njit
    def last_and_third(a, i):
        return a[i], a[0] * (1.0 / 3.0)

    a = np.arange(5, dtype=np.float32) + 1
    with kernel_rules(np.float32):
        last, third = last_and_third(a, -1)
    assert last == 5.0                        # wrapped, as Python does
    assert third == 1.0 / 3.0                 # computed in float64: the literal stayed float64
    assert isinstance(third, float)


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
