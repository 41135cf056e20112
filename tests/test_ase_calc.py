"""The ASE calculator: energies, forces and stress against finite differences; ASE MD/optimisers."""
from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError

from conftest import strain_derivative
from dpsycl.structures import random_alloy


@pytest.fixture(scope="module")
def calc(dp):
    from dpsycl.ase import DPSyclCalculator
    return DPSyclCalculator(dp)


def _atoms(seed=0, strain=0.0):
    """32-atom random Cu–Ag fcc box, rattled and sheared so no force or stress is zero by symmetry."""
    atoms = random_alloy("Cu0.5Ag0.5", 32, seed=seed)
    atoms.rattle(0.08, seed=seed)
    cell = atoms.cell.array.copy()
    cell[1, 0] += 0.3
    cell[2, 1] -= 0.2
    atoms.set_cell(cell * (1 + strain), scale_atoms=True)
    return atoms


def test_matches_deeppot(dp, calc):
    """Same numbers as DeepPot.eval; energies sum to the energy; free_energy = energy."""
    atoms = _atoms()
    atoms.calc = calc
    e = atoms.get_potential_energy()
    atype = [dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()]
    e_ref, f_ref, v_ref = dp.eval(atoms.positions.reshape(1, -1), atoms.cell.array.reshape(1, 9), atype)
    assert e == pytest.approx(float(e_ref[0, 0]), abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), f_ref[0], atol=1e-10)
    assert atoms.get_potential_energies().sum() == pytest.approx(e, abs=1e-9)
    assert calc.get_property("free_energy", atoms) == e
    assert atoms.get_stress().shape == (6,)


def test_forces_are_minus_energy_gradient(calc):
    """Forces vs central finite differences (h = 1e-4 Å) of the energy on 24 components.

    Float64 model: truncation error ~h²·E''' ~ 1e-8 eV/Å, rounding ~1e-13/h ~ 1e-9 eV/Å; bound 1e-6.
    """
    atoms = _atoms(seed=1)
    atoms.calc = calc
    forces = atoms.get_forces()
    rng = np.random.default_rng(0)
    h = 1e-4
    worst = 0.0
    for i in rng.choice(len(atoms), 8, replace=False):
        for k in range(3):
            x = atoms.positions.copy()
            x[i, k] += h
            atoms.positions = x
            ep = atoms.get_potential_energy()
            x[i, k] -= 2 * h
            atoms.positions = x
            em = atoms.get_potential_energy()
            x[i, k] += h
            atoms.positions = x
            worst = max(worst, abs(-(ep - em) / (2 * h) - forces[i, k]))
    assert np.abs(forces).max() > 0.1
    assert worst < 1e-6, f"max |F − (−dE/dx)| = {worst:.3g} eV/Å"


def test_stress_is_strain_derivative(calc):
    """σ_ab = (1/V) ∂E/∂ε_ab at fixed fractional coordinates (ASE's sign), central differences
    with ε = 1e-5 on all 6 Voigt components; bound 1e-6 eV/Å³ (~0.2 bar)."""
    atoms = _atoms(seed=2, strain=0.01)
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)
    cell0 = atoms.cell.array.copy()
    vol = atoms.get_volume()

    def energy(strain):
        atoms.set_cell(cell0 @ strain, scale_atoms=True)
        return atoms.get_potential_energy()

    numeric = strain_derivative(energy) / vol
    atoms.set_cell(cell0, scale_atoms=True)
    assert np.abs(stress).max() > 1e-3
    np.testing.assert_allclose(stress, numeric, rtol=0, atol=1e-6)


def test_ase_velocity_verlet_conserves_energy(calc):
    """ASE's VelocityVerlet driven by the calculator: 40 steps of 1 fs at 600 K, |ΔE| < 0.05 meV/atom
    (the device MD's own fluctuation at this dt is ~0.01 meV/atom)."""
    from ase.md.verlet import VelocityVerlet

    from dpsycl.md import maxwell_boltzmann
    atoms = _atoms(seed=4)
    atoms.calc = calc
    atoms.set_velocities(maxwell_boltzmann(atoms.get_masses(), 600.0, seed=1) / units.fs)
    energies = []
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    dyn.run(40)
    spread = (max(energies) - min(energies)) / len(atoms) * 1e3
    assert atoms.get_kinetic_energy() > 0
    assert spread < 0.05, f"energy spread {spread:.3g} meV/atom"


