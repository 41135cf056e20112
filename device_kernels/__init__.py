"""Kernel bodies of dpsycl: plain Python, one function per pipeline stage, no backend in sight.

Each body takes the work-item index ``i`` as its first argument and only scalars and 1-D arrays
after it.  Backends (``dpsycl.backends``) compile these very functions with numba-dpex
(``device_func``) or numba's CUDA target (``jit(device=True)``) and add only the thread index,
private scratch arrays, atomics and launches.  Bodies that call each other name their callees as
module globals; ``bind_bodies`` rebinds those names to the compiled callees of the same backend.
"""
from __future__ import annotations

import types

from . import integrators, neighbors, pipeline

#: every body, callees before callers: the order ``bind_bodies`` compiles them in
BODIES = (
    neighbors.pack_shift,
    neighbors.unpack_shift,
    neighbors.wrap_atom,
    neighbors.cell_of,
    neighbors.pair_before,
    neighbors.neighbor_row,
    neighbors.reverse_row,
    pipeline.activation,
    pipeline.env_row,
    pipeline.embedding_forward,
    pipeline.fitting_forward_backward,
    pipeline.atom_energy_and_pair_gradients,
    pipeline.gather_forces_and_virials,
    integrators.hash32,
    integrators.gaussian,
    integrators.kick,
    integrators.drift,
    integrators.langevin_o_step,
    integrators.scale_velocities,
)


def bind_bodies(jit_device) -> dict[str, object]:
    """Compile every body with ``jit_device``; calls between bodies go to the compiled callees.

    The compiled functions wrap the *same code objects* as the bodies above (``f.py_func.__code__
    is body.__code__``): one source, several targets.
    """
    compiled: dict[str, object] = {}
    for body in BODIES:
        scope = dict(body.__globals__)
        scope.update(compiled)
        rebound = types.FunctionType(body.__code__, scope, body.__name__, body.__defaults__, body.__closure__)
        rebound.__wrapped_body__ = body
        compiled[body.__name__] = jit_device(rebound)
    return compiled
