"""The workspace's buffers: reused between calls, reallocated only to grow, and rarely.

A buffer whose size creeps up (an MD run's reverse rows, sized by the longest row, which grows by an
entry every few list builds) must not be reallocated at every step: each reallocation holds the old
and the new array at once (0.9 GB each at 1 M atoms, benchmarks/NOTES.md, session 12).  Checked with
a backend that records its allocations and hands out NumPy arrays; no device needed.
"""
from __future__ import annotations

import math

import numpy as np

from dpsycl.workspace import Workspace


class RecordingBackend:
    def __init__(self):
        self.allocations: list[tuple[int, np.dtype]] = []

    def empty(self, n, dtype):
        self.allocations.append((int(n), np.dtype(dtype)))
        return np.empty(int(n), dtype=dtype)

    def nbytes(self, a) -> int:
        return a.nbytes


def test_a_creeping_buffer_is_reallocated_a_logarithmic_number_of_times():
    backend = RecordingBackend()
    ws = Workspace(backend)
    first, last = 1000, 4000
    for n in range(first, last + 1):
        view = ws.buffer("rev:0", n, np.int64)
        assert view.shape == (n,)                  # callers see exactly what they asked for
    # one allocation per size would be 3,001; growing by an eighth each time needs about log(4)/log(9/8)
    assert len(backend.allocations) <= 1 + math.ceil(math.log(last / first) / math.log(9 / 8))
    assert backend.allocations[0] == (first, np.dtype(np.int64))
    assert ws.nbytes() == backend.allocations[-1][0] * 8


def test_a_smaller_or_equal_request_reuses_the_buffer_and_its_data():
    backend = RecordingBackend()
    ws = Workspace(backend)
    a = ws.buffer("nlist:0", 500, np.int32)
    a[:] = np.arange(500)
    b = ws.buffer("nlist:0", 300, np.int32)
    assert len(backend.allocations) == 1
    np.testing.assert_array_equal(b, np.arange(300))


def test_a_new_dtype_allocates_exactly_what_is_asked():
    backend = RecordingBackend()
    ws = Workspace(backend)
    ws.buffer("nshift:0", 800, np.int64)
    ws.buffer("nshift:0", 900, np.int32)
    assert backend.allocations == [(800, np.dtype(np.int64)), (900, np.dtype(np.int32))]
