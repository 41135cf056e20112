"""Every device present runs every test model and case against the float64 host reference."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import dpsycl
import dpsycl.device_kernels as device_kernels
from dpsycl.backends import DeviceError
from dpsycl.model import ModelError
from dpsycl.neighbors import SelTruncationWarning
from crystals import fcc as _fcc
from conftest import CASES, MODELS, TOL, case_params, products_counted, reference_case

DEVICES = [d for d in dpsycl.devices() if d != "numpy"]


def test_a_kernel_device_is_present():
    """Where the SYCL stack is installed (CI) it must give the OpenCL CPU device; elsewhere (the GPU
    machine) a CUDA GPU must be there: no silent fallback to the host reference."""
    from dpsycl.backends import sycl_available
    if sycl_available():
        assert any(d.startswith("opencl:cpu") for d in DEVICES), dpsycl.devices()
    else:
        assert any(d.startswith("cuda") for d in DEVICES), dpsycl.devices()


@pytest.fixture(scope="module")
def pots(models):
    cache = {}

    def get(name, device):
        if (name, device) not in cache:
            cache[name, device] = dpsycl.DeepPot(models[name], device=device)
        return cache[name, device]
    return get


@pytest.fixture(scope="module")
def host_pots(models):
    return {name: dpsycl.DeepPot(models[name], device="numpy") for name in MODELS}


LAYOUTS = ("chunk", "group", "split")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", MODELS)
def test_device_matches_reference_on_all_cases(pots, host_pots, references, name, device, layout):
    """Both kernel layouts (work-item per atom chunk: CPUs; work-group per atom: GPUs) on every device."""
    dp = pots(name, device)
    if layout not in dp.evaluator.passes.layouts:
        pytest.skip(f"{dp.model.descriptor_type} has no {layout} layout")
    if layout in ("group", "split") and not dp.evaluator.backend.supports_groups:
        pytest.skip(f"{device} is not the default SYCL device: numba-dpex 0.23 local memory unavailable")
    default_layout = dp.evaluator.layout
    dp.evaluator.layout = layout
    try:
        _check_all_cases(dp, host_pots[name], references[name], name, device)
    finally:
        dp.evaluator.layout = default_layout


def _check_all_cases(dp, host, ref_data, name, device):
    tol = TOL[dp.model.precision]
    worst = {}
    for case in CASES:
        coords, cells, atype, _ = reference_case(ref_data, case)
        params = case_params(ref_data, case)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = dp.eval(coords, cells, atype, atomic=True, **params)
            ref = host.eval(coords, cells, atype, atomic=True, **params)
        truncations = [w for w in caught if issubclass(w.category, SelTruncationWarning)]
        # the dense case overfills sel: the device and the reference both say so, once per frame
        assert len(truncations) == (2 * len(coords) if case == "dense" else 0), (case, [str(w.message) for w in caught])
        n = len(atype)
        err = dict(energy=np.abs(got[0] - ref[0]).max() / n, force=np.abs(got[1] - ref[1]).max(),
                   virial=np.abs(got[2] - ref[2]).max() / n,
                   atom_energy=(np.abs(got[3] - ref[3]) / (1 + tol["rel"] / tol["energy"] * np.abs(ref[3]))).max(),
                   atom_virial=np.abs(got[4] - ref[4]).max())
        worst[case] = err
        assert err["energy"] <= tol["energy"] and err["atom_energy"] <= tol["energy"], (case, err)
        assert err["force"] <= tol["force"], (case, err)
        assert err["virial"] <= tol["virial"] and err["atom_virial"] <= tol["virial"], (case, err)
    print(f"\n{name} on {device} ({dp.evaluator.layout}): " + "; ".join(f"{c} dF={e['force']:.1e}" for c, e in worst.items()))


PRODUCT_MODELS = ("cuag", "tiny_compress", "tiny_fparam", "tiny_tebd", "tiny_se_r", "tiny_se_e3", "tiny_hybrid_pair")


@pytest.mark.parametrize("device", [d for d in DEVICES if d.startswith("cuda")])
@pytest.mark.parametrize("name", PRODUCT_MODELS)
def test_fitting_by_cublas_matches_reference_on_all_cases(models, host_pots, references, name, device, monkeypatch):
    """On NVIDIA GPUs the fitting net runs as cuBLAS products over each species' rows from products_from atoms
    on (dpsycl/fitting_rows.py; se_e2_a in its split layout); here from the first atom, in blocks of 40 rows so
    that blocks end inside a species' run.  Every case against the float64 host reference.  (OpenCL CPU
    devices run the same path through oneMKL: tests/test_cpu_fitting.py, test_split_layout.py.)"""
    dp = dpsycl.DeepPot(models[name], device=device)
    rows = dp.evaluator.passes.fitting_rows
    if rows is None:
        pytest.skip(f"{device} offers no dense products here: {dp.evaluator.backend.describe()}")
    monkeypatch.setattr(rows, "products_from", 0)
    monkeypatch.setattr(rows, "row_block", 40)
    seen = products_counted(dp.evaluator.backend, monkeypatch)
    if "split" in dp.evaluator.passes.layouts:
        dp.evaluator.layout = "split"
    _check_all_cases(dp, host_pots[name], references[name], name, device)
    assert seen


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("device", DEVICES)
def test_mixed_precision_against_deepmd_kit(models, references, device, layout):
    """precision="mixed": the descriptor's and fitting net's kernels in float32, positions, the neighbour
    search, forces and virials in float64.  Against DeePMD-kit's float64 outputs within float32's bounds;
    the forces closer to them than precision float32's (whose positions are float32 as well); and not
    float64's numbers (the networks did run in float32)."""
    coords, cells, atype, ref = reference_case(references["cuag"], "bulk")
    n = len(atype)
    errors = {}
    for precision in ("mixed", "float32"):
        dp = dpsycl.DeepPot(models["cuag"], device=device, precision=precision)
        if layout in ("group", "split") and not dp.evaluator.backend.supports_groups:
            pytest.skip(f"{device} is not the default SYCL device: numba-dpex 0.23 local memory unavailable")
        dp.evaluator.layout = layout
        e, f, v = dp.eval(coords, cells, atype)
        assert f.dtype == np.float64
        errors[precision] = (np.abs(e - ref["energy"]).max() / n, np.abs(f - ref["force"].reshape(f.shape)).max(),
                             np.abs(v - ref["virial"].reshape(v.shape)).max() / n)
    assert dp.evaluator.kernel_dtype == np.float32
    tol = TOL["float32"]
    de, df, dv = errors["mixed"]
    assert de <= tol["energy"] and df <= tol["force"] and dv <= tol["virial"], errors
    assert df < 0.5 * errors["float32"][1], errors
    assert df > 1e-9, errors            # float64 gives ≤ 1e-13 here


