"""The fitting kernel of OpenCL CPU devices: FIT_ATOMS atoms of one species per work-group, and the local
memory it needs (device_kernels/se_e2_a_fitting.py, dpsycl/backends/sycl.py)."""
from __future__ import annotations

import numpy as np
import pytest

import dpsycl
from dpsycl.backends import sycl_available
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


def test_uneven_species_counts_match_the_host_reference(cpu_pot, models):
    """A cell whose species counts are not multiples of FIT_ATOMS (padded groups) against the NumPy reference:
    atomic energies, forces and virials."""
    from dpsycl.device_kernels.se_e2_a_fitting import FIT_ATOMS
    coords, cell, _ = fcc(3, a=3.85, seed=6)
    natoms = len(coords)
    atype = np.zeros(natoms, dtype=np.int64)
    atype[np.random.default_rng(5).permutation(natoms)[:natoms // 3 + 1]] = 1     # 37 and 71 atoms
    assert (np.bincount(atype) % FIT_ATOMS != 0).all()
    host = dpsycl.DeepPot(models["cuag"], device="numpy")
    want = host.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype, atomic=True)
    got = cpu_pot.eval(coords.reshape(1, -1), cell.reshape(1, -1), atype, atomic=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)


def test_a_work_group_beyond_the_local_memory_is_refused(cpu_pot):
    """Past its local memory a CPU work-group would read and write out of bounds: the launch stops first."""
    backend = cpu_pot.evaluator.backend
    assert backend.local_memory_bytes >= 1 << 20          # sycl_runtime.CPU_LOCAL_MEMORY, asked before the runtime starts
    with pytest.raises(RuntimeError, match="local memory"):
        backend.launch_groups("group_reduce", 1, 16, local={"sh_red": backend.local_memory_bytes // 8 + 1})
