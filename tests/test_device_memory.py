"""Device memory (issue 13, point 2): a system that does not fit is refused before anything is
allocated, with one line giving the most atoms that fit; the estimate behind it is checked against
the memory the evaluator really holds afterwards.  Also the evaluator's own defences against inputs
that would exhaust memory or lose precision: sparse systems, periodic cells too thin for the
packed image shifts, and float32 models given coordinates far from the origin.

Runs on opencl:cpu (skipped without the SYCL stack); a device holding little memory is the
evaluator's test-only ``memory_limit`` or a backend reporting little memory.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import dpsycl
from conftest import DATA, TOL, reference_case
from dpsycl.backends import DeviceError, DeviceMemory, DeviceMemoryError, sycl_available
from crystals import fcc

pytestmark = pytest.mark.skipif(not sycl_available(), reason="the SYCL stack (dpctl, numba-dpex) is not installed")
DEVICE = "opencl:cpu"


@pytest.fixture(scope="module")
def models():
    return {name: dpsycl.load_model(DATA / name / "model.h5") for name in ("cuag", "tiny_se_r", "cuagau_f32",
                                                                           "tiny_fparam")}


def reverse_list_slack(ev, coords, cell, atype) -> int:
    """Bytes the estimate counts beyond what the reverse lists take: it sizes them at sel, the build
    at the most neighbours any atom has within the cutoff (rev_cap), known once the list is built."""
    b = ev.backend
    nb = ev.build_neighbors(b.asarray(coords.ravel(), ev.dtype), b.asarray(atype, np.int64), cell,
                            bounds=(coords.min(axis=0), coords.max(axis=0)))
    return sum(len(atype) * (max(int(sum(lst.spec.sel)), 1) - lst.rev_cap) * np.dtype(lst.rev.dtype).itemsize
               for lst in nb.lists)


@pytest.mark.parametrize("name, periodic, layout", [
    ("cuag", True, "chunk"), ("cuag", False, "chunk"), ("cuag", True, "group"), ("cuag", True, "split"),
    ("tiny_fparam", True, "split"),
    ("tiny_se_r", True, "chunk"), ("tiny_fparam", True, "chunk"), ("cuagau_f32", False, "chunk")])
def test_estimate_is_the_memory_an_evaluation_holds(models, name, periodic, layout):
    """The estimate before a first evaluation against workspace_bytes() after it (itself checked
    against an independent count of the device arrays in tests/test_device.py): equal to the byte,
    once the reverse lists' real length is put in."""
    dp = dpsycl.DeepPot(models[name], device=DEVICE)
    ev = dp.evaluator
    if layout not in ev.passes.layouts or (layout in ("group", "split") and not ev.backend.supports_groups):
        pytest.skip(f"no {layout} layout here")
    ev.layout = layout
    coords, cell, atype = fcc(3)
    cell = cell if periodic else None
    params = {"fparam": np.ones(dp.get_dim_fparam()) if dp.get_dim_fparam() else None,
              "aparam": np.ones((len(atype), dp.get_dim_aparam())) if dp.get_dim_aparam() else None}
    bounds = (coords.min(axis=0), coords.max(axis=0))
    estimate = ev.memory_estimate(len(atype), cell, bounds)
    assert estimate.constants == ev.workspace_bytes()          # nothing allocated by estimating
    ev.evaluate(coords, cell, atype, **params)
    held = ev.workspace_bytes()
    assert estimate.total - reverse_list_slack(ev, coords, cell, atype) == held
    assert ev.workspace_bytes() == held                         # the list build reused every buffer


def test_estimate_grows_by_its_per_atom_bytes(models):
    """Two sizes measured: the growth per atom of the memory held is the estimate's per-atom bytes."""
    held = {}
    for n in (3, 4):
        ev = dpsycl.DeepPot(models["cuag"], device=DEVICE).evaluator
        coords, cell, atype = fcc(n)
        estimate = ev.memory_estimate(len(atype), cell)
        ev.evaluate(coords, cell, atype)
        held[len(atype)] = (ev.workspace_bytes() + reverse_list_slack(ev, coords, cell, atype), estimate)
    (n1, (b1, e1)), (n2, (b2, e2)) = sorted(held.items())
    assert (b2 - b1) / (n2 - n1) == pytest.approx((e2.total - e1.total) / (n2 - n1))


