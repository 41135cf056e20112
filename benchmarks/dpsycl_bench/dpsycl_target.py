"""dpsycl on one device and precision, as the benchmark drives it.

A :class:`DpsyclTarget` holds a ``dpsycl.DeepPot`` and its ``DeviceEvaluator``; building it
compiles the kernels on a small cell (the compile time is the first minus the second evaluation
there).  :meth:`DpsyclTarget.phases` times the two phases of an evaluation of device arrays, the
neighbour-list build and the evaluation proper, each between synchronisations.
"""
from __future__ import annotations

import time

import numpy as np

from .machine import cuda_used_bytes, device_peak
from .structures import alloy


class DpsyclTarget:
    """``dpsycl.DeepPot(model, device, precision)`` with its kernels compiled; ``mem_base``: the CUDA
    device memory in use before the device's first evaluator (None: this is the first)."""

    def __init__(self, model, device: str, precision: str, mem_base: int | None = None, warmup_atoms: int = 32):
        import dpsycl
        self.precision = precision
        self.dp = dpsycl.DeepPot(model, device=device, precision=precision)
        if not self.dp.on_device:
            raise ValueError(f"device {device!r} runs the NumPy reference, not kernels: time it with --numpy-size")
        self.evaluator = self.dp.evaluator
        self.backend = self.evaluator.backend
        self.model = self.dp.model
        self.device = self.dp.device
        self.describe = self.dp.describe_device()
        self.cuda = self.backend.kind == "cuda"
        # held before any evaluation: the model's weights, statistics and padding embeddings
        self.model_bytes = self.evaluator.workspace_bytes()
        self.mem_base = None
        if self.cuda:
            # device memory in use before this device's first dpsycl evaluator: now, less what the
            # new evaluator already holds (its model constants); shared by the evaluators of the device
            self.backend.synchronize()
            self.mem_base = cuda_used_bytes() - self.model_bytes if mem_base is None else mem_base
        x, cell, atype = alloy(warmup_atoms, seed=54321, type_map=self.model.type_map)
        t_first = self._evaluate_once(x, cell, atype)     # compiles every kernel
        t_second = self._evaluate_once(x, cell, atype)    # warm
        self.compile_s = max(0.0, t_first - t_second)
        self.first_call_s = t_first
        self.memory_method = ("device memory: cuMemGetInfo used − used before the device's first dpsycl evaluator "
                              "was built, less the other dpsycl evaluators' workspace_bytes() (includes the "
                              "kernels' local-memory reservation)" if self.cuda else
                              "host RSS: VmHWM (reset after the check) − RSS before the size's first allocation "
                              "+ the evaluator's workspace_bytes() already held then (replaced during the size)")

    def upload(self, x, atype):
        """Device arrays of positions (in the evaluator's precision) and species."""
        return self.backend.asarray(x, self.evaluator.dtype), self.backend.asarray(atype, np.int64)

    def _evaluate_once(self, x, cell, atype) -> float:
        pos, atype_dev = self.upload(x, atype)
        t_build, t_compute, _, _ = self.phases(pos, atype_dev, cell)
        return t_build + t_compute

    def phases(self, pos, atype_dev, cell, out=None):
        """(build seconds, compute seconds, neighbours, outputs) of one evaluation of device arrays;
        each phase is timed between ``backend.synchronize()`` calls."""
        backend, ev = self.backend, self.evaluator
        backend.synchronize()
        t0 = time.perf_counter()
        neighbors = ev.build_neighbors(pos, atype_dev, cell, warn=False)   # truncation is in the stats
        backend.synchronize()
        t1 = time.perf_counter()
        out = ev.compute(pos, atype_dev, cell, neighbors, out=out)
        backend.synchronize()
        return t1 - t0, time.perf_counter() - t1, neighbors, out

    def host_results(self, out) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy, forces (N, 3) and virial (9,) of device outputs, in float64 on the host."""
        to_host = self.backend.to_host
        energy = float(to_host(out["atom_energy"]).astype(np.float64).sum())
        force = to_host(out["force"]).astype(np.float64).reshape(-1, 3)
        virial = to_host(out["atom_virial"]).astype(np.float64).reshape(-1, 9).sum(axis=0)
        return energy, force, virial

    def peak(self) -> dict:
        """The device's documented peaks (GPU) or {"kind": "cpu"} (the host's peaks apply)."""
        return device_peak(self.device, self.describe)
