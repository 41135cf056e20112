"""se_e2_a's split layout (issue 14): the work-group passes as two kernels around the fitting kernel over
atoms of one species.  Its numbers against DeePMD-kit's are in tests/test_device.py (every model, every
case, layout "split"); here: the group layout hands over to it from ``split_from`` atoms on, with the same
numbers as its one kernel, and keeps the one kernel where the fitting kernel's local arrays would not fit.

Runs on opencl:cpu (skipped without the SYCL stack): the bodies are the GPU's.
"""
from __future__ import annotations

import numpy as np
import pytest

import dpsycl
from conftest import CASES, DATA, TOL, case_errors, within_tolerance
from crystals import fcc
from dpsycl.backends import sycl_available

pytestmark = pytest.mark.skipif(not sycl_available(), reason="the SYCL stack (dpctl, numba-dpex) is not installed")
SPLIT_KERNELS = ["group_descriptor", "fitting_group_atoms", "group_pair_gradient"]


@pytest.fixture(scope="module")
def pot():
    dp = dpsycl.DeepPot(DATA / "cuag" / "model.h5", device="opencl:cpu")
    if not dp.evaluator.backend.supports_groups:
        pytest.skip("opencl:cpu is not the default SYCL device: no work-group kernels")
    return dp


def descriptor_launches(dp, monkeypatch) -> list[str]:
    """The names of the work-group kernels the evaluations launch from now on, in order."""
    backend, names = dp.evaluator.backend, []
    launch = backend.launch_groups

    def record(body_name, *args, **kwargs):
        names.append(body_name)
        return launch(body_name, *args, **kwargs)
    monkeypatch.setattr(backend, "launch_groups", record)
    return names


def evaluate(dp):
    coords, cell, atype = fcc(3, seed=5)
    return dp.evaluator.evaluate(coords, cell, atype)


def test_the_group_layout_splits_from_split_from_atoms_with_the_same_numbers(pot, monkeypatch):
    ev = pot.evaluator
    ev.layout = "group"
    names = descriptor_launches(pot, monkeypatch)
    monkeypatch.setattr(ev.passes, "split_from", 1 << 40)
    one_kernel = evaluate(pot)
    assert [n for n in names if n != "neighbor_row_group"] == ["group_atom_energy"]
    names.clear()
    monkeypatch.setattr(ev.passes, "split_from", 1)
    split = evaluate(pot)
    assert [n for n in names if n in SPLIT_KERNELS or n == "group_atom_energy"] == SPLIT_KERNELS
    # the same sums in the same order: identical to the last bit, but for Σ_j g_ij of each force, which the
    # split layout's lanes add up (se_e2_a_group.group_row_sum) and the one kernel's gather adds slot by slot
    for name in ("energy", "atom_energy", "virial", "atom_virial"):
        np.testing.assert_array_equal(getattr(split, name), getattr(one_kernel, name), err_msg=name)
    assert not np.array_equal(split.force, one_kernel.force)       # so the two sums above are both exercised
    np.testing.assert_allclose(split.force, one_kernel.force, rtol=0, atol=8 * np.finfo(np.float64).eps
                               * np.abs(one_kernel.force).max())


def test_the_one_kernel_stays_where_the_fitting_kernel_does_not_fit(pot, monkeypatch):
    """A device with less work-group memory than the fitting kernel needs (cuag float64: 46 KB) but enough
    for the one kernel: the group layout keeps the one kernel at any size, the split layout is refused
    with the kernel's name and both byte counts."""
    ev = pot.evaluator
    need = sum(ev.passes.fitting_local(ev.passes.group_lanes, ev.passes.split_quads).values()) * 8
    monkeypatch.setattr(ev.backend, "local_memory_bytes", need - 8)
    monkeypatch.setattr(ev.passes, "split_from", 1)
    names = descriptor_launches(pot, monkeypatch)
    ev.layout = "group"
    try:
        evaluate(pot)
        assert "group_atom_energy" in names and not set(SPLIT_KERNELS) & set(names)
        ev.layout = "split"
        with pytest.raises(RuntimeError, match=f"'fitting_group_atoms' needs {need} bytes.* offers {need - 8}"):
            evaluate(pot)
    finally:
        ev.layout = "group"


