"""The fitting net on OpenCL CPU devices: by oneMKL's dense products over the rows of each species
(dpsycl/fitting_rows.py, device_kernels/fitting_rows.py), and the kernel of FIT_ATOMS atoms of one species per
work-group with the local memory it needs (device_kernels/se_e2_a_fitting.py, dpsycl/backends/sycl.py)."""
from __future__ import annotations

import numpy as np
import pytest

import dpsycl
from dpsycl.backends import sycl_available
from conftest import products_counted
from crystals import fcc

pytestmark = pytest.mark.skipif(not sycl_available() or not any(d.startswith("opencl:cpu") for d in dpsycl.devices()),
                                reason="needs the OpenCL CPU device")


@pytest.fixture(scope="module")
def cpu_pot(models):
    return dpsycl.DeepPot(models["cuag"], device="opencl:cpu")


def test_species_groups_hold_every_atom_once_and_one_species_each(cpu_pot):
    """Counts of 9 and 23 atoms: groups of FIT_ATOMS of one species, a species' last group padded by −1."""
    from dpsycl.device_kernels.se_e2_a_fitting import FIT_ATOMS
    ev = cpu_pot.evaluator
    atype = np.array([1] * 23 + [0] * 9)
    np.random.default_rng(3).shuffle(atype)
    passes = ev.passes
    device_atype = ev.backend.asarray(atype, np.int64)
    fit_atoms, ngroups = passes.species_groups(device_atype, atype.size)
    groups = np.asarray(ev.backend.to_host(fit_atoms))[:ngroups * FIT_ATOMS].reshape(ngroups, FIT_ATOMS)
    assert ngroups == -(-9 // FIT_ATOMS) - (-23 // FIT_ATOMS)
    real = groups[groups >= 0]
    assert sorted(real.tolist()) == list(range(atype.size))  # each atom once
    for row in groups:
        members = row[row >= 0]
        assert len(set(atype[members])) == 1
        assert row[0] >= 0 and np.all(np.diff((row >= 0).astype(int)) <= 0)   # padding only at the end
    assert passes.species_groups(device_atype, atype.size)[1] == ngroups       # held for the same array


@pytest.mark.parametrize("by_products", [True, False], ids=["dense-products", "fitting-kernel"])
def test_uneven_species_counts_match_the_host_reference(cpu_pot, models, by_products, monkeypatch):
    """A cell whose species counts are not multiples of FIT_ATOMS (padded groups) against the NumPy reference:
    atomic energies, forces and virials, by each of the two fitting paths; the products in blocks of 16 rows,
    so that blocks end inside a species' run and runs inside a block."""
    from dpsycl import fitting_rows
    from dpsycl.device_kernels.se_e2_a_fitting import FIT_ATOMS
    coords, cell, _ = fcc(3, a=3.85, seed=6)
    natoms = len(coords)
    atype = np.zeros(natoms, dtype=np.int64)
    atype[np.random.default_rng(5).permutation(natoms)[:natoms // 3 + 1]] = 1     # 37 and 71 atoms
    assert (np.bincount(atype) % FIT_ATOMS != 0).all()
    host = dpsycl.DeepPot(models["cuag"], device="numpy")
    want = host.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype, atomic=True)
    passes = cpu_pot.evaluator.passes
    assert passes.fitting_rows is not None          # the OpenCL CPU device offers dense products
    assert not passes.fitting_rows.takes(natoms)    # a system this small runs the fitting kernel by default
    monkeypatch.setattr(passes.fitting_rows, "enabled", by_products)
    monkeypatch.setattr(passes.fitting_rows, "products_from", 0)
    monkeypatch.setattr(passes.fitting_rows, "row_block", 16)
    products = products_counted(cpu_pot.evaluator.backend, monkeypatch)
    got = cpu_pot.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype, atomic=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)
    # per block of 16 rows, a product per species run in it, for 3 hidden layers forward and back and the output
    runs = sum(len({atype_sorted for atype_sorted in np.sort(atype)[b:b + 16]}) for b in range(0, natoms, 16))
    assert len(products) == (7 * runs if by_products else 0)
    if by_products:
        assert sum(m for m, k, n in products if (k, n) == (64 * 8, 120)) == natoms     # layer 0 over every row once


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, k, n", [(37, 29, 13), (1, 29, 13), (37, 29, 1), (3, 1, 4), (1, 1, 1)])
def test_matmul_matches_numpy_on_offset_views(cpu_pot, dtype, m, k, n):
    """The backend's product of matrices that start inside 1-D device arrays, against NumPy's, also where an
    operand is a row or a column (oneMKL's binding then picks column-major order); nothing outside the output's
    block is written."""
    backend = cpu_pot.evaluator.backend
    rng = np.random.default_rng(11)
    a_host, b_host = rng.normal(size=5 + m * k), rng.normal(size=3 + k * n + 4)
    out_host = np.full(7 + m * n + 5, -1.0)
    a, b, out = (backend.asarray(x, dtype) for x in (a_host, b_host, out_host))
    backend.matmul(a, 5, b, 3, out, 7, m, k, n)
    got = np.asarray(backend.to_host(out))
    want = a_host[5:].reshape(m, k).astype(dtype) @ b_host[3:3 + k * n].reshape(k, n).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(got[7:7 + m * n].reshape(m, n), want, rtol=tol, atol=tol)
    assert (got[:7] == -1).all() and (got[7 + m * n:] == -1).all()


def test_a_work_group_beyond_the_local_memory_is_refused(cpu_pot):
    """Past its local memory a CPU work-group would read and write out of bounds: the launch stops first."""
    backend = cpu_pot.evaluator.backend
    assert backend.local_memory_bytes >= 1 << 20          # sycl_runtime.CPU_LOCAL_MEMORY, asked before the runtime starts
    with pytest.raises(RuntimeError, match="local memory"):
        backend.launch_groups("group_reduce", 1, 16, local={"sh_red": backend.local_memory_bytes // 8 + 1})


@pytest.mark.parametrize("name", ["tiny_se_r", "tiny_se_e3", "tiny_hybrid_pair", "tiny_fparam", "tiny_tebd",
                                  "tiny_compress"])
def test_every_descriptor_fits_by_products_as_the_host_reference(models, name, monkeypatch):
    """se_e2_r, se_e3 and the hybrid (their D_i rows gathered, ∂E/∂D_i written back over them), frame and atomic
    parameters, a type embedding and compressed tables through the fitting net by products: atomic energies,
    forces and virials against the NumPy reference, and the products that ran, counted: one per species, layer
    and direction, over every atom."""
    coords, cell, atype = fcc(3, a=3.85, seed=7)
    atype = np.random.default_rng(8).permutation(atype)
    kw = {}
    host = dpsycl.DeepPot(models[name], device="numpy")
    if host.get_dim_fparam():
        kw = dict(fparam=np.array([0.3, -0.2])[:host.get_dim_fparam()],
                  aparam=np.linspace(-0.5, 0.5, len(atype) * host.get_dim_aparam()).reshape(len(atype), -1))
    want = host.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype, atomic=True, **kw)
    pot = dpsycl.DeepPot(models[name], device="opencl:cpu")
    rows = pot.evaluator.passes.fitting_rows
    assert rows is not None
    monkeypatch.setattr(rows, "products_from", 0)
    seen = products_counted(pot.evaluator.backend, monkeypatch)
    got = pot.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype, atomic=True, **kw)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)
    per_row = 2 * len(models[name].fitting.neuron) + 1        # each hidden layer forward and back, the output
    assert len(seen) == per_row * len(set(atype.tolist()))       # one product per species run (one block)
    assert sum(m for m, k, n in seen) == per_row * len(atype)    # over every atom


