"""Shared fixtures: bundled test models, DeePMD-kit's reference outputs, structure generators."""
from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# compiled SYCL kernels go to a folder of this session (dpsycl/backends/sycl_kernel_files.py): the suite
# compiles every kernel as on a fresh machine, and the `dpsycl` subprocesses it starts read them back
if "DPSYCL_KERNEL_CACHE" not in os.environ:
    os.environ["DPSYCL_KERNEL_CACHE"] = _KERNEL_FOLDER = tempfile.mkdtemp(prefix="dpsycl-kernels-")
    atexit.register(shutil.rmtree, _KERNEL_FOLDER, ignore_errors=True)

DATA = pathlib.Path(__file__).parent / "data"
#: se_e2_a models trained for the project (shared/models), then one tiny model per other descriptor
#: feature (tools/make_test_models.sh), each with DeePMD-kit's outputs on the seven cases
MODELS = ("cuag", "cuag_pair", "cuagau_f32", "tiny_se_r", "tiny_se_r_pair", "tiny_se_r_exclude", "tiny_act_silu",
          "tiny_act_softplus", "tiny_act_relu6", "tiny_fparam", "tiny_se_e3", "tiny_tebd", "tiny_tebd_pair",
          "tiny_davg_zero", "tiny_se_r_tebd", "tiny_compress", "tiny_se_r_compress",
          "tiny_hybrid", "tiny_hybrid_pair",
          "tiny_hybrid_e3", "tiny_hybrid_compress",
          "tiny_se_e3_compress",
          "tiny_hybrid_tebd",
          # float32 (descriptor, type embedding, fitting net), checked at TOL["float32"]: one model per feature
          "tiny_f32_se_r", "tiny_f32_se_e3", "tiny_f32_tebd", "tiny_f32_compress", "tiny_f32_se_r_compress",
          "tiny_f32_hybrid")
CASES = ("bulk", "small_box", "triclinic", "unwrapped", "unsorted", "nopbc", "dense")

# Tolerances of the issues: float64 models must agree to rounding; float32 models to float32 rounding.
# Atomic energies of float32 models are also allowed float32's relative precision (rel): in the
# compressed 'dense' case they reach 7 eV, where 1e-5 eV is only ~20 float32 ulps.
TOL = {
    "float64": dict(energy=1e-10, force=1e-10, virial=1e-9, rel=0.0),
    "float32": dict(energy=1e-5, force=1e-4, virial=1e-4, rel=2e-6),
}


def model_path(name: str) -> pathlib.Path:
    return DATA / name / "frozen_model.pb"


def model_file(name: str) -> pathlib.Path:
    """The extracted model (tests/test_reference.py checks it equals a fresh extraction of the .pb);
    loading it needs no TensorFlow, so the device tests also run on the GPU machine."""
    return DATA / name / "model.h5"


@pytest.fixture(scope="session")
def models():
    import dpsycl
    return {name: dpsycl.load_model(model_file(name)) for name in MODELS}


@pytest.fixture(scope="session")
def dp():
    """The bundled Cu–Ag model on the OpenCL CPU device, shared by the MD, H5MD and ASE tests so that
    its kernels compile once per session."""
    import dpsycl
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack (dpctl, numba-dpex) is not installed")
    return dpsycl.DeepPot(dpsycl.load_model(model_path("cuag")), device="opencl:cpu")


@pytest.fixture(scope="session")
def references():
    return {name: dict(np.load(DATA / name / "reference.npz")) for name in MODELS}


def reference_case(ref: dict, case: str):
    """coords (nframes, natoms·3), cells (nframes, 9) or None, atype, and DeePMD-kit's outputs."""
    coords = ref[f"{case}_coords"]
    cells = ref[f"{case}_cells"]
    cells = None if cells.size == 0 else cells.reshape(len(coords), 9)
    atype = ref[f"{case}_atype"]
    atype = atype if atype.ndim == 1 else atype[0]
    out = {k: ref[f"{case}_{k}"] for k in ("energy", "force", "virial", "atom_energy", "atom_virial")}
    return coords, cells, atype, out


def assert_matches_deepmd_outputs(dp, ref: dict, label=None) -> None:
    """``dp`` on every case of DeePMD-kit's outputs ``ref`` (its float64 bounds, atomic terms included);
    the dense case overfills sel, so there the truncation warning must fire, as DeePMD-kit truncates too."""
    from dpsycl.neighbors import SelTruncationWarning
    tol = TOL["float64"]
    for case in CASES:
        coords, cells, atype, out = reference_case(ref, case)
        if case == "dense":
            with pytest.warns(SelTruncationWarning):
                e, f, v, ae, av = dp.eval(coords, cells, atype, atomic=True)
        else:
            e, f, v, ae, av = dp.eval(coords, cells, atype, atomic=True)
        n, where = len(atype), (label, case)
        assert np.abs(e.ravel() - out["energy"].ravel()).max() / n <= tol["energy"], where
        assert np.abs(ae.ravel() - out["atom_energy"].ravel()).max() <= tol["energy"], where
        assert np.abs(f.ravel() - out["force"].ravel()).max() <= tol["force"], where
        assert np.abs(v.ravel() - out["virial"].ravel()).max() / n <= tol["virial"], where
        assert np.abs(av.ravel() - out["atom_virial"].ravel()).max() <= tol["virial"], where


