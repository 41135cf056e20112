"""MD on the device (opencl:cpu): integrators, thermostats, Verlet skin, units, observables.

One DeepPot of the bundled Cu–Ag model for the whole module (the kernels compile once); systems
are 32-atom random fcc Cu0.5Ag0.5 boxes (2×2×2 cubic cells, a = 3.85 Å, Vegard's law), small
enough for hundreds of steps in seconds.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from dpsycl.md import (CONV, KB, MDError, MDSettings, MolecularDynamics, bussi_kinetic, initial_state,
                       maxwell_boltzmann, masses_for)



@pytest.fixture(scope="module")
def alloy():
    from dpsycl.cli_md import random_alloy
    return random_alloy("Cu0.5Ag0.5", 32, seed=3)


def _state(dp, atoms, temperature, seed=1, pbc=True):
    atype = np.asarray([dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()])
    return initial_state(atoms.positions, atoms.cell.array if pbc else None, atype, dp.get_type_map(),
                         temperature, seed)


def _run(dp, atoms, settings, steps, temperature=None, pbc=True):
    md = MolecularDynamics(dp, _state(dp, atoms, settings.temperature if temperature is None else temperature,
                                      settings.seed, pbc), settings)
    frames = [md.sample()]
    md.run(steps, on_frame=frames.append)
    return md, frames


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
    md, frames = _run(dp, alloy, s, 1)
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
        md, frames = _run(dp, alloy, s, steps)
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
            md = MolecularDynamics(dp, _state(dp, alloy, 1500.0, 1, pbc), s)
            md.run(150)
            res[skin] = (md.sample(), md.n_rebuilds)
        (fs, nskin), (f0, nexact) = res[1.0], res[0.0]
        print(f"skin pbc={pbc}: {nskin} builds vs {nexact}; max |dx| "
              f"{np.abs(fs.unwrapped_positions() - f0.unwrapped_positions()).max():.2g} Å")
        assert nexact == 151
        assert 2 <= nskin <= 20, f"{nskin} rebuilds with skin 1 Å"
        np.testing.assert_allclose(fs.unwrapped_positions(), f0.unwrapped_positions(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(fs.velocities, f0.velocities, rtol=0, atol=1e-11)
        if pbc:
            assert np.all(fs.positions @ np.linalg.inv(fs.cell) > -0.2)   # wrapped at the last build


def test_csvr_reaches_target_temperature(dp, alloy):
    """CSVR (τ 20 fs) takes 32 atoms from a 300 K start to 900 K.

    Tolerance: the instantaneous temperature of 93 degrees of freedom fluctuates by
    √(2/93) ≈ 15 %; averaged over the last 0.8 ps (~40 correlation times of τ/2) the mean is
    within ~2.5 % (1σ), so ±8 % is a > 3σ bound.  CSVR samples the canonical ensemble, so the
    spread of T must also be canonical: 0.5–1.6 × 15 % (a Berendsen-like rescaling would give ~0).
    """
    s = MDSettings(dt=2.0, ensemble="csvr", temperature=900.0, tau=20.0, every=2, seed=4)
    md, frames = _run(dp, alloy, s, 600, temperature=300.0)
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
    md, frames = _run(dp, alloy, s, 600, temperature=300.0)
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
    nve = steps >= 501
    e = _series(frames, "total_energy")[nve]
    t = np.asarray([f.time for f in frames])[nve]
    assert abs(energy_drift(t, e, 32)) < 0.3


def test_langevin_noise_is_reproducible(dp, alloy):
    """Same seed → identical trajectory; another seed → a different one (counter-based noise)."""
    runs = []
    for seed in (9, 9, 10):
        s = MDSettings(dt=2.0, ensemble="langevin", temperature=600.0, friction=0.05, every=20, seed=seed)
        md, frames = _run(dp, alloy, s, 20, temperature=600.0)
        runs.append(frames[-1].velocities)
    assert np.array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_observables_consistent(dp, alloy):
    """E_tot = E_pot + E_kin; T from E_kin; pressure = −tr(stress)/3 and NaN without a cell."""
    s = MDSettings(dt=1.0, temperature=400.0, every=5, seed=3)
    md, frames = _run(dp, alloy, s, 5)
    o = frames[-1].observables
    assert o["total_energy"] == pytest.approx(o["potential_energy"] + o["kinetic_energy"], abs=1e-12)
    m = masses_for(dp.get_type_map())[frames[-1].species]
    ke = 0.5 * np.sum(m[:, None] * frames[-1].velocities ** 2) / CONV
    assert o["kinetic_energy"] == pytest.approx(ke, rel=1e-12)
    assert o["temperature"] == pytest.approx(2 * ke / (93 * KB), rel=1e-12)
    assert o["pressure"] == pytest.approx(-np.trace(o["stress"]) / 3, rel=1e-12)
    md2, frames2 = _run(dp, alloy, s, 0, pbc=False)
    assert math.isnan(frames2[0].observables["pressure"])


def test_bad_settings_rejected(dp, alloy):
    for bad in (dict(dt=0.0), dict(dt=-1.0), dict(ensemble="npt"), dict(ensemble="csvr", temperature=0.0),
                dict(skin=-0.1), dict(every=0), dict(tau=0.0), dict(friction=-1.0), dict(seed=-1)):
        with pytest.raises(MDError):
            MDSettings(**bad).validate()
    with pytest.raises(MDError, match="species"):
        st = _state(dp, alloy, 300.0)
        st.type_map = ["Cu", "Au"]
        MolecularDynamics(dp, st, MDSettings())
