"""Repeated CUDA launches and small copies without numba-cuda's per-call host work.

An MD step launches the same dozen kernels with the same arguments (the workspace's device arrays,
the same sizes) step after step.  numba-cuda's dispatcher redoes, at every launch, the typing of
each argument, the choice of the compiled overload and the expansion of each array into its
(meminfo, parent, nitems, itemsize, data, shape, strides) fields: at 2,048 atoms that host work,
not the GPU, set the step time (benchmarks/NOTES.md).

:class:`Launcher` keeps, per kernel, the argument blocks of its last few launches (one ctypes value
per field and the pointer array ``cuLaunchKernel`` reads).  When a launch passes the very same
arrays as one of them (compared by identity, held by weak reference so that no device memory is kept alive here)
and scalars of the same Python types, only changed scalar values are written into the block and
the driver's ``cuLaunchKernel`` is called directly.  Anything else, and every first launch, goes
through the dispatcher, which compiles, type-checks and raises numba-cuda's own errors; a block
is then built from the overload the dispatcher chose.  A launch the driver refuses is redone
through the dispatcher, so a failure is reported exactly as without this module.

Used only on a real GPU (the simulator has no driver), and switched off by
``DPSYCL_CUDA_LAUNCH=dispatcher`` (the A/B of benchmarks/gpu_launch_probe.py).
"""
from __future__ import annotations

import ctypes
import os
import weakref

#: numba type name -> ctypes type of a scalar kernel argument
_SCALARS = {"int64": ctypes.c_int64, "int32": ctypes.c_int32, "uint64": ctypes.c_uint64,
            "uint32": ctypes.c_uint32, "float64": ctypes.c_double, "float32": ctypes.c_float,
            "bool": ctypes.c_bool}


class _Block:
    """The argument block of one kernel's last launch."""

    __slots__ = ("grid", "block", "arrays", "scalars", "keep", "params", "function")

    def __init__(self, grid, block, arrays, scalars, keep, function):
        self.grid, self.block = grid, block
        self.arrays = arrays          # ((position, weakref), ...)
        self.scalars = scalars        # ((position, ctypes value, Python type), ...)
        # the ctypes values, and the (void*)[nfields] array of their addresses cuLaunchKernel reads
        self.keep = (keep, (ctypes.c_void_p * len(keep))(*[ctypes.addressof(c) for c in keep]))
        self.params = ctypes.addressof(self.keep[1])
        self.function = function      # CUfunction handle (int)

    def reusable(self, grid: int, block: int, args: tuple) -> bool:
        """True when ``args`` fit this block (its scalars then updated in place)."""
        if grid != self.grid or block != self.block:
            return False
        for k, ref in self.arrays:
            if ref() is not args[k]:
                return False
        for k, cvalue, pytype in self.scalars:
            if type(args[k]) is not pytype:
                return False
        for k, cvalue, pytype in self.scalars:
            cvalue.value = args[k]
        return True


#: argument blocks kept per kernel, the latest first: one kernel launched on several arrays in turn
#: (``fill`` on a build's status, cell counts and reverse counts) reuses a block for each; with one
#: block per kernel those launches all went through the dispatcher (benchmarks/NOTES.md, session 11)
BLOCKS_PER_KERNEL = 8


