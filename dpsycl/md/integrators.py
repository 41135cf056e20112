"""The MD ensembles as (init, step) pairs over an explicit state, after jax-md's ``simulate``.

    init, step = csvr(potential, settings)      # or nve, langevin; schedule follows settings
    state = init(host_state)                    # MDState → DeviceState, forces computed
    state = step(state)                         # one step n → n+1

``potential`` is a :class:`dpsycl.DeepPot` on a device backend.  A step updates the state's device
arrays in place and returns the state.  Each pair integrates with its own thermostat whatever
``settings.ensemble`` and ``settings.nvt_steps`` say; :func:`schedule` composes the pairs the way
the settings ask.  The neighbour list is rebuilt when the Verlet skin asks (dpsycl/md/forces.py); a
state records the positions of the last build, which is what makes restarts bit-identical.

* ``nve``: velocity Verlet  B(dt/2) A(dt) [forces] B(dt/2).
* ``langevin``: BAOAB  B(dt/2) A(dt/2) O(dt) A(dt/2) [forces] B(dt/2), the O step exact:
  v ← c₁v + √((1−c₁²)kT/m) ξ, c₁ = exp(−γ dt).  Default friction γ = 0.01 fs⁻¹ (velocity
  relaxation time 100 fs): strong enough to thermalise a few hundred atoms in a few ps, weak
  enough to leave vibrational dynamics (periods ~100–300 fs in Cu/Ag) mostly intact.
* ``csvr``: stochastic velocity rescaling (Bussi, Donadio & Parrinello, J. Chem. Phys. 126,
  014101 (2007)): after each velocity-Verlet step the kinetic energy K is replaced by a draw K'
  from the exact CSVR propagator over dt (appendix of the paper), with c = exp(−dt/τ),
  K̄ = ½ N_f kT, N_f = 3N − 3, R_1..R_Nf independent standard normals,

      K' = K + (1 − c) (K̄ (R_1² + Σ_{i≥2} R_i²) / N_f − K) + 2 R_1 √(c (1 − c) K K̄ / N_f),

  and the velocities are scaled by √(K'/K).  Total momentum is conserved.
* ``schedule``: the step n → n+1 by the pair of ``settings.thermostat_at(n)``; when a Langevin phase
  ends the total momentum the noise has given the system is removed once, so NVE does not drift.

Every source of randomness is keyed by (seed, step): the O step hashes (seed, step, atom,
component) on the device, CSVR draws from a NumPy generator seeded with (seed, step).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .device import (DeviceState, drift, kick, kinetic_energy, ornstein_uhlenbeck, remove_total_momentum,
                     require_device_potential, scale_velocities, to_device)
from .forces import update_forces, warn_user
from .settings import KB, MDError, MDSettings
from .state import MDState, ndof_for

Init = Callable[[MDState], DeviceState]
Step = Callable[[DeviceState], DeviceState]
Warn = Callable[[str], None]
CSVR_STREAM = 0x43535652            # "CSVR": keeps the thermostat's draws apart from other streams of a seed


def bussi_kinetic(kinetic: float, target: float, ndof: int, c: float, rng: np.random.Generator) -> float:
    """New kinetic energy of the exact CSVR propagator (Bussi et al. 2007, appendix)."""
    r1 = rng.standard_normal()
    rest = rng.chisquare(ndof - 1) if ndof > 1 else 0.0
    return (kinetic + (1.0 - c) * (target * (r1 * r1 + rest) / ndof - kinetic)
            + 2.0 * r1 * math.sqrt(c * (1.0 - c) * kinetic * target / ndof))


def nve(potential, settings: MDSettings, warn: Warn | None = None) -> tuple[Init, Step]:
    """Velocity Verlet."""
    settings = _checked(potential, settings)
    warn = warn or warn_user
    return _initializer(potential, settings, warn, thermal_com_at=lambda step: False), \
        _velocity_verlet(potential, settings, warn)


def langevin(potential, settings: MDSettings, warn: Warn | None = None) -> tuple[Init, Step]:
    """BAOAB Langevin dynamics at settings.temperature with friction settings.friction."""
    settings = _checked(potential, settings, thermostat="Langevin")
    warn = warn or warn_user
    half = 0.5 * settings.dt
    c1 = math.exp(-settings.friction * settings.dt)
    kt = KB * settings.temperature

    def step(state: DeviceState) -> DeviceState:
        n = state.step
        kick(state, half)
        drift(state, half)
        ornstein_uhlenbeck(state, c1, kt, settings.seed, n)
        drift(state, half)
        _advance(potential, state, settings, warn)
        kick(state, half)
        state.thermal_com = True
        return state

    # a state at step 0 is a fresh start (zero momentum); one past it was reached by Langevin steps
    return _initializer(potential, settings, warn, thermal_com_at=lambda step: step > 0), step


def csvr(potential, settings: MDSettings, warn: Warn | None = None) -> tuple[Init, Step]:
    """Velocity Verlet with Bussi's stochastic velocity rescaling to settings.temperature over settings.tau."""
    settings = _checked(potential, settings, thermostat="CSVR")
    warn = warn or warn_user
    verlet = _velocity_verlet(potential, settings, warn)
    c = math.exp(-settings.dt / settings.tau)

    def step(state: DeviceState) -> DeviceState:
        n = state.step
        verlet(state)
        kinetic = kinetic_energy(state)
        ndof = ndof_for(state.natoms, False)
        if kinetic > 0:
            rng = np.random.default_rng([settings.seed, int(n), CSVR_STREAM])
            drawn = bussi_kinetic(kinetic, 0.5 * ndof * KB * settings.temperature, ndof, c, rng)
            scale_velocities(state, math.sqrt(max(drawn, 0.0) / kinetic))
        return state

    return _initializer(potential, settings, warn, thermal_com_at=lambda step: False), step


