"""The only operations a backend implements itself: the work-group barrier and an atomic add.

Every other kernel body is plain Python shared by all backends.  The versions here are the
sequential meaning of each primitive (what one work-item running alone observes); they let the
bodies run as ordinary Python, and each backend binds its own in their place
(``device_kernels.bind_bodies``): numba-dpex ``group_barrier`` / ``AtomicRef.fetch_add``, numba
CUDA ``syncthreads`` / ``atomic.add``.  The same binding lets a backend replace one numerical body, the
``tanh`` of activations.py (the CUDA backend's float64 kernels take its branch-free version).
"""


def barrier(item):
    """All work-items of the group reach this point before any goes on (nothing to wait for alone)."""


def atomic_add(arr, index, value):
    """arr[index] += value as one indivisible step; returns the value before the add."""
    old = arr[index]
    arr[index] = old + value
    return old


BODIES = (barrier, atomic_add)
PRIMITIVES = ("barrier", "atomic_add")
