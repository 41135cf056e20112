"""Molecular dynamics of a DeePMD-kit model on a device: NVE, Langevin (BAOAB) and CSVR, Verlet skin.

    from dpsycl.md import MDSettings, initial_state, run, sample, schedule
    settings = MDSettings(dt=1.0, ensemble="csvr", temperature=300.0)
    init, step = schedule(dp, settings)                     # or nve / langevin / csvr(dp, settings)
    state = init(initial_state(positions, cell, atype, dp.get_type_map(), 300.0, seed=0))
    state = run(step, state, 1000, every=settings.every, on_frame=writer.write, check=watch(settings))

Units: Å, fs, eV, amu, K (bar for pressures).  The state is explicit: :class:`MDState` holds NumPy
arrays (what H5MD stores and ``--restart`` reads), :class:`DeviceState` the device arrays, the
neighbour list and its skin reference during a run; ``to_device``/``to_host`` convert.  Per step
the host reads only a handful of numbers (per-chunk maxima of the skin check; for CSVR per-chunk
kinetic energies); whole arrays come back only at sampled steps, as a :class:`Frame`.

Determinism and restarts.  Every source of randomness is keyed by (seed, step), initial velocities
by the seed alone, and the neighbour list is rebuilt from wrapped positions at every sampled step.
The state saved at a sampled step (wrapped positions, velocities, images, step) therefore
determines everything that follows: a run restarted from a saved frame reproduces the
uninterrupted run bit for bit on the same device.

Ensembles, each an (init, step) pair over the state: ``nve`` (velocity Verlet), ``langevin``
(BAOAB), ``csvr`` (Bussi's stochastic velocity rescaling), and ``schedule``, which composes them
as the settings ask (the ensemble's thermostat for steps < nvt_steps, NVE after).

Modules: ``settings`` (units, MDSettings and its thermostat schedule), ``state`` (host state,
frames, initial velocities, observables), ``device`` (device state, conversions, per-atom
operators), ``forces`` (the Verlet-skin list policy), ``integrators`` (the (init, step) pairs),
``sampling`` (frames and the run loop), ``watchdog`` (the bounds that stop an unstable run:
non-finite energy, runaway temperature or NVE drift, an atom moving too far in one step, and sel
truncation under ``strict``; checked where the loop reads numbers back anyway).
"""
from __future__ import annotations

from .device import CHUNK, DeviceState, DeviceSystem, to_device, to_host
from .forces import update_forces
from .integrators import bussi_kinetic, csvr, langevin, nve, schedule
from .sampling import run, sample
from .settings import (CONV, DEFAULT_FRICTION, DEFAULT_MAX_DRIFT, DEFAULT_SKIN, DEFAULT_TAU, ENSEMBLES,
                       EV_PER_A3_IN_BAR, KB, OBSERVABLE_UNITS, MDError, MDSettings)
from .state import Frame, MDState, initial_state, masses_for, maxwell_boltzmann, ndof_for, observables
from .watchdog import (EXIT_STOPPED, RunStopped, SelTruncationError, UnstableDynamicsError, check_frame,
                       truncation_summary, watch)

__all__ = ["MDSettings", "MDState", "DeviceState", "DeviceSystem", "Frame", "MDError",
           "nve", "langevin", "csvr", "schedule", "run", "sample", "to_device", "to_host", "update_forces",
           "initial_state", "masses_for", "maxwell_boltzmann", "ndof_for", "observables", "bussi_kinetic",
           "CONV", "KB", "EV_PER_A3_IN_BAR", "ENSEMBLES", "CHUNK", "DEFAULT_FRICTION", "DEFAULT_SKIN", "DEFAULT_TAU",
           "OBSERVABLE_UNITS", "DEFAULT_MAX_DRIFT", "watch", "check_frame", "truncation_summary", "RunStopped",
           "UnstableDynamicsError", "SelTruncationError", "EXIT_STOPPED"]