def test_ase_optimiser_relaxes(calc):
    """BFGS lowers the energy and the largest force of a rattled box."""
    from ase.optimize import BFGS
    atoms = _atoms(seed=5)
    atoms.calc = calc
    e0 = atoms.get_potential_energy()
    f0 = np.abs(atoms.get_forces()).max()
    opt = BFGS(atoms, logfile=None)
    opt.run(fmax=0.05, steps=25)
    assert atoms.get_potential_energy() < e0 - 0.05
    assert np.abs(atoms.get_forces()).max() < 0.5 * f0


def test_open_boundaries_and_bad_species(calc):
    from ase import Atoms
    cluster = _atoms(seed=6)[:8]
    cluster.pbc = False
    cluster.calc = calc
    f = cluster.get_forces()
    assert np.isfinite(f).all() and np.abs(f.sum(axis=0)).max() < 1e-8   # Newton's third law
    with pytest.raises(PropertyNotImplementedError):
        cluster.get_stress()
    bad = Atoms("CuAu", positions=[[0, 0, 0], [2.5, 0, 0]])
    bad.calc = calc
    with pytest.raises(ValueError, match="Au"):
        bad.get_potential_energy()
    mixed = _atoms(seed=7)
    mixed.pbc = [True, True, False]
    mixed.calc = calc
    with pytest.raises(ValueError, match="mixed"):
        mixed.get_potential_energy()


def _run_in_threads(work, n):
    """Run work(k) for k < n in n threads at once; return the results in order, re-raising errors."""
    import threading
    results, errors = [None] * n, []

    def run(k):
        try:
            results[k] = work(k)
        except Exception as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("device", ["numpy", "opencl:cpu"])
def test_one_calculator_shared_by_threads_gives_the_sequential_results(dp, device):
    """ASE keeps one structure and one result set per calculator: four threads asking one calculator
    for the energy, forces and stress of their own structures get what each asks alone."""
    import dpsycl
    from dpsycl.ase import DPSyclCalculator
    calc = DPSyclCalculator(dp if device == "opencl:cpu" else dpsycl.DeepPot(dp.model, device="numpy"))
    structures = [_atoms(seed=k, strain=0.01 * k) for k in range(4)]

    def ask(atoms):
        return [calc.get_property(name, atoms) for name in ("energy", "forces", "stress")]

    alone = [ask(a) for a in structures]
    together = _run_in_threads(lambda k: [ask(structures[k]) for _ in range(3)], 4)
    for k in range(4):
        for got in together[k]:
            for a, b in zip(got, alone[k]):
                np.testing.assert_array_equal(a, b)


def test_two_models_side_by_side_in_threads(dp):
    """Two DeepPots of different models (separate evaluators, kernels specialised to each) used from
    two threads at once on the same device give what each gives alone."""
    import dpsycl
    from conftest import model_path
    other = dpsycl.DeepPot(dpsycl.load_model(model_path("cuag_pair")), device="opencl:cpu")
    pots = [dp, other]
    frames = []
    for k in range(2):
        atoms = _atoms(seed=10 + k)
        atype = [dp.get_type_map().index(s) for s in atoms.get_chemical_symbols()]
        frames.append((atoms.positions.reshape(1, -1), atoms.cell.array.reshape(1, 9), atype))
    alone = [[pot.eval(*frame) for frame in frames] for pot in pots]
    together = _run_in_threads(lambda k: [[pots[k].eval(*frame) for frame in frames] for _ in range(3)], 2)
    assert not np.allclose(alone[0][0][0], alone[1][0][0])          # the two models differ
    for k in range(2):
        for repeat in together[k]:
            for got, want in zip(repeat, alone[k]):
                for a, b in zip(got, want):
                    np.testing.assert_array_equal(a, b)


def test_per_atom_energies_are_computed_only_when_asked_for(dp, monkeypatch):
    """Energy, forces and stress evaluate without atomic values (the device then copies back only the forces
    and the totals); get_potential_energies asks for them."""
    from dpsycl.ase import DPSyclCalculator
    calls = []
    evaluate = dp.eval

    def spy(*args, **kwargs):
        calls.append(kwargs.get("atomic", False))
        return evaluate(*args, **kwargs)
    monkeypatch.setattr(dp, "eval", spy)
    atoms = _atoms()
    atoms.calc = DPSyclCalculator(dp)
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_stress()
    assert calls == [False]
    energies = atoms.get_potential_energies()
    assert calls == [False, True]
    assert energies.sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