@pytest.mark.skipif(not DEVICES, reason="no kernel device")
def test_precision_names_are_checked(models):
    with pytest.raises(ValueError, match="precision 'float16' is not one of float64, float32, mixed"):
        dpsycl.DeepPot(models["cuag"], device=DEVICES[0], precision="float16")


@pytest.mark.parametrize("device", DEVICES)
def test_model_precision_is_honoured(pots, device):
    assert pots("cuag", device).evaluator.dtype == np.float64
    assert pots("cuagau_f32", device).evaluator.dtype == np.float32
    for name in (m for m in MODELS if m.startswith("tiny_f32_")):   # float32 in their training input, every feature
        assert pots(name, device).evaluator.dtype == np.float32, name


@pytest.mark.parametrize("device", DEVICES)
def test_device_arrays_in_and_out(pots, references, device):
    """dpnp arrays (SYCL) or numba device arrays (CUDA) in, the same kind out: no host round trip."""
    dp = pots("cuag", device)
    coords, cells, atype, _ = reference_case(references["cuag"], "triclinic")
    backend = dp.evaluator.backend
    x = backend.asarray(coords[0], np.float64)
    e, f, v, ae, av = dp.eval(x, cells[0], atype, atomic=True)
    assert backend.is_device_array(f) and backend.is_device_array(ae)
    np.testing.assert_array_equal(backend.to_host(x), coords[0])      # the caller's array is left as it was
    host = dp.eval(coords[:1], cells[:1], atype, atomic=True)
    np.testing.assert_allclose(backend.to_host(f).reshape(-1, 3), host[1][0], atol=1e-12)
    np.testing.assert_allclose(e, host[0], atol=1e-10)


