"""The MD watchdog (dpsycl/md/watchdog.py) and neighbour capacity during MD (issue 13, points 1–2).

Runs go through dpsycl.cli.main in-process on opencl:cpu (one compiled DeepPot of the bundled
Cu–Ag model, cached by dpsycl.cli_md; ``dp`` of conftest.py skips without SYCL) with 32–108 atoms and a few tens of steps; the checks of a
frame are also driven directly with doctored frames, which pins each bound without dynamics.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re

import numpy as np
import pytest

from dpsycl.cli import main
from dpsycl.h5md import read_trajectory
from dpsycl.md import (EXIT_STOPPED, MDSettings, UnstableDynamicsError, check_frame, initial_state, sample,
                       schedule, truncation_summary)
from dpsycl.neighbors import SelTruncationWarning
from dpsycl.structures import random_alloy

MODEL = str(pathlib.Path(__file__).parent / "data" / "cuag" / "frozen_model.pb")
DEVICE = "opencl:cpu"


def _run(capsys, out, *extra, atoms=32, steps=40):
    status = main(["run", MODEL, "--alloy", "Cu0.5Ag0.5", "--atoms", str(atoms), "--steps", str(steps),
                   "--every", "10", "--device", DEVICE, "--output", str(out), "--seed", "3", "--no-progress", *extra])
    return status, capsys.readouterr().err


def _stop_line(err: str) -> str:
    """The one 'dpsycl: stopped:' line of stderr (there must be exactly one)."""
    lines = [ln for ln in err.splitlines() if ln.startswith("dpsycl: stopped: ")]
    assert len(lines) == 1, err
    return lines[0]


def _assert_good_file(path, last_step):
    traj = read_trajectory(path)
    assert traj["step"][-1] == last_step
    assert np.all(np.isfinite(traj["positions"][-1])) and np.all(np.isfinite(traj["velocities"][-1]))
    assert np.isfinite(traj["observables"]["total_energy"][-1])


# ---------------------------------------------------------------------------------------------
def test_issue_blow_up_stops_at_step_1_and_restarts(dp, capsys, tmp_path):
    """The issue's run (108 Cu–Ag atoms, NVE, dt 40 fs, 50,000 K) climbed to 5.9e7 K and exited 0.
    Now: exit 3 at step 1 (an atom moves > the 1 Å skin in one step), the message names step,
    quantity, atoms and cause; the file ends at the good frame 0; --restart stops the same way
    (the state there determines the run), and with the bounds off it continues and exits 0."""
    out = tmp_path / "blow.h5"
    hot = ["--dt", "40", "--temperature", "50000"]
    status, err = _run(capsys, out, *hot, atoms=108, steps=200)
    assert status == EXIT_STOPPED == 3
    line = _stop_line(err)
    assert line.startswith("dpsycl: stopped: step 1: atom displacement: an atom moved at least "), line
    assert re.search(r"atoms \d+ \((Cu|Ag), [\d.]+ Å since step 0\)", line), line
    assert "time step 40 fs too large" in line and f"{out} ends at step 0" in line
    _assert_good_file(out, 0)

    status, err = main(["run", MODEL, "--steps", "200", "--device", DEVICE, "--output", str(out), "--restart",
                        "--no-progress"]), capsys.readouterr().err
    assert status == 3 and _stop_line(err) == line            # deterministic: the same stop, same words
    off = ["--max-displacement", "inf", "--max-temperature", "inf", "--max-drift", "inf"]
    status = main(["run", MODEL, "--steps", "10", "--device", DEVICE, "--output", str(out), "--restart",
                   "--no-progress", *off])
    err = capsys.readouterr().err
    assert status == 0 and "stopped" not in err, err
    traj = read_trajectory(out)
    assert list(traj["step"]) == [0, 10] and traj["observables"]["temperature"][-1] > 1e5   # it did run away


def test_stable_run_is_silent(dp, capsys, tmp_path):
    """32 atoms at 300 K, dt 2 fs, NVE: no watchdog message, no warning, exit 0."""
    status, err = _run(capsys, tmp_path / "ok.h5", "--dt", "2")
    assert status == 0
    assert "stopped" not in err and "warning" not in err, err
    _assert_good_file(tmp_path / "ok.h5", 40)


@pytest.mark.parametrize("option, quantity", [
    (["--max-temperature", "1"], r"temperature [\d.e+]+ K above the bound 1 K \(--max-temperature\); hottest atoms \d+ "),
    (["--max-drift", "1e-9"], r"NVE energy drift: total energy changed by [\d.e+-]+ meV/atom since step 0 .*"
                              r"above the bound 1e-09 meV/atom/ps \(--max-drift\); hottest atoms \d+ "),
])
def test_bounds_on_the_command_line(dp, capsys, tmp_path, option, quantity):
    """A bound set on the command line stops the run at the first sampled step (10) that breaks
    it, naming the quantity; the file ends at step 0.  The file keeps the bound, so a plain
    restart stops again; the bound is not physics, so a restart may lift it and run to the end."""
    out = tmp_path / "b.h5"
    status, err = _run(capsys, out, "--dt", "2", *option)
    line = _stop_line(err)
    assert status == 3 and line.startswith("dpsycl: stopped: step 10: ")
    assert re.search(quantity, line), line
    _assert_good_file(out, 0)
    restart = ["run", MODEL, "--steps", "20", "--device", DEVICE, "--output", str(out), "--restart", "--no-progress"]
    assert main(restart) == 3 and _stop_line(capsys.readouterr().err) == line
    assert main([*restart, option[0], "inf"]) == 0, capsys.readouterr().err
    _assert_good_file(out, 20)


def test_bad_start_structure_is_named(dp, capsys, tmp_path):
    """Two atoms 0.2 Å apart: this model stays finite and smooth there (no blow-up to catch), so
    the start itself is warned of (once), naming the pair; a sound start gives no such line."""
    import ase.io
    atoms = random_alloy("Cu0.5Ag0.5", 32, seed=1)
    atoms.positions[1] = atoms.positions[0] + [0.2, 0.0, 0.0]
    path = tmp_path / "close.extxyz"
    ase.io.write(path, atoms)
    argv = ["run", MODEL, str(path), "--steps", "2", "--every", "2", "--dt", "1", "--device", DEVICE, "--no-progress"]
    assert main([*argv, "--output", str(tmp_path / "c.h5")]) == 0
    err = capsys.readouterr().err
    assert re.search(r"dpsycl: warning: step 0: atoms 0 \((Cu|Ag)\) and 1 \((Cu|Ag)\) are 0.2 Å apart", err), err
    assert len([ln for ln in err.splitlines() if "apart" in ln]) == 1
    ase.io.write(path, random_alloy("Cu0.5Ag0.5", 32, seed=1))
    assert main([*argv, "--output", str(tmp_path / "g.h5")]) == 0 and "apart" not in capsys.readouterr().err


def test_frame_checks_and_settings(dp):
    """check_frame on doctored frames: NaN forces name their atom; each bound names its quantity;
    a start frame is checked for finiteness only.  Bounds validate and survive the H5MD dict."""
    settings = MDSettings(dt=1.0, temperature=300.0, every=10).validate()
    init, _ = schedule(dp, settings)
    atoms = random_alloy("Cu0.5Ag0.5", 32, seed=2)
    atype = np.asarray([dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()])
    state = init(initial_state(atoms.positions, atoms.cell.array, atype, dp.get_type_map(), 300.0, 0))
    frame = sample(state)
    check_frame(state, frame, settings, start=True)          # fine, and the NVE reference is taken
    assert state.nve_reference == (0, 0.0, frame.observables["total_energy"])

    forces = frame.forces.copy()
    forces[5, 1] = np.nan
    with pytest.raises(UnstableDynamicsError, match=r"^step 10: non-finite positions/velocities/forces .* "
                                                    r"at atoms 5 \((Cu|Ag)\)") as info:
        check_frame(state, dataclasses.replace(frame, step=10, time=10.0, forces=forces), settings)
    assert info.value.quantity == "energy" and info.value.atoms == [5]

    hot = dict(frame.observables, temperature=1e4 + 1)         # the automatic bound: max(10000, 10 × 300)
    with pytest.raises(UnstableDynamicsError, match="temperature 1e\\+04 K above the bound 1e\\+04 K"):
        check_frame(state, dataclasses.replace(frame, step=10, time=10.0, observables=hot), settings)
    check_frame(state, dataclasses.replace(frame, observables=hot), settings, start=True)   # start: not judged

    # 100 meV/atom/ps over a span under 1 ps is judged as over 1 ps: 101 meV/atom stops, 99 not
    for change, stops in ((0.099, False), (0.101, True)):
        obs = dict(frame.observables, total_energy=frame.observables["total_energy"] + change * 32)
        later = dataclasses.replace(frame, step=10, time=10.0, observables=obs)
        if stops:
            with pytest.raises(UnstableDynamicsError, match="NVE energy drift") as info:
                check_frame(state, later, settings)
            assert info.value.quantity == "energy drift"
        else:
            check_frame(state, later, settings)

    fast = frame.velocities.copy()
    fast[7] = [1.5, 0.0, 0.0]                                  # Å/fs: 1.5 Å per 1 fs step > the 1 Å skin
    with pytest.raises(UnstableDynamicsError, match=r"moves 1.5 Å in one step.* atoms 7 ") as info:
        check_frame(state, dataclasses.replace(frame, step=10, time=10.0, velocities=fast), settings)
    assert info.value.quantity == "displacement" and info.value.atoms[0] == 7

    assert MDSettings(temperature=2000.0).temperature_bound() == 20000.0
    assert MDSettings(skin=0.0).displacement_bound() == 1.0 and MDSettings(skin=0.5).displacement_bound() == 0.5
    for bad in ({"max_temperature": -1.0}, {"max_drift": float("nan")}, {"max_displacement": 0.0}):
        with pytest.raises(ValueError, match="must be positive"):
            MDSettings(**bad).validate()
    custom = MDSettings(max_temperature=5e3, max_drift=float("inf"), strict=True)
    assert MDSettings.from_dict(custom.to_dict()) == custom
    assert MDSettings.from_dict(MDSettings().to_dict()) == MDSettings()


# ---------------------------------------------------------------------------------------------
def test_sel_truncation_is_counted_and_strict_stops(dp, capsys, tmp_path):
    """Compressed Cu (a = 3.1 Å, 134 neighbours within rcut, sel 90), skin 0 so every step rebuilds:
    one warning at step 0, then a summary counting every truncating build; --strict: exit 3."""
    import ase.io
    path = tmp_path / "dense.extxyz"
    ase.io.write(path, random_alloy("Cu", 32, seed=0, lattice=3.1))
    base = ["run", MODEL, str(path), "--steps", "4", "--dt", "0.5", "--every", "2", "--skin", "0", "--temperature",
            "100", "--device", DEVICE, "--no-progress"]
    assert main([*base, "--output", str(tmp_path / "d.h5")]) == 0
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("dpsycl: warning: ")]
    assert len(warnings) == 2, warnings
    assert re.match(r"dpsycl: warning: step 0: 32 atom\(s\) have more neighbours of one species within rcut "
                    r"than sel=\[90, 90\]", warnings[0]), warnings
    assert "sel truncation within rcut at 5 of 5 neighbour-list builds (steps 0–4; up to 32 atom(s)" in warnings[1]

    status = main([*base, "--output", str(tmp_path / "s.h5"), "--strict"])
    line = _stop_line(capsys.readouterr().err)
    assert status == 3 and line.startswith("dpsycl: stopped: step 0: 32 atom(s) have more neighbours"), line
    assert "strict mode (--strict) stops the run" in line and "nothing was written" in line

    # the library: a SelTruncationWarning with the count, and the per-build tally on the state
    settings = MDSettings(dt=0.5, temperature=100.0, every=2, skin=0.0)
    init, step = schedule(dp, settings)
    atoms = random_alloy("Cu", 32, seed=0, lattice=3.1)
    with pytest.warns(SelTruncationWarning, match=r"step 0: 32 atom\(s\) have more neighbours"):
        state = init(initial_state(atoms.positions, atoms.cell.array, np.zeros(32, int), dp.get_type_map(), 100.0))
    for _ in range(3):
        state = step(state)
    assert state.truncation.builds == state.n_rebuilds == 4
    assert truncation_summary(state, dp.get_sel()).startswith("sel truncation within rcut at 4 of 4")


def test_clumped_atoms_give_the_reference_forces(dp):
    """108 Cu atoms of a compressed fcc clump (a = 3.2 Å) in a 40 Å box: one grid cell of the
    device cell list holds far more than its first capacity and centre rows have more candidates
    than sel; the device regrows the cell list and truncates as DeePMD-kit does, so MD's forces
    equal the float64 host reference (numpy) — never silently wrong."""
    from dpsycl import DeepPot
    from ase.build import bulk
    clump = bulk("Cu", "fcc", a=3.2, cubic=True).repeat((3, 3, 3))
    # rattled: at exact lattice ties the kept neighbour at the sel boundary depends on rounding
    positions = clump.positions + 15.0 + np.random.default_rng(0).uniform(-0.05, 0.05, clump.positions.shape)
    cell = np.eye(3) * 40.0
    atype = np.zeros(len(clump), dtype=np.int64)
    settings = MDSettings(dt=1.0, temperature=0.0, skin=0.0)
    init, _ = schedule(dp, settings, warn=lambda msg: None)
    state = init(initial_state(positions, cell, atype, dp.get_type_map(), 0.0))
    assert state.neighbors.lists[0].max_candidates > dp.get_sel()[0]          # Cu rows overflow sel
    assert state.truncation.builds == 1 and state.truncation.most_atoms > 0
    frame = sample(state)
    with pytest.warns(SelTruncationWarning):
        e, f, _ = DeepPot(MODEL, device="numpy").eval(positions.reshape(1, -1), cell.reshape(1, 9), atype)
    assert frame.observables["potential_energy"] == pytest.approx(e[0, 0], abs=1e-8)
    np.testing.assert_allclose(frame.forces, f[0], rtol=0, atol=1e-8)
