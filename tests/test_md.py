"""MD on the device (opencl:cpu): integrators, thermostats, Verlet skin, units, observables.

One DeepPot of the bundled Cu–Ag model for the session (the kernels compile once); systems are
32-atom random fcc Cu0.5Ag0.5 boxes (2×2×2 cubic cells, a = 3.85 Å, Vegard's law), small enough
for hundreds of steps in seconds.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms, units

from dpsycl.md import (CONV, KB, MDError, MDSettings, bussi_kinetic, csvr, initial_state, masses_for,
                       maxwell_boltzmann, nve, run, sample, schedule, to_device, to_host)
from dpsycl.neighbors import SelTruncationWarning
from dpsycl.structures import random_alloy


@pytest.fixture(scope="module")
def alloy():
    return random_alloy("Cu0.5Ag0.5", 32, seed=3)


def _state(dp, atoms, temperature, seed=1, pbc=True):
    atype = np.asarray([dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()])
    return initial_state(atoms.positions, atoms.cell.array if pbc else None, atype, dp.get_type_map(),
                         temperature, seed)


def _run(dp, atoms, settings, steps, temperature=None, pbc=True, pair=schedule, warn=None):
    """The frames of a run from a Maxwell–Boltzmann start: step 0, then every settings.every steps."""
    init, step = pair(dp, settings, warn=warn)
    state = init(_state(dp, atoms, settings.temperature if temperature is None else temperature,
                        settings.seed, pbc))
    frames = [sample(state)]
    state = run(step, state, steps, every=settings.every, on_frame=frames.append)
    return state, frames


def _series(frames, name):
    return np.asarray([f.observables[name] for f in frames])


def test_units_constant():
    """1 eV/(Å·amu) = 9.64853321e-3 Å/fs² and kB = 8.6173e-5 eV/K (ase.units)."""
    assert CONV == pytest.approx(9.64853321e-3, rel=1e-8)
    assert KB == pytest.approx(8.617333262e-5, rel=1e-6)   # ASE uses CODATA 2014
    assert masses_for(["Cu", "Ag"]) == pytest.approx([63.546, 107.8682], rel=1e-4)
    with pytest.raises(MDError):
        masses_for(["Xx"])


def test_maxwell_boltzmann_initial_velocities():
    """Zero total momentum, exactly the requested temperature (ndof 3N−3), reproducible from the seed."""
    m = masses_for(["Cu", "Ag"])[np.arange(200) % 2]
    v = maxwell_boltzmann(m, 500.0, seed=11)
    assert np.abs((m[:, None] * v).sum(axis=0)).max() < 1e-12
    temp = np.sum(m[:, None] * v * v) / CONV / ((3 * 200 - 3) * KB)
    assert temp == pytest.approx(500.0, rel=1e-12)
    assert np.array_equal(v, maxwell_boltzmann(m, 500.0, seed=11))
    assert not np.allclose(v, maxwell_boltzmann(m, 500.0, seed=12))
    # heavier atoms move slower: <m v²> equal per species (equipartition), so <v²> ∝ 1/m
    v2 = (v * v).sum(axis=1)
    ratio = v2[m > 100].mean() / v2[m < 100].mean()
    assert ratio == pytest.approx(63.546 / 107.8682, rel=0.25)


def test_bussi_propagator_mean():
    """E[K'] = c K + (1 − c) K_target for the exact CSVR kinetic-energy propagator."""
    rng = np.random.default_rng(0)
    K, Kt, ndof, c = 2.0, 3.0, 93, math.exp(-0.1)
    draws = np.asarray([bussi_kinetic(K, Kt, ndof, c, rng) for _ in range(20000)])
    expected = c * K + (1 - c) * Kt
    assert draws.mean() == pytest.approx(expected, rel=0.01)
    assert draws.min() >= 0


def test_velocity_verlet_kick_uses_forces_and_masses(dp, alloy):
    """One NVE step obeys v₁ = v₀ + dt/2 (F₀ + F₁)·CONV/m exactly (units and masses of the kick)."""
    s = MDSettings(dt=1.0, temperature=300.0, every=1, seed=2)
    _, frames = _run(dp, alloy, s, 1, pair=nve)
    f0, f1 = frames
    m = masses_for(dp.get_type_map())[f0.species]
    expected = f0.velocities + 0.5 * s.dt * (f0.forces + f1.forces) * CONV / m[:, None]
    np.testing.assert_allclose(f1.velocities, expected, rtol=0, atol=1e-15)
    x1 = f1.unwrapped_positions()
    expected_x = f0.unwrapped_positions() + s.dt * (f0.velocities + 0.5 * s.dt * f0.forces * CONV / m[:, None])
    np.testing.assert_allclose(x1, expected_x, rtol=0, atol=1e-12)


def test_nve_conserves_energy(dp, alloy):
    """NVE, 32 atoms started at 600 K: energy error bounded, O(dt²), no drift.

    Velocity Verlet is symplectic: the total energy oscillates around a conserved shadow energy
    with an amplitude ∝ dt², and has no secular drift beyond rounding unless forces are wrong
    (a neighbour missed by the Verlet skin, a non-conservative force).  Estimate for Cu/Ag at
    1 fs: (ω dt)²/8 · E_kin with ω ≈ 2π/150 fs and E_kin ≈ 40 meV/atom gives ~0.01 meV/atom
    (measured 0.008 peak-to-peak over 400 fs).  Bounds: peak-to-peak < 0.1 meV/atom and
    |drift| < 0.1 meV/atom/ps (one lost neighbour contribution is ~meV and would break both); going
    from dt 1 to 2 fs must multiply the fluctuation by 2.5–6 (4 for a second-order integrator).
    """
    from dpsycl.analysis import energy_drift
    out = {}
    for dt, steps in ((1.0, 400), (2.0, 200)):
        s = MDSettings(dt=dt, temperature=600.0, every=2, seed=5)
        _, frames = _run(dp, alloy, s, steps)
        e = _series(frames, "total_energy")
        t = np.asarray([f.time for f in frames])
        out[dt] = (np.ptp(e) / 32 * 1e3, energy_drift(t, e, 32))
    ptp1, drift1 = out[1.0]
    ptp2, drift2 = out[2.0]
    print(f"NVE 32 atoms: dt 1 fs ptp {ptp1:.3g} meV/atom drift {drift1:.3g} meV/atom/ps; "
          f"dt 2 fs ptp {ptp2:.3g} drift {drift2:.3g}")
    assert ptp1 < 0.1, f"energy fluctuation {ptp1:.3g} meV/atom at dt 1 fs"
    assert abs(drift1) < 0.1, f"energy drift {drift1:.3g} meV/atom/ps at dt 1 fs"
    assert abs(drift2) < 0.3, f"energy drift {drift2:.3g} meV/atom/ps at dt 2 fs"
    assert 2.5 < ptp2 / ptp1 < 6.0, f"fluctuation ratio dt2/dt1 = {ptp2 / ptp1:.3g}, expected ~4"


def test_skin_list_matches_rebuild_every_step(dp, alloy):
    """A Verlet-skin list (rebuilt only when an atom moved > skin/2) gives the trajectory of
    rebuilding every step (skin 0, exact DeePMD-kit semantics) to rounding; PBC and open boundaries.

    Hot (1500 K) so that the skin criterion fires within 150 steps of 2 fs.
    """
    for pbc in (True, False):
        res = {}
        for skin in (1.0, 0.0):
            s = MDSettings(dt=2.0, temperature=1500.0, every=1000, skin=skin, seed=1)
            state, _ = _run(dp, alloy, s, 150, pbc=pbc)
            res[skin] = (sample(state), state.n_rebuilds)
        (fs, nskin), (f0, nexact) = res[1.0], res[0.0]
        print(f"skin pbc={pbc}: {nskin} builds vs {nexact}; max |dx| "
              f"{np.abs(fs.unwrapped_positions() - f0.unwrapped_positions()).max():.2g} Å")
        assert nexact == 151
        assert 2 <= nskin <= 20, f"{nskin} rebuilds with skin 1 Å"
        np.testing.assert_allclose(fs.unwrapped_positions(), f0.unwrapped_positions(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(fs.velocities, f0.velocities, rtol=0, atol=1e-11)
        if pbc:
            assert np.all(fs.positions @ np.linalg.inv(fs.cell) > -0.2)   # wrapped at the last build


def test_the_list_is_built_when_the_skin_asks_not_at_every_frame(dp, alloy):
    """Cool and short: no atom moves skin/2, so the list built at the start serves every step, frames included
    (each frame records that build: the positions a continuation builds from)."""
    s = MDSettings(dt=1.0, temperature=300.0, every=5, seed=2)
    state, frames = _run(dp, alloy, s, 40)
    assert len(frames) == 9 and state.n_rebuilds == 1
    assert all(f.list_built_at == 0 for f in frames)
    assert frames[0].list_reference is None and all(f.list_reference is not None for f in frames[1:])
    np.testing.assert_array_equal(frames[3].list_reference, frames[0].positions)


def test_sel_overflow_within_skin_switches_the_skin_off(dp):
    """Pure fcc Cu (a = 3.61 Å): 78 neighbours within rcut = 6 Å but 134 within rcut + skin = 7 Å,
    more than sel = 90.  The skin is switched off at step 0 with one warning, and the run is then
    the skin-0 run bit for bit; a restart from a frame keeps it off without warning again."""
    copper = random_alloy("Cu", 32, seed=0)
    runs = {}
    for skin in (1.0, 0.0):
        s = MDSettings(dt=1.0, temperature=300.0, every=5, skin=skin, seed=2)
        if skin:
            with pytest.warns(SelTruncationWarning, match=r"rcut \+ skin") as record:
                runs[skin] = _run(dp, copper, s, 10)
            assert len([w for w in record if issubclass(w.category, SelTruncationWarning)]) == 1
        else:
            runs[skin] = _run(dp, copper, s, 10)
    (state, frames), (exact_state, exact_frames) = runs[1.0], runs[0.0]
    assert state.n_rebuilds == exact_state.n_rebuilds == 11
    assert [f.exact_neighbors_from for f in frames] == [0, 0, 0]
    assert to_host(state).exact_neighbors_from == 0 and to_host(exact_state).exact_neighbors_from is None
    for a, b in zip(frames, exact_frames):
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.velocities, b.velocities)
    messages = []
    init, _ = schedule(dp, MDSettings(dt=1.0, temperature=300.0, every=5, skin=1.0, seed=2), warn=messages.append)
    assert init(to_host(state)).exact_neighbors_from == 0 and messages == []


def test_sel_truncation_within_rcut_is_reported_once(dp):
    """Compressed Cu (a = 3.1 Å): 134 neighbours within rcut, sel 90; the list is rebuilt every
    step (skin 0) and truncated every time, but the user hears of it once."""
    messages = []
    s = MDSettings(dt=0.5, temperature=100.0, every=10, skin=0.0, seed=1)
    state, frames = _run(dp, random_alloy("Cu", 32, seed=0, lattice=3.1), s, 3, warn=messages.append)
    assert state.n_rebuilds == 4
    assert len(messages) == 1 and "within rcut than sel=[90, 90]" in messages[0]
    assert np.isfinite(frames[-1].observables["total_energy"])


def test_csvr_reaches_target_temperature(dp, alloy):
    """CSVR (τ 20 fs) takes 32 atoms from a 300 K start to 900 K.

    Tolerance: the instantaneous temperature of 93 degrees of freedom fluctuates by
    √(2/93) ≈ 15 %; averaged over the last 0.8 ps (~40 correlation times of τ/2) the mean is
    within ~2.5 % (1σ), so ±8 % is a > 3σ bound.  CSVR samples the canonical ensemble, so the
    spread of T must also be canonical: 0.5–1.6 × 15 % (a Berendsen-like rescaling would give ~0).
    """
    s = MDSettings(dt=2.0, ensemble="csvr", temperature=900.0, tau=20.0, every=2, seed=4)
    _, frames = _run(dp, alloy, s, 600, temperature=300.0)
    temp = _series(frames, "temperature")[100:]
    assert temp.mean() == pytest.approx(900.0, rel=0.08)
    rel_spread = temp.std() / temp.mean()
    print(f"CSVR: <T> {temp.mean():.1f} K, spread {rel_spread:.3f} (canonical {math.sqrt(2 / 93):.3f})")
    assert 0.5 * math.sqrt(2 / 93) < rel_spread < 1.6 * math.sqrt(2 / 93)
    # CSVR conserves the total momentum (zero from the start)
    m = masses_for(dp.get_type_map())[frames[-1].species]
    assert np.abs((m[:, None] * frames[-1].velocities).sum(axis=0)).max() < 1e-10


def test_langevin_reaches_target_then_nve(dp, alloy):
    """Langevin BAOAB (γ 0.05 /fs) heats 32 atoms from 300 K to 900 K, then NVE from step 500.

    Tolerance as for CSVR: ±8 % on the mean over the last 0.6 ps of the Langevin phase (ndof 3N,
    as Langevin thermalises the centre of mass too).  At the switch the momentum the noise gave is
    removed, after which NVE conserves energy (< 0.3 meV/atom/ps over 0.2 ps at dt 2 fs).
    """
    from dpsycl.analysis import energy_drift
    s = MDSettings(dt=2.0, ensemble="langevin", temperature=900.0, friction=0.05, nvt_steps=500, every=2, seed=6)
    _, frames = _run(dp, alloy, s, 600, temperature=300.0)
    steps = np.asarray([f.step for f in frames])
    temp = _series(frames, "temperature")
    nvt = (steps >= 200) & (steps <= 500)
    print(f"Langevin: <T> {temp[nvt].mean():.1f} K")
    assert temp[nvt].mean() == pytest.approx(900.0, rel=0.08)
    m = masses_for(dp.get_type_map())[frames[-1].species]
    p_nvt = np.abs((m[:, None] * frames[int(np.argmax(steps == 500))].velocities).sum(axis=0)).max()
    p_nve = np.abs((m[:, None] * frames[-1].velocities).sum(axis=0)).max()
    assert p_nvt > 1e-4          # the noise does not conserve momentum ...
    assert p_nve < 1e-10         # ... and the NVE phase starts from zero momentum
    nve_phase = steps >= 501
    e = _series(frames, "total_energy")[nve_phase]
    t = np.asarray([f.time for f in frames])[nve_phase]
    assert abs(energy_drift(t, e, 32)) < 0.3


def test_langevin_noise_is_reproducible(dp, alloy):
    """Same seed → identical trajectory; another seed → a different one (counter-based noise)."""
    runs = []
    for seed in (9, 9, 10):
        s = MDSettings(dt=2.0, ensemble="langevin", temperature=600.0, friction=0.05, every=20, seed=seed)
        _, frames = _run(dp, alloy, s, 20, temperature=600.0)
        runs.append(frames[-1].velocities)
    assert np.array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_schedule_is_the_ensemble_steps_composed(dp, alloy):
    """ensemble 'nve' with nvt_steps 10: the scheduled run is the csvr pair's steps up to step 10,
    then the nve pair's, applied to one device state — bit for bit."""
    s = MDSettings(dt=2.0, ensemble="nve", temperature=600.0, tau=20.0, nvt_steps=10, every=5, seed=7)
    scheduled, _ = _run(dp, alloy, s, 20)
    init, csvr_step = csvr(dp, s)
    _, nve_step = nve(dp, s)
    state = run(nve_step, run(csvr_step, init(_state(dp, alloy, 600.0, 7)), 10, every=5), 20, every=5)
    a, b = sample(scheduled), sample(state)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.velocities, b.velocities)


@pytest.mark.parametrize("pbc", [True, False])
def test_host_device_round_trip_continues_bit_for_bit(dp, alloy, pbc):
    """to_host at a sampled step between two list builds, then init of a fresh pair: the run continues
    bit for bit, here restarting exactly where the Langevin phase ends (the momentum removal must still
    happen); periodic and open boundaries (the cluster's grid from the build's positions)."""
    s = MDSettings(dt=2.0, ensemble="langevin", temperature=900.0, friction=0.05, nvt_steps=20, every=10, seed=8)
    straight, _ = _run(dp, alloy, s, 40, pbc=pbc)
    halfway, _ = _run(dp, alloy, s, 20, pbc=pbc)
    host = to_host(halfway)
    assert isinstance(host.positions, np.ndarray) and host.step == 20 and host.time == 40.0
    assert host.list_built_at < 20 and not np.array_equal(host.list_reference, host.positions)
    again = to_host(to_device(host, dp))
    for name in ("positions", "velocities", "image", "atype", "list_reference", "list_built_at"):
        assert np.array_equal(getattr(again, name), getattr(host, name)), name
    init, step = schedule(dp, s)
    resumed = run(step, init(host), 40, every=s.every)
    a, b = sample(straight), sample(resumed)
    for name in ("positions", "velocities", "forces", "image"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.observables["temperature"] == b.observables["temperature"]


def test_observables_match_ase(dp, alloy):
    """Every observable of sampled frames against ASE: Atoms built from the frame (ASE's masses,
    momenta from the velocities) with the dpsycl ASE calculator attached.

    Frames in and right after a Langevin phase (ndof 3N) and in the NVE phase after it (3N − 3):
    ASE counts 3N degrees of freedom, so T_dpsycl = T_ASE · 3N / ndof.  Pressure and stress
    include the kinetic term (ASE's include_ideal_gas), in bar, stress with ASE's sign.
    """
    from dpsycl.ase import DPSyclCalculator
    calc = DPSyclCalculator(dp)
    sheared = alloy.copy()                  # a triclinic cell: no stress component zero by symmetry
    cell = sheared.cell.array.copy()
    cell[1, 0] += 0.3
    cell[2, 1] -= 0.2
    sheared.set_cell(cell, scale_atoms=True)
    s = MDSettings(dt=2.0, ensemble="langevin", temperature=700.0, friction=0.05, nvt_steps=4, every=2, seed=3)
    _, frames = _run(dp, sheared, s, 8)
    _, cluster_frames = _run(dp, alloy, MDSettings(dt=2.0, temperature=400.0, every=2, seed=3), 2,
                                         pbc=False)
    symbols = [dp.get_type_map()[t] for t in frames[0].species]
    for frame in frames + cluster_frames:
        atoms = Atoms(symbols, positions=frame.positions, cell=frame.cell, pbc=frame.cell is not None)
        atoms.set_momenta(atoms.get_masses()[:, None] * frame.velocities / units.fs)
        atoms.calc = calc
        o = frame.observables
        ndof = 3 * len(atoms) if 0 < frame.step <= s.nvt_steps and frame.cell is not None else 3 * len(atoms) - 3
        assert o["kinetic_energy"] == pytest.approx(atoms.get_kinetic_energy(), rel=1e-12)
        assert o["temperature"] == pytest.approx(atoms.get_temperature() * 3 * len(atoms) / ndof, rel=1e-12)
        assert o["potential_energy"] == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        assert o["total_energy"] == pytest.approx(atoms.get_total_energy(), abs=1e-9)
        np.testing.assert_allclose(frame.forces, atoms.get_forces(), rtol=0, atol=1e-10)
        if frame.cell is None:
            assert math.isnan(o["pressure"]) and np.isnan(o["stress"]).all()
            continue
        ase_stress = atoms.get_stress(include_ideal_gas=True, voigt=False) / units.bar
        assert np.abs(ase_stress).max() > 100.0
        np.testing.assert_allclose(0.5 * (o["stress"] + o["stress"].T), ase_stress, rtol=1e-9, atol=1e-6)
        assert o["pressure"] == pytest.approx(-np.trace(ase_stress) / 3, rel=1e-9, abs=1e-6)
    assert [f.step for f in frames] == [0, 2, 4, 6, 8]


def test_virials_between_samples_are_computed_when_a_frame_needs_them(dp, alloy):
    """Steps that settings.every does not divide leave the atomic virials out; a frame taken at such a
    step (run's own period differs) computes them first: each frame's stress against ASE's calculator
    on the frame's positions, in a triclinic box where every component moves from step to step."""
    from dpsycl.ase import DPSyclCalculator
    calc = DPSyclCalculator(dp)
    sheared = alloy.copy()
    cell = sheared.cell.array.copy()
    cell[1, 0] += 0.3
    sheared.set_cell(cell, scale_atoms=True)
    s = MDSettings(dt=2.0, temperature=900.0, every=4, seed=5)
    init, step = nve(dp, s)
    state = init(_state(dp, sheared, s.temperature, s.seed))
    state = step(state)
    assert (state.step, state.virial_step) == (1, 0)       # the point: no virial at a step between samples
    frames = []
    state = run(step, state, 7, every=3, on_frame=frames.append)
    assert [f.step for f in frames] == [3, 6]
    stresses = []
    symbols = [dp.get_type_map()[t] for t in frames[0].species]
    for frame in frames:
        atoms = Atoms(symbols, positions=frame.positions, cell=frame.cell, pbc=True)
        atoms.set_momenta(atoms.get_masses()[:, None] * frame.velocities / units.fs)
        atoms.calc = calc
        ase_stress = atoms.get_stress(include_ideal_gas=True, voigt=False) / units.bar
        stresses.append(ase_stress)
        np.testing.assert_allclose(frame.forces, atoms.get_forces(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(0.5 * (frame.observables["stress"] + frame.observables["stress"].T), ase_stress,
                                   rtol=1e-9, atol=1e-6)
    assert np.abs(stresses[1] - stresses[0]).max() > 1.0        # stale virials would have failed above
    assert state.virial_step == 6


def test_bad_settings_and_potentials_rejected(dp, alloy):
    import dpsycl
    for bad in (dict(dt=0.0), dict(dt=-1.0), dict(ensemble="npt"), dict(ensemble="csvr", temperature=0.0),
                dict(skin=-0.1), dict(every=0), dict(tau=0.0), dict(friction=-1.0), dict(seed=-1)):
        with pytest.raises(MDError):
            MDSettings(**bad).validate()
    with pytest.raises(MDError, match="positive target temperature"):
        csvr(dp, MDSettings(temperature=0.0))
    st = _state(dp, alloy, 300.0)
    st.type_map = ["Cu", "Au"]
    init, _ = nve(dp, MDSettings())
    with pytest.raises(MDError, match="species"):
        init(st)
    reference = dpsycl.DeepPot(dp.model, device="numpy")
    with pytest.raises(MDError, match="device backend"):
        schedule(reference, MDSettings())
