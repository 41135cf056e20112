"""Frame and atomic parameters (numb_fparam / numb_aparam): DeePMD-kit's shapes and broadcasting
in DeepPot.eval, one-line errors for wrong shapes, and the same parameters through the ASE
calculator, `dpsycl eval`, and `dpsycl run` with its restart.  The numbers themselves are checked
against DeePMD-kit on the seven cases in tests/test_reference.py and tests/test_device.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

import dpsycl
from conftest import DATA, reference_case

MODEL = DATA / "tiny_fparam" / "model.h5"


@pytest.fixture(scope="module")
def host():
    return dpsycl.DeepPot(MODEL, device="numpy")


@pytest.fixture(scope="module")
def frames():
    coords, cells, atype, _ = reference_case(dict(np.load(DATA / "tiny_fparam" / "reference.npz")), "bulk")
    return coords, cells, atype


def test_dimensions_are_reported(host):
    assert host.get_dim_fparam() == 2 and host.get_dim_aparam() == 1


def test_broadcast_shapes_give_the_same_numbers(host, frames):
    coords, cells, atype = frames
    nframes, natoms = len(coords), len(atype)
    f, a = np.array([0.9, 1.2]), np.array([0.3])
    full = host.eval(coords, cells, atype, fparam=np.tile(f, (nframes, 1)),
                     aparam=np.tile(a, (nframes, natoms, 1)), atomic=True)
    for fparam, aparam in ((f, a), (f[None], np.tile(a, (natoms, 1))), (f, np.tile(a, (nframes, natoms)))):
        got = host.eval(coords, cells, atype, fparam=fparam, aparam=aparam, atomic=True)
        for x, y in zip(got, full):
            np.testing.assert_array_equal(x, y)
    # the parameters do matter: another frame parameter, another energy
    other = host.eval(coords, cells, atype, fparam=f + 0.1, aparam=a)
    assert np.all(np.abs(other[0] - full[0]) > 1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(aparam=[0.3]), r"needs fparam of shape \(2, 2\)"),
    (dict(fparam=[1.0, 1.0]), r"needs aparam of shape \(2, 108, 1\)"),
    (dict(fparam=[1.0, 1.0, 1.0], aparam=[0.3]), r"fparam of shape \(3,\) fits none of \(2, 2\), \(2,\)"),
    (dict(fparam=[1.0, 1.0], aparam=[0.3, 0.2]), r"aparam of shape \(2,\) fits none of"),
    (dict(fparam=[1.0, np.nan], aparam=[0.3]), "NaN"),
])
def test_wrong_parameters_are_one_line_errors(host, frames, kwargs, message):
    coords, cells, atype = frames
    with pytest.raises(dpsycl.InputError, match=message) as err:
        host.eval(coords, cells, atype, **kwargs)
    assert "\n" not in str(err.value)


def test_a_model_without_parameters_refuses_them():
    dp = dpsycl.DeepPot(dpsycl.bundled_model(), device="numpy")
    with pytest.raises(dpsycl.InputError, match="takes no fparam"):
        dp.eval(np.zeros((1, 3)), None, [0], fparam=[1.0])


def test_ase_calculator_passes_the_parameters(host, frames):
    from ase import Atoms

    from dpsycl.ase import DPSyclCalculator
    coords, cells, atype = frames
    atoms = Atoms(symbols=[host.get_type_map()[t] for t in atype], positions=coords[0].reshape(-1, 3),
                  cell=cells[0].reshape(3, 3), pbc=True)
    atoms.calc = DPSyclCalculator(host, fparam=[0.9, 1.2], aparam=[0.3])
    e = host.eval(coords[:1], cells[:1], atype, fparam=[0.9, 1.2], aparam=[0.3])[0][0, 0]
    assert atoms.get_potential_energy() == pytest.approx(e, abs=1e-12)
    atoms.info["fparam"] = [1.0, 1.0]               # a structure's own parameters take precedence
    atoms.calc.reset()
    e2 = host.eval(coords[:1], cells[:1], atype, fparam=[1.0, 1.0], aparam=[0.3])[0][0, 0]
    assert atoms.get_potential_energy() == pytest.approx(e2, abs=1e-12)


def test_cli_eval_takes_the_parameters_and_names_what_is_missing(tmp_path, capsys, host, frames):
    import ase.io
    from ase import Atoms

    from dpsycl.cli import main
    coords, cells, atype = frames
    atoms = Atoms(symbols=[host.get_type_map()[t] for t in atype], positions=coords[0].reshape(-1, 3),
                  cell=cells[0].reshape(3, 3), pbc=True)
    path = tmp_path / "s.extxyz"
    ase.io.write(path, atoms)
    assert main(["eval", str(MODEL), str(path), "--device", "numpy", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs --fparam with 2 number(s)" in err[0]
    aparam_file = tmp_path / "a.txt"
    np.savetxt(aparam_file, np.full((len(atype), 1), 0.3))
    assert main(["eval", str(MODEL), str(path), "--device", "numpy", "--json", "--fparam", "0.9", "1.2",
                 "--aparam", str(aparam_file)]) == 0
    energy = json.loads(capsys.readouterr().out)["frames"][0]["energy"]
    back = ase.io.read(path)                         # extxyz keeps 8 decimals of the positions
    assert energy == pytest.approx(host.eval(back.positions.reshape(1, -1), cells[:1], atype, fparam=[0.9, 1.2],
                                             aparam=[0.3])[0][0, 0], abs=1e-10)


def test_md_run_keeps_its_parameters_through_a_restart(tmp_path, capsys):
    """`dpsycl run --fparam --aparam`: the trajectory records them, a restart continues bit for bit,
    and the sampled potential energy is DeepPot.eval's with those parameters."""
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("MD needs a kernel device")
    from dpsycl.cli import main
    from dpsycl.h5md import read_trajectory
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    args = ["run", str(MODEL), "--alloy", "Cu0.5Ag0.5", "--atoms", "32", "--dt", "2", "--every", "10",
            "--device", "opencl:cpu", "--seed", "3", "--no-progress", "--fparam", "0.9", "1.2", "--aparam", "0.3"]
    assert main(args + ["--steps", "40", "--output", str(full)]) == 0
    assert main(args + ["--steps", "20", "--output", str(part)]) == 0
    assert main(["run", str(MODEL), "--steps", "40", "--output", str(part), "--restart", "--device", "opencl:cpu",
                 "--no-progress"]) == 0
    capsys.readouterr()
    a, b = read_trajectory(full), read_trajectory(part)
    np.testing.assert_array_equal(a["positions"][-1], b["positions"][-1])
    np.testing.assert_array_equal(a["velocities"][-1], b["velocities"][-1])
    import h5py
    with h5py.File(part) as f:
        np.testing.assert_array_equal(f["parameters/fparam"][()], [0.9, 1.2])
        np.testing.assert_array_equal(f["parameters/aparam"][()], np.full((32, 1), 0.3))
    x = a["positions"][-1].reshape(1, -1)
    e = dpsycl.DeepPot(MODEL, device="numpy").eval(x, a["cell"][-1].reshape(1, 9), a["species"][-1],
                                                   fparam=[0.9, 1.2], aparam=[0.3])[0][0, 0]
    assert a["observables"]["potential_energy"][-1] == pytest.approx(e, abs=1e-9)
