"""``dpsycl bench``: dpsycl against DeePMD-kit on the same model, structures and hardware.

For every device present (``dpsycl.devices()`` less ``numpy``) and each precision (float64 and a
float32 twin that runs the same float64 weights in float32), on random Cu–Ag fcc alloys
(a = 3.85 Å, 0.05 Å Gaussian noise, exactly 50/50 species in random order):

* check first that dpsycl and DeePMD-kit give the same energy (|ΔE|/N ≤ 1e-8 eV/atom float64,
  1e-4 float32) -- a mismatch raises :class:`EnergyMismatch` before anything is timed;
* time one energy+forces+virial evaluation (median of repeats after a warm-up; kernel
  compilation timed separately on a 32-atom cell), the neighbour-list build
  (``DeviceEvaluator.build_neighbors``) and the evaluation (``DeviceEvaluator.compute``)
  separately, ``backend.synchronize()`` around every timer, for the split; the total (the
  headline time and the ratio) is ``DeepPot.eval`` end to end, host arrays in and out, the same
  call the peer is timed on;
* DeePMD-kit in the same process on the same structures: its TensorFlow backend
  (``deepmd.infer.DeepPot`` on the .pb) on a CPU machine, its PyTorch backend (.pth) on an
  NVIDIA GPU.  DeePMD-kit's peer is float64 only (the bundled graph is float64);
* report µs/step/atom, the speed ratio, peak memory, achieved FLOP/s against the device's peak
  (FLOPs counted from the layer sizes and the measured neighbour counts, each code's own work and
  the "useful" work common to both: see :func:`flop_model`), bytes moved per atom, the scaling
  exponent of time vs N, MD ns/day of the ``make run`` system, a performance-portability summary
  (Pennycook's P̸) and the project's targets, met or not.

Outputs: ``<output>/bench-<run id>.json`` (every figure), two PNG plots, and a markdown table in
``benchmarks/README.md`` between ``<!-- dpsycl-bench:<section> begin/end -->`` markers (a rerun
replaces its own section; ``--report-only`` rebuilds README and plots from the JSON files).

Python use::

    from dpsycl.bench import BenchConfig, run_benchmark
    result = run_benchmark(BenchConfig(sizes=[2048], devices=["opencl:cpu:0"], output="out/bench"))
"""
from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import gc
import glob
import json
import math
import os
import platform
import re
import socket
import sys
import time
from dataclasses import dataclass, field, fields

import numpy as np

SCHEMA = "dpsycl-bench/1"
CPU_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
GPU_SIZES = (2048, 8788, 32000, 131072, 1048576)
LATTICE = 3.85          # Å, fcc
NOISE = 0.05            # Å, Gaussian displacement
TOL = {"float64": 1e-8, "float32": 1e-4}   # |ΔE|/N, eV/atom
README_BEGIN = "<!-- dpsycl-bench:{} begin -->"
README_END = "<!-- dpsycl-bench:{} end -->"


class EnergyMismatch(ValueError):
    """dpsycl and its peer disagree on the energy of a benchmarked structure."""


def _data_file(name: str) -> str:
    from . import data
    return os.path.join(os.path.dirname(os.path.abspath(data.__file__)), name)


def _log(msg: str, t0: float | None = None) -> None:
    stamp = f"[{time.perf_counter() - t0:7.1f} s] " if t0 is not None else ""
    print(stamp + msg, flush=True)


# =============================================================================================
# Structures
def supercell_for(natoms: int) -> tuple[int, int, int]:
    """The most cubic (nx, ny, nz) with 4·nx·ny·nz = natoms (fcc, 4 atoms per cubic cell)."""
    if natoms <= 0 or natoms % 4:
        raise ValueError(f"N={natoms}: an fcc supercell holds a multiple of 4 atoms")
    k = natoms // 4
    best = None
    for nx in range(1, int(round(k ** (1 / 3))) + 2):
        if k % nx:
            continue
        rest = k // nx
        for ny in range(nx, int(math.isqrt(rest)) + 1):
            if rest % ny:
                continue
            nz = rest // ny
            score = (nz / nx, nz, nx)
            if best is None or score < best[0]:
                best = (score, (nx, ny, nz))
    if best is None:
        return (1, 1, k)
    return best[1]


