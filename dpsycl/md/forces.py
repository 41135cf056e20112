"""Forces at the current positions, with the Verlet-skin neighbour-list policy of dpsycl's MD.

The list is built with the cutoff rcut + skin and reused until some atom has moved more than
skin/2 since the build (max_i |x_i − x_i^ref| > skin/2): until then no pair can have come from
beyond rcut + skin to within rcut, so the forces are those of a list rebuilt every step.

Policy, in order:

* A build wraps the positions into the cell and builds the list from the wrapped positions; until
  the next build they drift (frames store them so, up to skin/2 outside the cell).  Builds happen
  when the skin asks, not at sampled steps: a frame records the positions of the last build
  (``list_origin``; H5MD's list_reference series), and a run continued from it builds its first
  list from them, so that it has the uninterrupted run's list and goes on bit for bit.
* If, within rcut + skin, some atom has more neighbours of a species than sel allows, the skin would
  change which neighbours are kept (DeePMD-kit keeps the nearest sel within rcut), so the skin is
  switched off for the rest of the run (``exact_neighbors_from``), with one warning, and the list
  is rebuilt at every step with the cutoff rcut — exact DeePMD-kit semantics.
* Truncation within rcut itself is what DeePMD-kit does too.  It is counted at every build
  (``DeviceState.truncation``; ``watchdog.truncation_summary`` words the count) and warned of once
  per run, or, under ``settings.strict``, stops the run (``SelTruncationError``).
* The skin check's maximum displacement, read every step anyway, also feeds the watchdog's
  one-step displacement bound (dpsycl/md/watchdog.py): no extra host read.
* Atomic virials are computed at sampled steps only (no ensemble here reads them in between): the
  gather then skips the neighbours' image shifts and positions.  ``update_virials`` fills them in
  for a frame taken at any other step, with the same forces to the bit.

The device list build itself never truncates silently elsewhere: a full cell-list cell or reverse
(gather) table is counted past its capacity on the device and rebuilt with room for the largest
count (DeviceEvaluator.build_neighbors), so crowded atoms cost time, never correctness.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..neighbors import DROPPED, SelTruncationWarning, sel_truncation_message
from .device import DeviceState, max_displacement2, position_bounds
from .settings import MDSettings
from .watchdog import check_displacement, sel_truncation_error


def warn_user(message: str) -> None:
    """The default reporter of the neighbour-list warnings: a SelTruncationWarning."""
    warnings.warn(message, SelTruncationWarning, stacklevel=2)


def skin_in_use(state: DeviceState, settings: MDSettings) -> bool:
    off_from = state.exact_neighbors_from
    return settings.skin > 0 and (off_from is None or off_from > state.step)


def update_forces(potential, state: DeviceState, settings: MDSettings, *, rebuild: bool, virials: bool = True,
                  warn: Callable[[str], None] = warn_user) -> None:
    """Forces and atomic energies (and virials, with ``virials``) of ``state`` at its positions, into
    ``state.results``; the list is rebuilt when ``rebuild`` is set, without a skin, or when the skin asks
    for it.  Without ``virials`` the atomic virials keep the step they were computed at
    (``state.virial_step``): sampling.sample computes them when it needs them."""
    rebuild = rebuild or not skin_in_use(state, settings) or state.neighbors is None
    if not rebuild:
        moved2 = max_displacement2(state)
        check_displacement(state, settings, moved2)     # the watchdog, on the number just read
        rebuild = moved2 > (0.5 * settings.skin) ** 2
    if rebuild:
        _rebuild_neighbors(potential, state, settings, warn)
    _evaluate(state, virials)


def update_virials(state: DeviceState) -> None:
    """The atomic virials at the state's positions, from the neighbour list in use, when the last force
    update left them out: the forces it writes again are the ones already there, to the bit."""
    if state.virial_step != state.step:
        _evaluate(state, virials=True)


def _evaluate(state: DeviceState, virials: bool) -> None:
    """One evaluation at the state's positions with its list, into state.results (virial_step kept up to date)."""
    system = state.system
    state.results = system.evaluator.compute(state.positions, system.atype_device, system.cell, state.neighbors,
                                             out=state.results, params=system.params, virials=virials)
    if virials:
        state.virial_step = state.step


def _rebuild_neighbors(potential, state: DeviceState, settings: MDSettings, warn: Callable[[str], None]) -> None:
    evaluator, system = potential.evaluator, state.system
    with_skin = skin_in_use(state, settings)
    reference, built_at = state.restored_reference, state.restored_built_at
    state.restored_reference = state.restored_built_at = None
    if reference is not None and with_skin:
        # a run continued between two builds: the list the uninterrupted run has, from the positions its
        # last build took (wrapped then), and those as the skin's reference
        source = system.backend.asarray(np.asarray(reference).ravel(), system.dtype)
    else:
        source, built_at = _wrapped_positions(evaluator, state), state.step
    bounds = None if system.cell is not None else position_bounds(state, source)
    nb = evaluator.build_neighbors(source, system.atype_device, system.cell,
                                   skin=settings.skin if with_skin else 0.0, bounds=bounds, warn=False)
    if nb.n_truncated and with_skin:
        state.exact_neighbors_from = state.step
        with_skin = False
        warn(sel_truncation_message(
            nb.n_truncated, potential.get_sel(), within="rcut + skin",
            consequence=f"dropping the farthest at rcut + skin would differ from DeePMD-kit, so the Verlet skin is "
                        f"off from step {state.step} on (neighbour list rebuilt every step with the cutoff rcut)"))
        if source is not state.positions:
            source, built_at = _wrapped_positions(evaluator, state), state.step
            bounds = None if system.cell is not None else position_bounds(state)
        nb = evaluator.build_neighbors(source, system.atype_device, system.cell, skin=0.0, bounds=bounds,
                                       warn=False)
    if nb.n_truncated:
        state.truncation.add(nb.n_truncated, state.step)
        if settings.strict:
            raise sel_truncation_error(state, nb.n_truncated, potential.get_sel())
        if state.truncation.builds == 1:
            warn(f"step {state.step}: " + sel_truncation_message(
                nb.n_truncated, potential.get_sel(),
                consequence=f"{DROPPED} (counted at every neighbour-list build; strict mode, --strict, "
                            "makes it an error)"))
    state.neighbors = nb
    state.last_build_step = built_at
    state.displacement_since_build = 0.0
    state.skin_reference = system.backend.copy(source) if with_skin else None
    state.n_rebuilds += 1


def _wrapped_positions(evaluator, state: DeviceState):
    """The state's positions, wrapped into the cell (in place, image counts updated) under PBC."""
    if state.system.cell is not None:
        evaluator.wrap(state.positions, state.system.cell, state.image)
    return state.positions