def test_auto_picks_a_kernel_device_and_reports_it(models):
    dp = dpsycl.DeepPot(models["cuagau_f32"], device="auto")
    assert dp.device == DEVICES[0] if not DEVICES[0].startswith("cuda") else dp.device.startswith("cuda")
    assert dp.device in dp.describe_device()


def test_unknown_device_is_a_clear_error(models):
    with pytest.raises(DeviceError, match="available"):
        dpsycl.DeepPot(models["cuagau_f32"], device="level_zero:gpu:7")


def test_float64_model_on_device_without_fp64_names_the_device(models):
    class NoFp64:
        name = "opencl:gpu:0"
        fp64 = False
    from dpsycl.evaluator import DeviceEvaluator
    with pytest.raises(ModelError, match="opencl:gpu:0.*precision='float32'"):
        DeviceEvaluator(models["cuag"], NoFp64())
    with pytest.raises(ModelError, match="opencl:gpu:0.*'mixed' keeps positions and forces in float64"):
        DeviceEvaluator(models["cuagau_f32"], NoFp64(), "mixed")


def test_single_source_bodies_are_shared_between_backends():
    """Each backend compiles the very code objects defined once in device_kernels/ (the descriptor
    units' modules included); only the primitives (barrier, atomic add) are the backend's own, and the one
    numerical body a backend may replace (CUDA float64: tanh_branch_free for tanh)."""
    from dpsycl.descriptors import kernel_modules
    modules = device_kernels.COMMON_MODULES + kernel_modules()
    seen = []
    compiled = device_kernels.bind_bodies(lambda f: (seen.append(f), f)[1], modules=modules)
    bodies = [b for b in device_kernels.bodies(modules) if b.__name__ not in device_kernels.PRIMITIVES]
    assert {"descriptor_chunk", "group_atom_energy", "gather_forces_and_virials", "bin_atom"} <= {
        b.__name__ for b in bodies}
    for body in bodies:
        fn = compiled[body.__name__]
        assert fn.__code__ is body.__code__
        assert fn.__wrapped_body__ is body
    from dpsycl.backends import sycl_available
    backends = []
    if sycl_available():
        from dpsycl.backends import sycl
        backends.append(sycl)
    from dpsycl.backends import cuda
    backends.append(cuda)
    from dpsycl.device_kernels import activations
    for backend in backends:
        table = backend.compiled_bodies()
        # the one numerical body a backend may replace: CUDA's float64 kernels take the branch-free tanh
        rebound = {"tanh": activations.tanh_branch_free} if backend is cuda else {}
        for body in bodies:
            assert table[body.__name__].py_func.__code__ is rebound.get(body.__name__, body).__code__
        for name in device_kernels.PRIMITIVES:
            assert table[name].py_func.__module__ == backend.__name__
    assert cuda.compiled_bodies(np.float32)["tanh"].py_func.__code__ is activations.tanh.__code__
    if sycl_available():
        # and SYCL's CPU kernels the expm1 tanh in the per-pair embedding nets only
        cpu_table = sycl.compiled_bodies(np.float64, cpu=True)
        assert cpu_table["pair_tanh"].py_func.__code__ is activations.tanh_expm1.__code__
        assert cpu_table["tanh"].py_func.__code__ is activations.tanh.__code__


