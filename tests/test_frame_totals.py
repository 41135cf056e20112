"""``DeepPot.eval`` without atomic values (DeePMD-kit's default): the device sums E = Σ_i E_i and the
virial W = Σ_i w_i in blocks of atoms (device_kernels/forces.py: row_block_sums) and only the forces and
those block sums come back.  Checked against DeePMD-kit's outputs, against the atomic values of the same
evaluation summed here, by the bytes actually copied back, and against the host's sums on a backend
without float64.

Runs on every kernel device (opencl:cpu, cuda:0 on the GPU machine).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import dpsycl
from conftest import CASES, TOL, model_file, reference_case
from crystals import fcc

DEVICES = [d for d in dpsycl.devices() if d != "numpy"]
pytestmark = pytest.mark.skipif(not DEVICES, reason="no kernel device (SYCL stack or CUDA)")
_POTS: dict = {}


def pot(name: str, device: str):
    """One DeepPot per model and device for the whole module (its kernels compile once)."""
    if (name, device) not in _POTS:
        _POTS[name, device] = dpsycl.DeepPot(model_file(name), device=device)
    return _POTS[name, device]


def eval_quietly(dp, coords, cells, atype, atomic):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # the dense case overfills sel (tests/test_reference.py checks it)
        return dp.eval(coords, cells, atype, atomic=atomic)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["cuag", "cuagau_f32"])
def test_totals_without_atomic_values_match_deepmd_and_the_atomic_sums(references, name, device):
    dp, ref = pot(name, device), references[name]
    tol = TOL[dp.evaluator.precision if dp.evaluator.precision in TOL else "float32"]
    for case in CASES:
        coords, cells, atype, out = reference_case(ref, case)
        n = len(atype)
        e, f, v = eval_quietly(dp, coords, cells, atype, atomic=False)
        e_at, f_at, v_at, ae, av = eval_quietly(dp, coords, cells, atype, atomic=True)
        assert np.abs(e.ravel() - out["energy"].ravel()).max() / n <= tol["energy"], case
        assert np.abs(f.ravel() - out["force"].ravel()).max() <= tol["force"], case
        assert np.abs(v.ravel() - out["virial"].ravel()).max() / n <= tol["virial"], case
        # the forces are the same numbers; the totals are the device's sums either way, and equal the
        # atomic values summed here in float64 to rounding
        np.testing.assert_array_equal(f, f_at)
        np.testing.assert_array_equal(e, e_at)
        np.testing.assert_array_equal(v, v_at)
        scale = max(1.0, float(np.abs(ae).sum()))
        assert np.abs(ae.astype(np.float64).reshape(len(e), -1).sum(axis=1) - e.ravel()).max() <= 1e-13 * scale, case
        vscale = max(1.0, float(np.abs(av).sum()))
        assert np.abs(av.astype(np.float64).sum(axis=1) - v).max() <= 1e-13 * vscale, case


def copies_back(dp, monkeypatch) -> list[int]:
    """The sizes (elements) of the device-to-host copies made from now on."""
    backend, sizes = dp.evaluator.backend, []
    to_host = backend.to_host

    def record(a):
        host = to_host(a)
        sizes.append(int(np.asarray(host).size))
        return host
    monkeypatch.setattr(backend, "to_host", record)
    return sizes


@pytest.mark.parametrize("device", DEVICES)
def test_only_the_forces_and_the_block_sums_come_back(monkeypatch, device):
    from dpsycl.evaluator import total_blocks
    dp = pot("cuag", device)
    coords, cell, atype = fcc(5, seed=3)           # 500 atoms: four blocks of sums
    n = len(atype)
    eval_quietly(dp, coords[None], cell.reshape(1, 9), atype, atomic=False)     # a first build settles the rooms
    sizes = copies_back(dp, monkeypatch)
    eval_quietly(dp, coords[None], cell.reshape(1, 9), atype, atomic=False)
    nblocks = total_blocks(n)
    assert 3 * n in sizes and 10 * nblocks in sizes, sizes
    assert max(sizes) == 3 * n, sizes                # no per-atom energies or virials
    sizes.clear()
    eval_quietly(dp, coords[None], cell.reshape(1, 9), atype, atomic=True)
    assert max(sizes) == 13 * n, sizes


@pytest.mark.parametrize("device", DEVICES)
def test_a_device_without_float64_sums_on_the_host_with_the_same_numbers(monkeypatch, device):
    dp = pot("cuag", device)
    coords, cell, atype = fcc(4, seed=8)
    on_device = eval_quietly(dp, coords[None], cell.reshape(1, 9), atype, atomic=False)
    monkeypatch.setattr(dp.evaluator.backend, "fp64", False)
    sizes = copies_back(dp, monkeypatch)
    on_host = eval_quietly(dp, coords[None], cell.reshape(1, 9), atype, atomic=False)
    assert max(sizes) == 13 * len(atype)             # the atomic values came back to be summed here
    np.testing.assert_array_equal(on_host[1], on_device[1])
    np.testing.assert_allclose(on_host[0], on_device[0], rtol=1e-14)
    np.testing.assert_allclose(on_host[2], on_device[2], rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_block_sums_do_not_read_what_the_buffer_held_before(device):
    """The block-sum buffer is reused and never cleared: whatever it held (NaN here) must not reach the totals.
    A first version started each sum from 0·partial[0], and a NaN left there by earlier use made E NaN."""
    from dpsycl.evaluator import total_blocks
    dp = pot("cuag", device)
    if not dp.evaluator.backend.fp64:
        pytest.skip("the device has no float64: the host sums the totals")
    coords, cell, atype = fcc(3, seed=11)
    want = eval_quietly(dp, coords[None], cell.reshape(1, 9), atype, atomic=False)
    ws, backend = dp.evaluator.workspace, dp.evaluator.backend
    totals = ws.buffer("totals", 10 * total_blocks(len(atype)), np.float64)
    backend.copy_from_host(totals, np.full(int(totals.shape[0]), np.nan))
    got = eval_quietly(dp, coords[None], cell.reshape(1, 9), atype, atomic=False)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