def limit_for(estimate, natoms: float) -> int:
    """A memory_limit whose free memory, after the model, holds ``natoms`` atoms' buffers."""
    from dpsycl.evaluator import MEMORY_MARGIN, MEMORY_RESERVE
    return int(estimate.constants + (natoms * estimate.per_atom + MEMORY_RESERVE) / (1 - MEMORY_MARGIN))


def test_a_system_too_large_is_refused_before_anything_is_allocated(models):
    dp = dpsycl.DeepPot(models["cuag"], device=DEVICE)
    ev = dp.evaluator
    coords, cell, atype = fcc(4)                                  # 256 atoms
    natoms = len(atype)
    limit = limit_for(ev.memory_estimate(natoms, cell), 100.5)
    ev.memory_limit = limit
    before = ev.workspace_bytes()
    with pytest.raises(DeviceMemoryError) as info:
        dp.eval(coords.reshape(1, -1), cell.reshape(1, 9), atype)
    message = str(info.value)
    assert "\n" not in message and f"{natoms} atoms do not fit on {ev.name}" in message
    assert "at most 100 atoms of this model fit" in message, message
    assert ev.workspace_bytes() == before
    assert isinstance(info.value, DeviceError) and isinstance(info.value, ValueError)
    # the count it gives is right: on that device 100 atoms of the same crystal fit, 101 do not
    for n, fits in ((100, True), (101, False)):
        ev = dpsycl.DeepPot(models["cuag"], device=DEVICE).evaluator
        ev.memory_limit = limit
        if fits:
            ev.evaluate(coords[:n], cell, atype[:n])
        else:
            with pytest.raises(DeviceMemoryError, match="at most 100 atoms"):
                ev.evaluate(coords[:n], cell, atype[:n])


def test_the_largest_array_is_held_to_the_largest_allocation(models, monkeypatch):
    """SYCL devices cap one allocation (max_mem_alloc_size); a system whose largest buffer exceeds it is
    refused even with enough memory in all."""
    ev = dpsycl.DeepPot(models["cuag"], device=DEVICE).evaluator
    coords, cell, atype = fcc(3)
    estimate = ev.memory_estimate(len(atype), cell)
    roomy = DeviceMemory(free=10 * estimate.total + 2 ** 30, total=2 ** 40, max_allocation=estimate.largest // 2)
    monkeypatch.setattr(ev.backend, "memory", lambda: roomy)
    with pytest.raises(DeviceMemoryError, match="more than the device allocates at once") as info:
        ev.evaluate(coords, cell, atype)
    fit = int(str(info.value).split("at most ")[1].split()[0])
    assert fit == int(roomy.max_allocation // (estimate.largest / len(atype)))


def test_cli_reports_a_device_too_small_in_one_line(models, monkeypatch, tmp_path):
    """Through `dpsycl eval` on the real backend object reporting (as its driver would) little memory."""
    from ase import Atoms
    from ase.io import write

    from dpsycl.backends.sycl import SyclBackend
    from dpsycl.cli import main
    coords, cell, atype = fcc(3)
    write(tmp_path / "s.xyz", Atoms(np.array(["Cu", "Ag"])[atype], positions=coords, cell=cell, pbc=True))
    model = tmp_path / "cuag.h5"          # a path of its own: `dpsycl eval` keeps one DeepPot per model path
    model.write_bytes((DATA / "cuag" / "model.h5").read_bytes())
    monkeypatch.setattr(SyclBackend, "memory", lambda self: DeviceMemory(free=2 ** 20, total=2 ** 21,
                                                                         max_allocation=2 ** 21))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["eval", str(model), str(tmp_path / "s.xyz"), "--device", DEVICE])
    assert rc == 2 and out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpsycl: error: 108 atoms do not fit on opencl:cpu"), lines
    assert "at most 0 atoms" in lines[0]


def test_sycl_backend_reports_the_device_memory():
    """The numbers the check uses, against dpctl's device description and the kernel's MemAvailable."""
    import dpctl

    from dpsycl.backends import make_backend
    backend = make_backend(DEVICE)
    memory = backend.memory()
    device = dpctl.SyclDevice(DEVICE)
    assert memory.total == device.global_mem_size and memory.max_allocation == device.max_mem_alloc_size
    with open("/proc/meminfo") as fh:
        available = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    assert 0 < memory.free <= memory.total
    assert abs(memory.free - min(available, memory.total)) < 2 ** 30        # the host's memory moves meanwhile


def test_an_allocation_the_driver_refuses_is_one_line():
    """The backstop when memory went elsewhere after the check: dpctl's USMAllocationError becomes one
    DeviceMemoryError line (8 TiB: more than max_mem_alloc_size on any host)."""
    from dpsycl.backends import make_backend
    backend = make_backend(DEVICE)
    with pytest.raises(DeviceMemoryError, match=r"could not allocate 8388608\.0 MiB") as info:
        backend.empty(2 ** 40, np.float64)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# inputs that would exhaust memory or precision in the evaluator
@pytest.mark.parametrize("periodic", [False, True])
def test_a_sparse_system_gets_a_small_cell_list_and_isolated_energies(models, periodic):
    """Two atoms 4·10⁴ Å apart (open), or four in a 2·10⁴ Å box: 1024³ cells before (8.6 GB of cell
    counts); now at most 64.  Far apart, each atom has its isolated energy: the oracle is a one-atom
    evaluation of each species."""
    dp = dpsycl.DeepPot(models["cuag"], device=DEVICE)
    ev = dp.evaluator
    coords = np.array([[0.0, 0.0, 0.0], [4e4, 1e3, -2e4], [1e4, 1e4, 1e4], [-3e3, 5e3, 7e3]])
    atype = np.array([0, 1, 1, 0])
    cell = np.eye(3) * 2e4 if periodic else None
    if periodic:
        coords = coords % 2e4
    estimate = ev.memory_estimate(len(atype), cell, (coords.min(axis=0), coords.max(axis=0)))
    assert estimate.buffers["cell_count"] <= 64 * 8
    e, f, v = dp.eval(coords.reshape(1, -1), None if cell is None else cell.reshape(1, 9), atype)
    alone = {t: dp.eval(np.zeros((1, 3)), None, [t])[0][0, 0] for t in (0, 1)}
    assert e[0, 0] == pytest.approx(sum(alone[t] for t in atype), abs=1e-10)
    assert np.abs(f).max() == 0.0 and ev.workspace_bytes() < estimate.constants + 2 ** 20


def test_a_cell_too_thin_for_the_packed_image_shifts_is_refused(models):
    """Within rcut an atom of a 0.01 Å thick cell has 600 images on each side, beyond the ±511 the
    kernels pack: refused by the evaluator (any caller: MD, LAMMPS), before any allocation."""
    ev = dpsycl.DeepPot(models["cuag"], device=DEVICE).evaluator
    before = ev.workspace_bytes()
    with pytest.raises(ValueError, match="more than 511 periodic images"):
        ev.evaluate(np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 0.005]]), np.diag([10.0, 10.0, 0.01]), np.array([0, 1]))
    assert ev.workspace_bytes() == before