def alloy(natoms: int, seed: int = 0, lattice: float = LATTICE, noise: float = NOISE):
    """Random 50/50 Cu–Ag fcc alloy: positions (N, 3) wrapped into the box, cell (3, 3), species."""
    nc = supercell_for(natoms)
    base = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    g = np.stack(np.meshgrid(*[np.arange(n) for n in nc], indexing="ij"), -1).reshape(-1, 1, 3)
    pos = ((g + base[None]).reshape(-1, 3)) * lattice
    rng = np.random.default_rng([seed, natoms])
    pos = pos + rng.normal(0.0, noise, pos.shape)
    cell = np.diag(np.asarray(nc, dtype=np.float64) * lattice)
    pos = np.mod(pos, np.diag(cell))   # orthorhombic: wrap into [0, L)
    atype = np.zeros(natoms, dtype=np.int64)
    atype[rng.permutation(natoms)[: natoms // 2]] = 1
    return pos, cell, atype


# =============================================================================================
# Machine, versions, peaks, memory
def _git_state() -> dict | None:
    """Commit and uncommitted kernel/evaluator files of the checkout dpsycl runs from (None: no git)."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "device_kernels", "dpsycl/evaluator.py",
                                "dpsycl/backends", "dpsycl/deep_pot.py"], capture_output=True, text=True, timeout=10)
        return {"commit": head.stdout.strip(), "dirty": [l[3:] for l in dirty.stdout.splitlines() if l.strip()]}
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict:
    from importlib import metadata
    out = {"python": platform.python_version()}
    for dist in ("dpsycl", "numpy", "numba", "numba-cuda", "numba-dpex", "dpctl", "dpnp", "deepmd-kit",
                 "tensorflow", "tensorflow-cpu", "torch", "h5py", "ase"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    from . import __version__
    out["dpsycl"] = out["dpsycl"] or __version__
    out["git"] = _git_state()
    return out


def _cpuinfo() -> dict:
    info = {"model": platform.processor() or platform.machine(), "vendor": "", "family": None, "model_id": None,
            "mhz": None, "flags": set()}
    try:
        with open("/proc/cpuinfo") as fh:
            text = fh.read()
    except OSError:
        return info
    mhz = []
    for line in text.splitlines():
        if ":" not in line:
            continue
        k, v = (s.strip() for s in line.split(":", 1))
        if k == "model name":
            info["model"] = v
        elif k == "vendor_id":
            info["vendor"] = v
        elif k == "cpu family":
            info["family"] = int(v)
        elif k == "model" and v.isdigit():
            info["model_id"] = int(v)
        elif k == "cpu MHz":
            mhz.append(float(v))
        elif k == "flags":
            info["flags"] = set(v.split())
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as fh:
            info["max_mhz"] = int(fh.read()) / 1000.0
    except (OSError, ValueError):
        info["max_mhz"] = None
    info["mhz"] = max(mhz) if mhz else None
    return info


def _ncores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def machine_info() -> dict:
    cpu = _cpuinfo()
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "cpu": cpu["model"],
            "cores": _ncores(), "memory_bytes": mem, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "loadavg_start": _loadavg()}


def _loadavg():
    """1-minute load average: above the core count, other processes shared the cores while timing."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def cpu_peak(measure: bool = True) -> dict:
    """FP64/FP32 peak of this host: cores × clock × FLOP/cycle, and a measured numpy GEMM rate."""
    cpu = _cpuinfo()
    cores = _ncores()
    flags = cpu["flags"]
    vendor = cpu["vendor"]
    if "avx512f" in flags and not (vendor == "AuthenticAMD" and (cpu["family"] or 0) < 26):
        per_cycle, why = 32, "AVX-512, 2 FMA units × 8 doubles × 2"
    elif "avx512f" in flags or ("avx2" in flags and "fma" in flags):
        per_cycle, why = 16, ("2 × 256-bit FMA pipes × 4 doubles × 2 (AMD Zen 3/4 run AVX-512 as 2×256 bit)"
                              if vendor == "AuthenticAMD" else "2 × 256-bit FMA units × 4 doubles × 2")
    elif "sse2" in flags:
        per_cycle, why = 4, "SSE2: 2-wide add + mul"
    else:
        per_cycle, why = 2, "scalar"
    ghz = (cpu.get("max_mhz") or cpu["mhz"] or 0.0) / 1000.0
    clk_src = "cpufreq cpuinfo_max_freq" if cpu.get("max_mhz") else "/proc/cpuinfo 'cpu MHz' (VM: nominal/TSC clock)"
    theo64 = cores * ghz * 1e9 * per_cycle if ghz else None
    out = {"kind": "cpu", "name": cpu["model"], "cores": cores, "clock_ghz": ghz or None,
           "fp64_per_cycle_per_core": per_cycle,
           "theoretical_fp64": theo64, "theoretical_fp32": 2 * theo64 if theo64 else None,
           "theoretical_source": f"{cores} cores × {ghz:.3f} GHz ({clk_src}) × {per_cycle} FP64 FLOP/cycle ({why})",
           "measured_fp64": None, "measured_fp32": None, "bandwidth": None}
    if measure:
        for dt, key in ((np.float64, "measured_fp64"), (np.float32, "measured_fp32")):
            n = 2048
            a = np.random.default_rng(0).random((n, n)).astype(dt)
            b = a.T.copy()
            a @ b
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - t0)
            out[key] = 2.0 * n ** 3 / best
        x = np.ones(1 << 25)
        y = np.empty_like(x)
        np.copyto(y, x)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            np.copyto(y, x)
            best = min(best, time.perf_counter() - t0)
        out["bandwidth"] = 2 * x.nbytes / best
        out["bandwidth_source"] = "measured: numpy copy of 256 MiB (read + write), one thread"
        del x, y
    # the peak used for fractions: the larger of the two (a peak must bound what a GEMM attains)
    for p in ("fp64", "fp32"):
        cands = [v for v in (out[f"theoretical_{p}"], out[f"measured_{p}"]) if v]
        out[f"peak_{p}"] = max(cands) if cands else None
    src = []
    if out["theoretical_fp64"]:
        src.append(f"theoretical {out['theoretical_fp64'] / 1e9:.1f} GFLOP/s = {out['theoretical_source']}")
    if out["measured_fp64"]:
        src.append(f"measured numpy float64 2048² matmul (OpenBLAS, all threads) {out['measured_fp64'] / 1e9:.1f} GFLOP/s")
    out["peak_source"] = "; ".join(src) + " -- fractions use the larger"
    return out


#: documented vector (non-tensor-core) peaks, FLOP/s and bytes/s
GPU_PEAKS = [
    # (substring of the device name, fp64, fp32, bandwidth, source)
    ("H200", 34e12, 67e12, 4.8e12, "NVIDIA H200 datasheet: FP64 34 TFLOP/s, FP32 67 TFLOP/s (SXM), 4.8 TB/s"),
    ("H100 PCIe", 26e12, 51e12, 2.0e12, "NVIDIA H100 datasheet (PCIe): FP64 26 TFLOP/s, FP32 51 TFLOP/s, 2.0 TB/s"),
    ("H100 NVL", 30e12, 60e12, 3.9e12, "NVIDIA H100 datasheet (NVL): FP64 30 TFLOP/s, FP32 60 TFLOP/s, 3.9 TB/s"),
    ("H100", 34e12, 67e12, 3.35e12, "NVIDIA H100 datasheet (SXM): FP64 34 TFLOP/s, FP32 67 TFLOP/s, 3.35 TB/s"),
    ("A100", 9.7e12, 19.5e12, 2.0e12, "NVIDIA A100 datasheet: FP64 9.7 TFLOP/s, FP32 19.5 TFLOP/s, ~2 TB/s"),
]


def gpu_peak(name: str) -> dict:
    for key, p64, p32, bw, src in GPU_PEAKS:
        if key.lower() in name.lower():
            return {"kind": "gpu", "name": name, "peak_fp64": p64, "peak_fp32": p32, "bandwidth": bw,
                    "peak_source": src}
    return {"kind": "gpu", "name": name, "peak_fp64": None, "peak_fp32": None, "bandwidth": None,
            "peak_source": "unknown device: no documented peak in dpsycl.bench.GPU_PEAKS"}


def _proc_status() -> dict:
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS", "VmHWM")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        import resource
        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["VmRSS"] = out["VmHWM"]
    return out


def _trim_heap() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class HostPeak:
    """Peak resident set size of this process over a block (Linux: VmHWM reset via clear_refs)."""

    def __init__(self, baseline: int | None = None):
        _trim_heap()
        self.resettable = True
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            self.resettable = False
        st = _proc_status()
        self.baseline = st["VmRSS"] if baseline is None else baseline
        self.method = ("host RSS: VmHWM (reset via /proc/self/clear_refs) − RSS before" if self.resettable
                       else "host RSS: ru_maxrss − RSS before (not resettable: an upper bound of earlier peaks)")

    def reset(self) -> None:
        """Restart the peak from the current RSS (the baseline stays)."""
        _trim_heap()
        if self.resettable:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")

    def peak(self) -> int:
        return max(0, _proc_status()["VmHWM"] - self.baseline)


def rss_now() -> int:
    _trim_heap()
    return _proc_status()["VmRSS"]


def _cuda_used() -> int:
    from numba import cuda
    ctx = cuda.current_context()
    try:
        ctx.deallocations.clear()
    except Exception:  # noqa: BLE001
        pass
    free, total = ctx.get_memory_info()
    if not (math.isfinite(free) and math.isfinite(total)):   # numba's CUDA simulator: (inf, inf)
        return 0
    return int(total - free)


# =============================================================================================
# FLOPs and bytes
def _net_dims(model):
    emb = [1] + list(model.neuron)
    fit = [model.embedding_width * model.axis_neuron] + list(model.fitting_neuron) + [1]
    return emb, fit


def _emb_terms(model):
    emb, _ = _net_dims(model)
    s = sum(emb[k] * emb[k + 1] for k in range(len(emb) - 1))          # multiply-adds
    a = sum(emb[1:])                                                     # activations
    r = sum(emb[k + 1] for k in range(len(emb) - 1) if emb[k + 1] in (emb[k], 2 * emb[k]))  # resnet skips
    idt = sum(emb[k + 1] for k in range(len(emb) - 1)
              if model.resnet_dt and emb[k + 1] in (emb[k], 2 * emb[k]))
    return s, a, r, idt


def _fit_terms(model):
    _, fit = _net_dims(model)
    hidden = [(fit[k], fit[k + 1]) for k in range(len(fit) - 2)]
    s_h = sum(i * o for i, o in hidden)
    a = sum(o for _, o in hidden)
    res = sum(o for i, o in hidden[1:] if i == o)
    idt = res if model.fitting_resnet_dt else 0
    final = fit[-2]
    # forward: 2·s_h + act (1) + φ' (2) + idt (2: h and dh) + residual adds + output layer
    fwd = 2 * s_h + 3 * a + 2 * idt + res + 2 * final
    # reverse (input gradient only): buf·dact·w + add per weight, residual adds
    bwd = 3 * s_h + res
    return fwd, bwd


GEOM_FLOPS = 94        # r_ij from images (21), r² test (5), env row + derivatives (60), normalisation (8)
ENV_DERIV_FLOPS = 24   # ∂E/∂R̃ · ∂R̃/∂r (4 × 3 multiply-adds)
FORCE_VIRIAL_FLOPS = 42  # per pair: force gather (3 + 3) + virial 9 multiply-adds (18) + image shift (18)


def kernel_traits(evaluator=None, natoms: int | None = None) -> dict:
    """What dpsycl's kernels do, read from the code that runs (the FLOP model follows it).

    ``pass1_tangent``: the descriptor pass evaluates dG/ds too (older kernels: ``embedding_forward``
    without a ``tangent`` switch); ``padding``: G at the empty-slot row evaluated once per species
    pair for the whole system (``padding_embeddings``) or once per (atom, block); ``layout`` and
    ``nchunk``: the evaluator's work decomposition (partial descriptor sums per slot chunk).
    """
    import inspect
    from .device_kernels import pipeline
    pass1_tangent = "tangent" not in inspect.signature(pipeline.embedding_forward).parameters
    padding = "per_species_pair" if hasattr(pipeline, "padding_embeddings") else "per_atom_block"
    layout = getattr(evaluator, "layout", "atom") if evaluator is not None else "atom"
    nchunk = 1
    if layout == "chunk" and natoms and hasattr(evaluator, "chunks_for"):
        nchunk = int(evaluator.chunks_for(natoms))
    return {"pass1_tangent": pass1_tangent, "padding": padding, "layout": layout, "nchunk": nchunk}


def flop_model(model, n_real: np.ndarray, n_padded_blocks: np.ndarray, natoms: int,
               traits: dict | None = None) -> dict:
    """FLOPs of one energy+forces+virial evaluation, from layer sizes and neighbour counts.

    Convention: a multiply-add is 2 FLOPs, an activation (tanh) 1, its derivative 1 − y² 2, a
    division or square root 1.  ``n_real`` is the total number of real neighbour slots,
    ``n_padded_blocks`` the number of (atom, neighbour-species) blocks with an empty slot.

    * dpsycl (device_kernels/pipeline.py, as described by ``traits`` = :func:`kernel_traits`): per
      real pair, pass 1 evaluates the embedding net forward (with its forward-mode tangent when
      ``pass1_tangent``) and accumulates T; pass 2 recomputes env row, embedding net and tangent,
      then ∂E/∂G, ∂E/∂s, ∂E/∂r̃.  Empty slots: n_pad·R_pad ⊗ G(R_pad) per (atom, block), with
      G(R_pad) evaluated per species pair (or per block when ``padding`` is per_atom_block).
      Per atom: partial-T sums over ``nchunk`` chunks, D = TᵀT<, fitting net forward + reverse,
      ∂E/∂T; the gather kernel sums each slot and each reverse pair (force + virial).  The
      work-group layout adds tree reductions (a few % of adds), not counted.
    * DeePMD-kit (TF and PT alike): the embedding net forward on every ``sel`` slot (padded ones
      included), T = R̃ᵀG as a (4 × nnei)·(nnei × M) product, the reverse pass through the same
      tensors (∂E/∂G, ∂E/∂R̃, embedding-net input gradient) on every slot; env rows, force and
      virial products on real pairs.
    * useful: the work both must do -- embedding forward + one reverse pass per *real* pair, the
      empty-slot share per (atom, block) with G(R_pad) once per species pair, the per-atom
      descriptor and fitting net forward + reverse.
    """
    m = model.embedding_width
    ax = model.axis_neuron
    nnei = model.nnei
    s_e, a_e, r_e, idt_e = _emb_terms(model)
    fit_fwd, fit_bwd = _fit_terms(model)
    emb_fwd = 2 * s_e + a_e + r_e + idt_e                   # value only
    emb_fwd_tan = 4 * s_e + 4 * a_e + 2 * r_e + 2 * idt_e   # value + forward-mode tangent
    emb_fwd_kernel = 2 * s_e + 4 * a_e + 2 * r_e + 2 * idt_e  # dpsycl's value-only pass (φ' still taken)
    traits = traits or kernel_traits()
    ntypes = model.ntypes
    emb_rev = 2 * s_e + 3 * a_e + r_e + idt_e               # reverse mode, input gradient only
    descriptor = 8 * m * ax + 4 * m                         # T scale, D = TᵀT<
    d_descriptor = 16 * m * ax + 4 * m                      # ∂E/∂T from ∂E/∂D
    per_atom = descriptor + fit_fwd + fit_bwd + d_descriptor + 3
    n_real = float(n_real)
    n_pad = float(n_padded_blocks)
    slots = float(natoms) * nnei

    pass1_emb = emb_fwd_tan if traits["pass1_tangent"] else emb_fwd_kernel
    if traits["padding"] == "per_atom_block":
        padding = n_pad * (12 + pass1_emb + 8 * m)
    else:
        padding = n_pad * (8 + 8 * m) + ntypes * ntypes * (12 + emb_fwd_kernel)
    own_dpsycl = {
        "pass1_real_pairs": n_real * (GEOM_FLOPS + pass1_emb + 8 * m),
        "pass1_padded_blocks": padding,
        "partial_sums": natoms * 4 * m * max(0, int(traits.get("nchunk", 1)) - 1),
        "per_atom_descriptor_fitting": natoms * per_atom,
        "pass2_real_pairs": n_real * (GEOM_FLOPS + emb_fwd_tan + 10 * m + 8 * m + 4 * 7 + 1),
        "gather": slots * 3 + n_real * FORCE_VIRIAL_FLOPS,
    }
    own_deepmd = {
        "env_rows": n_real * (GEOM_FLOPS - 8) + slots * 8,
        "embedding_forward_all_slots": slots * emb_fwd,
        "T_all_slots": slots * 8 * m,
        "per_atom_descriptor_fitting": natoms * per_atom,
        "backward_T_all_slots": slots * 16 * m,
        "embedding_reverse_all_slots": slots * (emb_rev + 1),
        "force_virial_real_pairs": n_real * (ENV_DERIV_FLOPS + FORCE_VIRIAL_FLOPS),
    }
    useful = {
        "real_pairs": n_real * (GEOM_FLOPS + emb_fwd + 8 * m + 16 * m + emb_rev + 1 + ENV_DERIV_FLOPS
                                + FORCE_VIRIAL_FLOPS),
        "padded_blocks": n_pad * (8 + 8 * m) + ntypes * ntypes * (12 + emb_fwd),
        "per_atom_descriptor_fitting": natoms * per_atom,
    }
    return {
        "dpsycl": sum(own_dpsycl.values()), "deepmd": sum(own_deepmd.values()), "useful": sum(useful.values()),
        "parts": {"dpsycl": own_dpsycl, "deepmd": own_deepmd, "useful": useful}, "traits": traits,
        "terms": {"embedding_multiply_adds": s_e, "embedding_activations": a_e,
                  "embedding_forward": emb_fwd, "embedding_forward_tangent": emb_fwd_tan,
                  "embedding_reverse": emb_rev, "fitting_forward": fit_fwd, "fitting_reverse": fit_bwd,
                  "per_atom_descriptor_fitting": per_atom},
    }


def bytes_model(model, n_real: float, natoms: int, itemsize: int, rev_cap: int, traits: dict | None = None) -> dict:
    """Bytes moved by one dpsycl ``compute`` (all its kernels), weights assumed cache-resident.

    ``streamed``: every array access goes to memory once per kernel pass (neighbour positions
    included); ``compulsory``: only the per-slot streams (nlist, nshift, pair gradients) and the
    per-atom inputs/outputs.  Also the bytes dpsycl keeps allocated per atom.
    """
    nnei = model.nnei
    i8 = 8
    per_atom_io = 3 * itemsize + i8 + (1 + 3 + 9) * itemsize    # pos_i, atype; energy, force, virial
    slot_streams = (2 * 2 * nnei * i8            # nlist + nshift, read in both passes of kernel 1
                    + 3 * nnei * itemsize        # pair_grad written
                    + 3 * nnei * itemsize)       # pair_grad read back by the gather kernel (own row)
    neighbour_reads = float(n_real) * (2 * 3 * itemsize      # neighbour positions, both passes
                                       + i8 + 3 * itemsize   # reverse slot id + its pair gradient
                                       + i8 + 3 * itemsize)  # its image shift + partner position
    t4m = 4 * model.embedding_width * itemsize
    staged = 0.0
    staged_resident = 0.0
    if traits and traits.get("layout") == "chunk":
        # partial T per chunk written by pass 1 and read by the fitting kernel; ∂E/∂T written once
        # and read by every chunk of pass 2
        nchunk = int(traits.get("nchunk", 1))
        staged = 2 * nchunk * t4m + (1 + nchunk) * t4m
        staged_resident = (nchunk + 1) * t4m
    compulsory = natoms * (per_atom_io + slot_streams + staged)
    streamed = compulsory + neighbour_reads
    resident = natoms * (2 * nnei * i8 + 3 * nnei * itemsize + rev_cap * i8 + i8
                         + (3 + 1 + 3 + 9) * itemsize + i8 + staged_resident)
    return {"streamed_per_atom": streamed / natoms, "compulsory_per_atom": compulsory / natoms,
            "resident_per_atom": resident / natoms}


def neighbour_stats(model, nb, backend, natoms: int) -> dict:
    nlist = backend.to_host(nb.nlist).reshape(natoms, model.nnei)
    real = nlist >= 0
    offs = list(model.sel_offsets)
    per_block = np.stack([real[:, offs[t]:offs[t + 1]].sum(axis=1) for t in range(model.ntypes)], axis=1)
    sel = np.asarray(model.sel)[None, :]
    padded_blocks = int((per_block < sel).sum())
    return {"n_real": int(real.sum()), "mean_real": float(real.sum() / natoms),
            "mean_real_per_block": [float(x) for x in per_block.mean(axis=0)],
            "max_real": int(real.sum(axis=1).max()), "padded_blocks": padded_blocks,
            "mean_padded_slots": float(model.nnei - real.sum() / natoms),
            "n_truncated": int(nb.n_truncated), "rev_cap": int(nb.rev_cap)}


# =============================================================================================
# DeePMD-kit peers
def _is_oom(exc: BaseException) -> bool:
    text = (type(exc).__name__ + " " + str(exc)).lower()
    return any(k in text for k in ("outofmemory", "out of memory", "resourceexhausted", "oom", "memoryerror",
                                   "cannot allocate"))


def _check_torch_lapack(torch) -> None:
    """torch's CPU LAPACK binds to oneMKL's ILP64 symbols once dpsycl's SYCL runtime is loaded
    (``import dpsycl`` loads it where the SYCL wheels are installed): detect it instead of failing
    deep inside DeePMD-kit (torch.linalg.inv_ex: 'Pivots given to lu_solve must all be >= 1')."""
    try:
        a = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
        ok = bool(torch.allclose(torch.linalg.inv(a) @ a, torch.eye(3, dtype=torch.float64), atol=1e-12))
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError("DeePMD-kit's PyTorch backend cannot run on the CPU in this process: dpsycl's SYCL "
                         "runtime (oneMKL, ILP64) is loaded and torch's LAPACK calls bind to it. Use --peer "
                         "deepmd-tf here, or run --peer deepmd-pt where no SYCL stack is installed (the GPU machine)")


class DeepmdPeer:
    """DeePMD-kit's own inference (``deepmd.infer.DeepPot``), TensorFlow (.pb) or PyTorch (.pth)."""

    def __init__(self, kind: str, model_path: str):
        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"DeePMD-kit model for the {kind} peer not found: {model_path}")
        self.kind = kind
        self.model_path = model_path
        self.shim = None
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.torch = None
        if kind == "deepmd-pt":
            from . import deepmd_pt_shim
            self.shim = deepmd_pt_shim.install()
            import torch
            self.torch = torch
            _check_torch_lapack(torch)
        from deepmd.infer import DeepPot as _DP
        self.dp = _DP(model_path)
        self.cuda = False
        if kind == "deepmd-pt":
            from deepmd.pt.utils import env as pt_env
            self.device = str(pt_env.DEVICE)
            self.cuda = self.device.startswith("cuda")
            self.hardware = (self.torch.cuda.get_device_name(pt_env.DEVICE) if self.cuda else "host CPU")
            self.memory_method = ("torch.cuda.max_memory_allocated (reset per size)" if self.cuda else
                                  "host RSS: VmHWM − RSS after loading the peer")
        else:
            self.device = "cpu"
            self.hardware = "host CPU"
            self.memory_method = "host RSS: VmHWM − RSS after loading the peer (TensorFlow keeps freed memory)"
        self.label = f"{kind} ({'cuda' if self.cuda else 'cpu'})"
        self.rss_baseline = None

    def eval(self, x, cell, atype):
        e, f, v = self.dp.eval(x.reshape(1, -1), cell.reshape(1, 9), atype)
        return float(np.asarray(e).ravel()[0]), np.asarray(f).reshape(-1, 3), np.asarray(v).reshape(9)

    def settle(self, natoms: int = 32):
        """Baseline memory after loading and a tiny warm-up evaluation."""
        x, cell, at = alloy(natoms, seed=12345)
        self.eval(x, cell, at)
        self.release()
        if not self.cuda:
            self.rss_baseline = rss_now()

    def memory_begin(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            return None
        return HostPeak(baseline=self.rss_baseline)

    def memory_peak(self, token) -> int:
        if self.cuda:
            self.torch.cuda.synchronize()
            return int(self.torch.cuda.max_memory_allocated())
        return token.peak()

    def release(self):
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def versions(self) -> dict:
        return {"model": os.path.abspath(self.model_path), "backend": self.kind, "device": self.device,
                "hardware": self.hardware, "precision": "float64",
                "shim": self.shim}


# =============================================================================================
# dpsycl on one device and precision
class DpsyclTarget:
    def __init__(self, model, device: str, precision: str, mem_base: int | None = None, warmup_atoms: int = 32):
        from . import DeepPot
        self.precision = precision
        self.device_req = device
        self.cuda = device.startswith("cuda")
        self.mem_base = None
        if self.cuda:
            from .backends.cuda import cuda  # noqa: F401  (selects the context)
        self.dp = DeepPot(model, device=device, precision=precision)
        self.device = self.dp.device
        self.describe = self.dp.describe_device()
        self.numpy = self.dp._evaluator is None
        if self.numpy:
            return
        self.ev = self.dp._evaluator
        self.b = self.dp.backend
        self.model = self.dp.model
        if self.cuda:
            self.b.synchronize()
            self.mem_base = _cuda_used() if mem_base is None else mem_base
        # compile once on a tiny cell: the first call compiles every kernel; the second is warm
        x, cell, at = alloy(warmup_atoms, seed=54321)
        t_first = self._once(x, cell, at)
        t_second = self._once(x, cell, at)
        self.compile_s = max(0.0, t_first - t_second)
        self.first_call_s = t_first
        self.memory_method = ("device memory: cuMemGetInfo used − used before the device's first dpsycl "
                              "evaluator was built, less the other dpsycl evaluators' workspaces (includes the "
                              "kernels' local-memory reservation)" if self.cuda else
                              "host RSS: VmHWM (reset after the check) − RSS before the size's first allocation "
                              "+ the evaluator workspace already held then (replaced during the size)")

    def _once(self, x, cell, at):
        pos = self.b.asarray(x, self.ev.dtype)
        atd = self.b.asarray(at, np.int64)
        t_nb, t_cp, _, _ = self.phases(pos, atd, cell)
        return t_nb + t_cp

    def phases(self, pos, atd, cell, out=None):
        """Neighbour build and evaluation on device arrays, each timed between synchronisations."""
        b, ev = self.b, self.ev
        b.synchronize()
        t0 = time.perf_counter()
        nb = ev.build_neighbors(pos, atd, cell, self.model.rcut, warn=False)
        b.synchronize()
        t1 = time.perf_counter()
        out = ev.compute(pos, atd, cell, nb, out=out)
        b.synchronize()
        return t1 - t0, time.perf_counter() - t1, nb, out

    def peak(self) -> dict:
        if self.cuda:
            try:
                from numba import cuda
                dev = cuda.current_context().device
                name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
            except Exception:  # noqa: BLE001 - e.g. numba's CUDA simulator
                name = self.describe
            return gpu_peak(name)
        dev = getattr(self.b, "device", None)    # a SYCL device
        kind = getattr(getattr(dev, "device_type", None), "name", "cpu")
        if kind != "cpu":
            return gpu_peak(str(dev.name).strip())   # no table entry: fractions of peak left out
        return {"kind": "cpu"}


# =============================================================================================
@dataclass
class BenchConfig:
    model: object = None                 # dpsycl model (path or Model); default: bundled cuag.h5
    peer: str = "auto"                   # auto | deepmd-tf | deepmd-pt | none
    peer_model: str | None = None        # .pb (tf) or .pth (pt); default: bundled cuag.pb for tf
    devices: list | None = None          # default: every device but numpy
    precisions: tuple = ("float64", "float32")
    sizes: list | None = None            # default: CPU_SIZES, or GPU_SIZES when a CUDA device is measured
    repeats: int | None = None           # fixed repeats (default: adaptive)
    min_repeats: int = 1
    max_repeats: int = 10
    target_seconds: float = 6.0          # adaptive repeats aim at this much timed work per point
    budget_seconds: float | None = 840.0  # whole run; past the projection, repeats drop to 1
    peer_max_atoms: int | None = None
    numpy_size: int = 0                  # optional tiny NumPy-reference point (0: off)
    md: bool = True
    md_seconds: float = 10.0
    output: str = "benchmarks/results"
    readme: str | None = "auto"
    plots: bool = True
    section: str | None = None
    seed: int = 0
    measure_cpu_peak: bool = True
    warmup_atoms: int = 32               # the cell on which kernel compilation is timed
    tolerance: dict = field(default_factory=lambda: dict(TOL))


def _default_devices() -> list[str]:
    from . import devices
    return [d for d in devices() if d != "numpy"]


def _pick_peer(cfg: BenchConfig, has_cuda: bool) -> str:
    if cfg.peer != "auto":
        return cfg.peer
    import importlib.util
    if has_cuda and importlib.util.find_spec("torch") is not None:
        return "deepmd-pt"
    if importlib.util.find_spec("deepmd") is not None and importlib.util.find_spec("tensorflow") is not None:
        return "deepmd-tf"
    return "none"


def _median(xs):
    return float(np.median(np.asarray(xs))) if xs else None


def _low_median_index(xs) -> int:
    """Index of the (low) median element, so that a repeat's parts stay together."""
    order = sorted(range(len(xs)), key=xs.__getitem__)
    return order[(len(xs) - 1) // 2]


class _Budget:
    def __init__(self, seconds, t0):
        self.seconds = seconds
        self.t0 = t0
        self.rate = {}   # series -> seconds per atom of one warm evaluation

    def left(self):
        return None if self.seconds is None else self.seconds - (time.perf_counter() - self.t0)

    def projected(self, remaining: list[tuple[str, int]], per_point_evals: float) -> float:
        tot = 0.0
        for series, n in remaining:
            r = self.rate.get(series)
            if r is not None:
                tot += r * n * per_point_evals
        return tot


PEER_EXTRA_WARMUP = 2


def _repeats(cfg: BenchConfig, t_warm: float, budget: _Budget, remaining) -> tuple[int, str]:
    if cfg.repeats:
        return int(cfg.repeats), "fixed"
    reps = int(max(cfg.min_repeats, min(cfg.max_repeats, cfg.target_seconds / max(t_warm, 1e-9))))
    left = budget.left()
    if left is not None:
        need = budget.projected(remaining, 1.5 + cfg.min_repeats) + reps * t_warm
        if need > left:
            fit = int((left - budget.projected(remaining, 1.5 + 1)) / max(t_warm, 1e-9))
            reps2 = max(1, min(reps, fit))
            if reps2 < reps:
                return reps2, f"budget: {reps2} repeat(s) instead of {reps}"
    return reps, "adaptive"


def _series_key(code, device, precision):
    return f"{code}|{device}|{precision}"


def run_benchmark(cfg: BenchConfig) -> dict:
    """Run the benchmark described by ``cfg``; writes JSON (+ plots, README) and returns the result."""
    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc)
    from .model import Model, load_model
    model_src = cfg.model if cfg.model is not None else _data_file("cuag.h5")
    model = model_src if isinstance(model_src, Model) else load_model(model_src)
    for n in cfg.sizes or ():
        supercell_for(int(n))
    if cfg.devices:
        has_cuda = any(str(d).startswith("cuda") for d in cfg.devices)
    else:
        from .backends import cuda_available
        has_cuda = cuda_available()
    peer_kind = _pick_peer(cfg, has_cuda)
    # The peer is loaded and run once before dpsycl touches a SYCL runtime: dpsycl's SYCL loader
    # puts oneMKL's ILP64 BLAS/LAPACK into the global symbol scope, where torch's CPU LAPACK calls
    # would otherwise bind to them (garbage pivots in torch.linalg.inv_ex).
    peer = None
    if peer_kind != "none":
        path = cfg.peer_model or (_data_file("cuag.pb") if peer_kind == "deepmd-tf" else None)
        if path is None:
            raise ValueError("--peer deepmd-pt needs --peer-model MODEL.pth "
                             "(dp convert-backend cuag.pb cuag.pth; see benchmarks/gpu_bench.sh)")
        _log(f"loading DeePMD-kit peer {peer_kind}: {path}", t0)
        peer = DeepmdPeer(peer_kind, path)
        peer.settle(cfg.warmup_atoms)
        _log(f"peer on {peer.hardware} ({peer.device})", t0)
    devices = list(cfg.devices) if cfg.devices else _default_devices()
    devices = [d for d in devices if d != "numpy"]
    has_cuda = any(d.startswith("cuda") for d in devices)
    sizes = sorted(set(int(n) for n in (cfg.sizes or (GPU_SIZES if has_cuda else CPU_SIZES))))
    section = cfg.section or ("gpu" if has_cuda else "cpu")
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + f"-{section}-{socket.gethostname()}"
    os.makedirs(cfg.output, exist_ok=True)
    json_path = os.path.join(cfg.output, f"bench-{run_id}.json")
    from .cli import model_summary
    result = {
        "schema": SCHEMA, "run_id": run_id, "section": section, "started": started.isoformat(),
        "machine": machine_info(), "versions": _versions(),
        "config": {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "model"}
        | {"devices": devices, "sizes": sizes, "peer": peer_kind},
        "model": {"source": model_src if isinstance(model_src, str) else getattr(model, "source", "<Model>"),
                  "summary": model_summary(model), "nnei": model.nnei, "sel": list(model.sel),
                  "embedding": [1] + list(model.neuron), "axis_neuron": model.axis_neuron,
                  "fitting": _net_dims(model)[1], "precision": model.precision},
        "structures": [], "peaks": {}, "peer": None, "results": [], "compile": [], "md": [],
        "notes": [], "status": "running",
    }
    result["config"]["budget_seconds"] = cfg.budget_seconds
    _log(f"dpsycl bench {run_id}: devices {devices}, precisions {list(cfg.precisions)}, sizes {sizes}, "
         f"peer {peer_kind}", t0)
    _log(f"model: {result['model']['summary']}", t0)

    # -- peaks --------------------------------------------------------------------------------
    host = cpu_peak(measure=cfg.measure_cpu_peak)
    result["peaks"]["host"] = host
    _log(f"host peak: {host['peak_source']}", t0)

    if peer is not None:
        result["peer"] = peer.versions() | {"note": "DeePMD-kit's peer runs the float64 graph only; dpsycl's "
                                                    "float32 twin is compared with it (speed) and checked "
                                                    "against it at the float32 tolerance"}
        if peer.cuda:
            result["peaks"]["deepmd-pt:cuda"] = gpu_peak(peer.hardware)

    # -- dpsycl targets (compile timed here) ---------------------------------------------------
    targets = []
    for dev in devices:
        mem_base = None    # CUDA: one baseline per device, taken before its first evaluator
        for prec in cfg.precisions:
            tc = time.perf_counter()
            _log(f"building dpsycl on {dev} {prec} (kernel compilation on a {cfg.warmup_atoms}-atom cell)...", t0)
            tgt = DpsyclTarget(model, dev, prec, mem_base=mem_base, warmup_atoms=cfg.warmup_atoms)
            mem_base = tgt.mem_base
            targets.append(tgt)
            pk = tgt.peak()
            if pk.get("kind") == "gpu":
                result["peaks"][tgt.device] = pk
            else:
                result["peaks"][tgt.device] = {"kind": "cpu", "same_as": "host"}
            rec = {"device": tgt.device, "describe": tgt.describe, "precision": prec,
                   "compile_s": tgt.compile_s, "first_call_s": tgt.first_call_s,
                   "setup_s": time.perf_counter() - tc}
            result["compile"].append(rec)
            _log(f"  {tgt.describe} {prec}: compile {tgt.compile_s:.1f} s", t0)

    def peak_of(device, precision):
        p = result["peaks"].get(device) or {}
        if p.get("same_as") == "host" or device in ("cpu", "numpy", "host"):
            p = host
        return p.get(f"peak_{'fp64' if precision == 'float64' else 'fp32'}"), p

    budget = _Budget(cfg.budget_seconds, t0)
    series = ([_series_key(peer.kind, "peer", "float64")] if peer else []) + \
             [_series_key("dpsycl", t.device, t.precision) for t in targets]

    def remaining_after(size_index, series_index):
        rem = []
        for si, n in enumerate(sizes):
            for ki, s in enumerate(series):
                if si > size_index or (si == size_index and ki > series_index):
                    rem.append((s, n))
        return rem

    peer_skip_reason = None
    for si, n in enumerate(sizes):
        x, cell, at = alloy(n, seed=cfg.seed)
        result["structures"].append({"natoms": n, "supercell": list(supercell_for(n)),
                                     "box": [float(v) for v in np.diag(cell)], "seed": [cfg.seed, n],
                                     "lattice": LATTICE, "noise": NOISE, "n_ag": int(at.sum())})
        peer_ref = None
        # ---- DeePMD-kit ---------------------------------------------------------------------
        if peer is not None:
            rec = {"code": peer.kind, "device": peer.device, "hardware": peer.hardware, "precision": "float64",
                   "natoms": n, "memory_method": peer.memory_method}
            if peer_skip_reason or (cfg.peer_max_atoms and n > cfg.peer_max_atoms):
                rec.update(status="skipped", reason=peer_skip_reason or f"N > --peer-max-atoms {cfg.peer_max_atoms}")
                _log(f"N={n:8d}  {peer.label:28s} skipped: {rec['reason']}", t0)
            else:
                try:
                    tok = peer.memory_begin()
                    tw = time.perf_counter()
                    e, f, v = peer.eval(x, cell, at)
                    t_first = time.perf_counter() - tw
                    # TorchScript's profiling executor re-specialises on the next calls at a new
                    # shape: measured 1.0 s for the 2nd call at N=2,048 on an H100 vs 15 ms later
                    for _ in range(PEER_EXTRA_WARMUP):
                        peer.eval(x, cell, at)
                    peer_ref = (e, f, v)
                    budget.rate[series[0]] = t_first / n
                    reps, why = _repeats(cfg, t_first, budget, remaining_after(si, 0))
                    ts = []
                    for _ in range(reps):
                        tw = time.perf_counter()
                        peer.eval(x, cell, at)
                        ts.append(time.perf_counter() - tw)
                    t = ts[_low_median_index(ts)]
                    budget.rate[series[0]] = t / n
                    mem = peer.memory_peak(tok)
                    rec.update(status="ok", energy=e, first_eval_s=t_first, times_total_s=ts, repeats=reps,
                               loadavg=_loadavg(),
                               repeats_rule=why, t_total_s=t, t_nb_s=None, t_compute_s=None,
                               us_per_step_atom=t / n * 1e6, peak_memory_bytes=mem,
                               memory_bytes_per_atom=mem / n)
                    _log(f"N={n:8d}  {peer.label:28s} E/N={e / n:.9f}  first {t_first:.3f} s; "
                         f"{reps}× median {t:.4f} s = {t / n * 1e6:8.2f} µs/step/atom; "
                         f"peak mem {mem / 2**20:.0f} MiB ({mem / n / 1024:.1f} KiB/atom)", t0)
                except Exception as exc:  # noqa: BLE001
                    if not _is_oom(exc):
                        raise
                    rec.update(status="oom", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                    peer_skip_reason = f"OOM at N={n}"
                    _log(f"N={n:8d}  {peer.label:28s} OUT OF MEMORY ({rec['error'][:120]})", t0)
                finally:
                    peer.release()
            result["results"].append(rec)

        # ---- dpsycl ---------------------------------------------------------------------------
        f64_ref = {}
        for ti, tgt in enumerate(targets):
            key = _series_key("dpsycl", tgt.device, tgt.precision)
            rec = {"code": "dpsycl", "device": tgt.device, "describe": tgt.describe, "precision": tgt.precision,
                   "natoms": n, "memory_method": tgt.memory_method, "compile_s": tgt.compile_s,
                   "peer": peer.kind if peer else None}
            tol = cfg.tolerance[tgt.precision]

            def check(e, f, v, tgt=tgt, tol=tol):
                """The energies-agree check, run on the warm-up evaluation before any timing."""
                if peer_ref is not None:
                    ref, against = peer_ref, peer.kind
                elif tgt.precision != "float64" and tgt.device in f64_ref:
                    ref, against = f64_ref[tgt.device], "dpsycl float64 (peer unavailable)"
                else:
                    return {"against": None, "passed": None,
                            "reason": f"not checked: peer {peer_skip_reason or 'absent'}"}
                dev_e = abs(e - ref[0]) / n
                return {"against": against, "energy": e, "reference_energy": ref[0], "abs_dE_per_atom": dev_e,
                        "tolerance": tol, "max_abs_dF": float(np.abs(f - ref[1]).max()),
                        "max_abs_dV_per_atom": float(np.abs(v - ref[2]).max() / n), "passed": bool(dev_e <= tol)}

            try:
                others = [t for t in targets if t is not tgt and t.device == tgt.device and not t.numpy]
                rec.update(_time_dpsycl(tgt, x, cell, at, n, cfg, budget, key,
                                        remaining_after(si, ti + (1 if peer else 0)), check,
                                        lambda others=others: sum(_held_bytes(t.ev) for t in others)))
            except Exception as exc:  # noqa: BLE001
                if not _is_oom(exc):
                    raise
                rec.update(status="oom", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                _log(f"N={n:8d}  dpsycl {tgt.device} {tgt.precision}: OUT OF MEMORY", t0)
                result["results"].append(rec)
                continue
            chk = rec["check"]
            if tgt.precision == "float64" and "_f64" in rec:
                f64_ref[tgt.device] = rec["_f64"]
            for k in ("_f64",):
                rec.pop(k, None)
            result["results"].append(rec)
            if chk["passed"] is False:
                result["status"] = "energy mismatch"
                _finish(result, cfg, json_path, t0, partial=True)
                raise EnergyMismatch(
                    f"N={n}: dpsycl {tgt.device} {tgt.precision} E={chk['energy']:.10f} eV vs {chk['against']} "
                    f"{chk['reference_energy']:.10f} eV, |ΔE|/N = {chk['abs_dE_per_atom']:.3g} eV/atom > {tol:g}; "
                    f"nothing was timed for this point (partial results: {json_path})")
            # ---- ratios, FLOPs ------------------------------------------------------------------
            ratio = None
            if peer_ref is not None:
                pr = _find(result, peer.kind, n)
                if pr and pr.get("status") == "ok":
                    ratio = pr["t_total_s"] / rec["t_total_s"]
            rec["speed_ratio_vs_peer"] = ratio
            ok_str = "—" if chk["passed"] is None else ("ok" if chk["passed"] else "FAIL")
            _log(f"N={n:8d}  dpsycl {tgt.device} {tgt.precision[-2:]:>2}{'':9s} |ΔE|/N="
                 f"{chk.get('abs_dE_per_atom', float('nan')):.1e} {ok_str}; nb {rec['t_nb_s']:.4f} + compute "
                 f"{rec['t_compute_s']:.4f} = {rec['t_total_s']:.4f} s = {rec['us_per_step_atom']:8.2f} µs/step/atom"
                 + (f"; {ratio:.2f}× {peer.kind}" if ratio else "")
                 + f"; mem {rec['peak_memory_bytes'] / 2**20:.0f} MiB ({rec['memory_bytes_per_atom'] / 1024:.1f} KiB/atom)",
                 t0)

        # FLOPs for this size (neighbour counts measured on the float64 (or first) target)
        stats = next((r.get("neighbours") for r in result["results"]
                      if r.get("natoms") == n and r.get("neighbours")), None)
        if stats:
            fm = flop_model(model, stats["n_real"], stats["padded_blocks"], n)
            for r in result["results"]:
                if r.get("natoms") != n or r.get("status") != "ok":
                    continue
                if r["code"] == "dpsycl" and r.get("kernel_traits"):
                    own = flop_model(model, stats["n_real"], stats["padded_blocks"], n, r["kernel_traits"])["dpsycl"]
                else:
                    own = fm["dpsycl"] if r["code"] == "dpsycl" else fm["deepmd"]
                peak, _ = peak_of(r["device"] if r["code"] == "dpsycl" else
                                  ("deepmd-pt:cuda" if (peer and peer.cuda) else "host"), r["precision"])
                r["flops_own"] = own
                r["flops_useful"] = fm["useful"]
                r["flops_per_atom_own"] = own / n
                r["flops_per_atom_useful"] = fm["useful"] / n
                r["achieved_flops_own"] = own / r["t_total_s"]
                r["achieved_flops_useful"] = fm["useful"] / r["t_total_s"]
                if r.get("t_compute_s"):
                    r["achieved_flops_own_compute_only"] = own / r["t_compute_s"]
                r["peak_flops"] = peak
                r["fraction_of_peak_own"] = own / r["t_total_s"] / peak if peak else None
                r["fraction_of_peak_useful"] = fm["useful"] / r["t_total_s"] / peak if peak else None
            result.setdefault("flops", []).append({"natoms": n, "neighbours": stats,
                                                   "per_atom": {k: fm[k] / n for k in ("dpsycl", "deepmd", "useful")},
                                                   "parts_per_atom": {c: {k: v / n for k, v in p.items()}
                                                                      for c, p in fm["parts"].items()},
                                                   "terms": fm["terms"]})

        _checkpoint(result, json_path, t0)

    # -- optional NumPy reference point ---------------------------------------------------------
    if cfg.numpy_size:
        result["results"].append(_numpy_point(model, cfg.numpy_size, cfg.seed, t0))

    # -- MD ns/day ------------------------------------------------------------------------------
    if cfg.md:
        for dev in devices:
            result["md"].append(md_ns_per_day(model, dev, "float64", cfg.md_seconds, t0))
    result["status"] = "complete"
    return _finish(result, cfg, json_path, t0)


def _find(result, code, n, device=None, precision=None):
    for r in result["results"]:
        if r["code"] == code and r["natoms"] == n and (device is None or r["device"] == device) \
                and (precision is None or r["precision"] == precision):
            return r
    return None


def _held_bytes(ev) -> int:
    """Device bytes an evaluator keeps between calls (its workspace; grown, never shrunk)."""
    return sum(int(getattr(a, "nbytes", 0)) for a in (getattr(ev, "_buffers", None) or {}).values())


def _time_dpsycl(tgt: DpsyclTarget, x, cell, at, n, cfg, budget, key, remaining, check, others_held=None) -> dict:
    b, ev = tgt.b, tgt.ev
    _trim_heap()
    # the workspace held from the previous size is replaced while this size runs: count it back in
    held_before = _held_bytes(ev)
    host_tok = None if tgt.cuda else HostPeak()
    used = []
    pos = b.asarray(x, ev.dtype)
    atd = b.asarray(at, np.int64)
    # warm-up (first evaluation at this size) doubles as the energy check
    t_nb1, t_cp1, nb, out = tgt.phases(pos, atd, cell)
    t_first = t_nb1 + t_cp1
    if tgt.cuda:
        used.append(_cuda_used())
    ae = b.to_host(out["atom_energy"]).astype(np.float64)
    energy = float(ae.sum())
    force = b.to_host(out["force"]).astype(np.float64).reshape(-1, 3)
    virial = b.to_host(out["atom_virial"]).astype(np.float64).reshape(-1, 9).sum(axis=0)
    chk = check(energy, force, virial)
    if chk["passed"] is False:
        return {"status": "energy mismatch", "energy": energy, "first_eval_s": t_first, "check": chk}
    stats = neighbour_stats(tgt.model, nb, b, n)
    held = getattr(ev, "_buffers", None)    # the evaluator's workspace (neighbour list, pair gradients, ...)
    arrays = list(held.values()) if held else [nb.nlist, nb.nshift, nb.rev, nb.rev_count]
    arrays += [pos, atd] + [out[k] for k in ("atom_energy", "pair_grad", "force", "atom_virial") if k in out]
    array_bytes = sum(int(getattr(a, "nbytes", 0)) for a in arrays)
    del ae
    budget.rate[key] = t_first / n
    reps, why = _repeats(cfg, t_first, budget, remaining)
    if host_tok is not None:
        host_tok.reset()   # the peak counts the timed evaluations, not the host copies made for the check
    t_nb, t_cp = [], []
    for _ in range(reps):
        nb = None
        t_a, t_b, nb, out = tgt.phases(pos, atd, cell, out)
        t_nb.append(t_a)
        t_cp.append(t_b)
        if tgt.cuda:
            used.append(_cuda_used())
    if tgt.cuda:
        used.append(_cuda_used())
        # device use above the baseline taken before this device's first evaluator, less what the
        # other dpsycl evaluators on it hold (the local-memory reservation of the kernels stays in)
        peak = max(used) - tgt.mem_base - (others_held() if others_held else 0)
    else:
        peak = host_tok.peak() + held_before
    # The headline time: DeepPot.eval end to end, host arrays in and host arrays out -- the call a
    # user makes and the one the peer is timed on (no synchronisation between the phases, transfers
    # and the host-side virial sum included).
    xs, cs = x[None], (None if cell is None else np.asarray(cell).reshape(1, 9))
    tgt.dp.eval(xs, cs, at)
    tot = []
    for _ in range(reps):
        tw = time.perf_counter()
        tgt.dp.eval(xs, cs, at)
        tot.append(time.perf_counter() - tw)
    t_total = _median(tot)
    mid = _low_median_index([a + c for a, c in zip(t_nb, t_cp)])
    budget.rate[key] = t_total / n
    bm = bytes_model(tgt.model, stats["n_real"], n, np.dtype(ev.dtype).itemsize, stats["rev_cap"],
                     kernel_traits(ev, n))
    rec = {"status": "ok", "energy": energy, "first_eval_s": t_first, "repeats": reps, "repeats_rule": why,
           "times_nb_s": t_nb, "times_compute_s": t_cp, "times_total_s": tot,
           "t_nb_s": t_nb[mid], "t_compute_s": t_cp[mid], "t_total_s": t_total,
           "t_phases_sum_s": t_nb[mid] + t_cp[mid],
           "t_nb_median_s": _median(t_nb), "t_compute_median_s": _median(t_cp),
           "us_per_step_atom": t_total / n * 1e6, "peak_memory_bytes": int(peak),
           "memory_bytes_per_atom": peak / n, "array_bytes": array_bytes, "array_bytes_per_atom": array_bytes / n,
           "neighbours": stats, "bytes_moved": bm, "check": chk, "loadavg": _loadavg(),
           "kernel_traits": kernel_traits(ev, n)}
    if tgt.precision == "float64":
        rec["_f64"] = (energy, force, virial)
    del nb, out, pos, atd
    _trim_heap()
    return rec


def _numpy_point(model, n, seed, t0) -> dict:
    from . import DeepPot
    x, cell, at = alloy(n, seed=seed)
    dp = DeepPot(model, device="numpy")
    tw = time.perf_counter()
    e = dp.eval(x[None], cell.reshape(1, 9), at)[0]
    t = time.perf_counter() - tw
    _log(f"N={n:8d}  dpsycl numpy reference       {t:.3f} s = {t / n * 1e6:.1f} µs/step/atom (one evaluation)", t0)
    return {"code": "dpsycl", "device": "numpy", "precision": "float64", "natoms": n, "status": "ok",
            "energy": float(e[0, 0]), "t_total_s": t, "t_nb_s": None, "t_compute_s": None, "repeats": 1,
            "us_per_step_atom": t / n * 1e6, "check": {"against": None, "passed": None,
                                                       "reason": "tiny reference point"}}


# =============================================================================================
# MD throughput
def md_ns_per_day(model, device: str, precision: str, seconds: float, t0=None) -> dict:
    """ns/day of the ``make run`` system (500 atoms Cu0.5Ag0.5, dt 1 fs, NVE, 300 K start)."""
    rec = {"device": device, "precision": precision, "natoms": 500}
    try:
        from .md import MDSettings, MolecularDynamics, initial_state
    except Exception as exc:  # noqa: BLE001
        rec.update(status="skipped", reason=f"dpsycl.md not importable yet: {type(exc).__name__}: {exc}")
        _log(f"MD {device}: skipped ({rec['reason'][:100]})", t0)
        return rec
    try:
        from . import DeepPot
        x, cell, at = alloy(500, seed=1)
        dp = DeepPot(model, device=device, precision=precision)
        settings = MDSettings()
        md = MolecularDynamics(dp, initial_state(x, cell, at, dp.get_type_map(), settings.temperature,
                                                 settings.seed), settings)
        tw = time.perf_counter()
        md.run(until_step=md.state.step + settings.every)   # warm-up: integrator kernels compile
        dp.backend.synchronize()
        warm = time.perf_counter() - tw
        # timed in whole sampling periods (one list rebuild each), until `seconds` have passed
        tw = time.perf_counter()
        start = md.state.step
        while True:
            md.run(until_step=md.state.step + settings.every)
            dp.backend.synchronize()
            t = time.perf_counter() - tw
            if t >= seconds or md.state.step - start >= 100000:
                break
        steps = md.state.step - start
        ns_day = steps * settings.dt * 1e-6 / t * 86400
        rec.update(status="ok", dt_fs=settings.dt, ensemble=settings.ensemble, skin=settings.skin,
                   every=settings.every, steps=steps, seconds=t, s_per_step=t / steps, ns_per_day=ns_day,
                   warmup_s=warm, rebuilds=md.n_rebuilds)
        _log(f"MD {device} {precision}: {steps} steps of 500 atoms in {t:.2f} s = {t / steps * 1e3:.2f} ms/step = "
             f"{ns_day:.3f} ns/day ({settings.describe()}, list rebuilt every {settings.every} steps)", t0)
    except Exception as exc:  # noqa: BLE001
        rec.update(status="error", reason=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        _log(f"MD {device}: error ({rec['reason'][:160]})", t0)
    return rec


# =============================================================================================
# Analysis: scaling, portability, targets
def _series(results: list[dict]) -> dict:
    out = {}
    for r in results:
        if r.get("status") != "ok" or r.get("device") == "numpy":
            continue
        out.setdefault((r["code"], r["device"], r["precision"]), []).append(r)
    for v in out.values():
        v.sort(key=lambda r: r["natoms"])
    return out


def _slope(ns, ts):
    if len(ns) < 2:
        return None
    lx, ly = np.log(np.asarray(ns, float)), np.log(np.asarray(ts, float))
    return float(np.polyfit(lx, ly, 1)[0])


def scaling(results: list[dict]) -> list[dict]:
    rows = []
    for (code, dev, prec), rs in _series(results).items():
        ns = [r["natoms"] for r in rs]
        ts = [r["t_total_s"] for r in rs]
        pair = [{"from": ns[k], "to": ns[k + 1], "exponent": _slope(ns[k:k + 2], ts[k:k + 2])}
                for k in range(len(ns) - 1)]
        big = [(n, t) for n, t in zip(ns, ts) if n >= 8000]
        row = {"code": code, "device": dev, "precision": prec, "sizes": ns,
               "exponent_all": _slope(ns, ts), "pairwise": pair,
               "exponent_8k_up": _slope([n for n, _ in big], [t for _, t in big]) if len(big) >= 2 else None,
               "range_8k_up": [big[0][0], big[-1][0]] if len(big) >= 2 else None}
        rows.append(row)
    return rows


def _platform(run: dict, r: dict) -> str:
    """The hardware a result ran on: the GPU's name, or the host CPU (model × cores)."""
    cpu = f"{run['machine']['cpu']} ×{run['machine']['cores']} cores"
    if r["code"] == "dpsycl":
        pk = run["peaks"].get(r["device"]) or {}
        return pk["name"] if pk.get("kind") == "gpu" and pk.get("name") else f"{cpu} ({r['device']})"
    hw = r.get("hardware") or "host CPU"
    return cpu if hw == "host CPU" else hw


def portability(runs: list[dict]) -> dict:
    """Architectural efficiency (useful FLOP/s ÷ FP64 peak) per device, harmonic mean = Pennycook's P̸."""
    per_code = {}
    for run in runs:
        for r in run["results"]:
            if r.get("status") != "ok" or r.get("precision") != "float64" or not r.get("fraction_of_peak_useful"):
                continue
            if r.get("device") == "numpy":
                continue
            platform_name = _platform(run, r)
            per_code.setdefault(r["code"].split("-")[0], {}).setdefault(platform_name, {}).setdefault(
                run["run_id"], []).append(r)
    out = {}
    for code, plats in per_code.items():
        effs = {}
        for plat, by_run in plats.items():
            # one platform measured by several runs: keep the run that reached the largest N
            rs = max(by_run.values(), key=lambda rs: (max(r["natoms"] for r in rs), len(rs)))
            big = max(rs, key=lambda r: r["natoms"])
            at2k = next((r for r in rs if r["natoms"] == 2048), None)
            effs[plat] = {"largest_n": big["natoms"], "efficiency_largest": big["fraction_of_peak_useful"],
                          "efficiency_2048": at2k["fraction_of_peak_useful"] if at2k else None}
        def hmean(vals):
            vals = [v for v in vals]
            if not vals or any(v is None or v <= 0 for v in vals):
                return 0.0
            return len(vals) / sum(1.0 / v for v in vals)
        out[code] = {"platforms": effs,
                     "pp_largest": hmean([e["efficiency_largest"] for e in effs.values()]),
                     "pp_2048": hmean([e["efficiency_2048"] for e in effs.values()])}
    return out


def evaluate_targets(runs: list[dict]) -> list[dict]:
    allr = [(run, r) for run in runs for r in run["results"]]

    def dp(dev_prefix, n=None, prec="float64"):
        return [r for _, r in allr if r["code"] == "dpsycl" and r["device"].startswith(dev_prefix)
                and r["precision"] == prec and r.get("status") == "ok" and (n is None or r["natoms"] == n)]

    t = []
    # 1. CPU ≥ 1.0× DeePMD TF at N ≥ 2048
    rs = [r for r in dp("opencl:cpu") if r["natoms"] >= 2048 and r.get("speed_ratio_vs_peer")
          and r.get("peer") == "deepmd-tf"]
    if rs:
        worst = min(rs, key=lambda r: r["speed_ratio_vs_peer"])
        t.append({"target": "CPU: dpsycl opencl:cpu ≥ 1.0× DeePMD-kit TF at every N ≥ 2,048 (float64)",
                  "met": worst["speed_ratio_vs_peer"] >= 1.0,
                  "value": f"worst {worst['speed_ratio_vs_peer']:.2f}× at N={worst['natoms']}; "
                           + ", ".join(f"{r['natoms']}: {r['speed_ratio_vs_peer']:.2f}×" for r in rs)})
    else:
        t.append({"target": "CPU: dpsycl opencl:cpu ≥ 1.0× DeePMD-kit TF at every N ≥ 2,048 (float64)",
                  "met": None, "value": "not measured"})
    # 2. GPU ≥ 2× DeePMD PT at 2048 and ≈ 8800
    for n_goal, label in ((2048, "2,048"), (8788, "≈8,800")):
        rs = [r for r in dp("cuda") if abs(r["natoms"] - n_goal) <= 0.05 * n_goal]
        rr = [r for r in rs if r.get("speed_ratio_vs_peer") and r.get("peer") == "deepmd-pt"]
        name = f"GPU: dpsycl cuda ≥ 2× DeePMD-kit PT at N = {label} (float64)"
        if rr:
            t.append({"target": name, "met": rr[0]["speed_ratio_vs_peer"] >= 2.0,
                      "value": f"{rr[0]['speed_ratio_vs_peer']:.2f}× at N={rr[0]['natoms']}"})
        else:
            t.append({"target": name, "met": None, "value": "not measured" if not rs else "no peer time"})
    # 3. 131072 and 1048576 atoms on one GPU with ≤ 40 KB/atom
    for n_goal in (131072, 1048576):
        name = f"GPU: {n_goal:,} atoms on one GPU with ≤ 40 KB/atom peak device memory"
        rs = dp("cuda", n_goal)
        oom = [r for _, r in allr if r["code"] == "dpsycl" and r["device"].startswith("cuda")
               and r["natoms"] == n_goal and r.get("status") == "oom"]
        if rs:
            kb = rs[0]["memory_bytes_per_atom"] / 1000
            t.append({"target": name, "met": kb <= 40.0, "value": f"{kb:.1f} KB/atom "
                      f"({rs[0]['peak_memory_bytes'] / 1e9:.2f} GB), {rs[0]['us_per_step_atom']:.3f} µs/step/atom"})
        else:
            t.append({"target": name, "met": False if oom else None, "value": "OOM" if oom else "not measured"})
    # 4. exponent ≤ 1.05 between 8k and 1M
    rows = [s for s in scaling([r for _, r in allr]) if s["code"] == "dpsycl" and s["device"].startswith("cuda")
            and s["precision"] == "float64" and s["exponent_8k_up"] is not None]
    name = "GPU: time exponent ≤ 1.05 between 8k and 1M atoms (float64)"
    if rows:
        s = rows[0]
        full = s["range_8k_up"][1] >= 1_000_000
        t.append({"target": name, "met": (s["exponent_8k_up"] <= 1.05) if full else None,
                  "value": f"{s['exponent_8k_up']:.3f} over N={s['range_8k_up'][0]}…{s['range_8k_up'][1]}"
                           + ("" if full else " (range short of 1M)")})
    else:
        t.append({"target": name, "met": None, "value": "not measured"})
    # 5. ≥ 20% FP64 peak at N ≥ 131072
    rs = [r for r in dp("cuda") if r["natoms"] >= 131072 and r.get("fraction_of_peak_own") is not None]
    name = "GPU: ≥ 20% of FP64 peak at N ≥ 131,072 (dpsycl's own FLOPs / total time)"
    if rs:
        worst = min(rs, key=lambda r: r["fraction_of_peak_own"])
        t.append({"target": name, "met": worst["fraction_of_peak_own"] >= 0.20,
                  "value": f"worst {100 * worst['fraction_of_peak_own']:.1f}% own "
                           f"({100 * worst['fraction_of_peak_useful']:.1f}% useful) at N={worst['natoms']}"})
    else:
        t.append({"target": name, "met": None, "value": "not measured"})
    return t


# =============================================================================================
# Outputs
def _fmt_bytes(b):
    if b is None:
        return "–"
    for unit, s in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if b >= s:
            return f"{b / s:.1f} {unit}"
    return f"{b:.0f} B"


def _f(v, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def _git_label(run) -> str:
    g = run["versions"].get("git")
    if not g:
        return ""
    return f" (commit {g['commit']}" + (f" + uncommitted {', '.join(g['dirty'])}" if g.get("dirty") else "") + ")"


def _met(m):
    return "**met**" if m is True else ("**not met**" if m is False else "not measured")


def markdown_section(run: dict) -> str:
    m = run["machine"]
    lines = [f"### {run['section'].upper()}: {m['cpu']} ({m['cores']} cores)"
             + (f" + {', '.join(sorted({r['describe'] for r in run['results'] if r.get('describe')}))}"
                if run.get("results") else ""),
             "",
             f"Run `{run['run_id']}` ({run.get('wall_s', 0):.0f} s wall"
             + ("" if run.get("status") == "complete" else ", **cut short: partial results**")
             + f"), dpsycl {run['versions'].get('dpsycl')}"
             + _git_label(run) + ", "
             f"numba {run['versions'].get('numba')}, deepmd-kit {run['versions'].get('deepmd-kit')}, "
             f"peer {run['config'].get('peer')}"
             + (f" on {run['peer']['hardware']}" if run.get("peer") else "") + ". Model: "
             + run["model"]["summary"] + ".",
             "",
             ("dpsycl's total is `DeepPot.eval` end to end (host arrays in and out: the call the peer is timed "
              "on); nb and compute are the two phases timed separately, with a synchronisation around each."
              if any("t_phases_sum_s" in r for r in run["results"]) else
              "dpsycl's total is the sum of the neighbour build and the evaluation, timed separately with a "
              "synchronisation around each (the peer: its `DeepPot.eval` end to end)."),
             "",
             "| N | code | device | prec | nb (s) | compute (s) | total (s) | µs/step/atom | × peer | "
             "peak mem | KiB/atom | GFLOP/s own (useful) | % peak own (useful) | \\|ΔE\\|/N (eV) |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(run["results"], key=lambda r: (r["natoms"], r["code"] != "dpsycl", r["device"], r["precision"])):
        n = f"{r['natoms']:,}"
        if r.get("status") != "ok":
            lines.append(f"| {n} | {r['code']} | {r.get('device')} | {r['precision'][-2:]} | | | "
                         f"{r.get('status', '').upper()} | | | | | | | |")
            continue
        chk = r.get("check") or {}
        dev = chk.get("abs_dE_per_atom")
        fo, fu = r.get("achieved_flops_own"), r.get("achieved_flops_useful")
        po, pu = r.get("fraction_of_peak_own"), r.get("fraction_of_peak_useful")
        mpa = r.get("memory_bytes_per_atom")
        flops = "" if fo is None else f"{fo / 1e9:.1f} ({fu / 1e9:.1f})"
        frac = "" if po is None else f"{100 * po:.1f} ({100 * pu:.1f})"
        lines.append(
            f"| {n} | {r['code']} | {r['device']} | {r['precision'][-2:]} | {_f(r.get('t_nb_s'), '.4f')} | "
            f"{_f(r.get('t_compute_s'), '.4f')} | {r['t_total_s']:.4f} | {r['us_per_step_atom']:.2f} | "
            f"{_f(r.get('speed_ratio_vs_peer'), '.2f')} | {_fmt_bytes(r.get('peak_memory_bytes'))} | "
            f"{_f(None if mpa is None else mpa / 1024, '.1f')} | {flops} | {frac} | {_f(dev, '.1e')} |")
    la = [m.get("loadavg_start"), m.get("loadavg_end")] + [r.get("loadavg") for r in run["results"]]
    la = [x for x in la if x is not None]
    if la and max(la) > 1.25 * m["cores"]:
        lines += ["", f"**Caution:** the 1-minute load average reached {max(la):.1f} on {m['cores']} cores during "
                      "this run: other processes shared the cores, so these timings are pessimistic and noisy "
                      "(per-point load in the JSON)."]
    lines += ["", "Compile (excluded from the timings): " + "; ".join(
        f"{c['device']} {c['precision']} {c['compile_s']:.1f} s" for c in run.get("compile", [])) + "."]
    sc = [x for x in (run.get("scaling") or []) if x.get("exponent_all") is not None]
    if sc:
        lines += ["", "Scaling exponent of total time vs N (least squares over all sizes; from 8k up): " + "; ".join(
            f"{s['code']} {s['device']} {s['precision'][-2:]}: {s['exponent_all']:.3f}"
            + (f" ({s['exponent_8k_up']:.3f})" if s.get("exponent_8k_up") is not None else "")
            for s in sc if s.get("exponent_all") is not None) + "."]
    md = [x for x in run.get("md", [])]
    if md:
        lines += ["", "MD (`make run` system, 500 atoms): " + "; ".join(
            f"{x['device']}: {x['ns_per_day']:.3f} ns/day ({x['s_per_step'] * 1e3:.1f} ms/step)"
            if x.get("status") == "ok" else f"{x['device']}: {x.get('status')} ({x.get('reason', '')[:80]})"
            for x in md) + "."]
    host = run["peaks"].get("host", {})
    lines += ["", f"Peaks: host {host.get('peak_source', '')}."]
    for k, v in run["peaks"].items():
        if v.get("kind") == "gpu":
            lines.append(f"{k}: {v.get('peak_source')}.")
    measured = [x for x in run.get("targets", []) if x["met"] is not None]
    if measured:
        lines += ["", "Targets: " + "; ".join(f"{x['target']}: {_met(x['met'])} ({x['value']})"
                                              for x in measured) + "."]
    return "\n".join(lines)


def portability_section(runs: list[dict]) -> str:
    pp = portability(runs)
    lines = ["### Performance portability (float64)", "",
             "Architectural efficiency = useful FLOP/s ÷ the device's FP64 peak (useful FLOPs: the work both "
             "codes must do, see NOTES.md); P̸ = harmonic mean over the platforms measured (Pennycook et al.), "
             "0 if a code cannot run on one of them (by that definition DeePMD-kit's P̸ is 0 for problem sizes "
             "where its PyTorch backend runs out of GPU memory, ≥ 32k atoms on 80 GB).", "",
             "| code | platform | largest N | efficiency at largest N | efficiency at N=2,048 |",
             "|---|---|---:|---:|---:|"]
    for code, d in pp.items():
        for plat, e in d["platforms"].items():
            e2 = e["efficiency_2048"]
            e2s = "–" if e2 is None else f"{100 * e2:.2f}%"
            lines.append(f"| {code} | {plat} | {e['largest_n']:,} | {100 * e['efficiency_largest']:.2f}% | {e2s} |")
        lines.append(f"| **{code}** | **P̸** | | **{100 * d['pp_largest']:.2f}%** | **{100 * d['pp_2048']:.2f}%** |")
    targets = evaluate_targets(runs)
    lines += ["", "### Targets", ""] + [
        f"- {x['target']}: " + (f"{_met(x['met'])} — {x['value']}" if x["met"] is not None else x["value"])
        for x in targets]
    return "\n".join(lines)


def _replace_block(text: str, key: str, body: str) -> str:
    b, e = README_BEGIN.format(key), README_END.format(key)
    block = f"{b}\n{body}\n{e}"
    if b in text and e in text:
        pre = text.split(b)[0]
        post = text.split(e, 1)[1]
        return pre + block + post
    return text.rstrip() + "\n\n" + block + "\n"


def latest_runs(output: str, current: dict | None = None) -> list[dict]:
    """The newest complete run per section in ``output`` (plus ``current``)."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(output, "bench-*.json"))):
        try:
            with open(path) as fh:
                run = json.load(fh)
        except (OSError, ValueError):
            continue
        if run.get("schema") != SCHEMA or run.get("status") not in ("complete", "running"):
            continue
        if run["status"] == "running":   # cut short (checkpointed JSON): used only when nothing complete
            run.setdefault("scaling", scaling(run["results"]))
        prev = runs.get(run["section"])
        rank = (run["status"] == "complete", run["started"])
        if prev is None or rank > (prev["status"] == "complete", prev["started"]):
            runs[run["section"]] = run
    if current is not None and current.get("status") == "complete":
        runs[current["section"]] = current
    return [runs[k] for k in sorted(runs)]


def write_readme(path: str, runs: list[dict]) -> None:
    text = ""
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
    if not text:
        text = "# Benchmarks\n"
    for run in runs:
        text = _replace_block(text, run["section"], markdown_section(run))
    text = _replace_block(text, "portability", portability_section(runs))
    with open(path, "w") as fh:
        fh.write(text)


def make_plots(output: str, runs: list[dict], stem: str) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    fig, ax = plt.subplots(figsize=(8, 6.5))
    fig2, ax2 = plt.subplots(figsize=(8, 6.5))
    idx = 0
    for run in runs:
        for (code, dev, prec), rs in _series(run["results"]).items():
            color = f"C{idx % 10}"
            idx += 1
            label = f"{code} {dev if code == 'dpsycl' else rs[0].get('hardware', dev)} {prec}"
            if len(runs) > 1:
                label = f"[{run['section']}] " + label
            ls = "-" if code == "dpsycl" else "--"
            mk = "o" if prec == "float64" else "s"
            ns = [r["natoms"] for r in rs]
            ax.plot(ns, [r["us_per_step_atom"] for r in rs], ls, marker=mk, color=color, label=label)
            fr = [(r["natoms"], r.get("fraction_of_peak_own"), r.get("fraction_of_peak_useful")) for r in rs]
            fr = [f for f in fr if f[1]]
            if fr:
                ax2.plot([f[0] for f in fr], [100 * f[1] for f in fr], ls, marker=mk, color=color,
                         label=label + " (own FLOPs)")
                ax2.plot([f[0] for f in fr], [100 * f[2] for f in fr], ":", marker=mk, color=color, alpha=0.5,
                         mfc="none", label=label + " (useful FLOPs)")
    for a, yl, title in ((ax, "µs / step / atom", "Energy + forces + virial (neighbour list included)"),
                         (ax2, "% of peak (FP64 for float64, FP32 for float32)", "Achieved FLOP/s vs device peak")):
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.set_xlabel("atoms N")
        a.set_ylabel(yl)
        a.set_title(title)
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    for f, name in ((fig, "us_per_atom"), (fig2, "fraction_of_peak")):
        p = os.path.join(output, f"{stem}-{name}.png")
        f.tight_layout()
        f.savefig(p, dpi=110)
        plt.close(f)
        paths.append(p)
    return paths


def _readme_path(cfg: BenchConfig) -> str | None:
    if cfg.readme in (None, "", "none"):
        return None
    if cfg.readme != "auto":
        return cfg.readme
    parent = os.path.dirname(os.path.abspath(cfg.output))
    if os.path.basename(parent) == "benchmarks":
        return os.path.join(parent, "README.md")
    return None


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, set):
        return sorted(_jsonable(v) for v in o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def _checkpoint(result: dict, json_path: str, t0: float) -> None:
    """Write what is measured so far (status 'running'): a run cut short still leaves its numbers."""
    snap = dict(result)
    snap["results"] = [{k: v for k, v in r.items() if not k.startswith("_")} for r in result["results"]]
    snap["wall_s"] = time.perf_counter() - t0
    tmp = json_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(_jsonable(snap), fh, indent=1)
    os.replace(tmp, json_path)


def _finish(result: dict, cfg: BenchConfig, json_path: str, t0: float, partial: bool = False) -> dict:
    result["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
    result["machine"]["loadavg_end"] = _loadavg()
    result["wall_s"] = time.perf_counter() - t0
    for r in result["results"]:
        for k in [k for k in r if k.startswith("_")]:
            r.pop(k)
    result["scaling"] = scaling(result["results"])
    result["targets"] = evaluate_targets([result])
    result["portability"] = portability([result])
    clean = _jsonable(result)
    with open(json_path, "w") as fh:
        json.dump(clean, fh, indent=1)
    result["json"] = json_path
    if partial:
        return result
    runs = latest_runs(cfg.output, clean)
    if cfg.plots:
        result["plots"] = make_plots(cfg.output, [clean], f"bench-{result['run_id']}")
        if len(runs) > 1:
            result["plots"] += make_plots(cfg.output, runs, "bench-all")
    readme = _readme_path(cfg)
    if readme:
        write_readme(readme, runs)
        result["readme"] = readme
    _print_summary(result, t0)
    return result


def _print_summary(result: dict, t0) -> None:
    print("\n" + "=" * 100)
    print(f"summary of {result['run_id']}  ({result['wall_s']:.0f} s)")
    print(f"{'N':>9} {'code':10} {'device':14} {'prec':4} {'total s':>9} {'µs/atom':>9} {'× peer':>7} "
          f"{'KiB/atom':>9} {'%peak own':>9} {'|ΔE|/N':>8}")
    for r in sorted(result["results"], key=lambda r: (r["natoms"], r["code"] != "dpsycl", r["device"], r["precision"])):
        if r.get("status") != "ok":
            print(f"{r['natoms']:9d} {r['code'][:10]:10} {str(r.get('device'))[:14]:14} {r['precision'][-2:]:4} "
                  f"{r.get('status', '').upper():>9}")
            continue
        ratio = r.get("speed_ratio_vs_peer")
        fp = r.get("fraction_of_peak_own")
        dev = (r.get("check") or {}).get("abs_dE_per_atom")
        mpa = r.get("memory_bytes_per_atom")
        print(f"{r['natoms']:9d} {r['code'][:10]:10} {str(r['device'])[:14]:14} {r['precision'][-2:]:4} "
              f"{r['t_total_s']:9.4f} {r['us_per_step_atom']:9.2f} {_f(ratio, '7.2f'):>7} "
              f"{_f(None if mpa is None else mpa / 1024, '9.1f'):>9} {_f(None if fp is None else 100 * fp, '9.2f'):>9} "
              f"{_f(dev, '8.1e'):>8}")
    for s in result.get("scaling", []):
        if s.get("exponent_all") is not None:
            print(f"scaling {s['code']} {s['device']} {s['precision']}: exponent {s['exponent_all']:.3f} over "
                  f"{s['sizes'][0]}…{s['sizes'][-1]}" + (f"; from 8k up {s['exponent_8k_up']:.3f}"
                                                          if s.get("exponent_8k_up") is not None else ""))
    for m in result.get("md", []):
        if m.get("status") == "ok":
            print(f"MD {m['device']}: {m['ns_per_day']:.3f} ns/day")
    for code, d in result.get("portability", {}).items():
        print(f"portability {code}: " + ", ".join(f"{p} {100 * e['efficiency_largest']:.2f}%"
                                                   for p, e in d["platforms"].items())
              + f"; P̸ = {100 * d['pp_largest']:.2f}%")
    la = [result["machine"].get("loadavg_start"), result["machine"].get("loadavg_end")] + \
        [r.get("loadavg") for r in result["results"]]
    la = [x for x in la if x is not None]
    if la and max(la) > 1.25 * result["machine"]["cores"]:
        print(f"CAUTION: load average up to {max(la):.1f} on {result['machine']['cores']} cores: other processes "
              "shared the cores while timing")
    print("targets:")
    for t in result.get("targets", []):
        print(f"  [{'MET' if t['met'] is True else ('NOT MET' if t['met'] is False else 'n/a')}] {t['target']}: "
              f"{t['value']}")
    print(f"JSON: {result.get('json')}" + (f"; plots: {', '.join(result.get('plots', []))}" if result.get("plots")
                                           else "") + (f"; README: {result['readme']}" if result.get("readme") else ""))
    print("=" * 100, flush=True)


# =============================================================================================
# Command line
def _csv(kind):
    def parse(s):
        try:
            return [kind(v) for v in s.split(",") if v.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default="benchmarks/results", metavar="DIR",
                   help="folder for the JSON and PNG files (default: benchmarks/results)")
    p.add_argument("--device", action="append", metavar="DEV",
                   help="device(s) to measure, repeatable or comma-separated (default: every device but numpy)")
    p.add_argument("--sizes", type=_csv(int), metavar="N,N,...",
                   help=f"atom counts, multiples of 4 (default CPU {','.join(map(str, CPU_SIZES))}; "
                        f"with a CUDA device {','.join(map(str, GPU_SIZES))})")
    p.add_argument("--precision", type=_csv(str), default=["float64", "float32"], metavar="P,P",
                   help="float64 and/or float32 (default both; float32 runs the float64 weights in float32)")
    p.add_argument("--model", metavar="MODEL.h5", help="dpsycl model (default: the bundled cuag.h5)")
    p.add_argument("--peer", choices=("auto", "deepmd-tf", "deepmd-pt", "none"), default="auto",
                   help="DeePMD-kit backend to compare with (auto: PyTorch with a CUDA device, else TensorFlow)")
    p.add_argument("--peer-model", metavar="PATH", help="the peer's model: .pb (deepmd-tf; default the bundled "
                   "cuag.pb) or .pth (deepmd-pt, required)")
    p.add_argument("--peer-max-atoms", type=int, metavar="N", help="skip the peer above N atoms")
    p.add_argument("--repeats", type=int, metavar="R", help="timed repeats per point (default: adaptive)")
    p.add_argument("--min-repeats", type=int, default=1, metavar="R",
                   help="fewest timed repeats per point after the warm-up (default 1)")
    p.add_argument("--max-repeats", type=int, default=10, metavar="R", help="most timed repeats (default 10)")
    p.add_argument("--target-seconds", type=float, default=6.0, metavar="S",
                   help="adaptive repeats: about this much timed work per point, within min..max (default 6)")
    p.add_argument("--budget", type=float, default=840.0, metavar="S",
                   help="wall-time budget; when the projection exceeds it, repeats drop (default 840; 0: none)")
    p.add_argument("--numpy-size", type=int, default=0, metavar="N",
                   help="also time the NumPy reference at this one small N (default: off)")
    p.add_argument("--no-md", action="store_true", help="skip the MD ns/day measurement")
    p.add_argument("--md-seconds", type=float, default=10.0, metavar="S", help="timed MD seconds per device")
    p.add_argument("--readme", default="auto", metavar="PATH",
                   help="markdown file to update between markers (auto: benchmarks/README.md when --output is "
                        "under benchmarks/; 'none' to skip)")
    p.add_argument("--section", metavar="NAME", help="README section / run label (default: cpu, or gpu with CUDA)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup-atoms", type=int, default=32, metavar="N",
                   help="cell on which kernel compilation is timed (default 32)")
    p.add_argument("--report-only", action="store_true",
                   help="measure nothing: rebuild README table and combined plots from the JSON files in --output")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    devices = None
    if args.device:
        devices = [d for item in args.device for d in item.split(",") if d]
    for p in args.precision:
        if p not in ("float64", "float32"):
            raise ValueError(f"unknown precision {p!r} (float64 or float32)")
    return BenchConfig(model=args.model, peer=args.peer, peer_model=args.peer_model, devices=devices,
                       precisions=tuple(args.precision), sizes=args.sizes, repeats=args.repeats,
                       min_repeats=args.min_repeats, max_repeats=args.max_repeats,
                       target_seconds=args.target_seconds, budget_seconds=(args.budget or None),
                       peer_max_atoms=args.peer_max_atoms, numpy_size=args.numpy_size, md=not args.no_md,
                       md_seconds=args.md_seconds, output=args.output, readme=args.readme,
                       plots=not args.no_plots, section=args.section, seed=args.seed,
                       warmup_atoms=args.warmup_atoms)


def run_from_args(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.report_only:
        runs = latest_runs(cfg.output)
        if not runs:
            raise FileNotFoundError(f"no complete bench-*.json in {cfg.output}")
        readme = _readme_path(cfg)
        if readme:
            write_readme(readme, runs)
        paths = make_plots(cfg.output, runs, "bench-all") if cfg.plots else []
        print(portability_section(runs))
        print(f"README: {readme}; plots: {', '.join(paths)}")
        return 0
    run_benchmark(cfg)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return run_from_args(p.parse_args(argv))
