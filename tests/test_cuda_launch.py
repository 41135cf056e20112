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

from dpsycl.backends.cuda_launch import Launcher


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
        # read back the scalar the block holds in its last field
        pointers = (ctypes.c_void_p * 8).from_address(params)
        self.launches.append((function, gx, bx, ctypes.c_int64.from_address(pointers[7]).value))
        return self.status


def launcher_with(driver) -> Launcher:
    launcher = Launcher(enabled=True)
    launcher.driver = driver
    return launcher


def test_repeats_go_direct_and_changes_go_through_the_dispatcher():
    kernel, driver = FakeKernel(), FakeDriver()
    launcher = launcher_with(driver)
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


def test_a_refused_direct_launch_is_redone_by_the_dispatcher():
    kernel, driver = FakeKernel(), FakeDriver(status=201)             # CUDA_ERROR_INVALID_CONTEXT
    launcher = launcher_with(driver)
    a = FakeArray(10)
    launcher.launch(kernel, 4, 32, (a, 1))
    launcher.launch(kernel, 4, 32, (a, 1))
    assert len(driver.launches) == 1 and len(kernel.calls) == 2 and launcher.fast_launches == 0


def test_a_freed_array_is_never_mistaken_for_a_new_one():
    kernel, driver = FakeKernel(), FakeDriver()
    launcher = launcher_with(driver)
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
    launcher = launcher_with(driver)
    a = FakeArray(10)
    launcher.launch(kernel, 4, 32, (a, value))
    launcher.launch(kernel, 4, 32, (a, value))
    assert len(kernel.calls) == 2 and driver.launches == [] and launcher.enabled
