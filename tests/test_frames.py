"""`dpsycl test` and `dpsycl model-devi` (dpsycl.frame_jobs) against DeePMD-kit's own `dp test` and
`dp model-devi` on the same data: the printed report and model_devi.out to the printed precision
(text-identical), the float64 values behind them and the detail files to 1e-10 (DeePMD-kit's float64
model) -- on numpy and opencl:cpu, for DeePMD-kit npy systems (standard, no PBC, species given in
another order, mixed format), extxyz, dpsycl H5MD and LAMMPS dumps; the same numbers from several
local processes and from a 2-worker Dask cluster; a failing device or bad input is one line.

DeePMD-kit runs once for the module (tests/deepmd_frames_oracle.py, in a subprocess: TensorFlow
starts once).  dp model-devi reads only npy systems, so the trajectories are written here from
npy frames (H5MD, LAMMPS dump: float64-exact; extxyz rounds to 8 decimals, so DeePMD-kit gets an
npy system made from what ASE reads back).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from types import SimpleNamespace

import frames_tasks
import numpy as np
import pytest

from dpsycl import DeviceError
from dpsycl import frame_jobs
from conftest import cli_error
from dpsycl.cli import main
from dpsycl.device_pool import Batch, run_ordered

HERE = pathlib.Path(__file__).resolve().parent
EMT = HERE / "data" / "cuag_emt"
PB = {name: str(HERE / "data" / name / "frozen_model.pb") for name in ("cuag", "cuag_pair", "cuagau_f32")}
H5 = {name: str(HERE / "data" / name / "model.h5") for name in ("cuag", "cuag_pair", "cuagau_f32")}
TOL = 1e-10
pytestmark = pytest.mark.timeout(300)     # a hang fails with the stacks, well inside the suite's limit
DETAIL = (".e.out", ".e_peratom.out", ".f.out", ".v.out", ".v_peratom.out", ".s.out")


def _sycl():
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack (dpctl, numba-dpex) is not installed")


# ---------------------------------------------------------------------------------------------
# data: npy variants and trajectories made from tests/data/cuag_emt
def _npy_system(path, type_map, types, sets: dict, nopbc=False):
    path.mkdir(parents=True)
    np.savetxt(path / "type.raw", types, fmt="%d")
    (path / "type_map.raw").write_text("\n".join(type_map) + "\n")
    (path / "set.000").mkdir()
    for k, v in sets.items():
        np.save(path / "set.000" / f"{k}.npy", v)
    if nopbc:
        (path / "nopbc").write_text("")
    return str(path)


def _read_npy(name):
    d = EMT / name
    return (np.loadtxt(d / "type.raw", dtype=int),
            {k: np.load(d / "set.000" / f"{k}.npy") for k in ("coord", "box", "energy", "force", "virial")})


def _write_h5md(path, coords, cells, species, type_map, steps):
    from dpsycl.h5md import H5MDWriter
    from dpsycl.md import Frame, MDSettings, MDState
    n = coords.shape[1]
    state = MDState(positions=coords[0].ravel(), velocities=np.zeros(3 * n), forces=None,
                    image=np.zeros(3 * n, dtype=np.int64), atype=species, type_map=type_map, cell=cells[0])
    with H5MDWriter.create(path, state, MDSettings()) as w:
        for x, c, s in zip(coords, cells, steps):
            w.write(Frame(step=int(s), time=float(s), positions=x, velocities=np.zeros((n, 3)),
                          forces=np.zeros((n, 3)), image=np.zeros((n, 3), dtype=np.int64), species=species, cell=c))
    return str(path)


def _write_dump(path, coords, cells, lammps_types, steps):
    """A LAMMPS text dump (orthogonal box) with float64-exact coordinates."""
    with open(path, "w") as fh:
        for x, c, s in zip(coords, cells, steps):
            assert np.allclose(c, np.diag(np.diag(c)))
            fh.write(f"ITEM: TIMESTEP\n{s}\nITEM: NUMBER OF ATOMS\n{len(x)}\nITEM: BOX BOUNDS pp pp pp\n")
            fh.write("".join(f"0.0 {c[k, k]!r}\n" for k in range(3)))
            fh.write("ITEM: ATOMS id type x y z\n")
            fh.write("".join(f"{i + 1} {t} {p[0]!r} {p[1]!r} {p[2]!r}\n" for i, (t, p) in enumerate(zip(lammps_types, x))))
    return str(path)


def _extxyz_and_its_npy(root, types, arrays, nframes):
    """Labelled extxyz frames (ASE stress σ = −W/V), and the npy system of what ASE reads back."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator
    symbols = np.array(["Cu", "Ag"])[types]
    images = []
    for k in range(nframes):
        cell = arrays["box"][k].reshape(3, 3)
        atoms = ase.Atoms(symbols, positions=arrays["coord"][k].reshape(-1, 3), cell=cell, pbc=True)
        stress = -arrays["virial"][k].reshape(3, 3) / atoms.get_volume()
        atoms.calc = SinglePointCalculator(atoms, energy=float(arrays["energy"][k]),
                                           forces=arrays["force"][k].reshape(-1, 3), stress=stress)
        images.append(atoms)
    xyz = root / "labelled.extxyz"
    ase.io.write(xyz, images, format="extxyz")
    back = ase.io.read(xyz, index=":")
    virial = np.array([-a.get_stress(voigt=False).ravel() * a.get_volume() for a in back])
    npy = _npy_system(root / "xyz_npy", ["Cu", "Ag"], types, {
        "coord": np.array([a.positions.ravel() for a in back]), "box": np.array([a.cell.array.ravel() for a in back]),
        "energy": np.array([a.get_potential_energy() for a in back]),
        "force": np.array([a.get_forces().ravel() for a in back]), "virial": virial})
    return str(xyz), npy


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    w = SimpleNamespace(root=root, std=[str(EMT / s) for s in ("sys001", "md000", "sys002", "sys000")])
    t0, s0 = _read_npy("sys000")
    w.nopbc = _npy_system(root / "nopbc", ["Cu", "Ag"], t0, s0, nopbc=True)
    t1, s1 = _read_npy("sys001")                      # species listed the other way round
    w.swapped = _npy_system(root / "swapped", ["Ag", "Cu"], 1 - t1, s1)
    parts = [_read_npy(s) for s in ("sys000", "sys001", "sys002")]
    mixed = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
    mixed["real_atom_types"] = np.concatenate([np.tile(1 - t, (len(p["coord"]), 1)) for t, p in parts])
    w.mixed = _npy_system(root / "mixed", ["Ag", "Cu"], np.zeros(len(t0), dtype=int), mixed)
    padded = dict(s0, real_atom_types=np.tile(np.append(t0, [-1, -1]), (len(s0["coord"]), 1)))
    padded["coord"] = np.concatenate([s0["coord"], np.zeros((len(s0["coord"]), 6))], axis=1)
    padded["force"] = np.concatenate([s0["force"], np.zeros((len(s0["coord"]), 6))], axis=1)
    w.padded = _npy_system(root / "padded", ["Cu", "Ag"], np.zeros(len(t0) + 2, dtype=int), padded)
    tm, sm = _read_npy("md000")
    md5 = {k: v[:5] for k, v in sm.items()}
    w.md5 = _npy_system(root / "md5", ["Cu", "Ag"], tm, md5)
    coords, cells, steps = md5["coord"].reshape(5, -1, 3), md5["box"].reshape(5, 3, 3), np.arange(5) * 10
    w.h5md = _write_h5md(root / "traj.h5", coords, cells, 1 - tm, ["Ag", "Cu"], steps)
    w.dump = _write_dump(root / "traj.dump", coords, cells, tm + 1, steps)
    w.xyz, w.xyz_npy = _extxyz_and_its_npy(root, tm, md5, 5)
    w.test_systems = [*w.std, w.nopbc, w.swapped, w.xyz_npy]
    w.small_systems = [str(EMT / "sys000"), w.nopbc, w.swapped, w.xyz_npy]
    (root / "dp").mkdir()
    spec = {"test": [{"name": "std", "model": PB["cuag"], "systems": w.test_systems, "detail": str(root / "dp" / "std")},
                     {"name": "small", "model": PB["cuag"], "systems": w.small_systems,
                      "detail": str(root / "dp" / "small")},
                     {"name": "mixed", "model": PB["cuag"], "systems": [str(EMT / s) for s in ("sys000", "sys001", "sys002")],
                      "detail": str(root / "dp" / "mixed")}],
            "devi": [{"name": "devi", "models": [PB["cuag"], PB["cuag_pair"]], "systems": [w.md5, str(EMT / "sys000")],
                      "output": str(root / "dp" / "model_devi.out"), "frequency": 10},
                     {"name": "options", "models": [PB["cuag"], PB["cuag_pair"]], "systems": [w.xyz_npy],
                      "output": str(root / "dp" / "options.out"), "atomic": True, "relative": 1.0}],
            "relative_v": [{"name": "relative_v", "models": [PB["cuag"], PB["cuag_pair"]], "system": w.xyz_npy,
                            "relative_v": 1.0}]}
    (root / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(HERE / "deepmd_frames_oracle.py"), str(root / "spec.json"),
                           str(root / "oracle.json")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w.oracle = json.loads((root / "oracle.json").read_text())
    return w


def _close(mine: dict, theirs: dict):
    assert set(mine) == set(theirs), (sorted(mine), sorted(theirs))
    for k in theirs:
        assert abs(mine[k] - theirs[k]) <= TOL * max(1.0, abs(theirs[k])), (k, mine[k], theirs[k])


def _same_detail_files(mine_prefix, dp_prefix, header=True):
    for suffix in DETAIL:
        a, b = pathlib.Path(str(mine_prefix) + suffix), pathlib.Path(str(dp_prefix) + suffix)
        assert a.exists() == b.exists(), suffix
        if header:
            assert a.read_text().splitlines()[0] == b.read_text().splitlines()[0], suffix
        x, y = np.loadtxt(a), np.loadtxt(b)
        assert x.shape == y.shape and np.abs(x - y).max() <= TOL * max(1.0, np.abs(y).max()), suffix


# ---------------------------------------------------------------------------------------------
# dp test
def test_dp_test_numpy_cli_prints_deepmd_kits_report(world, capsys):
    """All systems in one run: the report is dp test's, line for line; JSON and detail files to 1e-10."""
    oracle = world.oracle["test"]["std"]
    mine = world.root / "mine_std"
    systems = [*world.std, world.nopbc, world.swapped, world.xyz]
    status = main(["test", "-m", H5["cuag"], "-s", *systems, "-d", str(mine), "--devices", "numpy",
                   "--json", str(mine) + ".json", "--no-progress"])
    assert status == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [line.replace(world.xyz_npy, world.xyz) for line in oracle["lines"]]
    result = json.loads(pathlib.Path(str(mine) + ".json").read_text())
    for got, want in zip(result["systems"], oracle["systems"]):
        _close({k: v for k, v in got.items() if k not in ("system", "nframes")}, want)
    _close(result["average"], oracle["average"])
    _same_detail_files(mine, world.root / "dp" / "std")


def test_dp_test_opencl_cpu(world):
    _sycl()
    oracle = world.oracle["test"]["small"]
    mine = world.root / "mine_opencl"
    report = frame_jobs.test_model(H5["cuag"], [str(EMT / "sys000"), world.nopbc, world.swapped, world.xyz],
                                   devices="opencl:cpu", detail_file=mine)
    assert report.lines() == [line.replace(world.xyz_npy, world.xyz) for line in oracle["lines"]]
    for system, want in zip(report.systems, oracle["systems"]):
        _close({k: v for k, (v, _) in system.errors().items()}, want)
    _close(report.errors(), oracle["average"])
    _same_detail_files(mine, world.root / "dp" / "small")


def test_mixed_format_system_equals_its_systems(world):
    """dp test's TensorFlow se_e2_a refuses mixed-format data, so the reference is dp test on the
    three systems it was made of (species listed the other way round in the mixed one)."""
    oracle = world.oracle["test"]["mixed"]
    mine = world.root / "mine_mixed"
    report = frame_jobs.test_model(H5["cuag"], world.mixed, devices="numpy", detail_file=mine, batch_size=5)
    assert len(report.systems) == 1 and report.systems[0].nframes == 24
    _close(report.errors(), oracle["average"])
    _same_detail_files(mine, world.root / "dp" / "mixed", header=False)


def test_virtual_atoms_of_the_mixed_format_are_left_out(world):
    """sys000 padded with two virtual atoms (species -1, DeePMD-kit's mixed-format padding): energies
    and real atoms' forces are dp test's on sys000, the virtual atoms' forces zero."""
    mine = world.root / "mine_padded"
    frame_jobs.test_model(H5["cuag"], world.padded, devices="numpy", detail_file=mine)
    dp_e = np.loadtxt(str(world.root / "dp" / "std") + ".e.out")[36:44]       # sys000: the 4th system
    dp_f = np.loadtxt(str(world.root / "dp" / "std") + ".f.out")[2672:2928]   # after 256 + 2160 + 256 rows
    e, f = np.loadtxt(f"{mine}.e.out"), np.loadtxt(f"{mine}.f.out").reshape(8, 34, 6)
    assert np.abs(e - dp_e).max() <= TOL
    assert np.abs(f[:, :32].reshape(-1, 6) - dp_f).max() <= TOL and not f[:, 32:].any()


def test_numb_test_takes_the_first_frames(world):
    """-n 2: the energy errors of md000's first two frames, computed from dp test's detail rows."""
    report = frame_jobs.test_model(H5["cuag"], str(EMT / "md000"), devices="numpy", numb_test=2)
    rows = np.loadtxt(str(world.root / "dp" / "std") + ".e.out")[8:10]     # md000 follows sys001 (8 frames)
    d = rows[:, 1] - rows[:, 0]
    assert report.systems[0].nframes == 2
    _close({k: v for k, v in report.errors().items() if k in ("mae_e", "rmse_e")},
           {"mae_e": np.mean(np.abs(d)), "rmse_e": np.sqrt(np.mean(d * d))})


# ---------------------------------------------------------------------------------------------
# dp model-devi
def _blocks(path) -> dict:
    out, name = {}, None
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith("# ") and not line.startswith("# step"):
            name = line[2:]
            out[name] = []
        else:
            out[name].append(line)
    return out


def test_model_devi_cli_every_format_numpy(world, capsys):
    """npy, H5MD (steps from the file, species by name), LAMMPS dump (TIMESTEP, types 1, 2 = the
    models' type map) and a second npy system: every block text-identical to dp model-devi's."""
    out = world.root / "mine_devi.out"
    status = main(["model-devi", "-m", H5["cuag"], H5["cuag_pair"], "-t", world.md5, world.h5md, world.dump,
                   str(EMT / "sys000"), "-o", str(out), "-f", "10", "--devices", "numpy", "--no-progress"])
    assert status == 0, capsys.readouterr().err
    dp = _blocks(world.root / "dp" / "model_devi.out")
    mine = _blocks(out)
    assert list(mine) == [world.md5, world.h5md, world.dump, str(EMT / "sys000")]
    for name in (world.md5, world.h5md, world.dump):
        assert mine[name] == dp[world.md5], name
    assert mine[str(EMT / "sys000")] == dp[str(EMT / "sys000")]


@pytest.mark.parametrize("device", ["numpy", "opencl:cpu"])
def test_model_devi_float64_values(world, device):
    if device != "numpy":
        _sycl()
    blocks = frame_jobs.model_deviation([H5["cuag"], H5["cuag_pair"]], [world.h5md, str(EMT / "sys000")],
                                        devices=device, frequency=10, batch_size=3)
    for block, want in zip(blocks, world.oracle["devi"]["devi"]):
        want = np.asarray(want)
        assert block.rows.shape == want.shape
        assert np.abs(block.rows - want).max() <= TOL


def test_model_devi_atomic_and_relative_on_extxyz(world):
    out = world.root / "mine_options.out"
    models = [H5["cuag"], H5["cuag_pair"]]
    blocks = frame_jobs.model_deviation(models, [world.xyz], devices="numpy", output=out, atomic=True, relative=1.0)
    want = np.asarray(world.oracle["devi"]["options"][0])
    assert np.abs(blocks[0].rows - want).max() <= TOL
    assert _blocks(out)[world.xyz] == _blocks(world.root / "dp" / "options.out")[world.xyz_npy]
    relative_v = frame_jobs.model_deviation(models, [world.xyz], devices="numpy", relative_v=1.0)
    assert np.abs(relative_v[0].rows[:, 1:4] - np.asarray(world.oracle["devi"]["relative_v"])).max() <= TOL


# ---------------------------------------------------------------------------------------------
# the same numbers whatever the schedule
def _one_process(tmp_path, systems, models, batch_size, *, numpy_first: bool):
    """`dpsycl test` and `dpsycl model-devi` in a fresh process on one device, with one BLAS thread.

    The last bits of the numpy device depend on the process: on BLAS's thread count (Dask's nanny
    starts workers with one), and on whether numpy was imported before dpsycl (dpsycl loads the
    oneAPI runtime with RTLD_GLOBAL, and numpy imported after it takes exp, pow, ... from Intel's
    math library).  So the reference for "the same numbers from many processes" is one clean
    process that starts like the workers: numpy first like a Dask worker, dpsycl first like a
    spawned dpsycl worker process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = (["-c", "import sys, numpy; from dpsycl.cli import main; sys.exit(main(sys.argv[1:]))"]
             if numpy_first else ["-m", "dpsycl"])
    common = ["--devices", "numpy", "--batch-size", str(batch_size), "--no-progress"]
    for argv in (["test", "-m", models[0], "-s", *systems, "-d", str(tmp_path / "one"), "--json",
                  str(tmp_path / "one.json")],
                 ["model-devi", "-m", *models, "-t", *systems, "-o", str(tmp_path / "one_devi.out")]):
        proc = subprocess.run([sys.executable, *start, *argv, *common], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "one.json").read_text())


def _same_as_one_process(tmp_path, one, report, prefix, devi_out):
    assert report.to_dict()["average"] == one["average"]
    assert [{k: v for k, v in s.items() if k != "system"} for s in report.to_dict()["systems"]] == \
        [{k: v for k, v in s.items() if k != "system"} for s in one["systems"]]
    for suffix in DETAIL:
        assert pathlib.Path(f"{prefix}{suffix}").read_text() == (tmp_path / f"one{suffix}").read_text(), suffix
    assert pathlib.Path(devi_out).read_text() == (tmp_path / "one_devi.out").read_text()


def test_local_processes_give_the_numbers_of_one_process(world, tmp_path, monkeypatch):
    systems, models = [str(EMT / "sys000"), world.swapped], [H5["cuag"], H5["cuag_pair"]]
    one = _one_process(tmp_path, systems, models, 3, numpy_first=False)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")          # inherited by the worker processes
    report = frame_jobs.test_model(H5["cuag"], systems, devices="numpy,numpy", batch_size=3,
                                   detail_file=tmp_path / "two")
    frame_jobs.model_deviation(models, systems, devices=["numpy", "numpy"], batch_size=3,
                               output=tmp_path / "two_devi.out")
    _same_as_one_process(tmp_path, one, report, tmp_path / "two", tmp_path / "two_devi.out")


def test_dask_cluster_gives_the_numbers_of_one_process(world, tmp_path):
    distributed = pytest.importorskip("distributed")
    systems, models = [str(EMT / "sys000"), world.mixed], [H5["cuag"], H5["cuag_pair"]]
    one = _one_process(tmp_path, systems, models, 2, numpy_first=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        report = frame_jobs.test_model(H5["cuag"], systems, devices="numpy", client=client, batch_size=2,
                                       detail_file=tmp_path / "many")
        frame_jobs.model_deviation(models, systems, devices="numpy", client=client, batch_size=2,
                                   output=tmp_path / "many_devi.out")
        with pytest.raises(DeviceError, match=r"^device numpy \(Dask worker .*\) failed on frames \d+-\d+ of .*sys000: "
                                              r"ValueError: no such thing$"):
            list(run_ordered(frames_tasks.raise_value_error, None, _toy_batches(3), client=client, devices="numpy"))
        with pytest.raises(DeviceError, match=r"^device numpy \(Dask worker \S+\)(:| failed on frames .*:) the worker "
                                              r"left the cluster"):
            list(run_ordered(frames_tasks.die_on_batch_two, None, _toy_batches(4), client=client, devices="numpy"))
    _same_as_one_process(tmp_path, one, report, tmp_path / "many", tmp_path / "many_devi.out")


# ---------------------------------------------------------------------------------------------
# failures: one line, no hang
def _toy_batches(n):
    return [Batch(k, 3, f"frames {3 * k}-{3 * k + 2} of {EMT / 'sys000'}", k) for k in range(n)]


def test_a_worker_process_that_dies_midway_is_reported():
    got = []
    with pytest.raises(DeviceError, match=r"^device numpy \(local worker process \d+\): the process ended "
                                          r"\(exit code 3\) while evaluating frames 6-8 of .*sys000$"):
        for batch, value in run_ordered(frames_tasks.die_on_batch_two, None, _toy_batches(8), devices="numpy,numpy", depth=1):
            got.append(value)
    assert got == list(range(len(got))) and len(got) <= 2     # in order; nothing at or after batch 2


def test_a_worker_that_hangs_is_reported_after_the_batch_timeout():
    """A worker silent for batch_timeout seconds ends the job with one line naming its device and
    frames, and is stopped; the batches before it come back in order."""
    import time
    got = []
    start = time.monotonic()
    with pytest.raises(DeviceError, match=r"^device numpy \(local worker process \d+\): no result for 3 s \(a hung "
                                          r"device or driver; --batch-timeout\) while evaluating frames 6-8 of "):
        for batch, value in run_ordered(frames_tasks.hang_on_batch_two, None, _toy_batches(8), devices="numpy,numpy",
                                        depth=1, batch_timeout=3):
            got.append(value)
    assert got == list(range(len(got))) and len(got) <= 2
    assert time.monotonic() - start < 60          # the hung process was stopped, not waited for
    with pytest.raises(ValueError, match="batch timeout"):
        list(run_ordered(frames_tasks.hang_on_batch_two, None, _toy_batches(2), devices="numpy", batch_timeout=-1))


def test_bad_input_is_one_line(world, capsys, tmp_path):
    from dpsycl.h5md import H5MDWriter
    from dpsycl.md import MDSettings, MDState
    assert "no such system" in cli_error(capsys, ["test", "-m", H5["cuag"], "-s", str(tmp_path / "nothing")])
    gold = shutil.copytree(EMT / "sys000", tmp_path / "gold")
    (gold / "type_map.raw").write_text("Cu\nAu\n")
    assert "species Au not in the model's type_map" in cli_error(capsys, ["test", "-m", H5["cuag"], "-s", str(gold)])
    assert "do not share one type map" in cli_error(
        capsys, ["model-devi", "-m", H5["cuag"], H5["cuagau_f32"], "-t", world.md5, "-o", str(tmp_path / "x.out")])
    empty = tmp_path / "empty.h5"
    state = MDState(positions=np.zeros(6), velocities=np.zeros(6), forces=None, image=np.zeros(6, dtype=np.int64),
                    atype=np.array([0, 1]), type_map=["Cu", "Ag"], cell=np.eye(3) * 9)
    H5MDWriter.create(empty, state, MDSettings()).close()
    damaged = tmp_path / "count.xyz"           # ASE's reader spun for minutes on this count
    damaged.write_text('1000000000\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\n')
    assert "frame 0 declares 1000000000 atoms, but 1 lines follow" in cli_error(
        capsys, ["model-devi", "-m", H5["cuag"], H5["cuag_pair"], "-t", str(damaged), "-o", str(tmp_path / "z.out"),
                 "--devices", "numpy"])
    assert "holds no frames" in cli_error(capsys, ["model-devi", "-m", H5["cuag"], H5["cuag_pair"], "-t", str(empty),
                                                "-o", str(tmp_path / "y.out")])
    with_fparam = shutil.copytree(EMT / "sys000", tmp_path / "fparam")
    np.save(with_fparam / "set.000" / "fparam.npy", np.ones((8, 1)))
    assert "fparam" in cli_error(capsys, ["test", "-m", H5["cuag"], "-s", str(with_fparam)])
    assert "nosuch" in cli_error(capsys, ["test", "-m", H5["cuag"], "-s", str(EMT / "sys000"),
                                       "--devices", "numpy,nosuch", "--batch-size", "2"])
