"""MD throughput: ns/day on one device through dpsycl.md's public API (``schedule``, ``run``).

500 atoms of the benchmark's Cu0.5Ag0.5 alloy with ``MDSettings()`` defaults, timed in whole
sampling periods (the neighbour list is rebuilt at each sampled step, as in ``dpsycl run``) after
one warm-up period that compiles the integrator kernels.
"""
from __future__ import annotations

import time

from .structures import alloy
from .timing import log

MD_ATOMS = 500
MAX_STEPS = 100_000


def md_ns_per_day(model, device: str, precision: str, seconds: float, t0: float | None = None) -> dict:
    """{"status": "ok", "ns_per_day", ...}, or status "error" with the reason: an MD failure is
    recorded and printed, and the run's other figures are kept."""
    record = {"device": device, "precision": precision, "natoms": MD_ATOMS}
    try:
        import dpsycl
        from dpsycl.md import MDSettings, initial_state, run, schedule
        x, cell, atype = alloy(MD_ATOMS, seed=1, type_map=model.type_map)
        dp = dpsycl.DeepPot(model, device=device, precision=precision)
        synchronize = dp.evaluator.backend.synchronize
        settings = MDSettings()
        init, step = schedule(dp, settings)
        state = init(initial_state(x, cell, atype, dp.get_type_map(), settings.temperature, settings.seed))
        tw = time.perf_counter()
        state = run(step, state, state.step + settings.every, every=settings.every)
        synchronize()
        warmup = time.perf_counter() - tw
        start, rebuilds_before = state.step, state.n_rebuilds
        tw = time.perf_counter()
        while True:
            state = run(step, state, state.step + settings.every, every=settings.every)
            synchronize()
            elapsed = time.perf_counter() - tw
            if elapsed >= seconds or state.step - start >= MAX_STEPS:
                break
        steps = state.step - start
        ns_day = steps * settings.dt * 1e-6 / elapsed * 86400
        record.update(status="ok", dt_fs=settings.dt, ensemble=settings.ensemble, skin=settings.skin,
                      every=settings.every, steps=steps, seconds=elapsed, s_per_step=elapsed / steps,
                      ns_per_day=ns_day, warmup_s=warmup, rebuilds=state.n_rebuilds - rebuilds_before)
        log(f"MD {device} {precision}: {steps} steps of {MD_ATOMS} atoms in {elapsed:.2f} s = "
            f"{elapsed / steps * 1e3:.2f} ms/step = {ns_day:.3f} ns/day ({settings.describe()}, "
            f"{record['rebuilds']} list builds)", t0)
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON and printed, the other figures stand
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        record.update(status="error", reason=reason)
        log(f"MD {device}: error ({reason[:160]})", t0)
    return record
