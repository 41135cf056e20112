"""Work-group kernels and dense products on a SYCL queue that is not the default device's.

numba-dpex 0.23 types local arrays on the default device's cached queue, so while its launcher ran dpsycl's
kernels only that device took the work-group kernels (the compressed tables, the fitting by work-groups, the
products' element-wise steps); every other device fell back to the chunk kernels.  The kernels are now built for
the queue they run on (backends/sycl_kernel_files.py), and any queue takes them.  The only second SYCL device
this machine offers is a partition of its CPU (a sub-device): the evaluations there must match DeePMD-kit's own
outputs and the default device's, through the work-group kernels.
"""
from __future__ import annotations

import numpy as np
import pytest

import dpsycl
from dpsycl.backends import sycl_available
from conftest import CASES, TOL, case_errors, model_file, reference_case, within_tolerance

pytestmark = pytest.mark.skipif(not sycl_available() or not any(d.startswith("opencl:cpu") for d in dpsycl.devices()),
                                reason="needs the OpenCL CPU device")


@pytest.fixture(scope="module")
def sub_queue():
    import dpctl
    root = dpctl.SyclDevice("opencl:cpu")
    try:
        parts = root.create_sub_devices(partition=1)
    except Exception as exc:  # noqa: BLE001  (dpctl raises its own errors where a device cannot be partitioned)
        pytest.skip(f"the CPU device cannot be partitioned here: {exc}")
    return dpctl.SyclQueue(parts[-1])


def group_launches(dp, monkeypatch) -> list:
    """The names of the work-group kernels and the products an evaluator's backend launches from now on."""
    backend, seen = dp.evaluator.backend, []
    launch_groups, matmul = backend.launch_groups, backend.matmul
    monkeypatch.setattr(backend, "launch_groups", lambda name, *a, **k: seen.append(name) or launch_groups(name, *a, **k))
    monkeypatch.setattr(backend, "matmul", lambda *a: seen.append("matmul") or matmul(*a))
    return seen


@pytest.mark.parametrize("name", ["tiny_compress", "cuag"])
def test_a_sub_device_queue_runs_the_work_group_kernels(sub_queue, name, monkeypatch):
    """A compressed model through the table kernels, cuag's fitting by dense products (from the first atom on):
    DeePMD-kit's outputs in every case, and the default device's energies and forces."""
    import dpctl
    sub = dpsycl.DeepPot(model_file(name), device=sub_queue)
    backend = sub.evaluator.backend
    assert backend.queue.sycl_device == sub_queue.sycl_device
    assert backend.queue != dpctl._sycl_queue_manager.get_device_cached_queue(dpctl.SyclDevice())
    assert "sub-device" in backend.name
    assert backend.supports_groups and backend.dense_products
    rows = sub.evaluator.passes.fitting_rows
    if rows is not None:
        monkeypatch.setattr(rows, "products_from", 0)
    seen = group_launches(sub, monkeypatch)
    ref = dict(np.load(model_file(name).parent / "reference.npz"))
    for case in CASES:
        err = case_errors(sub, ref, case)
        assert within_tolerance(err, TOL[sub.model.precision]), (case, err)
    expected = {"descriptor_tables_group", "pair_gradient_tables_group"} if name.endswith("compress") else {"matmul"}
    assert expected <= set(seen), sorted(set(seen))

    default = dpsycl.DeepPot(model_file(name), device="opencl:cpu")
    if default.evaluator.passes.fitting_rows is not None:
        monkeypatch.setattr(default.evaluator.passes.fitting_rows, "products_from", 0)
    coords, cells, atype, _ = reference_case(ref, "bulk")
    for got, want in zip(sub.eval(coords, cells, atype), default.eval(coords, cells, atype)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
