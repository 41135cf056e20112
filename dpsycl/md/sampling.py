"""Sampling a run: host frames of the device state, and the loop that integrates to a given step.

    frames = [sample(state)]
    state = run(step, state, 1000, every=settings.every, on_frame=frames.append)

Only sampled steps bring whole arrays back to the host.  The temperature of a frame counts
ndof = 3N − 3 degrees of freedom, or 3N when Langevin steps led to it (``DeviceState.thermal_com``).
"""
from __future__ import annotations

from collections.abc import Callable

from .device import DeviceState, list_origin
from .forces import update_virials
from .state import Frame, ndof_for, observables


def sample(state: DeviceState) -> Frame:
    """The current positions, velocities, forces and observables on the host (the virials computed first
    when the step left them out: a step that ``settings.every`` does not divide)."""
    update_virials(state)
    system = state.system
    to_numpy = system.backend.to_host
    n = system.natoms
    velocities = to_numpy(state.velocities).reshape(n, 3)
    built_at, reference = list_origin(state)
    obs = observables(to_numpy(state.results["atom_energy"]), to_numpy(state.results["atom_virial"]), velocities,
                      system.masses, system.cell, ndof_for(n, state.thermal_com))
    return Frame(step=state.step, time=state.time, positions=to_numpy(state.positions).reshape(n, 3),
                 velocities=velocities, forces=to_numpy(state.forces).reshape(n, 3),
                 image=to_numpy(state.image).reshape(n, 3), species=system.atype.copy(),
                 cell=None if system.cell is None else system.cell.copy(), observables=obs,
                 exact_neighbors_from=state.exact_neighbors_from, list_built_at=built_at,
                 list_reference=None if reference is None else reference.reshape(n, 3))


def run(step: Callable[[DeviceState], DeviceState], state: DeviceState, until_step: int, *, every: int,
        on_frame: Callable[[Frame], None] | None = None,
        on_step: Callable[[int], None] | None = None,
        check: Callable[[DeviceState, Frame], None] | None = None) -> DeviceState:
    """Apply ``step`` until the state reaches step ``until_step``; ``on_frame`` gets a Frame at every
    step divisible by ``every`` and ``on_step`` every step number.  ``check`` (the watchdog,
    ``dpsycl.md.watch(settings)``) sees each sampled frame first and raises to stop the run, so
    ``on_frame`` never receives a frame that failed it.

    Any frame restarts bit-identically: it records the positions of the neighbour list's last build.
    """
    while state.step < until_step:
        state = step(state)
        if (on_frame is not None or check is not None) and state.step % every == 0:
            frame = sample(state)
            if check is not None:
                check(state, frame)
            if on_frame is not None:
                on_frame(frame)
        if on_step is not None:
            on_step(state.step)
    return state
