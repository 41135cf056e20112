"""dpsycl.backends.cuda_launch: when a repeated launch may skip numba-cuda's dispatcher.

The direct path itself needs a GPU (benchmarks/gpu_launch_probe.py checks it there bit for bit
against the dispatcher over 300 MD steps); here a stand-in kernel and driver record what each
launch did, so the reuse rules are checked: same arrays and scalar types reuse the argument block
(scalars rewritten in place), a different array, grid or scalar type goes back to the dispatcher,
and so does a launch the driver refuses.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from dpsycl.backends.cuda_launch import DirectCopies, Launcher


class FakeArray:
    """What the packer reads of a numba device array."""

    def __init__(self, n, dtype=np.float64, address=0x1000):
        self.dtype = np.dtype(dtype)
        self.size = n
        self.shape = (n,)
        self.strides = (self.dtype.itemsize,)
        self.__cuda_array_interface__ = {"data": (address, False)}


class ArrayType:
    ndim = 1


class FakeOverload:
    def __init__(self, argument_types):
        self.argument_types = argument_types
        self.library = self

    def get_cufunc(self):
        return self

    handle = 0xF00


class FakeKernel:
    """A dispatcher stand-in: ``kernel[grid, block](*args)`` records the call."""

    def __init__(self):
        self.calls = []
        self.overloads = {}

    def typeof_pyval(self, value):
        return ArrayType if isinstance(value, FakeArray) else type(value).__name__.replace("float", "float64").replace(
            "int", "int64")

    def __getitem__(self, config):
        def call(*args):
            self.calls.append((config, args))
            types = tuple(self.typeof_pyval(a) for a in args)
            self.overloads[types] = FakeOverload(types)
        return call


class FakeDriver:
    def __init__(self, status=0):
        self.status = status
        self.launches = []

    def function(self, handle):
        return int(handle)

    def cuLaunchKernel(self, function, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        # read back the scalar the block holds in its last field, and the first array's data pointer
        pointers = (ctypes.c_void_p * 8).from_address(params)
        self.launches.append((function, gx, bx, ctypes.c_int64.from_address(pointers[7]).value,
                              ctypes.c_ssize_t.from_address(pointers[4]).value))
        return self.status


def with_driver(kind, driver):
    """A Launcher or DirectCopies, enabled, on a stand-in driver."""
    made = kind(enabled=True)
    made.driver = driver
    return made


def test_repeats_go_direct_and_changes_go_through_the_dispatcher():
    kernel, driver = FakeKernel(), FakeDriver()
    launcher = with_driver(Launcher, driver)
    a = FakeArray(10)
    launcher.launch(kernel, 4, 32, (a, 7))
    assert len(kernel.calls) == 1 and driver.launches == []           # first launch: the dispatcher
    launcher.launch(kernel, 4, 32, (a, 7))
    launcher.launch(kernel, 4, 32, (a, 9))                             # a new scalar value: still direct
    assert len(kernel.calls) == 1
    assert [entry[3] for entry in driver.launches] == [7, 9]           # the block saw the new value
    launcher.launch(kernel, 4, 32, (FakeArray(10), 9))                 # another array object
    launcher.launch(kernel, 5, 32, (a, 9))                             # another grid
    launcher.launch(kernel, 5, 32, (a, 9.0))                           # a float where an int was
    assert len(kernel.calls) == 4 and len(driver.launches) == 2
    assert (launcher.fast_launches, launcher.dispatched_launches) == (2, 4)


def test_one_kernel_on_several_arrays_in_turn_goes_direct_for_each():
    """fill on a build's status, cell counts and reverse counts, build after build: after the first
    launch on each array, every launch reuses that array's block."""
    kernel, driver = FakeKernel(), FakeDriver()
    launcher = with_driver(Launcher, driver)
    arrays = [FakeArray(n, address=0x1000 * (n + 1)) for n in (3, 5, 7)]
    for _ in range(4):
        for a in arrays:
            launcher.launch(kernel, 1, 32, (a, 0))
    assert (launcher.dispatched_launches, launcher.fast_launches) == (3, 9)
    # each direct launch passed its own array's pointer (the data field of the array's block)
    assert [entry[4] for entry in driver.launches] == [0x4000, 0x6000, 0x8000] * 3


