"""MD throughput against system size: ns/day and peak memory of dpsycl.md's NVE runs at given N.

    ns/day = steps · dt (fs) · 1e-6 (ns/fs) / elapsed (s) · 86,400 (s/day)

One point = one model, one device, one N: a random 50/50 Cu–Ag fcc alloy of exactly N atoms
(:func:`structures.lattice_alloy`), ``MDSettings(dt=1 fs, ensemble='nve')`` at 300 K otherwise at
its defaults (Verlet skin 1 Å; the list rebuilt when the skin asks, at every sampled step before
session 34: the JSON's ``rebuilds``), through the public API (``schedule``, ``initial_state``,
``run``).  Timed: whole sampling periods of ``every`` steps, each between ``backend.synchronize()``
calls, until the time box is used (at least one period).  Excluded: ``init`` (the first
force evaluation, which allocates the workspace) and a warm-up of ``WARMUP_STEPS`` steps; the
kernels are compiled before, by a point of ``COMPILE_ATOMS`` atoms whose warm-up is one whole
sampling period (``warmup_steps=None``).

Memory: on a CUDA device, device bytes in use (numba's pending frees flushed) above what was in
use before the point's DeepPot was made, the maximum of the readings after ``init``, the warm-up
and every timed period; beside it the same maximum of the arrays numba holds live (``peak_arrays_bytes``:
the rest of the bytes in use is the driver's, e.g. the local memory it reserves for the kernels); elsewhere the process's peak resident memory above the same baseline (the
device is the host).  Each point makes its own DeepPot and drops it after, so a point's memory is
its own; compiled kernels are kept by the backend, so only the first point compiles.
"""
from __future__ import annotations

import gc
import time

from .machine import HostPeak, cuda_allocated_bytes, cuda_used_bytes
from .structures import lattice_alloy, structure_record, supercell_for
from .timing import log

#: the sizes of issue 14 (target 7): GPU; the CPU point is 2,048
GPU_SIZES = (2048, 32000, 1048576)
CPU_SIZES = (2048,)
WARMUP_STEPS = 2          # after the compile point: kernels compiled, the workspace allocated by init
COMPILE_ATOMS = 256       # the compile point: 4×4×4 cells, 15.4 Å across (> 2 × the 6 Å cutoff)
TEMPERATURE = 300.0       # K, Maxwell–Boltzmann start
SEED = 1


def ns_per_day(steps: int, dt_fs: float, seconds: float) -> float:
    """Simulated nanoseconds per day of wall time."""
    return steps * dt_fs * 1e-6 / seconds * 86400.0


class MemoryProbe:
    """Peak memory of one point above a baseline: CUDA device bytes in use, or the host's peak RSS;
    ``peak()`` None where the device does not say (numba's CUDA simulator)."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        # per-period readings: CUDA only, but every point's record lists them (empty on a CPU)
        self.readings: list[int] = []
        self.array_readings: list[int] = []
        gc.collect()
        if cuda:
            from numba import config
            self.known = not config.ENABLE_CUDASIM
            self.baseline = cuda_used_bytes()
            self.arrays_baseline = cuda_allocated_bytes()
            self.source = ("CUDA device memory in use (cuMemGetInfo, numba's pending frees flushed) above the baseline"
                           if self.known else "unknown (numba's CUDA simulator)")
        else:
            self.known = True
            self.host = HostPeak()
            self.source = "host peak resident set size (VmHWM) above the baseline"

    def read(self) -> None:
        if self.cuda and self.known:
            self.readings.append(cuda_used_bytes() - self.baseline)
            self.array_readings.append(cuda_allocated_bytes() - self.arrays_baseline)

    def peak_arrays(self) -> int | None:
        """The largest reading of numba's live arrays above the baseline (CUDA only)."""
        return max(self.array_readings, default=0) if self.cuda and self.known else None

    def peak(self) -> int | None:
        if not self.known:
            return None
        return max(self.readings, default=0) if self.cuda else self.host.peak()


def kernel_local_memory(device: str) -> dict | None:
    """On a CUDA device: the largest local (private) memory per thread of the kernels compiled so far,
    and the bytes the driver reserves for it at full occupancy (that many bytes for every thread the
    GPU can hold: multiprocessors × maximum threads per multiprocessor), beside which kernel."""
    if not device.startswith("cuda"):
        return None
    from numba import config
    if config.ENABLE_CUDASIM:
        return None
    from numba import cuda

    from dpsycl.backends.cuda import kernel_resources
    rows = kernel_resources()
    if not rows:
        return None
    worst = max(rows, key=lambda r: r["local_bytes_per_thread"])
    dev = cuda.get_current_device()
    per_sm = None
    for name in ("MAX_THREADS_PER_MULTIPROCESSOR", "MAX_THREADS_PER_MULTI_PROCESSOR"):  # cuda-bindings, numba
        try:
            per_sm = int(getattr(dev, name))
            break
        except AttributeError:
            continue
    if per_sm is None:
        return {"body": worst["body"], "local_bytes_per_thread": worst["local_bytes_per_thread"],
                "resident_threads": None, "reserved_bytes": None}
    threads = int(dev.MULTIPROCESSOR_COUNT) * per_sm
    return {"body": worst["body"], "layout": worst["layout"], "local_bytes_per_thread": worst["local_bytes_per_thread"],
            "resident_threads": threads, "reserved_bytes": worst["local_bytes_per_thread"] * threads}