def case_errors(dp, ref: dict, case: str) -> dict:
    """Largest deviations of dp.eval from DeePMD-kit's outputs in case ``case`` of reference ``ref``
    (energies and virials per atom), given the frame/atomic parameters DeePMD-kit was given (case_params)."""
    from dpsycl.neighbors import SelTruncationWarning
    coords, cells, atype, out = reference_case(ref, case)
    with warnings.catch_warnings():
        # the dense case overfills sel (tests/test_reference.py checks the warning); any other warning shows
        warnings.simplefilter("ignore", SelTruncationWarning)
        e, f, v, ae, av = dp.eval(coords, cells, atype, atomic=True, **case_params(ref, case))
    n = len(atype)
    return dict(energy=np.abs(e.ravel() - out["energy"].ravel()).max() / n,
                atom_energy=np.abs(ae.ravel() - out["atom_energy"].ravel()).max(),
                force=np.abs(f.ravel() - out["force"].ravel()).max(),
                virial=np.abs(v.ravel() - out["virial"].ravel()).max() / n,
                atom_virial=np.abs(av.ravel() - out["atom_virial"].ravel()).max())


def within_tolerance(err: dict, tol: dict) -> bool:
    return (max(err["energy"], err["atom_energy"]) <= tol["energy"] and err["force"] <= tol["force"]
            and max(err["virial"], err["atom_virial"]) <= tol["virial"])


def case_params(ref: dict, case: str) -> dict:
    """The frame/atomic parameters DeePMD-kit was given for a case (models trained with them)."""
    return {name: ref[f"{case}_{name}"] for name in ("fparam", "aparam") if f"{case}_{name}" in ref}


def random_params(dp, rng: np.random.Generator, natoms: int) -> dict:
    """Random fparam/aparam of the right shapes for a model that takes them (one frame)."""
    out = {}
    if dp.get_dim_fparam():
        out["fparam"] = rng.uniform(0.5, 1.5, (1, dp.get_dim_fparam()))
    if dp.get_dim_aparam():
        out["aparam"] = rng.uniform(-1.0, 1.0, (1, natoms * dp.get_dim_aparam()))
    return out


def random_structure(rng: np.random.Generator, natoms: int, ntypes: int, shear: float = 0.6,
                     density: float = 0.075, min_dist: float = 2.0):
    """Random atoms (min distance ``min_dist``) in a random, possibly strongly sheared cell."""
    vol = natoms / density
    diag = np.exp(rng.uniform(-0.3, 0.3, 3))
    diag *= (vol / np.prod(diag)) ** (1 / 3)
    cell = np.diag(diag)
    cell[1, 0], cell[2, 0], cell[2, 1] = rng.uniform(-shear, shear, 3) * diag[[1, 2, 2]]
    inv_cell = np.linalg.inv(cell)        # once, not per pair: the same structures, ~10x faster
    crowded = natoms * min_dist ** 3 > vol   # no room for min_dist: every try is taken
    pos = np.empty((natoms, 3))
    placed = tries = 0
    while placed < natoms and tries < 200000:
        tries += 1
        p = rng.random(3) @ cell
        if placed and not crowded:
            # the minimum-image distance to every atom placed so far, at once (a Python loop over them
            # took ~10 s per call of the live DeePMD-kit test, per model)
            frac = (p - pos[:placed]) @ inv_cell
            frac -= np.round(frac)
            if np.sqrt(np.sum((frac @ cell) ** 2, axis=1)).min() < min_dist:
                continue
        pos[placed] = p
        placed += 1
    coords = pos[:placed]
    atype = rng.integers(0, ntypes, natoms)
    return coords, cell, atype


def cli_error(capsys, argv) -> str:
    """Run ``dpsycl ARGV`` in this process; it must fail with status 2 and exactly one
    ``dpsycl: error:`` line on stderr, which is returned."""
    from dpsycl.cli import main
    status = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, err
    assert len(err) == 1 and err[0].startswith("dpsycl: error: "), err
    return err[0]


def strain_derivative(energy_of_strain, eps: float = 1e-5) -> np.ndarray:
    """∂E/∂ε_ab (3×3, symmetric) by central differences over the 6 symmetric strains of size eps;
    ``energy_of_strain(F)`` is the energy with cell and positions multiplied by F = 1 + ε (on the right).
    The virial DeePMD-kit reports is −∂E/∂ε; ASE's stress is (1/V) ∂E/∂ε."""
    numeric = np.zeros((3, 3))
    for a, b in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]:
        e = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * eps / (1 if a == b else 2)
            if a != b:
                strain[b, a] += sign * eps / 2
            e.append(float(energy_of_strain(strain)))
        numeric[a, b] = numeric[b, a] = (e[0] - e[1]) / (2 * eps)
    return numeric


def products_counted(backend, monkeypatch) -> list:
    """The (m, k, n) of every dense product the backend runs from now on (and runs them)."""
    seen = []
    monkeypatch.setattr(backend, "matmul", lambda *args: seen.append(args[6:]) or type(backend).matmul(backend, *args))
    return seen
