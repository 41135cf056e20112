"""One very large system on one device: ``DeepPot.eval`` of N atoms (10 M on a 141 GB H200), its
time, its peak device memory, and how many atoms the library predicts would fit.

    bytes/atom  = (device bytes in use after the evaluation − before the DeepPot was made) / N
                  (a CPU device: the process's peak resident memory above the same baseline)
    µs/step/atom = 1e6 · t(DeepPot.eval, host arrays in and out) / N

The largest N is the library's own prediction (issue 13's device-memory check): the
DeviceMemoryError that ``DeviceEvaluator.check_memory`` raises for far too many atoms names "at
most M atoms of this model fit on this device", from the evaluator's exact buffer sizes and the
device's free memory; :func:`predicted_largest` reads M from that message, as
benchmarks/gpu_memory_check.py does.  The estimate per atom (``memory_estimate``) is recorded
beside the measured figure, so the two can be compared.

The structure is :func:`structures.lattice_alloy` (NumPy only: 10 M atoms in seconds).  The first
evaluation allocates the workspace (and compiles, if nothing did before in the process); the
second, when the time box leaves room for it, is the timed one.
"""
from __future__ import annotations

import gc
import re
import time

import numpy as np

from .md_scaling import MemoryProbe
from .structures import lattice_alloy, structure_record
from .timing import log

LARGE_ATOMS = 10_000_000
SEED = 1
FAR_TOO_MANY = 4_000_000_000       # atoms: no device holds them, so check_memory names the largest N


def predicted_largest(evaluator, cell_per_atom_volume: float) -> tuple[int | None, str | None]:
    """(the most atoms of this model the device holds by the library's estimate, the message that says
    so), for a cubic box at the structure's density; (None, None) where the device reports no size."""
    from dpsycl.backends import DeviceMemoryError
    side = (FAR_TOO_MANY * cell_per_atom_volume) ** (1 / 3)
    try:
        evaluator.check_memory(FAR_TOO_MANY, np.eye(3) * side)
    except DeviceMemoryError as exc:
        found = re.search(r"at most ([\d,]+) atoms", str(exc))
        return (int(found.group(1).replace(",", "")) if found else None), str(exc)
    return None, None


def large_eval(model, device: str, natoms: int = LARGE_ATOMS, seconds: float = 120.0, *,
               precision: str | None = None, t0: float | None = None) -> dict:
    """{"status": "ok", "eval_s", "us_per_step_atom", "peak_bytes", "bytes_per_atom",
    "largest_predicted", ...} of ``natoms`` atoms of ``model`` (a dpsycl.Model) on ``device``; a
    failure (DeviceMemoryError included) is recorded, not raised."""
    record = {"device": device, "natoms": natoms, "time_box_s": seconds}
    cuda = device.startswith("cuda")
    try:
        import dpsycl
        th = time.perf_counter()
        x, cell, atype = lattice_alloy(natoms, seed=SEED, type_map=model.type_map)
        record["structure_s"] = time.perf_counter() - th
        record["structure"] = structure_record(natoms, SEED, cell, atype, model.type_map)
        log(f"large system: {natoms:,} atoms built in {record['structure_s']:.1f} s", t0)
        probe = MemoryProbe(cuda)
        record["memory_source"] = probe.source
        dp = dpsycl.DeepPot(model, device=device, precision=precision)
        ev = dp.evaluator
        record.update(precision=str(ev.dtype), describe=dp.describe_device())
        memory = ev.device_memory()
        record.update(device_free=memory.free, device_total=memory.total)
        estimate = ev.memory_estimate(natoms, cell)
        record.update(estimate_bytes=estimate.total, estimate_bytes_per_atom=estimate.per_atom)
        volume_per_atom = abs(np.linalg.det(cell)) / natoms
        record["largest_predicted"], record["largest_message"] = predicted_largest(ev, volume_per_atom)
        frames, cells = x.reshape(1, -1), cell.reshape(1, 9)
        te = time.perf_counter()
        e, f, v = dp.eval(frames, cells, atype)
        record["first_eval_s"] = time.perf_counter() - te
        probe.read()
        times = []
        # a second evaluation only when it fits in the time box (it takes about the first's time, less
        # the allocation and any compilation)
        if record["first_eval_s"] * 2 < seconds:
            te = time.perf_counter()
            e, f, v = dp.eval(frames, cells, atype)
            times.append(time.perf_counter() - te)
            probe.read()
        timed = times[0] if times else record["first_eval_s"]
        peak = probe.peak()
        if cuda and probe.known:
            # everything in use on the device now, the CUDA context and the kernels' local-memory
            # reservation included (the baseline above leaves them out): the figure nvidia-smi shows
            after = ev.device_memory()
            record["device_in_use_bytes"] = after.total - after.free
        record.update(status="ok", eval_s=timed, timed_eval_is_first=not times,
                      us_per_step_atom=1e6 * timed / natoms, energy_per_atom=float(e[0, 0]) / natoms,
                      forces_finite=bool(np.isfinite(f).all()), max_force=float(np.abs(f).max()),
                      workspace_bytes=ev.workspace_bytes(), workspace_bytes_per_atom=ev.workspace_bytes() / natoms,
                      peak_bytes=peak, bytes_per_atom=None if peak is None else peak / natoms)
        if record["largest_predicted"]:
            record["fraction_of_largest"] = natoms / record["largest_predicted"]
        largest = record["largest_predicted"]
        log(f"large system: {natoms:,} atoms, DeepPot.eval {timed:.2f} s ({record['us_per_step_atom']:.3f} "
            f"µs/step/atom; first call {record['first_eval_s']:.2f} s); peak "
            f"{'n/a' if peak is None else f'{peak / 1e9:.2f} GB = {peak / natoms / 1e3:.2f} KB/atom'} "
            f"(estimate {estimate.per_atom / 1e3:.2f} KB/atom); largest N predicted "
            f"{'n/a' if largest is None else f'{largest:,}'}", t0)
        del e, f, v, dp, ev
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON and printed
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        record.update(status="error", reason=reason)
        log(f"large system {natoms:,} atoms on {device}: error ({reason[:300]})", t0)
    gc.collect()
    return record