def test_float32_takes_four_neighbours_per_pass_where_eight_do_not_fit(monkeypatch):
    """float32's work-group passes take eight neighbours per embedding pass; on a device whose work-group
    memory cannot hold eight's buffers they take four (se_e2_a/device.py: group_batch).  The descriptor's
    sums run in the same order either way (energies identical to the last bit); the gradient pass sums its
    lane terms in other groups (forces equal within float32's rounding)."""
    dp = dpsycl.DeepPot(DATA / "cuag" / "model.h5", device="opencl:cpu", precision="float32")
    ev = dp.evaluator
    if not ev.backend.supports_groups:
        pytest.skip("opencl:cpu is not the default SYCL device: no work-group kernels")
    ev.layout = "group"
    monkeypatch.setattr(ev.passes, "split_from", 1 << 40)
    launches, launch = [], ev.backend.launch_groups

    def record(body_name, *args, **kwargs):
        if body_name == "group_atom_energy":
            launches.append((kwargs["scratch"]["hb"] // 2, sum(kwargs["local"].values()) * 4))
        return launch(body_name, *args, **kwargs)
    monkeypatch.setattr(ev.backend, "launch_groups", record)
    eight = evaluate(dp)
    (batch, need), = launches
    assert batch == 8
    launches.clear()
    monkeypatch.setattr(ev.backend, "local_memory_bytes", need - 4)
    four = evaluate(dp)
    assert [b for b, _ in launches] == [4]
    np.testing.assert_array_equal(four.energy, eight.energy)
    np.testing.assert_array_equal(four.atom_energy, eight.atom_energy)
    np.testing.assert_allclose(four.force, eight.force, rtol=0, atol=2e-5 * np.abs(eight.force).max())


@pytest.mark.parametrize("precision", ["mixed", "float32"])
def test_float32_fitting_kernel_with_a_width_not_a_multiple_of_four(references, precision, monkeypatch):
    """float32's split fitting kernel reads a chunk's four values of an atom as one vector, its buffers laid out
    from multiples of four (se_e2_a_fitting.quad_ceil); tiny_fparam's fitting input is 35 wide (32 + 3 frame
    parameters), so its second buffer starts one value later than its width.  Every case against DeePMD-kit
    (energies, forces, virials, per atom too), within float32's bounds."""
    dp = dpsycl.DeepPot(DATA / "tiny_fparam" / "model.h5", device="opencl:cpu", precision=precision)
    if not dp.evaluator.backend.supports_groups:
        pytest.skip("opencl:cpu is not the default SYCL device: no work-group kernels")
    assert dp.evaluator.passes.split_quads and dp.evaluator.passes.fit.fwmax == 35
    dp.evaluator.layout = "split"
    launched = descriptor_launches(dp, monkeypatch)
    for case in CASES:
        err = case_errors(dp, references["tiny_fparam"], case)
        assert within_tolerance(err, TOL["float32"]), (case, err)
    assert "fitting_group_atoms" in launched


@pytest.mark.parametrize("model", ["cuag", "tiny_fparam", "tiny_compress"])
def test_split_layout_with_the_fitting_net_by_products_matches_deepmd(references, model, monkeypatch):
    """Where the device offers dense products (oneMKL here, cuBLAS on NVIDIA GPUs), the split layout runs the
    fitting net as products between its two passes: D_i from the T_i·nnei that group_descriptor left
    (descriptor_rows, one chunk), ∂E_i/∂T_i / nnei written back over it (t_gradient_rows), which
    group_pair_gradient reads.  Every case against DeePMD-kit within float64's bounds, and the kernels that ran."""
    dp = dpsycl.DeepPot(DATA / model / "model.h5", device="opencl:cpu")
    if not dp.evaluator.backend.supports_groups:
        pytest.skip("opencl:cpu is not the default SYCL device: no work-group kernels")
    rows = dp.evaluator.passes.fitting_rows
    assert rows is not None
    monkeypatch.setattr(rows, "products_from", 0)
    monkeypatch.setattr(rows, "row_block", 40)        # blocks that end inside a species' run
    dp.evaluator.layout = "split"
    launched = descriptor_launches(dp, monkeypatch)
    for case in CASES:
        err = case_errors(dp, references[model], case)
        assert within_tolerance(err, TOL["float64"]), (case, err)
    assert "fitting_group_atoms" not in launched
    assert {"group_descriptor", "descriptor_rows", "fitting_rows_forward", "t_gradient_rows",
            "group_pair_gradient"} <= set(launched)


def test_products_split_the_group_layout_where_the_fitting_kernel_does_not_fit(pot, monkeypatch):
    """DeePMD-kit's usual fitting nets (240 wide) do not fit the split fitting kernel's shared memory on a GPU
    (48 KB static); with dense products the group layout still splits from split_from atoms on, and gives the
    one kernel's numbers (the products sum in the GEMM's order: equal within rounding)."""
    ev = pot.evaluator
    need = sum(ev.passes.fitting_local(ev.passes.group_lanes, ev.passes.split_quads).values()) * 8
    ev.layout = "group"
    monkeypatch.setattr(ev.passes, "split_from", 1 << 40)
    one_kernel = evaluate(pot)
    monkeypatch.setattr(ev.backend, "local_memory_bytes", need - 8)
    monkeypatch.setattr(ev.passes, "split_from", 1)
    monkeypatch.setattr(ev.passes.fitting_rows, "products_from", 0)
    names = descriptor_launches(pot, monkeypatch)
    split = evaluate(pot)
    assert "group_atom_energy" not in names and "fitting_group_atoms" not in names
    assert names.index("group_descriptor") < names.index("descriptor_rows") < names.index("group_pair_gradient")
    for name in ("energy", "atom_energy", "force", "virial"):
        want = getattr(one_kernel, name)
        np.testing.assert_allclose(getattr(split, name), want, rtol=0, atol=1e-12 * max(1.0, np.abs(want).max()),
                                   err_msg=name)


@pytest.mark.parametrize("model, precision", [("cuag", "float64"), ("cuag", "float32"), ("tiny_act_silu", "float32")])
def test_wide_row_kernels_give_the_cpu_forms_numbers(model, precision, monkeypatch):
    """The products' row kernels in the wide devices' form (descriptor_rows with the lanes over D's elements,
    t_gradient_rows through a padded copy of ∂y/∂D in group-local memory), run here: the same sums in the same
    order as the CPU's form, so the same numbers to the last bit, in float32 too, and for a tiny model's widths
    (M = 8, M< = 4)."""
    pot = dpsycl.DeepPot(DATA / model / "model.h5", device="opencl:cpu", precision=precision)
    if not pot.evaluator.backend.supports_groups:
        pytest.skip("opencl:cpu is not the default SYCL device: no work-group kernels")
    ev = pot.evaluator
    ev.layout = "split"
    rows = ev.passes.fitting_rows
    monkeypatch.setattr(rows, "products_from", 0)
    results = {}
    for wide in (False, True):
        monkeypatch.setattr(rows, "wide_rows", wide)
        launched = descriptor_launches(pot, monkeypatch)
        results[wide] = evaluate(pot)
        assert {"descriptor_rows", "t_gradient_rows"} <= set(launched)
    for name in ("energy", "atom_energy", "force", "virial", "atom_virial"):
        np.testing.assert_array_equal(getattr(results[True], name), getattr(results[False], name), err_msg=name)