def _device_bytes_reachable_from(root) -> int:
    """Bytes of every distinct device allocation reachable from ``root``, found by walking the
    object graph (not through the evaluator's own bookkeeping)."""
    import gc
    import types

    import dpnp
    seen, stack, allocations = set(), [root], {}
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, types.FunctionType, str, bytes)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dpnp.ndarray):
            usm = obj.get_array().usm_data
            allocations[id(usm)] = usm.nbytes
            continue
        stack.extend(gc.get_referents(obj))
    return sum(allocations.values())


@pytest.mark.parametrize("device", [d for d in DEVICES if not d.startswith("cuda")])
def test_workspace_bytes_counts_every_device_array_and_grows_linearly(models, device):
    """workspace_bytes() against an independent count of the device arrays the evaluator holds;
    per-atom buffers only (neighbour rows, pair gradients, reverse slots): no (N × nnei × M) tensor."""
    held = {}
    for n_cells in (3, 4):
        dp = dpsycl.DeepPot(models["cuag"], device=device)
        ev = dp.evaluator
        coords, cell, atype = _fcc(n_cells)
        dp.eval(coords.reshape(1, -1), cell.reshape(1, 9), atype)
        counted = _device_bytes_reachable_from(dp)
        assert ev.workspace_bytes() == counted
        held[len(atype)] = counted
    (n1, b1), (n2, b2) = sorted(held.items())
    per_atom = (b2 - b1) / (n2 - n1)
    assert 1_000 < per_atom < 40_000, per_atom


@pytest.mark.filterwarnings("ignore::dpsycl.neighbors.SelTruncationWarning")
@pytest.mark.parametrize("device", DEVICES)
def test_slot_chunking_does_not_change_results(pots, references, device):
    """Small systems split each atom's slots over several work-items (GPU occupancy); same numbers."""
    dp = pots("cuag", device)
    coords, cells, atype, _ = reference_case(references["cuag"], "dense")
    ev = dp.evaluator
    try:
        ev.chunks = 1
        one = dp.eval(coords, cells, atype, atomic=True)
        ev.chunks = 7
        seven = dp.eval(coords, cells, atype, atomic=True)
    finally:
        ev.chunks = None
    for a, b in zip(one, seven):
        assert np.abs(a - b).max() <= 1e-10 * max(1.0, np.abs(a).max())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("device", DEVICES)
