"""A float32 kernel computes in float32: the PTX of se_e2_a's split kernels compiled for float32 holds no
float64 instruction.  numba types an integer with a float32, and a Python float argument, as float64; before
compile_rules' third rule and the cutoffs in the kernels' precision, every pair vector, environment row and T
sum of these kernels ran in float64 with a conversion at each use (benchmarks/NOTES.md, session 18).

Compiled to PTX by numba's CUDA target (the wrappers and bodies dpsycl.backends.cuda launches), no GPU
needed; skipped where numba finds no libNVVM."""
from __future__ import annotations

import re

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
    from dpsycl.backends.cuda_ptx import work_group_ptx
    return {k["body"]: k["ptx"] for k in work_group_ptx(dpsycl.load_model(model_path), dtype, "split")}


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