class Launcher:
    """``launch(kernel, grid, block, args)``: ``kernel[grid, block](*args)``, fast when repeated."""

    def __init__(self, enabled: bool):
        self.blocks: dict = {}
        self.enabled = enabled and os.environ.get("DPSYCL_CUDA_LAUNCH", "direct") != "dispatcher"
        self.driver = None
        self.fast_launches = 0
        self.dispatched_launches = 0

    def launch(self, kernel, grid: int, block: int, args: tuple) -> None:
        for entry in (self.blocks.get(kernel, ()) if self.enabled else ()):
            if entry.reusable(grid, block, args):
                status = self.driver.cuLaunchKernel(entry.function, grid, 1, 1, block, 1, 1, 0, None, entry.params,
                                                    None)
                if status == 0:
                    self.fast_launches += 1
                    return
                # e.g. no current context in this thread: the dispatcher sets it up, or raises its own error
                self.blocks.pop(kernel, None)
                break
        kernel[grid, block](*args)
        self.dispatched_launches += 1
        if self.enabled:
            self._remember(kernel, grid, block, args)

    def _remember(self, kernel, grid, block, args) -> None:
        try:
            entries = self.blocks.setdefault(kernel, [])
            entries.insert(0, self._build(kernel, grid, block, args))
            del entries[BLOCKS_PER_KERNEL:]
        except (AttributeError, KeyError, TypeError, ValueError, OSError):
            # an argument kind this module does not pack, or a numba-cuda whose public attributes
            # differ: that kernel (or, without a driver, every kernel) stays on the dispatcher
            self.blocks.pop(kernel, None)
            if self.driver is None:
                self.enabled = False

    def _build(self, kernel, grid, block, args) -> _Block:
        if self.driver is None:
            self.driver = _Driver()
        argtypes = tuple(kernel.typeof_pyval(a) for a in args)
        overload = kernel.overloads[argtypes]
        keep, arrays, scalars = [], [], []
        for k, (numba_type, value) in enumerate(zip(overload.argument_types, args)):
            if hasattr(numba_type, "ndim"):                  # an array: numba's array fields
                interface = value.__cuda_array_interface__
                itemsize = value.dtype.itemsize
                fields = [0, 0, value.size, itemsize, interface["data"][0], *value.shape, *value.strides]
                keep += [ctypes.c_ssize_t(f) for f in fields]
                arrays.append((k, weakref.ref(value)))
            else:
                cvalue = _SCALARS[str(numba_type)](value)
                keep.append(cvalue)
                scalars.append((k, cvalue, type(value)))
        return _Block(grid, block, tuple(arrays), tuple(scalars), keep,
                      self.driver.function(overload.library.get_cufunc().handle))


class DirectCopies:
    """Copies between a contiguous device array and a NumPy array by ``cuMemcpyDtoH`` /
    ``cuMemcpyHtoD`` through ctypes: numba-cuda's ``copy_to_host``/``copy_to_device`` spend tens of
    microseconds of host time on checks and bindings around a copy of a few kilobytes (benchmarks/
    NOTES.md, session 11).  Both copies order after the kernels launched before them (the legacy
    default stream, as numba's own).  A copy the driver refuses (no current context in this
    thread, an array of another kind) returns False, and the caller copies numba's way."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and os.environ.get("DPSYCL_CUDA_COPY", "direct") != "numba"
        self.driver = None

    def _ready(self) -> bool:
        if self.driver is None and self.enabled:
            try:
                self.driver = _Driver()
            except OSError:
                self.enabled = False
        return self.enabled

    def to_host(self, out, a) -> bool:
        """out[...] = a (same dtype and size); False if not done."""
        if not self._ready() or not a.is_c_contiguous():
            return False
        nbytes = out.nbytes
        if nbytes == 0:
            return True
        return self.driver.cuMemcpyDtoH(out.ctypes.data, a.__cuda_array_interface__["data"][0], nbytes) == 0

    def to_device(self, a, host) -> bool:
        """a[...] = host (a contiguous NumPy array of a's dtype and size); False if not done."""
        if (not self._ready() or not a.is_c_contiguous() or not host.flags["C_CONTIGUOUS"]
                or host.dtype != a.dtype or host.size != a.size):
            return False
        if host.nbytes == 0:
            return True
        return self.driver.cuMemcpyHtoD(a.__cuda_array_interface__["data"][0], host.ctypes.data, host.nbytes) == 0


class _Driver:
    """The driver entry points used, through ctypes (no per-call argument conversion)."""

    def __init__(self):
        lib = ctypes.CDLL("libcuda.so.1")
        self.cuMemcpyDtoH = lib.cuMemcpyDtoH_v2
        self.cuMemcpyDtoH.restype = ctypes.c_int
        self.cuMemcpyDtoH.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
        self.cuMemcpyHtoD = lib.cuMemcpyHtoD_v2
        self.cuMemcpyHtoD.restype = ctypes.c_int
        self.cuMemcpyHtoD.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]
        self.cuLaunchKernel = lib.cuLaunchKernel
        self.cuLaunchKernel.restype = ctypes.c_int
        self.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3
        self.get_function = lib.cuKernelGetFunction
        self.get_function.restype = ctypes.c_int
        self.get_function.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]

    def function(self, handle) -> int:
        """The CUfunction of numba-cuda's handle: a CUkernel (library loading) is resolved in the
        current context; a CUfunction is used as it is."""
        if type(handle).__name__ != "CUkernel":
            return int(handle)
        out = ctypes.c_void_p()
        status = self.get_function(ctypes.byref(out), int(handle))
        if status != 0:
            raise OSError(f"cuKernelGetFunction failed ({status})")
        return int(out.value)
