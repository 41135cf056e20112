"""The watchdog of an MD run: it stops a run whose dynamics have become unphysical, with one message.

    check = watch(settings)
    state = run(step, state, 1000, every=settings.every, check=check, on_frame=writer.write)

A stop raises :class:`UnstableDynamicsError` (or :class:`SelTruncationError` under
``settings.strict``), both :class:`RunStopped`: its message names the step, the quantity, the atoms
involved and the likely cause; ``dpsycl run`` prints it and exits with status ``EXIT_STOPPED`` (3).
A frame is checked before ``on_frame`` sees it, so a trajectory file ends at the last good frame,
which ``--restart`` continues from.

What is checked, and where.  The watchdog adds no host synchronisation of its own to a step: it
looks at numbers the loop reads back anyway, and reads arrays only once it has decided to stop.

* Every step with a Verlet skin, on the skin check's max_i |x_i − x_i^ref| (dpsycl/md/forces.py):
  its growth since the previous step is a lower bound on the largest move of one atom in this
  step; above ``settings.displacement_bound()`` (default: the skin) the run stops.  A NaN
  position is invisible to that maximum; it is caught at the next sampled step.
* Every sampled step (``every``), on the Frame the host holds: non-finite positions, velocities,
  forces or energy; temperature above ``settings.temperature_bound()``; in NVE phases, the total
  energy drifting from the phase's first frame by more than max_drift × max(Δt, DRIFT_WINDOW)
  per atom; an atom whose velocity would carry it farther than the displacement bound in one step
  (the only displacement check of a run without a skin).
* Every neighbour-list build: sel truncation within rcut is counted (``DeviceState.truncation``,
  reported by :func:`truncation_summary`) and, under ``settings.strict``, stops the run.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import input_checks
from ..neighbors import sel_truncation_message
from .device import DeviceState
from .settings import CONV, DRIFT_WINDOW, MDSettings
from .state import Frame

EXIT_STOPPED = 3                    # dpsycl run's exit status for a stopped run (2 is bad input)
NAMED_ATOMS = 3                     # atoms a message names


class RunStopped(RuntimeError):
    """The run was stopped by the watchdog; the state is not to be continued (the last sampled
    frame before ``step`` is).  ``quantity`` says which check fired, ``atoms`` the atoms named."""
    exit_status = EXIT_STOPPED

    def __init__(self, step: int, quantity: str, message: str, atoms=()):
        super().__init__(f"step {step}: {message}")
        self.step, self.quantity, self.atoms = int(step), quantity, [int(a) for a in atoms]


class UnstableDynamicsError(RunStopped):
    """Non-finite energy, runaway temperature or NVE drift, or an atom moving too far in one step."""


class SelTruncationError(RunStopped):
    """Sel truncation within rcut under ``strict``: the model's neighbour capacity is exceeded."""


def watch(settings: MDSettings) -> Callable[[DeviceState, Frame], None]:
    """The sampled-step check of :func:`dpsycl.md.run` for these settings."""
    settings = settings.validate()

    def check(state: DeviceState, frame: Frame) -> None:
        check_frame(state, frame, settings)
    return check


def check_frame(state: DeviceState, frame: Frame, settings: MDSettings, start: bool = False) -> None:
    """Raise UnstableDynamicsError if ``frame`` (of ``state``) breaks a bound.  ``start``: the first
    frame of this run (the start structure, or the frame a restart continues): no dynamics led to it,
    so only finiteness is checked (its velocities are the user's choice), and an NVE phase's drift
    is measured from it."""
    obs, n = frame.observables, len(frame.species)
    names = state.system.type_map
    bad = ~(np.isfinite(frame.positions).all(axis=1) & np.isfinite(frame.velocities).all(axis=1)
            & np.isfinite(frame.forces).all(axis=1))
    if bad.any() or not math.isfinite(obs["potential_energy"]):
        atoms = np.flatnonzero(bad) if bad.any() else np.argsort(-np.abs(np.nan_to_num(frame.forces)).max(axis=1))
        quantity = "non-finite positions/velocities/forces" if bad.any() else "non-finite potential energy"
        raise UnstableDynamicsError(frame.step, "energy", (
            f"{quantity} (E_pot {obs['potential_energy']:.6g} eV) at atoms {_atoms(atoms, frame.species, names)}; likely cause: "
            f"{_cause(frame.positions, frame.species, frame.cell, names, settings)}"), atoms[:NAMED_ATOMS])
    thermostat_before = settings.thermostat_at(frame.step - 1) if frame.step > 0 else None
    # the fastest atoms are the ones a runaway shows first
    kinetic = 0.5 * state.system.masses * np.sum(frame.velocities ** 2, axis=1) / CONV
    hottest = np.argsort(-kinetic, kind="stable")
    bound = settings.temperature_bound()
    temperature = obs["temperature"]
    if not start and not temperature <= bound:
        raise UnstableDynamicsError(frame.step, "temperature", (
            f"temperature {temperature:.4g} K above the bound {bound:.4g} K (--max-temperature); hottest atoms "
            f"{_atoms(hottest, frame.species, names, kinetic, 'eV')}; likely cause: "
            f"{_cause(frame.positions, frame.species, frame.cell, names, settings)}"), hottest[:NAMED_ATOMS])
    energy = obs["total_energy"]
    if settings.thermostat_at(frame.step) is None and (state.nve_reference is None or thermostat_before is not None):
        state.nve_reference = (frame.step, frame.time, energy)   # an NVE phase starts here
    elif thermostat_before is None and state.nve_reference is not None:
        ref_step, ref_time, ref_energy = state.nve_reference
        change = 1e3 * abs(energy - ref_energy) / n                              # meV/atom
        span = max((frame.time - ref_time) * 1e-3, DRIFT_WINDOW)                 # ps
        if not change <= settings.max_drift * span:
            raise UnstableDynamicsError(frame.step, "energy drift", (
                f"NVE energy drift: total energy changed by {change:.4g} meV/atom since step {ref_step} "
                f"({change / span:.4g} meV/atom/ps), above the bound {settings.max_drift:g} meV/atom/ps (--max-drift); "
                f"hottest atoms {_atoms(hottest, frame.species, names, kinetic, 'eV')}; likely cause: "
                f"{_cause(frame.positions, frame.species, frame.cell, names, settings)}"), hottest[:NAMED_ATOMS])
    if start:
        return
    reach = np.sqrt(np.sum(frame.velocities ** 2, axis=1)) * settings.dt
    bound = settings.displacement_bound()
    if not reach.max() <= bound:
        fastest = np.argsort(-reach, kind="stable")
        raise UnstableDynamicsError(frame.step, "displacement", (
            f"atom displacement: at its velocity an atom moves {reach.max():.3g} Å in one step, above the bound "
            f"{bound:g} Å (--max-displacement, default the skin); atoms {_atoms(fastest, frame.species, names, reach, 'Å')}; "
            f"likely cause: {_cause(frame.positions, frame.species, frame.cell, names, settings)}"), fastest[:NAMED_ATOMS])