def test_small_systems_keep_the_fitting_kernels(cpu_pot, monkeypatch):
    """Below products_from the products' fixed costs outweigh their gain (NOTES.md, session 27): no product runs;
    from it on they do."""
    rows = cpu_pot.evaluator.passes.fitting_rows
    seen = products_counted(cpu_pot.evaluator.backend, monkeypatch)
    coords, cell, atype = fcc(3, a=3.85, seed=6)
    monkeypatch.setattr(rows, "products_from", len(atype) + 1)
    cpu_pot.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype)
    assert seen == []
    monkeypatch.setattr(rows, "products_from", len(atype))
    cpu_pot.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype)
    assert len(seen) == 7 * 2        # two species: three hidden layers forward and back, and the output layer


@pytest.mark.parametrize("name", ["cuag", "tiny_se_r", "tiny_hybrid_pair"])
def test_estimate_counts_the_products_buffers(models, name, monkeypatch):
    """The memory estimate's dry run takes the products where the evaluation does, and counts their buffers to
    the byte (as tests/test_device_memory.py for the kernels)."""
    from dpsycl import fitting_rows
    from test_device_memory import reverse_list_slack
    monkeypatch.setattr(fitting_rows, "PRODUCTS_FROM", 0)       # for the evaluator's passes and its dry run's
    ev = dpsycl.DeepPot(models[name], device="opencl:cpu").evaluator
    coords, cell, atype = fcc(3)
    estimate = ev.memory_estimate(len(atype), cell, (coords.min(axis=0), coords.max(axis=0)))
    prefix = "hybrid:" if name.startswith("tiny_hybrid") else ""
    assert {prefix + "fit_rows:values", prefix + "fit_rows:slopes", prefix + "fit_rows:rows"} <= set(estimate.buffers)
    ev.evaluate(coords, cell, atype)
    assert estimate.total - reverse_list_slack(ev, coords, cell, atype) == ev.workspace_bytes()
