"""One benchmark point: the energy check, how many repeats, the timers, and the memory figures.

Every time is wall-clock ``time.perf_counter`` around one call, after a warm-up call at the same
size.  The repeat count adapts to a time budget (:class:`Budget`, :func:`choose_repeats`).  The
dpsycl point records three timings per repeat -- the neighbour-list build and the evaluation, each
between synchronisations, and ``DeepPot.eval`` end to end (the headline, the same call the peer
is timed on) -- and two memory figures: the peak (host RSS or CUDA device memory in use) and
``DeviceEvaluator.workspace_bytes()``, the device memory the evaluator holds (``buffer_bytes_per_atom``:
the same less the model's constants, the measured counterpart of the byte model's resident bytes).
"""
from __future__ import annotations

import time

import numpy as np

from .machine import HostPeak, cuda_used_bytes, loadavg, trim_heap
from .models import bytes_model, kernel_traits, neighbour_stats

#: TorchScript's profiling executor re-specialises on the next calls at a new shape: measured 1.0 s
#: for the second call at N=2,048 on an H100 against 15 ms later
PEER_EXTRA_WARMUP = 2


def log(msg: str, t0: float | None = None) -> None:
    stamp = f"[{time.perf_counter() - t0:7.1f} s] " if t0 is not None else ""
    print(stamp + msg, flush=True)


