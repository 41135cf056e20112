"""The fitting kernel's multiply-add loops of wide devices (device_kernels/se_e2_a_fitting.py: chunked_sums, the
weights of four terms loaded one chunk ahead, and float32's quad_chunked_sums, the same over chunk numbers), run
as the plain Python they are, against NumPy's dot products.

The models of the suite have layer widths that are multiples of four except tiny_fparam's first layer (35
inputs), so the counts without a whole chunk, or with a remainder after the chunks, are taken here; the
weights array ends at the last weight read, so a load past the matrix raises IndexError.  quad_chunked_sums'
values start and are ``vstride`` apart at multiples of four, as the kernel lays them out for it (quad_ceil);
chunked_sums takes any offsets.
"""
from __future__ import annotations

import numpy as np
import pytest

from dpsycl.device_kernels.se_e2_a_fitting import chunked_sums, quad_ceil, quad_chunked_sums


@pytest.mark.parametrize("quads", [False, True])
@pytest.mark.parametrize("count", range(12))
@pytest.mark.parametrize("off2", [0, 1, 7])
def test_chunked_sums_add_each_term_once(count, off2, quads):
    rng = np.random.default_rng(100 * count + off2)
    sums_of = quad_chunked_sums if quads else chunked_sums
    at = 4 if quads else 2
    vstride, wi, wstep = quad_ceil(count + 3, quads), 3, 5
    vals = rng.standard_normal(at + 3 * vstride + count)
    w = rng.standard_normal(wi + off2 + max(count - 1, 0) * wstep + 1)
    start = rng.standard_normal(8)
    sums = sums_of(vals, vstride, at, count, w, wi, wstep, off2, *start)
    first = w[wi + np.arange(count) * wstep]
    second = w[wi + off2 + np.arange(count) * wstep]
    rows = np.array([vals[j * vstride + at:j * vstride + at + count] for j in range(4)])
    expected = np.concatenate([start[:4] + rows @ first, start[4:] + rows @ second])
    np.testing.assert_allclose(sums, expected, rtol=1e-13, atol=1e-13)