def md_point(model, device: str, natoms: int, seconds: float, *, precision: str | None = None,
             warmup_steps: int | None = None, t0: float | None = None) -> dict:
    """One time-boxed NVE run of ``natoms`` atoms of ``model`` (a dpsycl.Model): {"status": "ok",
    "ns_per_day", "ms_per_step", "peak_bytes", "bytes_per_atom", ...}; an MD or memory error is
    recorded (status "error") and printed rather than raised, so that the other points of a run stand.

    ``warmup_steps`` None: one whole sampling period (the first point of a process)."""
    record = {"device": device, "natoms": natoms, "supercell": list(supercell_for(natoms)), "time_box_s": seconds}
    try:
        import dpsycl
        from dpsycl.md import MDSettings, initial_state, run, sample, schedule
        settings = MDSettings(dt=1.0, ensemble="nve", temperature=TEMPERATURE, seed=SEED)
        th = time.perf_counter()
        x, cell, atype = lattice_alloy(natoms, seed=SEED, type_map=model.type_map)
        record["structure_s"] = time.perf_counter() - th
        record["structure"] = structure_record(natoms, SEED, cell, atype, model.type_map)
        probe = MemoryProbe(device.startswith("cuda"))
        record["memory_source"] = probe.source
        dp = dpsycl.DeepPot(model, device=device, precision=precision)
        record.update(precision=str(dp.evaluator.dtype), describe=dp.describe_device())
        synchronize = dp.evaluator.backend.synchronize
        init, step = schedule(dp, settings)
        ti = time.perf_counter()
        state = init(initial_state(x, cell, atype, dp.get_type_map(), settings.temperature, settings.seed))
        synchronize()
        record["init_s"] = time.perf_counter() - ti
        probe.read()
        warm = settings.every if warmup_steps is None else int(warmup_steps)
        tw = time.perf_counter()
        state = run(step, state, state.step + warm, every=settings.every)
        synchronize()
        record.update(warmup_steps=warm, warmup_s=time.perf_counter() - tw)
        probe.read()
        first = sample(state).observables["total_energy"]
        start, rebuilds_before, time_before = state.step, state.n_rebuilds, state.time
        tw, reading_s = time.perf_counter(), 0.0
        while True:
            state = run(step, state, state.step + settings.every, every=settings.every)
            synchronize()
            tr = time.perf_counter()
            elapsed = tr - tw - reading_s
            probe.read()                   # a memory reading per period, its time left out of the timing
            reading_s += time.perf_counter() - tr
            if elapsed >= seconds:
                break
        steps = state.step - start
        last = sample(state).observables["total_energy"]
        peak = probe.peak()
        record.update(status="ok", dt_fs=settings.dt, ensemble=settings.ensemble, skin=settings.skin,
                      every=settings.every, temperature=settings.temperature, steps=steps, seconds=elapsed,
                      simulated_fs=state.time - time_before,
                      ms_per_step=1e3 * elapsed / steps, ns_per_day=ns_per_day(steps, settings.dt, elapsed),
                      us_per_step_atom=1e6 * elapsed / steps / natoms,
                      rebuilds=state.n_rebuilds - rebuilds_before, peak_bytes=peak,
                      peak_arrays_bytes=probe.peak_arrays(), memory_readings=len(probe.readings),
                      readings_bytes=probe.readings if probe.cuda else None,
                      array_readings_bytes=probe.array_readings if probe.cuda else None,
                      kernel_local_memory=kernel_local_memory(device),
                      bytes_per_atom=None if peak is None else peak / natoms,
                      workspace_bytes=dp.evaluator.workspace_bytes(),
                      total_energy_drift_per_atom=(last - first) / natoms)
        log(f"MD {device} {record['precision']} N={natoms:,}: {steps} steps in {elapsed:.2f} s = "
            f"{record['ms_per_step']:.2f} ms/step = {record['ns_per_day']:.3f} ns/day; peak "
            f"{'n/a' if peak is None else f'{peak / 1e6:,.0f} MB = {peak / natoms / 1e3:.2f} KB/atom'}; |ΔE_tot|/N "
            f"{abs(last - first) / natoms:.1e} eV over the timed steps", t0)
        del state, step, init, dp
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON and printed, the other points stand
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        record.update(status="error", reason=reason)
        log(f"MD {device} N={natoms:,}: error ({reason[:200]})", t0)
    gc.collect()
    return record
