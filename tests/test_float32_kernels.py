"""A float32 kernel computes in float32: the PTX of se_e2_a's split kernels compiled for float32 holds no
float64 instruction.  numba types an integer with a float32, and a Python float argument, as float64; before
compile_rules' third rule and the cutoffs in the kernels' precision, every pair vector, environment row and T
sum of these kernels ran in float64 with a conversion at each use (benchmarks/NOTES.md, session 18).

Compiled to PTX by numba's CUDA target (the wrappers and bodies dpsycl.backends.cuda launches), no GPU
needed; skipped where numba finds no libNVVM."""
from __future__ import annotations

import re
import types

import numpy as np
import pytest

import dpsycl
from conftest import DATA
from dpsycl.backends import cuda as cuda_backend

SPLIT_KERNELS = ("group_descriptor", "fitting_group_atoms", "group_pair_gradient")
#: a PTX instruction on float64 values (declarations and parameters aside)
FLOAT64_INSTRUCTION = re.compile(r"^\s*(@!?%p\d+\s+)?[a-z]+(\.[a-z0-9]+)*\.f64\b")


def split_kernel_ptx(model_path, dtype) -> dict[str, str]:
    """PTX (sm_90) of the split layout's three kernels for one model in one precision."""
    from numba import cuda, typeof
    import numba.cuda.dispatcher as numba_dispatcher

    from dpsycl.backends.compile_rules import kernel_rules
    from dpsycl.backends.launch import flatten
    from dpsycl.descriptors import Geometry, unit_of
    from dpsycl.fitting import ParameterPack
    from dpsycl.workspace import AllocationRecorder

    model = dpsycl.load_model(model_path)
    cache = cuda_backend.build_kernel_cache(lambda wrapper: wrapper, dtype)
    ptx = {}

    class CompilingBackend:
        local_memory_bytes = cuda_backend.STATIC_SHARED_BYTES

        def launch(self, *args, **kwargs):
            pass

        def to_host(self, a):
            return np.asarray(a)

        def launch_groups(self, body_name, ngroups, nlane, *packs, local=None, scratch=None, dtype=np.float64):
            names, values = flatten(packs)
            wrapper, runtime = cache.group_kernel(body_name, names, values, nlane, local or {}, scratch or {}, dtype)
            with kernel_rules(dtype):
                ptx[body_name] = cuda.compile_ptx(wrapper, (typeof(int(ngroups)), *(typeof(v) for v in runtime)),
                                                  cc=(9, 0))[0]

    ws = AllocationRecorder()
    ws.backend = CompilingBackend()
    current = numba_dispatcher.get_current_device
    numba_dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    try:
        passes = unit_of(model.descriptor).device(model.descriptor, model.fitting, ws, dtype)
        geometries = [Geometry(np.zeros(3, dtype), np.zeros(9, dtype), np.zeros(1, np.int64), np.zeros(1, np.int64),
                               np.zeros(1, np.int64), int(sum(spec.sel))) for spec in model.descriptor.neighbor_specs()]
        params = ParameterPack(np.zeros(1, dtype), 0, np.zeros(1, dtype), 0)
        passes.energies_and_pair_gradients(geometries, 1, np.zeros(1, dtype), [np.zeros(3, dtype)] * len(geometries),
                                           "split", 1, params)
    finally:
        numba_dispatcher.get_current_device = current
    return ptx


@pytest.fixture(scope="module")
def nvvm():
    from numba import cuda, float32
    if cuda_backend.SIMULATOR:
        pytest.skip("numba's CUDA simulator compiles nothing")

    def store(a):
        a[0] = 1.0
    try:
        cuda.compile_ptx(store, (float32[:],), cc=(9, 0))
    except Exception as exc:        # no libNVVM, or a numba without compile_ptx
        pytest.skip(f"numba cannot compile PTX here: {exc}")


def float64_instructions(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if FLOAT64_INSTRUCTION.match(line)]


def test_float32_split_kernels_have_no_float64_instruction(nvvm):
    from dpsycl.backends import compile_rules
    if compile_rules.FLOAT64_LITERALS:
        pytest.skip("DPSYCL_FLOAT_LITERALS=float64 keeps numba's typing in float32 kernels")
    ptx = split_kernel_ptx(DATA / "cuag" / "model.h5", np.float32)
    assert sorted(ptx) == sorted(SPLIT_KERNELS)
    for body, text in ptx.items():
        assert "fma.rn.f32" in text, body
        assert float64_instructions(text) == [], body


def test_the_same_check_finds_the_float64_kernels(nvvm):
    """The pattern sees float64 arithmetic where there is some: the float64 build of the same kernels."""
    ptx = split_kernel_ptx(DATA / "cuag" / "model.h5", np.float64)
    for body, text in ptx.items():
        assert any(line.startswith("fma.rn.f64") for line in float64_instructions(text)), body