def test_stale_skin_list_with_dead_slots_between_live_ones(models, host_pots, device, layout):
    """A list built with a skin at earlier positions (as MD keeps it) holds slots beyond rcut, and once
    the atoms have moved some of them sit between live slots: each layout must skip exactly those
    (the group layout compacts the live slots of a block before batching them).  Reference: the host
    evaluation of the moved positions with its own list."""
    dp = dpsycl.DeepPot(models["cuag"], device=device)
    ev = dp.evaluator
    if layout not in ev.passes.layouts or (layout in ("group", "split") and not ev.backend.supports_groups):
        pytest.skip(f"no {layout} layout on {device}")
    ev.layout = layout
    a, ncell = 3.85, 4                  # box 15.4 Å > 2·(rcut + skin): one image of each neighbour per slot
    coords, cell, atype = _fcc(ncell, a=a, seed=5)
    coords = np.mod(coords, a * ncell)
    moved = coords + np.random.default_rng(6).normal(0.0, 0.12, coords.shape)
    assert np.abs(moved - coords).max() < 0.5                 # inside skin/2: the list still holds every neighbour
    b = ev.backend
    atype_dev = b.asarray(atype, np.int64)
    nb = ev.build_neighbors(b.asarray(coords.ravel(), ev.dtype), atype_dev, cell, skin=1.0)
    out = ev.compute(b.asarray(moved.ravel(), ev.dtype), atype_dev, cell, nb)
    ref = host_pots["cuag"].eval(moved.reshape(1, -1), cell.reshape(1, 9), atype, atomic=True)
    tol = TOL["float64"]
    n = len(atype)
    assert abs(float(b.to_host(out["atom_energy"]).sum()) - ref[0][0, 0]) / n <= tol["energy"]
    assert np.abs(b.to_host(out["force"]).reshape(-1, 3) - ref[1][0]).max() <= tol["force"]
    # what makes the case: inside a species block, slots beyond rcut before live ones
    nlist = b.to_host(nb.lists[0].nlist).reshape(n, -1)
    d = moved[np.maximum(nlist, 0)] - moved[:, None, :]
    d -= a * ncell * np.round(d / (a * ncell))
    live = (nlist >= 0) & (np.linalg.norm(d, axis=-1) < models["cuag"].descriptor.rcut)
    sel = models["cuag"].descriptor.sel
    edges = np.cumsum([0, *sel])
    dead_before_live = sum(int(np.any(~live[i, lo:hi][:np.flatnonzero(live[i, lo:hi]).max()]))
                           for i in range(n) for lo, hi in zip(edges[:-1], edges[1:]) if live[i, lo:hi].any())
    assert dead_before_live > 10, dead_before_live


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("device", DEVICES)
def test_forces_without_virials_are_the_same_to_the_bit(models, host_pots, device, precision):
    """An MD step between samples gathers the forces alone (gather_forces): on a stale skin list, as MD
    keeps it, they must equal those of the gather with virials bit for bit, and the atomic virials must be
    left as they were.  The virials of the full gather against the host evaluation with its own list."""
    dp = dpsycl.DeepPot(models["cuag"], device=device, precision=precision)
    ev, b = dp.evaluator, dp.evaluator.backend
    coords, cell, atype = _fcc(4, a=3.85, seed=7)
    cell = cell.reshape(3, 3).copy()
    cell[1, 0] += 0.4                        # triclinic: every virial component non-zero
    coords = np.mod(coords, 3.85 * 4)
    moved = coords + np.random.default_rng(8).normal(0.0, 0.12, coords.shape)
    atype_dev = b.asarray(atype, np.int64)
    nb = ev.build_neighbors(b.asarray(coords.ravel(), ev.dtype), atype_dev, cell, skin=1.0)
    pos = b.asarray(moved.ravel(), ev.dtype)
    out = ev.compute(pos, atype_dev, cell, nb)
    force, virial = b.to_host(out["force"]).copy(), b.to_host(out["atom_virial"]).copy()
    if precision == "float64":
        ref = host_pots["cuag"].eval(moved.reshape(1, -1), cell.reshape(1, 9), atype, atomic=True)
        assert np.abs(virial.reshape(-1, 9).sum(axis=0) - ref[2][0]).max() <= 1e-10 * len(atype)
    b.copy_from_host(out["atom_virial"], np.full(9 * len(atype), 7.0, ev.dtype))
    out = ev.compute(pos, atype_dev, cell, nb, out=out, virials=False)
    np.testing.assert_array_equal(b.to_host(out["force"]), force)
    assert np.all(b.to_host(out["atom_virial"]) == 7.0)
    assert np.abs(virial).max() > 0.1