def schedule(potential, settings: MDSettings, warn: Warn | None = None) -> tuple[Init, Step]:
    """The pairs of the thermostats ``settings.thermostat_at`` names, step by step: the run
    ``dpsycl run`` makes (nvt_steps included)."""
    settings = _checked(potential, settings)
    pairs = {None: nve, "langevin": langevin, "csvr": csvr}
    steps = {name: pairs[name](potential, settings, warn)[1] for name in {settings.thermostat_at(0), None}}

    def langevin_before(step: int) -> bool:
        return step > 0 and settings.thermostat_at(step - 1) == "langevin"

    def step(state: DeviceState) -> DeviceState:
        thermostat = settings.thermostat_at(state.step)
        if state.thermal_com and thermostat != "langevin":
            remove_total_momentum(state)        # the Langevin phase has ended
            state.thermal_com = False
        return steps[thermostat](state)

    return _initializer(potential, settings, warn or warn_user, thermal_com_at=langevin_before), step


# -- shared parts -----------------------------------------------------------------------------------
def _checked(potential, settings: MDSettings, thermostat: str | None = None) -> MDSettings:
    require_device_potential(potential)
    settings = settings.validate()
    if thermostat and settings.temperature <= 0:
        raise MDError(f"the {thermostat} thermostat needs a positive target temperature, "
                      f"got {settings.temperature} K")
    return settings


def _initializer(potential, settings: MDSettings, warn: Warn, thermal_com_at: Callable[[int], bool]) -> Init:
    """init(host_state): the state on the device with its neighbour list and forces.
    ``thermal_com_at(step)``: whether the dynamics that led to ``step`` thermalised the centre of mass."""
    def init(host: MDState) -> DeviceState:
        state = to_device(host, potential)
        state.thermal_com = thermal_com_at(state.step)
        update_forces(potential, state, settings, rebuild=True, warn=warn)
        return state
    return init


def _velocity_verlet(potential, settings: MDSettings, warn: Warn) -> Step:
    half = 0.5 * settings.dt

    def step(state: DeviceState) -> DeviceState:
        kick(state, half)
        drift(state, settings.dt)
        _advance(potential, state, settings, warn)
        kick(state, half)
        return state
    return step


def _advance(potential, state: DeviceState, settings: MDSettings, warn: Warn) -> None:
    """Step counter and clock to the next step, and the forces there (the list rebuilt when the skin asks;
    virials at sampled steps only: no ensemble here reads one between samples)."""
    state.step += 1
    state.time = state.step * settings.dt
    update_forces(potential, state, settings, rebuild=False, virials=state.step % settings.every == 0, warn=warn)
