"""What a device backend implements: the contract between dpsycl's evaluator and a device.

A backend owns one device and knows nothing of models or physics.  It supplies 1-D device arrays,
copies, and launches of the kernel bodies in ``device_kernels`` (compiled by its own compiler, with
its own barrier and atomic add: device_kernels/primitives.py).  Everything else (what to launch,
with which arguments, in which order) is the evaluator's and the descriptor units' business.

Today's backends: ``sycl.SyclBackend`` (numba-dpex on a dpctl queue, dpnp arrays) and
``cuda.CudaBackend`` (numba's CUDA target, numba device arrays).  A new one (e.g. an Intel-GPU or
AMD path) implements this Protocol; ``tests/test_device.py`` runs every backend present against
the float64 NumPy reference, and ``tests/test_architecture.py`` checks the backends against this
class.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

class DeviceError(ValueError):
    """A device that does not exist here or cannot run the model."""


class DeviceMemoryError(DeviceError):
    """A system that does not fit in the device's memory; the message says how many atoms do."""


def allocation_failed(device: str, nbytes: int, reason: str) -> DeviceMemoryError:
    """The one-line error for a device allocation the driver refused (the evaluator's estimate,
    checked first, makes it rare: another process may have taken the memory since)."""
    return DeviceMemoryError(f"{device}: the driver could not allocate {nbytes / 2 ** 20:.1f} MiB ({reason}); "
                             "the device's memory is used up: evaluate fewer atoms or free the device")


#: what a backend reports for a quantity it cannot know (e.g. the CUDA simulator's free memory)
UNKNOWN_BYTES = 2 ** 62


class DeviceMemory(NamedTuple):
    """A device's memory in bytes, as its driver reports it now."""
    free: int              # what can still be allocated (other processes' use subtracted)
    total: int             # the device's memory
    max_allocation: int    # the largest single array the device allows (SYCL: max_mem_alloc_size)


@runtime_checkable
class DeviceBackend(Protocol):
    """One device: arrays, copies and kernel launches."""

    kind: str              # "sycl", "cuda", ...
    name: str              # the device string users pass back (e.g. "opencl:cpu:0", "cuda:1")
    fp64: bool             # float64 arithmetic available
    is_gpu: bool           # wide device: the work-group kernel layout pays off
    supports_groups: bool  # work-group kernels with group-local memory can run here
    parallel_width: int    # work-items that keep the device busy (sizes the slot chunks)
    dense_products: bool   # matmul runs here, by a vendor GEMM that beats the kernels' own dense layers

    def describe(self) -> str:
        """One line: device string, hardware name, toolchain."""

    # -- 1-D arrays on the device -----------------------------------------------------------
    def asarray(self, a, dtype=None) -> Any:
        """A new device array holding the host values ``a`` (flattened)."""

    def empty(self, n: int, dtype) -> Any:
        """A new device array of n elements, contents undefined."""

    def zeros(self, n: int, dtype) -> Any:
        """A new device array of n zeros."""

    def to_host(self, a) -> np.ndarray:
        """A NumPy copy of a device array (waits for the work that writes it)."""

    def copy_from_host(self, dst, host: np.ndarray) -> None:
        """Host values into an existing device array of the same size."""

    def copy(self, a) -> Any:
        """A new device array with the contents of ``a``."""

    def nbytes(self, a) -> int:
        """Bytes of device memory a device array occupies."""

    def is_device_array(self, a) -> bool:
        """Whether ``a`` is an array of this backend's kind (user input that stays on the device)."""

    def from_user_array(self, a, dtype) -> Any:
        """A user's device array as a 1-D array of ``dtype`` on this device (no copy when it is one)."""

    def synchronize(self) -> None:
        """Wait until all launched work has finished."""

    def memory(self) -> DeviceMemory:
        """Free and total memory of the device and its largest single allocation, from its driver
        (UNKNOWN_BYTES where the driver does not say): the evaluator refuses a system that would not
        fit before it allocates anything."""

    # -- kernels ----------------------------------------------------------------------------
    def launch(self, body_name: str, n: int, *packs, scratch: dict | None = None, dtype=np.float64) -> None:
        """Run body ``body_name`` for i in [0, n) with the named argument packs laid end to end and
        private scratch arrays of ``dtype`` (name -> size, compile-time constants)."""

    def launch_groups(self, body_name: str, ngroups: int, nlane: int, *packs, local: dict | None = None,
                      scratch: dict | None = None, dtype=np.float64) -> None:
        """Run a work-group body: ``ngroups`` groups of ``nlane`` work-items, ``local`` arrays shared
        inside a group, ``scratch`` private to each work-item."""

    def matmul(self, a, a_at: int, b, b_at: int, out, out_at: int, m: int, k: int, n: int) -> None:
        """out[out_at : out_at + m·n] ← A·B, A the m × k matrix at a[a_at:], B the k × n matrix at b[b_at:],
        all row-major in 1-D device arrays of one dtype, ordered after the launches before it.  Only where
        ``dense_products``; elsewhere NotImplementedError."""
