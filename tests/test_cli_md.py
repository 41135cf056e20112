"""`dpsycl run / eval / devices`: bad inputs, a run + restart, a run killed midway, the alloy builder.

Commands run in-process through dpsycl.cli.main (one compiled DeepPot for the module, cached by
dpsycl.cli_md) except where an exit status or a SIGKILL needs a real process.
"""
from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import cli_error
from dpsycl.cli import main
from dpsycl.structures import cubeish_repeats, parse_composition, random_alloy

MODEL = str(pathlib.Path(__file__).parent / "data" / "cuag" / "frozen_model.pb")
DEVICE = "opencl:cpu"
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _sycl():
    from dpsycl.backends import sycl_available
    if not sycl_available():
        pytest.skip("the SYCL stack (dpctl, numba-dpex) is not installed")


def _run_args(out, *extra, steps=40):
    return ["run", MODEL, "--alloy", "Cu0.5Ag0.5", "--atoms", "32", "--dt", "2", "--steps", str(steps),
            "--every", "10", "--device", DEVICE, "--output", str(out), "--seed", "3", "--no-progress", *extra]


@pytest.fixture
def structures(tmp_path):
    import ase.io
    good = tmp_path / "alloy.extxyz"
    ase.io.write(good, random_alloy("Cu0.5Ag0.5", 32, seed=1))
    gold = random_alloy("Cu0.5Au0.5", 32, seed=1)
    bad_species = tmp_path / "cuau.extxyz"
    ase.io.write(bad_species, gold)
    garbage = tmp_path / "garbage.xyz"
    garbage.write_text("this is\nnot a structure\n")
    return {"good": good, "bad_species": bad_species, "garbage": garbage}


# ---------------------------------------------------------------------------------------------
def test_bad_inputs_are_one_line_errors(capsys, tmp_path, structures):
    """Unreadable structure, species not in type_map, zero/negative dt, existing output without
    --overwrite, --restart without a file, missing model: exit 2, one line, nothing written."""
    out = tmp_path / "out.h5"
    opts = ["--device", DEVICE, "--output", str(out), "--steps", "5", "--no-progress"]

    def base(structure=None):
        return ["run", MODEL] + ([str(structure)] if structure else []) + opts
    msg = cli_error(capsys, base(structures["garbage"]))
    assert "cannot read structure" in msg
    msg = cli_error(capsys, base(tmp_path / "missing.xyz"))
    assert "not found" in msg
    msg = cli_error(capsys, base(structures["bad_species"]))
    assert "Au" in msg and "type_map" in msg
    for dt in ("0", "-1"):
        msg = cli_error(capsys, base(structures["good"]) + ["--dt", dt])
        assert "dt" in msg
    msg = cli_error(capsys, base() + ["--restart"])
    assert "not found" in msg
    msg = cli_error(capsys, ["run", str(tmp_path / "nomodel.pb"), str(structures["good"]), "--output", str(out)])
    assert "model" in msg
    assert not out.exists()
    # an existing output survives: without --overwrite, and with --overwrite but bad input
    out.write_bytes(b"precious")
    msg = cli_error(capsys, base(structures["good"]))
    assert "exists" in msg and "--overwrite" in msg
    cli_error(capsys, base(structures["bad_species"]) + ["--overwrite"])
    cli_error(capsys, base(structures["good"]) + ["--overwrite", "--dt", "0"])
    assert out.read_bytes() == b"precious"
    msg = cli_error(capsys, ["eval", MODEL, str(structures["bad_species"]), "--device", DEVICE])
    assert "Au" in msg


