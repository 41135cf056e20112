"""Facts about the machine a benchmark runs on: versions, CPU, peaks, and memory probes.

* ``versions`` / ``machine_info``: what ran where (packages, git state of the checkout, CPU, cores);
* ``cpu_peak`` / ``gpu_peak`` / ``device_peak``: FP64/FP32 FLOP/s and memory bandwidth peaks that
  achieved FLOP/s are divided by;
* ``HostPeak`` / ``rss_now`` / ``cuda_used_bytes``: host resident memory and CUDA device memory
  in use, the probes behind the peak-memory figures.
"""
from __future__ import annotations

import ctypes
import gc
import math
import os
import platform
import socket
import subprocess
import time

import numpy as np

#: the repository this harness belongs to (benchmarks/dpsycl_bench/ → the root)
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: files on the timed path: uncommitted changes there are named in every result
TIMED_PATH = ("device_kernels", "dpsycl/evaluator.py", "dpsycl/workspace.py", "dpsycl/descriptors",
              "dpsycl/backends", "dpsycl/deep_pot.py")
DISTRIBUTIONS = ("dpsycl", "numpy", "numba", "numba-cuda", "numba-dpex", "dpctl", "dpnp", "deepmd-kit",
                 "tensorflow", "tensorflow-cpu", "torch", "h5py", "ase")


