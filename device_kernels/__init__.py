"""Kernel bodies of dpsycl: plain Python, one function per pipeline stage, no backend in sight.

Each body takes the work-item index as its first argument (work-group bodies: item, group, lane,
lane count) and only scalars and 1-D arrays after it.  Backends (``dpsycl.backends``) compile these
very functions with numba-dpex (``device_func``) or numba's CUDA target (``jit(device=True)``) and
add only the thread index, private and group-local scratch, launches and the two primitives of
primitives.py (barrier, atomic add).  Bodies that call each other name their callees as module
globals; ``bind_bodies`` rebinds those names to the compiled callees of the same backend.

Each module lists its bodies in ``BODIES``, callees before callers.  The modules below serve every
model; a descriptor's own modules (se_e2_a.py, se_e2_a_group.py, ...) are named by its unit in
``dpsycl.descriptors`` and compiled after these.
"""
from __future__ import annotations

import types

from . import (activations, environment, fitting_rows, forces, group, integrators, layers, neighbors, neighbors_group,
               primitives)

#: modules every model uses, callees before callers
COMMON_MODULES = (primitives, activations, layers, fitting_rows, neighbors, environment, group, neighbors_group, forces,
                  integrators)
PRIMITIVES = primitives.PRIMITIVES


def bodies(modules=COMMON_MODULES) -> list:
    """The bodies of ``modules`` in compile order; a name may be defined only once."""
    out, seen = [], {}
    for module in modules:
        for body in module.BODIES:
            if body.__name__ in seen and seen[body.__name__] is not body:
                raise ValueError(f"kernel body '{body.__name__}' is defined in {seen[body.__name__].__module__} "
                                 f"and {body.__module__}")
            if body.__name__ not in seen:
                seen[body.__name__] = body
                out.append(body)
    return out


def bind_bodies(jit_device, primitives: dict | None = None, modules=COMMON_MODULES) -> dict[str, object]:
    """Compile every body of ``modules`` with ``jit_device``; calls between bodies go to the compiled
    callees, and ``primitives`` (name -> compiled function) replace the sequential primitives.

    The compiled functions wrap the *same code objects* as the bodies (``f.py_func.__code__ is
    body.__code__``): one source, several targets.
    """
    compiled: dict[str, object] = {}
    primitives = primitives or {}
    for body in bodies(modules):
        if body.__name__ in primitives:
            compiled[body.__name__] = primitives[body.__name__]
            continue
        scope = dict(body.__globals__)
        scope.update(compiled)
        rebound = types.FunctionType(body.__code__, scope, body.__name__, body.__defaults__, body.__closure__)
        rebound.__wrapped_body__ = body
        compiled[body.__name__] = jit_device(rebound)
    return compiled
