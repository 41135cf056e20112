"""The device memory one evaluator owns: model constants, and buffers reused between calls.

Device allocation costs milliseconds on a GPU, more than a small evaluation, so an evaluator
keeps one workspace: a neighbour-list build or an evaluation of the same size reuses the previous
one's arrays, which are reallocated only to grow.  ``nbytes()`` is what the workspace holds, the
number behind ``DeviceEvaluator.workspace_bytes()``.

``AllocationRecorder`` stands in for a workspace and its backend and allocates nothing: a
descriptor's device passes run against it only to say which buffers, of what size, they would ask
for (the evaluator's memory estimate, before a large system is allocated).
"""
from __future__ import annotations

import numpy as np

#: a buffer that has to grow gets 1/REGROWTH more than asked: in an MD run the longest reverse row
#: creeps up by one or two entries every few list builds, and each regrowth of the reverse rows
#: (0.9 GB at 1 M atoms) held the old and the new array at once (benchmarks/NOTES.md, session 12)
REGROWTH = 8


class Workspace:
    def __init__(self, backend):
        self.backend = backend
        self._kept: list = []              # model constants, uploaded once
        self._buffers: dict = {}           # name -> (whole array, {n: view of its first n elements})
        self._constants: dict = {}         # name -> (host bytes, device array)
        self._sections: dict = {}          # (name, sizes) -> (whole, its views)

    def keep(self, values, dtype):
        """A device array of host ``values`` held for the workspace's lifetime (model constants)."""
        arr = self.backend.asarray(values, dtype)
        self._kept.append(arr)
        return arr

    def buffer(self, name: str, n: int, dtype):
        """A device array of n elements kept between calls (reallocated only to grow; a buffer that
        grows gets 1/REGROWTH more than asked, see REGROWTH)."""
        n = max(int(n), 1)
        held = self._buffers.get(name)
        if held is None or held[0].shape[0] < n or held[0].dtype != np.dtype(dtype):
            size = n
            if held is not None and held[0].dtype == np.dtype(dtype):
                size = max(n, held[0].shape[0] + held[0].shape[0] // REGROWTH)
                del self._buffers[name]      # the backend may reuse its memory for the new array
            whole = self.backend.empty(size, dtype)
            held = self._buffers[name] = (whole, {size: whole})
        views = held[1]
        if n not in views:  # a device-array view costs ~0.1 ms in numba-cuda: keep them
            views[n] = held[0][:n]
        return views[n]

    def sections(self, name: str, sizes, dtype) -> tuple:
        """(whole, views): the buffer ``name`` cut into consecutive views of ``sizes`` elements, kept
        between calls, so that arrays filled by different kernels come back in one copy."""
        sizes = tuple(int(n) for n in sizes)
        whole = self.buffer(name, sum(sizes), dtype)
        held = self._sections.get((name, sizes))
        if held is None or held[0] is not whole:
            ends = np.cumsum(sizes)
            held = self._sections[name, sizes] = (whole, tuple(whole[e - n:e] for n, e in zip(sizes, ends)))
        return held

    def upload(self, name: str, values, dtype):
        """Host values copied into the buffer ``name``: no device allocation per evaluation."""
        values = np.ascontiguousarray(values, dtype=dtype).ravel()
        dst = self.buffer(name, values.size, dtype)
        self.backend.copy_from_host(dst, values)
        return dst

    def constant(self, name: str, values, dtype):
        """A small device array of host values, uploaded again only when the values change."""
        values = np.ascontiguousarray(values, dtype=dtype).ravel()
        key = values.tobytes()
        held = self._constants.get(name)
        if held is None or held[0] != key:
            held = self._constants[name] = (key, self.backend.asarray(values, dtype))
        return held[1]

    def nbytes(self) -> int:
        """Device bytes held: constants, model arrays and every buffer at its allocated size."""
        b = self.backend
        return (sum(b.nbytes(a) for a in self._kept) + sum(b.nbytes(whole) for whole, _ in self._buffers.values())
                + sum(b.nbytes(arr) for _, arr in self._constants.values()))


class AllocationRecorder:
    """A Workspace that allocates nothing: it records the bytes of every buffer asked for (name ->
    bytes) and its ``backend`` launches nothing.  Model constants (``keep``) stay host arrays and are
    not recorded: the real workspace already holds them.  Anything else a backend offers is missing,
    on purpose: the passes run against it must only ask for buffers and launch, and read only the
    kernel choices ``group_fitting``, ``dense_products``, ``is_gpu`` and ``local_memory_bytes`` of the backend it
    stands for (``like``)."""

    def __init__(self, like=None):
        self.sizes: dict[str, int] = {}
        self.backend = NoLaunches(like)

    def keep(self, values, dtype):
        return np.ascontiguousarray(values, dtype=dtype).ravel()

    def buffer(self, name: str, n: int, dtype):
        self.sizes[name] = max(self.sizes.get(name, 0), max(int(n), 1) * np.dtype(dtype).itemsize)
        return np.empty(0, dtype=dtype)

    def upload(self, name: str, values, dtype):
        return self.buffer(name, np.size(values), dtype)

    def constant(self, name: str, values, dtype):
        return self.buffer(name, np.size(values), dtype)

    def nbytes(self) -> int:
        return sum(self.sizes.values())


class NoLaunches:
    """The backend of an AllocationRecorder: launches are accepted and not run."""

    def __init__(self, like=None):
        # the passes pick their kernels (and so their buffers) by it: se_e2_a's fitting on CPU devices
        self.group_fitting = bool(getattr(like, "group_fitting", False))
        # and se_e2_a's group layout by whether its fitting kernel's local arrays fit the device
        self.local_memory_bytes = int(getattr(like, "local_memory_bytes", 0))
        # the fitting net by dense products (dpsycl/fitting_rows.py) where the device offers them
        self.dense_products = bool(getattr(like, "dense_products", False))
        # whose block sizes the products take (fitting_rows.GPU_ROW_BLOCK on GPUs)
        self.is_gpu = bool(getattr(like, "is_gpu", False))

    def launch(self, *args, **kwargs) -> None:
        pass

    def launch_groups(self, *args, **kwargs) -> None:
        pass

    def matmul(self, *args, **kwargs) -> None:
        pass