def test_bad_input_exit_status_in_a_process(tmp_path):
    """The installed entry point: exit status 2, a one-line message, no traceback."""
    out = tmp_path / "o.h5"
    proc = subprocess.run([sys.executable, "-m", "dpsycl", "run", MODEL, "--alloy", "Cu0.5Ag0.5", "--dt", "0",
                           "--output", str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not out.exists()


def test_run_restart_and_plots(capsys, tmp_path):
    """A run prints its one-line summary and writes plots; 20 steps + `--restart --steps 40` gives
    the file of a 40-step run bit for bit; a conflicting option on restart is refused."""
    _sycl()
    from dpsycl.h5md import read_trajectory
    full, part, plots = tmp_path / "full.h5", tmp_path / "part.h5", tmp_path / "plots"
    assert main(_run_args(full, "--ensemble", "csvr", "--nvt-steps", "20", "--plots", str(plots))) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    for word in ("opencl:cpu", "32 atoms", "steps 0→40", "ns/day", "atom-steps/s", "meV/atom/ps"):
        assert word in summary, summary
    assert (plots / "energies.png").stat().st_size > 10000 and (plots / "rdf.png").stat().st_size > 10000
    assert main(_run_args(part, "--ensemble", "csvr", "--nvt-steps", "20", steps=20)) == 0
    assert main(["run", MODEL, "--steps", "40", "--device", DEVICE, "--output", str(part), "--restart",
                 "--no-progress"]) == 0
    capsys.readouterr()
    a, b = read_trajectory(full), read_trajectory(part)
    assert list(a["step"]) == list(b["step"]) == [0, 10, 20, 30, 40]
    for key in ("positions", "velocities", "image"):
        assert np.array_equal(a[key], b[key]), key
    assert np.array_equal(a["observables"]["total_energy"], b["observables"]["total_energy"])
    msg = cli_error(capsys, ["run", MODEL, "--steps", "60", "--dt", "1", "--device", DEVICE, "--output", str(part),
                          "--restart"])
    assert "conflicts" in msg
    assert len(read_trajectory(part)["step"]) == 5


def test_killed_run_leaves_flushed_frames(tmp_path, structures):
    """SIGKILL a `dpsycl run` after some frames are flushed: the file opens, holds every frame seen
    before the kill (consecutive steps, finite data), and `--restart` continues it."""
    _sycl()
    from dpsycl.h5md import open_trajectory, read_trajectory
    out = tmp_path / "killed.h5"
    cmd = [sys.executable, "-m", "dpsycl", "run", MODEL, str(structures["good"]), "--steps", "100000",
           "--every", "2", "--dt", "2", "--device", DEVICE, "--output", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = 0
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if not out.exists():
                continue
            try:      # the live writer's file, as a reader sees it (SWMR mode: open_trajectory)
                with open_trajectory(out) as f:
                    seen = max(seen, int(f["particles/all/position/step"].shape[0]))
            except Exception:  # noqa: BLE001 - the writer may be mid-flush
                continue
            if seen >= 4:
                break
        assert proc.poll() is None, proc.stderr.read().decode()
        assert seen >= 4, "no frames appeared in time"
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    t = read_trajectory(out)
    n = len(t["step"])
    assert n >= seen
    assert list(t["step"]) == list(range(0, 2 * n, 2))
    assert np.isfinite(t["positions"]).all() and np.isfinite(t["observables"]["total_energy"]).all()
    last = int(t["step"][-1])
    assert main(["run", MODEL, "--steps", str(last + 4), "--device", DEVICE, "--output", str(out), "--restart",
                 "--no-progress"]) == 0
    t2 = read_trajectory(out)
    assert list(t2["step"]) == list(range(0, last + 5, 2))
    assert np.array_equal(t2["positions"][:n], t["positions"])


def test_eval_text_and_json(capsys, structures, dp):
    """`dpsycl eval` prints what DeepPot.eval of the same model on the same device gives."""
    import ase.io
    assert main(["eval", MODEL, str(structures["good"]), "--device", DEVICE, "--json", "--atomic"]) == 0
    data = json.loads(capsys.readouterr().out)
    frame = data["frames"][0]
    atoms = ase.io.read(structures["good"])
    atype = [dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()]
    e, f, v = dp.eval(atoms.positions.reshape(1, -1), atoms.cell.array.reshape(1, 9), atype)
    assert frame["energy"] == pytest.approx(float(e[0, 0]), abs=1e-10)
    np.testing.assert_allclose(frame["forces"], f[0], atol=1e-10)
    assert sum(frame["atom_energy"]) == pytest.approx(frame["energy"], abs=1e-9)
    assert np.asarray(frame["stress"]).shape == (3, 3)
    assert main(["eval", MODEL, str(structures["good"]), "--device", DEVICE]) == 0
    text = capsys.readouterr().out
    assert f"{frame['energy']:.10f}" in text and text.count("\n") >= 32


def test_eval_warns_of_atoms_closer_than_a_bond(capsys, tmp_path, structures):
    """Two atoms 0.2 Å apart (the issue's case) evaluate, with one warning naming them; the
    unperturbed alloy (nearest neighbours ~2.5 Å) gives none."""
    import ase.io
    assert main(["eval", MODEL, str(structures["good"]), "--device", "numpy"]) == 0
    assert "warning" not in capsys.readouterr().err
    atoms = ase.io.read(structures["good"])
    atoms.positions[7] = atoms.positions[3] + [0.2, 0.0, 0.0]
    crowded = tmp_path / "crowded.extxyz"
    ase.io.write(crowded, atoms)
    assert main(["eval", MODEL, str(crowded), "--device", "numpy", "--json"]) == 0
    captured = capsys.readouterr()
    assert np.isfinite(json.loads(captured.out)["frames"][0]["energy"])
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("dpsycl: warning: atoms 3 (")
    assert " and 7 (" in warnings[0] and "0.2 Å apart" in warnings[0]


def test_devices_table(capsys):
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["device", "name"] and "fp64" in lines[0]
    assert any(line.startswith("numpy") for line in lines[1:])


def test_alloy_builder():
    """Vegard's-law lattice constant, nearest cube-ish repetition, exact composition."""
    assert parse_composition("Cu0.5Ag0.5") == [("Cu", 0.5), ("Ag", 0.5)]
    assert parse_composition("Cu3Ag") == [("Cu", 0.75), ("Ag", 0.25)]
    for bad in ("cu0.5", "Cu0.5Xx0.5", "", "Cu-1"):
        with pytest.raises(ValueError):
            parse_composition(bad)
    assert cubeish_repeats(125) == (5, 5, 5) and cubeish_repeats(64) == (4, 4, 4)
    assert cubeish_repeats(100) == (4, 5, 5) and cubeish_repeats(27) == (3, 3, 3)
    atoms = random_alloy("Cu0.25Ag0.75", 500, seed=0)
    assert len(atoms) == 500
    assert atoms.get_chemical_symbols().count("Cu") == 125
    a = 0.25 * 3.61 + 0.75 * 4.09
    np.testing.assert_allclose(atoms.cell.lengths(), [5 * a] * 3)
    assert random_alloy("Cu0.5Ag0.5", 100, seed=0).get_chemical_symbols() != \
        random_alloy("Cu0.5Ag0.5", 100, seed=1).get_chemical_symbols()


def test_options_and_positionals_in_any_order():
    """`dpsycl run MODEL --steps 5 STRUCTURE` is the same command as `... MODEL STRUCTURE --steps 5`
    (argparse alone would stop collecting positionals at the first option)."""
    from dpsycl.cli import build_parser
    parser = build_parser()
    orders = (["run", "m.pb", "s.xyz", "--steps", "5", "-o", "x.h5"],
              ["run", "m.pb", "--steps", "5", "s.xyz", "-o", "x.h5"],
              ["run", "--steps", "5", "-o", "x.h5", "m.pb", "s.xyz"])
    parsed = [vars(parser.parse_args(argv)) for argv in orders]
    for p in parsed:
        p.pop("command_handler")
    assert parsed[0] == parsed[1] == parsed[2]
    assert (parsed[0]["model"], parsed[0]["structure"], parsed[0]["steps"]) == ("m.pb", "s.xyz", 5)
    args = parser.parse_args(["eval", "m.pb", "--json", "s.xyz"])
    assert (args.model, args.structure, args.json) == ("m.pb", "s.xyz", True)
    with pytest.raises(SystemExit):        # a third positional is still an error
        parser.parse_args(["run", "m.pb", "--steps", "5", "s.xyz", "extra.xyz", "-o", "x.h5"])