@pytest.mark.parametrize("shift", [1e3, 1e5])
def test_float32_model_does_not_depend_on_where_the_structure_is(models, shift):
    """A float32 model used to round positions to float32 before wrapping them: the bulk case shifted by
    10³ lattice vectors gave forces 9e-3 eV/Å off, by 10⁵ 1.1 eV/Å (DeePMD-kit: 2e-7).  Periodic frames are
    now moved into the cell in float64 on the device, open ones on the host.  Oracle: the
    float64 host reference on the unshifted structure, to the float32 tolerances of the suite."""
    model = models["cuagau_f32"]
    ref = dict(np.load(DATA / "cuagau_f32" / "reference.npz"))
    coords, cells, atype, _ = reference_case(ref, "bulk")
    coords, cells = coords[:1], cells[:1]
    want = dpsycl.DeepPot(model, device="numpy").eval(coords, cells, atype)
    dp = dpsycl.DeepPot(model, device=DEVICE)
    h = cells.reshape(3, 3)
    moved = (coords.reshape(-1, 3) + shift * h.sum(axis=0)).reshape(1, -1)
    tol = TOL["float32"]
    n = len(atype)
    open_want = dpsycl.DeepPot(model, device="numpy").eval(coords, None, atype)
    # periodic frames are moved into the cell on the device (narrow_atom), open ones on the host
    assert dp.evaluator.narrows_on_device(h) and not dp.evaluator.narrows_on_device(None)
    for structure, cell, base in ((moved, cells, want), (coords + shift / 10, None, open_want)):
        got = dp.eval(structure, cell, atype)
        assert abs(got[0][0, 0] - base[0][0, 0]) / n <= tol["energy"]
        assert np.abs(got[1] - base[1]).max() <= tol["force"]
        assert np.abs(got[2] - base[2]).max() / n <= tol["virial"]