@pytest.mark.parametrize("device", DEVICES)
def test_clump_in_a_large_box_overflows_the_cell_guess(models, host_pots, device):
    """Grid cells are first sized from the mean density; a dense clump in a large empty box
    overflows that guess (the cell list is rebinned larger) and must still match the reference."""
    dp = dpsycl.DeepPot(models["cuag"], device=device)
    ev = dp.evaluator
    rng = np.random.default_rng(11)
    # an fcc Cu–Ag ball of radius 5 Å (43 atoms) in a 20 Å periodic cube: 27 grid cells first sized
    # for 12 atoms each
    a = 3.85
    g = np.arange(-2, 3)
    sites = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    pts = (sites[:, None, :] + basis[None]).reshape(-1, 3) * a
    pts = pts[np.linalg.norm(pts, axis=1) <= 5.0]
    natoms = len(pts)
    coords = (pts + 10.0 + rng.normal(0, 0.05, pts.shape)).reshape(1, -1)
    cells = (20.0 * np.eye(3)).reshape(1, 9)
    atype = rng.integers(0, 2, natoms)
    got = dp.eval(coords, cells, atype)
    ref = host_pots["cuag"].eval(coords, cells, atype)
    assert natoms == 43
    cap = max(8, 2 * int(np.ceil(natoms / 27)) + 8)
    nb = ev.build_neighbors(ev.backend.asarray(coords.ravel(), ev.dtype), ev.backend.asarray(atype, np.int64),
                            cells.reshape(3, 3))
    assert int(ev.backend.to_host(nb.lists[0].rev_count).max()) > 30
    assert int(ev.backend.to_host(ev.workspace.buffer("cell_count", 27, np.int64)).max()) > cap
    tol = TOL["float64"]
    for a, b, tol in zip(got, ref, (tol["energy"], tol["force"], tol["virial"])):
        assert np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max())
    again = dp.eval(coords, cells, atype)
    for a, b in zip(again, got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("device", [d for d in DEVICES if d.startswith("cuda")])
def test_workspace_bytes_matches_the_driver_count_on_cuda(models, device):
    """On a GPU the independent count is the driver's: free memory before and after a new
    evaluator's first evaluation (kernels already loaded by a warm-up, so only arrays count)."""
    from numba import cuda
    warm = dpsycl.DeepPot(models["cuag"], device=device)
    coords, cell, atype = _fcc(4)
    warm.eval(coords.reshape(1, -1), cell.reshape(1, 9), atype)
    coords, cell, atype = _fcc(20)                                   # 32,000 atoms
    cuda.synchronize()
    free_before = cuda.current_context().get_memory_info()[0]
    dp = dpsycl.DeepPot(models["cuag"], device=device)
    dp.eval(coords.reshape(1, -1), cell.reshape(1, 9), atype)
    cuda.synchronize()
    used = free_before - cuda.current_context().get_memory_info()[0]
    held = dp.evaluator.workspace_bytes()
    # the driver hands out memory in pages of up to 2 MiB per allocation
    n_arrays = 60
    assert held > 100e6 and abs(used - held) <= n_arrays * 2 ** 21, (used, held)


@pytest.mark.parametrize("device", DEVICES)
def test_one_potential_shared_by_threads_gives_the_sequential_results(pots, device):
    """Four threads evaluating their own frames on one DeepPot: the evaluator's buffers are
    shared, so evaluations queue on its lock; every result equals the same evaluation done alone."""
    import threading
    dp = pots("cuag", device)
    frames = []
    for seed in range(4):
        coords, cell, atype = _fcc(3, seed=seed)
        frames.append((coords.reshape(1, -1), cell.reshape(1, 9), atype))
    alone = [dp.eval(*f) for f in frames]
    results, errors = {}, []

    def work(k):
        try:
            results[k] = [dp.eval(*frames[k]) for _ in range(3)]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(4):
        for got in results[k]:
            for a, b in zip(got, alone[k]):
                np.testing.assert_array_equal(a, b)


def _with_ghost_shell(coords, cell, atype, shell):
    """The atoms of a periodic frame as an open cluster: the atoms themselves first, then every
    periodic image within ``shell`` Å of the cell (the ghosts of a domain decomposition), with
    the index of the atom each ghost copies."""
    frac = coords @ np.linalg.inv(cell)
    reach = np.ceil(shell / (abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]),
                                                                            axis=1))).astype(int)
    ghosts, owners = [], []
    for s in np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in reach], indexing="ij"), -1).reshape(-1, 3):
        if not s.any():
            continue
        f = frac + s
        near = np.all((f > -shell / np.linalg.norm(cell, axis=1)) & (f < 1 + shell / np.linalg.norm(cell, axis=1)),
                      axis=1)
        ghosts.append((f[near]) @ cell)
        owners.append(np.nonzero(near)[0])
    owners = np.concatenate([np.arange(len(coords))] + owners)
    return np.concatenate([coords] + ghosts), atype[owners], owners