def check_displacement(state: DeviceState, settings: MDSettings, moved2: float) -> None:
    """The per-step check on the skin check's max |x − x_ref|² (read anyway): raise if the largest
    move of this step, at least the growth of that maximum since the last step, is above the bound."""
    moved = math.sqrt(moved2) if moved2 >= 0 else math.nan
    grown = moved - state.displacement_since_build
    state.displacement_since_build = moved
    bound = settings.displacement_bound()
    if grown <= bound:
        return
    # stopping: now the arrays may come back
    system = state.system
    to_numpy = system.backend.to_host
    pos = to_numpy(state.positions).astype(np.float64).reshape(-1, 3)
    ref = to_numpy(state.skin_reference).astype(np.float64).reshape(-1, 3)
    since = np.sqrt(np.sum((pos - ref) ** 2, axis=1))
    far = np.argsort(-np.nan_to_num(since, nan=np.inf), kind="stable")
    built = state.last_build_step
    raise UnstableDynamicsError(state.step, "displacement", (
        f"atom displacement: an atom moved at least {grown:.3g} Å in one step, above the bound {bound:g} Å "
        f"(--max-displacement, default the skin); atoms {_atoms(far, system.atype, system.type_map, since, f'Å since step {built}')}; "
        f"likely cause: {_cause(ref, system.atype, system.cell, system.type_map, settings, at=f'at step {built}')}"),
        far[:NAMED_ATOMS])


def sel_truncation_error(state: DeviceState, n_truncated: int, sel) -> SelTruncationError:
    """The strict mode's stop: the truncation message as an error."""
    return SelTruncationError(state.step, "sel truncation", (
        f"{sel_truncation_message(n_truncated, sel, consequence='strict mode (--strict) stops the run')}; "
        "likely cause: atoms crowded together (compressed or overlapping structure) or a model with too small sel"))


def truncation_summary(state: DeviceState, sel) -> str | None:
    """One line counting the neighbour-list builds that truncated at sel, or None if none did."""
    t = state.truncation
    if not t.builds:
        return None
    span = f"step {t.first_step}" if t.first_step == t.last_step else f"steps {t.first_step}–{t.last_step}"
    return (f"sel truncation within rcut at {t.builds} of {state.n_rebuilds} neighbour-list builds ({span}; "
            f"up to {t.most_atoms} atom(s) at once, sel={list(map(int, sel))}): those atoms lost their farthest "
            "neighbours, as DeePMD-kit drops them")


def _atoms(order, species, names, values=None, unit: str = "") -> str:
    """'17 (Cu, 2.3 Å), 45 (Ag, 2.1 Å)': the first NAMED_ATOMS atoms of ``order``."""
    parts = []
    for a in list(order)[:NAMED_ATOMS]:
        extra = "" if values is None else f", {values[a]:.3g} {unit}"
        parts.append(f"{int(a)} ({names[int(species[a])]}{extra})")
    return ", ".join(parts) if parts else "none named"


def _cause(positions, species, cell, names, settings: MDSettings, at: str = "") -> str:
    """A bad structure if two atoms are far too close, else the time step."""
    close = input_checks.crowded_pair(positions, species, names, cell)
    if close is not None:
        i, j, d = close
        return (f"bad structure: atoms {i} ({names[species[i]]}) and {j} ({names[species[j]]}) "
                f"are {d:.3g} Å apart{' ' + at if at else ''} (check the start structure)")
    return f"time step {settings.dt:g} fs too large for these velocities and forces (lower --dt or --temperature)"
