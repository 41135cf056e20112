"""Kernel bodies of dpsycl: plain Python, one function per pipeline stage, no backend in sight.

Each body takes the work-item index ``i`` as its first argument and only scalars and 1-D arrays
after it.  Backends (``dpsycl.backends``) compile these very functions with numba-dpex
(``device_func``) or numba's CUDA target (``jit(device=True)``) and add only the thread index,
private scratch arrays, atomics and launches.  Bodies that call each other name their callees as
module globals; ``bind_bodies`` rebinds those names to the compiled callees of the same backend.
"""
from __future__ import annotations

import types

from . import cooperative, integrators, neighbors, pipeline

#: every body, callees before callers: the order ``bind_bodies`` compiles them in
BODIES = (
    neighbors.pack_shift,
    neighbors.unpack_shift,
    neighbors.fill,
    neighbors.wrap_atom,
    neighbors.cell_of,
    neighbors.pair_before,
    neighbors.stencil_cell,
    neighbors.image_offset,
    neighbors.stencil_image,
    neighbors.neighbor_row,
    neighbors.reverse_row,
    pipeline.activation,
    pipeline.env_row,
    pipeline.normalised_env_row,
    pipeline.chunk_slots,
    pipeline.dense_unit,
    pipeline.embedding_forward,
    pipeline.fitting_forward_backward,
    pipeline.slot_vector,
    pipeline.live_slot,
    pipeline.block_slots,
    pipeline.padding_embeddings,
    pipeline.descriptor_chunk,
    pipeline.fitting_atom,
    pipeline.pair_gradient_chunk,
    pipeline.gather_forces_and_virials,
    cooperative.barrier,
    cooperative.group_reduce,
    cooperative.group_embedding,
    cooperative.group_dense,
    cooperative.group_dense_backward,
    cooperative.group_atom_energy,
    integrators.hash32,
    integrators.gaussian,
    integrators.kick,
    integrators.drift,
    integrators.langevin_o_step,
    integrators.scale_velocities,
    integrators.chunk_bounds,
    integrators.max_displacement2,
    integrators.twice_kinetic,
    integrators.position_bounds,
)


#: bodies that each backend replaces by its own primitive (synchronisation differs per target)
PRIMITIVES = ("barrier",)


def bind_bodies(jit_device, primitives: dict | None = None) -> dict[str, object]:
    """Compile every body with ``jit_device``; calls between bodies go to the compiled callees.

    The compiled functions wrap the *same code objects* as the bodies above (``f.py_func.__code__
    is body.__code__``): one source, several targets.
    """
    compiled: dict[str, object] = {}
    primitives = primitives or {}
    for body in BODIES:
        if body.__name__ in primitives:  # a backend's own version of a synchronisation primitive
            compiled[body.__name__] = primitives[body.__name__]
            continue
        scope = dict(body.__globals__)
        scope.update(compiled)
        rebound = types.FunctionType(body.__code__, scope, body.__name__, body.__defaults__, body.__closure__)
        rebound.__wrapped_body__ = body
        compiled[body.__name__] = jit_device(rebound)
    return compiled