def time_calls(call, repeats: int) -> list[float]:
    """Wall seconds of each of ``repeats`` calls of ``call()``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def median(xs) -> float | None:
    return float(np.median(np.asarray(xs))) if len(xs) else None


def low_median_index(xs) -> int:
    """Index of the (low) median element, so that one repeat's parts are reported together."""
    order = sorted(range(len(xs)), key=xs.__getitem__)
    return order[(len(xs) - 1) // 2]


class Budget:
    """The run's wall-time budget and each series' measured cost (seconds per atom of one evaluation)."""

    def __init__(self, seconds: float | None, t0: float):
        self.seconds = seconds
        self.t0 = t0
        self.rate: dict[str, float] = {}

    def left(self) -> float | None:
        return None if self.seconds is None else self.seconds - (time.perf_counter() - self.t0)

    def projected(self, remaining: list[tuple[str, int]], evaluations_per_point: float) -> float:
        """Seconds the remaining (series, N) points need at that many evaluations each (known series only)."""
        return sum(self.rate[s] * n * evaluations_per_point for s, n in remaining if s in self.rate)


def choose_repeats(fixed: int | None, min_repeats: int, max_repeats: int, target_seconds: float, t_warm: float,
                   budget: Budget, remaining: list[tuple[str, int]]) -> tuple[int, str]:
    """Timed repeats for a point whose warm-up took ``t_warm`` s, and the rule that chose them:
    ``fixed``, else about ``target_seconds`` of timed work within [min, max], fewer when the
    projection of the remaining points would overrun the budget."""
    if fixed:
        return int(fixed), "fixed"
    reps = int(max(min_repeats, min(max_repeats, target_seconds / max(t_warm, 1e-9))))
    left = budget.left()
    if left is not None:
        # each remaining point: a warm-up, half an evaluation's slack, and at least min_repeats
        need = budget.projected(remaining, 1.5 + min_repeats) + reps * t_warm
        if need > left:
            fit = int((left - budget.projected(remaining, 1.5 + 1)) / max(t_warm, 1e-9))
            fewer = max(1, min(reps, fit))
            if fewer < reps:
                return fewer, f"budget: {fewer} repeat(s) instead of {reps}"
    return reps, "adaptive"


def energy_check(natoms: int, energy: float, force, virial, reference, against: str | None, tolerance: float) -> dict:
    """|ΔE|/N against a reference (energy, forces, virial) and whether it is within ``tolerance``
    (``passed`` None when there is no reference)."""
    if reference is None:
        return {"against": None, "passed": None, "reason": f"not checked: {against or 'no reference'}"}
    de = abs(energy - reference[0]) / natoms
    return {"against": against, "energy": energy, "reference_energy": reference[0], "abs_dE_per_atom": de,
            "tolerance": tolerance, "max_abs_dF": float(np.abs(force - reference[1]).max()),
            "max_abs_dV_per_atom": float(np.abs(virial - reference[2]).max() / natoms), "passed": bool(de <= tolerance)}


def measure_peer(peer, x, cell, atype, repeats_for) -> tuple[dict, tuple]:
    """Time the peer at one size: (record fields, its (energy, forces, virial): the reference dpsycl
    is checked against).  ``repeats_for(t_first)`` gives (repeats, rule)."""
    natoms = len(atype)
    token = peer.memory_begin()
    t0 = time.perf_counter()
    reference = peer.eval(x, cell, atype)
    t_first = time.perf_counter() - t0
    for _ in range(PEER_EXTRA_WARMUP):
        peer.eval(x, cell, atype)
    reps, rule = repeats_for(t_first)
    times = time_calls(lambda: peer.eval(x, cell, atype), reps)
    t = median(times)      # the statistic of dpsycl's total too: the speed ratio compares like with like
    mem = peer.memory_peak(token)
    return {"status": "ok", "energy": reference[0], "first_eval_s": t_first, "times_total_s": times, "repeats": reps,
            "repeats_rule": rule, "loadavg": loadavg(), "t_total_s": t, "t_nb_s": None, "t_compute_s": None,
            "us_per_step_atom": t / natoms * 1e6, "peak_memory_bytes": mem,
            "memory_bytes_per_atom": mem / natoms}, reference


def measure_dpsycl(target, x, cell, atype, repeats_for, check, others_held=lambda: 0) -> tuple[dict, tuple]:
    """Check, then time dpsycl at one size: (record fields, its float64 (energy, forces, virial)).

    The first evaluation at this size is the warm-up and the energy check (``check(energy, forces,
    virial)`` → :func:`energy_check`'s dict); nothing is timed when it fails.  ``repeats_for(t_first)``
    gives (repeats, rule); ``others_held()``: device bytes the device's other dpsycl evaluators hold."""
    backend, ev = target.backend, target.evaluator
    natoms = len(atype)
    trim_heap()
    # the workspace held from the previous size is replaced while this size runs: count it back in
    held_before = ev.workspace_bytes()
    host_peak = None if target.cuda else HostPeak()
    device_used = []
    pos, atype_dev = target.upload(x, atype)
    t_nb1, t_cp1, neighbors, out = target.phases(pos, atype_dev, cell)
    t_first = t_nb1 + t_cp1
    if target.cuda:
        device_used.append(cuda_used_bytes())
    results = target.host_results(out)
    chk = check(*results)
    if chk["passed"] is False:
        return {"status": "energy mismatch", "energy": results[0], "first_eval_s": t_first, "check": chk}, results
    stats = neighbour_stats(target.model, neighbors, backend, natoms)
    reps, rule = repeats_for(t_first)
    if host_peak is not None:
        host_peak.reset()   # the peak counts the timed evaluations, not the host copies made for the check
    t_nb, t_cp = [], []
    for _ in range(reps):
        neighbors = None    # let the previous lists go before the build, as a caller's loop would
        t_a, t_b, neighbors, out = target.phases(pos, atype_dev, cell, out)
        t_nb.append(t_a)
        t_cp.append(t_b)
        if target.cuda:
            device_used.append(cuda_used_bytes())
    # The headline: DeepPot.eval end to end, host arrays in and out -- the call a user makes and the
    # one the peer is timed on (no synchronisation between the phases; transfers and the host-side
    # virial sum included)
    frames, cells = x[None], (None if cell is None else np.asarray(cell).reshape(1, 9))
    target.dp.eval(frames, cells, atype)
    totals = time_calls(lambda: target.dp.eval(frames, cells, atype), reps)
    if target.cuda:
        device_used.append(cuda_used_bytes())
        # device use above the baseline taken before the device's first evaluator, less what the
        # device's other dpsycl evaluators hold (the kernels' local-memory reservation stays in)
        peak = max(device_used) - target.mem_base - others_held()
    else:
        peak = host_peak.peak() + held_before
    workspace = ev.workspace_bytes()
    t_total = median(totals)
    mid = low_median_index([a + b for a, b in zip(t_nb, t_cp)])
    traits = kernel_traits(ev, natoms)
    record = {"status": "ok", "energy": results[0], "first_eval_s": t_first, "repeats": reps, "repeats_rule": rule,
              "times_nb_s": t_nb, "times_compute_s": t_cp, "times_total_s": totals,
              "t_nb_s": t_nb[mid], "t_compute_s": t_cp[mid], "t_total_s": t_total,
              "t_phases_sum_s": t_nb[mid] + t_cp[mid],
              "t_nb_median_s": median(t_nb), "t_compute_median_s": median(t_cp),
              "us_per_step_atom": t_total / natoms * 1e6, "peak_memory_bytes": int(peak),
              "memory_bytes_per_atom": peak / natoms,
              "workspace_bytes": workspace, "workspace_bytes_per_atom": workspace / natoms,
              "model_bytes": target.model_bytes, "buffer_bytes_per_atom": (workspace - target.model_bytes) / natoms,
              "neighbours": stats, "check": chk, "loadavg": loadavg(), "kernel_traits": traits,
              "bytes_moved": bytes_model(target.model, stats["n_real"], natoms, np.dtype(ev.dtype).itemsize,
                                         stats["rev_cap"], traits)}
    del neighbors, out, pos, atype_dev
    trim_heap()
    return record, results