# -- what ran ----------------------------------------------------------------------------------
def git_state() -> dict | None:
    """Commit of the checkout and its uncommitted files on the timed path (None: not a git checkout)."""
    try:
        head = subprocess.run(["git", "-C", REPOSITORY, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", REPOSITORY, "status", "--porcelain", "--", *TIMED_PATH],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": [line[3:] for line in dirty.stdout.splitlines() if line.strip()]}


def versions() -> dict:
    """Python, the packages that matter (None when absent), where dpsycl was imported from, git state."""
    from importlib import metadata

    import dpsycl
    out = {"python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    out["dpsycl"] = out["dpsycl"] or dpsycl.__version__
    # a run may import dpsycl from another place than this checkout: say which code was timed
    out["dpsycl_path"] = os.path.dirname(os.path.abspath(dpsycl.__file__))
    out["git"] = git_state()
    return out


def cpu_info() -> dict:
    """Model name, vendor, family, clock and ISA flags of the host CPU (Linux /proc and /sys)."""
    info = {"model": platform.processor() or platform.machine(), "vendor": "", "family": None, "model_id": None,
            "mhz": None, "max_mhz": None, "flags": set()}
    try:
        with open("/proc/cpuinfo") as fh:
            text = fh.read()
    except OSError:
        return info
    mhz = []
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = (s.strip() for s in line.split(":", 1))
        if key == "model name":
            info["model"] = value
        elif key == "vendor_id":
            info["vendor"] = value
        elif key == "cpu family":
            info["family"] = int(value)
        elif key == "model" and value.isdigit():
            info["model_id"] = int(value)
        elif key == "cpu MHz":
            mhz.append(float(value))
        elif key == "flags":
            info["flags"] = set(value.split())
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as fh:
            info["max_mhz"] = int(fh.read()) / 1000.0
    except (OSError, ValueError):
        pass
    info["mhz"] = max(mhz) if mhz else None
    return info


def core_count() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def loadavg() -> float | None:
    """1-minute load average: above the core count, other processes shared the cores while timing."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def machine_info() -> dict:
    memory = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    cpu = cpu_info()
    # family and model number: virtual machines often report only "AMD EPYC", which says nothing of Zen 4 or 5
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "cpu": cpu["model"],
            "cpu_family": cpu["family"], "cpu_model_id": cpu["model_id"], "cores": core_count(), "memory_bytes": memory,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "loadavg_start": loadavg()}


# -- peaks -------------------------------------------------------------------------------------
def _fp64_per_cycle(cpu: dict) -> tuple[int, str]:
    """FP64 FLOP per cycle and core from the ISA flags, and why."""
    flags, vendor = cpu["flags"], cpu["vendor"]
    if "avx512f" in flags and not (vendor == "AuthenticAMD" and (cpu["family"] or 0) < 26):
        return 32, "AVX-512, 2 FMA units × 8 doubles × 2"
    if "avx512f" in flags or ("avx2" in flags and "fma" in flags):
        return 16, ("2 × 256-bit FMA pipes × 4 doubles × 2 (AMD Zen 3/4 run AVX-512 as 2×256 bit)"
                    if vendor == "AuthenticAMD" else "2 × 256-bit FMA units × 4 doubles × 2")
    if "sse2" in flags:
        return 4, "SSE2: 2-wide add + mul"
    return 2, "scalar"


def _best_time(call, repeats: int = 3) -> float:
    call()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_peak(measure: bool = True) -> dict:
    """FP64/FP32 peak of this host: cores × clock × FLOP/cycle, and (``measure``) a numpy GEMM rate and
    a copy bandwidth.  The peak used for fractions is the larger of theory and GEMM: a peak must
    bound what a GEMM attains (a VM's reported clock can be below the turbo clock it runs at)."""
    cpu = cpu_info()
    cores = core_count()
    per_cycle, why = _fp64_per_cycle(cpu)
    ghz = (cpu["max_mhz"] or cpu["mhz"] or 0.0) / 1000.0
    clock_source = "cpufreq cpuinfo_max_freq" if cpu["max_mhz"] else "/proc/cpuinfo 'cpu MHz' (VM: nominal/TSC clock)"
    theory64 = cores * ghz * 1e9 * per_cycle if ghz else None
    out = {"kind": "cpu", "name": cpu["model"], "cores": cores, "clock_ghz": ghz or None,
           "fp64_per_cycle_per_core": per_cycle,
           "theoretical_fp64": theory64, "theoretical_fp32": 2 * theory64 if theory64 else None,
           "theoretical_source": f"{cores} cores × {ghz:.3f} GHz ({clock_source}) × {per_cycle} FP64 FLOP/cycle ({why})",
           "measured_fp64": None, "measured_fp32": None, "bandwidth": None}
    if measure:
        n = 2048
        for dtype, key in ((np.float64, "measured_fp64"), (np.float32, "measured_fp32")):
            a = np.random.default_rng(0).random((n, n)).astype(dtype)
            b = a.T.copy()
            out[key] = 2.0 * n ** 3 / _best_time(lambda: a @ b)
        x = np.ones(1 << 25)
        y = np.empty_like(x)
        out["bandwidth"] = 2 * x.nbytes / _best_time(lambda: np.copyto(y, x))
        out["bandwidth_source"] = "measured: numpy copy of 256 MiB (read + write), one thread"
        del x, y
    for p in ("fp64", "fp32"):
        candidates = [v for v in (out[f"theoretical_{p}"], out[f"measured_{p}"]) if v]
        out[f"peak_{p}"] = max(candidates) if candidates else None
    sources = []
    if out["theoretical_fp64"]:
        sources.append(f"theoretical {out['theoretical_fp64'] / 1e9:.1f} GFLOP/s = {out['theoretical_source']}")
    if out["measured_fp64"]:
        sources.append(f"measured numpy float64 2048² matmul (OpenBLAS, all threads) "
                       f"{out['measured_fp64'] / 1e9:.1f} GFLOP/s")
    out["peak_source"] = "; ".join(sources) + " -- fractions use the larger"
    return out


#: documented vector (non-tensor-core) peaks: (substring of the device name, FP64 FLOP/s, FP32 FLOP/s,
#: bandwidth bytes/s, source); more specific names first
GPU_PEAKS = [
    ("H200", 34e12, 67e12, 4.8e12, "NVIDIA H200 datasheet: FP64 34 TFLOP/s, FP32 67 TFLOP/s (SXM), 4.8 TB/s"),
    ("H100 PCIe", 26e12, 51e12, 2.0e12, "NVIDIA H100 datasheet (PCIe): FP64 26 TFLOP/s, FP32 51 TFLOP/s, 2.0 TB/s"),
    ("H100 NVL", 30e12, 60e12, 3.9e12, "NVIDIA H100 datasheet (NVL): FP64 30 TFLOP/s, FP32 60 TFLOP/s, 3.9 TB/s"),
    ("H100", 34e12, 67e12, 3.35e12, "NVIDIA H100 datasheet (SXM): FP64 34 TFLOP/s, FP32 67 TFLOP/s, 3.35 TB/s"),
    ("A100", 9.7e12, 19.5e12, 2.0e12, "NVIDIA A100 datasheet: FP64 9.7 TFLOP/s, FP32 19.5 TFLOP/s, ~2 TB/s"),
]


def gpu_peak(name: str) -> dict:
    """The documented peaks of a GPU by name; None peaks (no fractions of peak) for an unknown one."""
    for key, fp64, fp32, bandwidth, source in GPU_PEAKS:
        if key.lower() in name.lower():
            return {"kind": "gpu", "name": name, "peak_fp64": fp64, "peak_fp32": fp32, "bandwidth": bandwidth,
                    "peak_source": source}
    return {"kind": "gpu", "name": name, "peak_fp64": None, "peak_fp32": None, "bandwidth": None,
            "peak_source": "unknown device: no documented peak in dpsycl_bench.machine.GPU_PEAKS"}


def device_peak(device: str, fallback_name: str) -> dict:
    """Peaks of a dpsycl device string: a GPU's from :data:`GPU_PEAKS`, ``{"kind": "cpu"}`` for a CPU
    device (its peak is the host's, :func:`cpu_peak`).  ``fallback_name`` names a device that
    ``dpsycl.device_table()`` does not list (numba's CUDA simulator)."""
    import dpsycl
    row = next((r for r in dpsycl.device_table() if r["device"] == device), None)
    if row is None:
        return gpu_peak(fallback_name) if device.startswith("cuda") else {"kind": "cpu"}
    if str(row.get("type", "")).lower() == "gpu":
        return gpu_peak(row["name"])
    return {"kind": "cpu"}


# -- memory ------------------------------------------------------------------------------------
def _proc_status() -> dict:
    """VmRSS (resident now) and VmHWM (resident high-water mark) of this process, bytes."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS", "VmHWM")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        import resource
        out["VmHWM"] = out["VmRSS"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def trim_heap() -> None:
    """Collect garbage and hand freed heap back to the OS, so that RSS reflects live memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_now() -> int:
    trim_heap()
    return _proc_status()["VmRSS"]


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class HostPeak:
    """Peak resident set size of this process over a block, above a baseline (Linux: VmHWM, reset
    through /proc/self/clear_refs; where that cannot be reset, ``resettable`` is False and the peak
    is an upper bound that may include earlier blocks)."""

    def __init__(self, baseline: int | None = None):
        trim_heap()
        self.resettable = _reset_high_water_mark()
        self.baseline = _proc_status()["VmRSS"] if baseline is None else baseline

    def reset(self) -> None:
        """Restart the peak from the current RSS (the baseline stays)."""
        trim_heap()
        if self.resettable:
            _reset_high_water_mark()

    def peak(self) -> int:
        return max(0, _proc_status()["VmHWM"] - self.baseline)


def cuda_allocated_bytes() -> int:
    """Bytes of the device arrays numba holds live on the current CUDA context (its memory manager's
    table of allocations; pending frees excluded): the program's own arrays, without what the driver
    keeps for the context (local memory of the launched kernels, modules).  0 where numba keeps no
    table (the simulator, an external memory manager)."""
    from numba import cuda
    manager = getattr(cuda.current_context(), "memory_manager", None)
    table = getattr(manager, "allocations", None)
    return 0 if table is None else int(sum(getattr(m, "size", 0) for m in list(table.values())))


def cuda_used_bytes(flush: bool = True) -> int:
    """Device memory in use on the current CUDA context (0 under numba's CUDA simulator); ``flush``:
    numba's pending deallocations handed back first (numba frees device arrays lazily)."""
    from numba import cuda
    context = cuda.current_context()
    pending = getattr(context, "deallocations", None)
    if flush and pending is not None:
        pending.clear()
    free, total = context.get_memory_info()
    if not (math.isfinite(free) and math.isfinite(total)):   # the simulator reports (inf, inf)
        return 0
    return int(total - free)