def test_a_refused_direct_launch_is_redone_by_the_dispatcher():
    kernel, driver = FakeKernel(), FakeDriver(status=201)             # CUDA_ERROR_INVALID_CONTEXT
    launcher = with_driver(Launcher, driver)
    a = FakeArray(10)
    launcher.launch(kernel, 4, 32, (a, 1))
    launcher.launch(kernel, 4, 32, (a, 1))
    assert len(driver.launches) == 1 and len(kernel.calls) == 2 and launcher.fast_launches == 0


def test_a_freed_array_is_never_mistaken_for_a_new_one():
    kernel, driver = FakeKernel(), FakeDriver()
    launcher = with_driver(Launcher, driver)
    launcher.launch(kernel, 4, 32, (FakeArray(10), 1))
    # the first array is gone (only a weak reference was kept); a new one may reuse its id
    launcher.launch(kernel, 4, 32, (FakeArray(10), 1))
    assert len(kernel.calls) == 2 and driver.launches == []


def test_the_environment_switch_keeps_every_launch_on_the_dispatcher(monkeypatch):
    monkeypatch.setenv("DPSYCL_CUDA_LAUNCH", "dispatcher")
    kernel = FakeKernel()
    launcher = Launcher(enabled=True)
    a = FakeArray(10)
    for _ in range(3):
        launcher.launch(kernel, 4, 32, (a, 1))
    assert len(kernel.calls) == 3 and not launcher.blocks


@pytest.mark.parametrize("value", ["text", None])
def test_arguments_it_cannot_pack_stay_on_the_dispatcher(value):
    kernel, driver = FakeKernel(), FakeDriver()
    launcher = with_driver(Launcher, driver)
    a = FakeArray(10)
    launcher.launch(kernel, 4, 32, (a, value))
    launcher.launch(kernel, 4, 32, (a, value))
    assert len(kernel.calls) == 2 and driver.launches == [] and launcher.enabled


class CopyArray(FakeArray):
    """A device array for DirectCopies: its memory is a NumPy array, its address that array's."""

    def __init__(self, values, contiguous=True):
        self.memory = values
        super().__init__(values.size, values.dtype, address=values.ctypes.data)
        self.contiguous = contiguous

    def is_c_contiguous(self):
        return self.contiguous


class CopyDriver:
    """cuMemcpyDtoH / cuMemcpyHtoD on host memory by ctypes.memmove, each call recorded."""

    def __init__(self, status=0):
        self.status = status
        self.calls = []

    def cuMemcpyDtoH(self, dst, src, nbytes):
        self.calls.append(("DtoH", dst, src, nbytes))
        if self.status == 0:
            ctypes.memmove(dst, src, nbytes)
        return self.status

    def cuMemcpyHtoD(self, dst, src, nbytes):
        self.calls.append(("HtoD", dst, src, nbytes))
        if self.status == 0:
            ctypes.memmove(dst, src, nbytes)
        return self.status


def test_direct_copies_move_the_bytes_of_the_array_they_are_given():
    driver = CopyDriver()
    copies = with_driver(DirectCopies, driver)
    device = CopyArray(np.arange(7.0))
    out = np.empty(7)
    assert copies.to_host(out, device)
    np.testing.assert_array_equal(out, np.arange(7.0))
    assert copies.to_device(device, np.full(7, 2.5))
    np.testing.assert_array_equal(device.memory, np.full(7, 2.5))
    assert [(kind, nbytes) for kind, _, _, nbytes in driver.calls] == [("DtoH", 56), ("HtoD", 56)]


def test_copies_the_driver_cannot_do_are_left_to_numba(monkeypatch):
    """A refused copy (no context in this thread), a strided array, a host array of another dtype or
    size: False, and the backend copies numba's way; DPSYCL_CUDA_COPY=numba never copies directly."""
    refused = with_driver(DirectCopies, CopyDriver(status=201))
    assert not refused.to_host(np.empty(3), CopyArray(np.zeros(3)))
    copies = with_driver(DirectCopies, CopyDriver())
    assert not copies.to_host(np.empty(3), CopyArray(np.zeros(3), contiguous=False))
    assert not copies.to_device(CopyArray(np.zeros(3)), np.zeros(3, dtype=np.float32))
    assert not copies.to_device(CopyArray(np.zeros(3)), np.zeros(4))
    assert not copies.to_device(CopyArray(np.zeros(3)), np.zeros(6)[::2])
    assert copies.driver.calls == []
    monkeypatch.setenv("DPSYCL_CUDA_COPY", "numba")
    off = DirectCopies(enabled=True)
    assert not off.to_host(np.empty(3), CopyArray(np.zeros(3))) and off.driver is None