@pytest.mark.parametrize("device", ["numpy"] + DEVICES)
def test_centres_and_ghosts_reproduce_the_periodic_frame(models, references, device):
    """DeePMD-kit's nloc/nall split (what LAMMPS ranks need): the frame's atoms as centres, their
    periodic images within rcut as ghosts, no PBC.  Centre energies equal DeePMD-kit's periodic
    atomic energies; forces folded from the ghosts onto their owners, and the virial summed over all
    atoms, equal DeePMD-kit's periodic forces and virial."""
    coords, cells, atype, ref = reference_case(references["cuag"], "bulk")
    x, cell = coords[0].reshape(-1, 3), cells[0].reshape(3, 3)
    allx, all_types, owners = _with_ghost_shell(x, cell, atype, models["cuag"].rcut + 0.5)
    n = len(x)
    assert len(allx) > 4 * n
    dp = dpsycl.DeepPot(models["cuag"], device=device)
    got = dp.evaluator.evaluate(allx, None, all_types, ncentres=n)
    np.testing.assert_allclose(got.atom_energy[:n], ref["atom_energy"][0], atol=1e-10)
    assert np.all(got.atom_energy[n:] == 0.0)
    folded = np.zeros((n, 3))
    np.add.at(folded, owners, got.force)
    np.testing.assert_allclose(folded, ref["force"][0].reshape(-1, 3), atol=1e-10)
    np.testing.assert_allclose(got.virial, ref["virial"][0], atol=1e-9 * n)
    assert abs(got.energy - ref["energy"][0, 0]) <= 1e-10 * n


@pytest.mark.parametrize("device", DEVICES)
def test_a_ghost_in_more_rows_than_any_centre_has_neighbours(pots, host_pots, device):
    """The reverse rows get room for as many slots as the fullest centre row has candidates; a ghost
    that sits in more rows than that (here: at the middle of a shell of 24 centres, each of which sees
    only its nearest shell-mates) makes the device build again with room for it.  Forces, atomic
    energies and virials against the NumPy reference."""
    rng = np.random.default_rng(5)
    u = rng.normal(size=(24, 3))
    shell = 5.5 * u / np.linalg.norm(u, axis=1)[:, None]
    coords = np.vstack([shell, np.zeros((1, 3))])
    atype = np.array([0, 1] * 12 + [1])
    dp, host = pots("cuag", device), host_pots["cuag"]
    got = dp.evaluator.evaluate(coords, None, atype, ncentres=24)
    want = host.evaluator.evaluate(coords, None, atype, ncentres=24)
    within = np.linalg.norm(shell[:, None] - shell[None], axis=2) < dp.get_rcut()
    # a centre's candidates are its shell-mates and the ghost (within counts the centre itself instead)
    assert within.sum(axis=1).max() < 24
    np.testing.assert_allclose(got.atom_energy, want.atom_energy, atol=1e-12)
    np.testing.assert_allclose(got.force, want.force, atol=1e-12)
    np.testing.assert_allclose(got.atom_virial, want.atom_virial, atol=1e-12)
    assert np.abs(got.force[24]).max() > 1e-3               # the ghost's force: every row's term


@pytest.mark.parametrize("device", ["numpy", *DEVICES])
def test_atoms_at_one_place_are_refused(pots, device):
    """r = 0 makes the reference NaN but the device kernels give finite, wrong numbers: two atoms at
    one place, or one on another's periodic image (5e-9 Å off), are refused with both named."""
    dp = pots("cuag", device)
    coords, cell, atype = _fcc(3)
    same = coords.copy()
    same[5] = same[0]
    image = coords.copy()
    image[7] = image[2] + cell[0] + 5e-9
    for moved, pair in ((same, "atoms 0 and 5"), (image, "atoms 2 and 7")):
        with pytest.raises(dpsycl.InputError, match=f"{pair} are at the same place"):
            dp.eval(moved.reshape(1, -1), cell.reshape(1, 9), atype)
    near = coords.copy()
    near[5] = near[0] + [1e-3, 0.0, 0.0]      # close, but two places: evaluated
    e, f, _ = dp.eval(near.reshape(1, -1), cell.reshape(1, 9), atype)
    assert np.isfinite(e).all() and np.isfinite(f).all()
