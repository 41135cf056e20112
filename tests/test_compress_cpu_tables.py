"""The CPU's table kernels of compressed se_e2_a models (device_kernels/se_e2_a_tables.py: the pair passes
as work-groups of one vector, reading a channel-minor copy of the tables), against DeePMD-kit's own
outputs of the compressed graphs and against the NumPy reference of the same tables.

What the cases reach: widths below the group (tiny models: M = 8 of 16 lanes), per-pair nets with an
excluded pair, float32 tables, the table's second region ('dense', test_compress.py), slot chunks that
split a row unevenly over work-items of one group (7 chunks of ⌈80/7⌉ = 12 slots, 8 per round), and a
list built with a skin whose dead slots sit between live ones.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import dpsycl
from crystals import fcc
from conftest import CASES, TOL, case_errors, model_file, within_tolerance

TABLE_MODELS = ("tiny_compress", "tiny_pair_compress", "tiny_f32_compress")


@pytest.fixture(scope="module")
def cpu_pots():
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack (dpctl, numba-dpex) is not installed")
    pots = {name: dpsycl.DeepPot(model_file(name), device="opencl:cpu") for name in TABLE_MODELS}
    if not pots[TABLE_MODELS[0]].evaluator.backend.group_fitting:
        pytest.skip("this device runs no work-group kernels: the chunk kernels serve compressed models")
    return pots


@pytest.mark.parametrize("chunks", [1, 7])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", TABLE_MODELS)
def test_table_kernels_match_deepmd(cpu_pots, name, case, chunks):
    dp = cpu_pots[name]
    ev = dp.evaluator
    assert ev.passes.tab_minor is not None          # the table kernels, not the chunk kernels, run
    ev.layout = "chunk"
    ev.chunks = chunks
    try:
        err = case_errors(dp, dict(np.load(model_file(name).parent / "reference.npz")), case)
    finally:
        ev.chunks = None
    assert within_tolerance(err, TOL[dp.model.precision]), err


def test_channel_minor_copy_holds_the_tables_coefficients(cpu_pots):
    """Coefficient k of channel m of interval n sits at n·6M + k·M + m in the copy, at n·6M + 6m + k in the pack."""
    passes = cpu_pots["tiny_compress"].evaluator.passes
    backend = cpu_pots["tiny_compress"].evaluator.backend
    packed = np.asarray(backend.to_host(passes.emb.emb_w))
    minor = np.asarray(backend.to_host(passes.tab_minor))
    m = passes.m_width
    start = int(np.asarray(backend.to_host(passes.emb.emb_off))[0]) + 9
    n = 3
    interval = packed[start + n * 6 * m:start + (n + 1) * 6 * m].reshape(m, 6)
    assert np.array_equal(minor[start + n * 6 * m:start + (n + 1) * 6 * m].reshape(6, m), interval.T)
    assert not np.array_equal(interval.T.ravel(), interval.ravel())


def test_stale_skin_list_with_dead_slots_between_live_ones(cpu_pots):
    """A list built with a skin at earlier positions holds slots beyond rcut between live ones once the atoms
    have moved; the table kernels must skip exactly those.  Reference: the NumPy evaluation of the moved
    positions with its own list."""
    dp = cpu_pots["tiny_compress"]
    ev = dp.evaluator
    rcut = dp.model.descriptor.rcut
    a, ncell = 3.85, 3                  # box 11.55 Å > 2·(rcut + skin)
    coords, cell, atype = fcc(ncell, a=a, seed=5)
    coords = np.mod(coords, a * ncell)
    moved = coords + np.random.default_rng(6).normal(0.0, 0.12, coords.shape)
    assert np.abs(moved - coords).max() < 0.5
    b = ev.backend
    atype_dev = b.asarray(atype, np.int64)
    nb = ev.build_neighbors(b.asarray(coords.ravel(), ev.dtype), atype_dev, cell, skin=1.0)
    out = ev.compute(b.asarray(moved.ravel(), ev.dtype), atype_dev, cell, nb)
    host = dpsycl.DeepPot(model_file("tiny_compress"), device="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # the moved positions fill no block past its sel
        ref = host.eval(moved.reshape(1, -1), cell.reshape(1, 9), atype, atomic=True)
    n = len(atype)
    tol = TOL["float64"]
    assert np.abs(b.to_host(out["atom_energy"]).ravel() - ref[3].ravel()).max() <= tol["energy"]
    assert np.abs(b.to_host(out["force"]).reshape(-1, 3) - ref[1][0]).max() <= tol["force"]
    nlist = b.to_host(nb.lists[0].nlist).reshape(n, -1)
    d = moved[np.maximum(nlist, 0)] - moved[:, None, :]
    d -= a * ncell * np.round(d / (a * ncell))
    live = (nlist >= 0) & (np.linalg.norm(d, axis=-1) < rcut)
    edges = np.cumsum([0, *dp.model.descriptor.sel])
    dead_before_live = sum(int(np.any(~live[i, lo:hi][:np.flatnonzero(live[i, lo:hi]).max()]))
                           for i in range(n) for lo, hi in zip(edges[:-1], edges[1:]) if live[i, lo:hi].any())
    assert dead_before_live > 10, dead_before_live
